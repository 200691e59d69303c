// Time to first render of the registry page, for contrib/bench-web.sh:
// prints figures, asserts nothing.
// usage: node bench.js LOGIN_URL ORIGIN PROFILE_PARENT_DIR   (RUNS from the environment)
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, origin, tmp] = process.argv.slice(2);
const RUNS = Number(process.env.RUNS || 7);
const WAIT = 60000;
const median = (a) => { const s = a.slice().sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const rows = () => document.querySelectorAll('#results tbody tr').length > 0 || /\d/.test((document.getElementById('reg-count') || {}).textContent || '');

async function main() {
  const profile = fs.mkdtempSync(path.join(tmp, 'chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  try {
    const login = await browser.newPage();
    await login.goto(url, { waitUntil: 'networkidle0', timeout: WAIT });
    await login.waitForFunction(() => location.pathname === '/' && document.querySelector('main h1'), { timeout: WAIT });
    for (const [name, hash] of [['registry, all kinds', '#registry'], ['places of one governorate', '#registry?kind=place&gov=PS-HBN'],
                                ['confirmed links', '#registry?kind=link&confirmed=yes'], ['active links', '#registry?kind=link&status=active']]) {
      const open = [], click = [];
      let n = 0;
      for (let i = 0; i < RUNS; i++) {
        // A new tab: the page, its script, styles, translations, schema, then the list.
        const p = await browser.newPage();
        const t0 = Date.now();
        await p.goto(origin + '/' + hash, { timeout: WAIT });
        await p.waitForFunction(rows, { timeout: WAIT, polling: 'raf' });
        open.push(Date.now() - t0);
        // Within the page: from another page to the registry.
        await p.evaluate(() => { location.hash = '#bundles'; });
        await p.waitForFunction(() => !document.getElementById('reg-count'), { timeout: WAIT });
        const t1 = Date.now();
        await p.evaluate((h) => { location.hash = h; }, hash);
        await p.waitForFunction(rows, { timeout: WAIT, polling: 'raf' });
        click.push(Date.now() - t1);
        n = await p.evaluate(() => document.querySelectorAll('#results tbody tr').length);
        await p.close();
      }
      console.log(`${name.padEnd(28)} new tab ${String(median(open)).padStart(6)} ms (first, cold ${open[0]} ms)   in page ${String(median(click)).padStart(6)} ms   (${n} rows drawn; runs: ${open.join(',')} / ${click.join(',')})`);
    }
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
main().catch((e) => { console.log('bench-web stopped: ' + e.message); process.exit(1); });
