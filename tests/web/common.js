// What the browser tests share (tests/web/*.js): PASS/FAIL lines counted by
// the calling shell script, axe-core, a keyboard walk, the 360-pixel check,
// bounded waits, and the exit status.
'use strict';
const fs = require('fs');

const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
let failed = 0;
const pass = (m) => console.log('PASS: ' + m);
const fail = (m, d) => { failed++; console.log('FAIL: ' + m); if (d) console.log('    ' + String(d).split('\n').join('\n    ')); };
const ok = (c, m, d) => (c ? pass(m) : fail(m, d));

async function axe(page, name) {
  await page.evaluate(axeSource);   // Runtime.evaluate: not subject to the page's CSP
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  ok(bad.length === 0, `axe-core: no serious or critical violation on ${name} (${r.violations.length} minor)`,
     bad.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`).join('\n'));
}

// Tabs through the page and checks that every visible control got focus.
async function keyboard(page, name) {
  const controls = await page.evaluate(() => {
    const els = Array.from(document.querySelectorAll('a[href], button, input, select, textarea'));
    els.forEach((e, i) => e.setAttribute('data-kbd', String(i)));
    return els.filter((e) => e.getClientRects().length && !e.disabled).map((e) => e.getAttribute('data-kbd'));
  });
  const seen = new Set();
  await page.evaluate(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); });
  for (let i = 0; i < controls.length + 10; i++) {
    await page.keyboard.press('Tab');
    const k = await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('data-kbd'));
    if (k !== null) seen.add(k);
  }
  const missed = controls.filter((k) => !seen.has(k));
  ok(missed.length === 0, `keyboard: all ${controls.length} controls of ${name} reachable with Tab`, 'missed: ' + missed.join(','));
}

async function fits(page, name) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  ok(w <= 360, `${name} fits a 360-pixel-wide screen (scroll width ${w})`);
}

async function waitText(page, sel, text, timeout) {
  await page.waitForFunction((s, t) => {
    const e = document.querySelector(s);
    return e && e.textContent.includes(t);
  }, { timeout: timeout || 15000 }, sel, text);
}

// Runs main and exits 1 if any check failed or it stopped.
/* Headless chromium with a profile of its own under dir, that resolves no
 * name but 127.0.0.1; closeBrowser() closes it and removes the profile. */
async function launch(dir) {
  const profile = fs.mkdtempSync(require('path').join(dir, 'chromium-'));
  const browser = await require('puppeteer-core').launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-default-apps', '--no-default-browser-check',
           '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  browser.twProfile = profile;
  return browser;
}

async function closeBrowser(browser) {
  await browser.close();
  fs.rmSync(browser.twProfile, { recursive: true, force: true });
}

/* A page of its own (a browser context: its own session cookie) at 360 px,
 * logged in at url (a login link) and on the node's first page; csp
 * collects Content-Security-Policy refusals, foreign every request to
 * anything but origin (data: URLs are drawn in the page, not fetched). */
async function loginPage(browser, url, origin, timeout) {
  const ctx = await browser.createBrowserContext();
  await ctx.overridePermissions(origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  const page = await ctx.newPage();
  await page.setViewport({ width: 360, height: 740, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  const csp = [], foreign = [];
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) csp.push(m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith(origin + '/') && !r.url().startsWith('data:')) foreign.push(r.url()); });
  await page.goto(url, { waitUntil: 'networkidle0', timeout });
  await page.waitForFunction(() => location.pathname === '/' && document.querySelector('main h1'), { timeout });
  return { page, csp, foreign };
}

function run(main, what) {
  main().then(() => process.exit(failed ? 1 : 0), (e) => { fail(what + ' stopped: ' + e.message, e.stack); process.exit(1); });
}

module.exports = { pass, fail, ok, axe, keyboard, fits, waitText, run, launch, closeBrowser, loginPage };
