// The web interface in a real browser (Debian's chromium, headless, driven
// through the DevTools protocol by puppeteer-core), for
// tests/integration/t_web_browser.sh.
//
// usage: node browser.js URL ORIGIN OUTDIR TWIND_PID BUNDLE
//   URL: the login address twin ui printed; ORIGIN: http://127.0.0.1:PORT
// Prints "PASS: ..." / "FAIL: ..." lines (counted by the caller) and
// "figure: ..." lines.  Every wait is bounded.
'use strict';
const fs = require('fs');
const path = require('path');

const [url, origin, outdir, pid, bundle] = process.argv.slice(2);
const { pass, fail, ok, axe, keyboard, fits, waitText, run, launch, closeBrowser } = require('./common');
const WAIT = 15000;

async function main() {
  const browser = await launch(outdir);
  const csp = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 360, height: 740, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
    page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) csp.push(m.text()); });
    const foreign = [];
    page.on('request', (r) => { if (!r.url().startsWith(origin + '/')) foreign.push(r.url()); });

    // ---- without logging in
    const anon = await browser.createBrowserContext();
    const ap = await anon.newPage();
    const r0 = await ap.goto(origin + '/', { waitUntil: 'networkidle0', timeout: WAIT });
    ok(r0.status() === 401, `a browser that has not logged in gets 401 for / (${r0.status()})`);
    await waitText(ap, '#msg', 'twin ui');
    pass('... and the page tells it to run twin ui');
    const st = await ap.evaluate(async () => (await fetch('/api/status', { method: 'POST', body: '{}' })).status);
    ok(st === 401, `... and its API calls get 401 (${st})`);
    await ap.setViewport({ width: 360, height: 740 });
    await axe(ap, 'the login page');
    await anon.close();

    // ---- log in through the printed URL
    await page.goto(url, { waitUntil: 'networkidle0', timeout: WAIT });
    await page.waitForFunction(() => location.pathname === '/' && document.querySelector('main h1'), { timeout: WAIT });
    ok(!(await page.url()).includes('#') || !(await page.url()).match(/[0-9a-f]{64}/), 'logged in through the printed URL; the token is gone from the address bar');
    const jsCookie = await page.evaluate(() => document.cookie);
    ok(!jsCookie.includes('twsess'), 'the session cookie is not readable by scripts (HttpOnly)');
    const cookies = await browser.cookies ? await browser.cookies() : await page.cookies();
    const sess = cookies.find((c) => c.name === 'twsess');
    ok(sess && sess.httpOnly && sess.sameSite === 'Strict', 'the cookie is HttpOnly and SameSite=Strict');
    await waitText(page, 'main h1', 'This node');
    await waitText(page, 'main', 'Fingerprint');
    pass('"This node" shows the node');
    await axe(page, 'this node (en)');
    await keyboard(page, 'this node');
    await fits(page, 'this node');

    // ---- publish a group: the page's check, then the node's refusal beside its field
    await page.evaluate(() => { location.hash = '#publish/group'; });
    await page.waitForSelector('#f-region', { timeout: WAIT });
    await axe(page, 'the group form');
    await keyboard(page, 'the group form');
    await fits(page, 'the group form');
    await page.type('#f-slot', 'main');
    await page.click('#publish');
    await waitText(page, '#e-name', 'Required');
    pass('the page refuses an empty required name beside the field, before asking the node');
    await page.type('#f-name', 'Camden Abu Dis Friendship Association');
    await page.select('#f-group_kind', 'friendship_group');
    await page.select('#f-nation', 'wales');
    await page.select('#f-region', 'E12000007');
    await page.click('#publish');
    await waitText(page, '#e-region', 'group.region');
    const beside = await page.evaluate(() => {
      const e = document.getElementById('e-region'), f = document.getElementById('f-region');
      return e.parentElement === f.parentElement && f.getAttribute('aria-invalid') === 'true' &&
        (f.getAttribute('aria-describedby') || '').includes('e-region') && document.activeElement === f;
    });
    ok(beside, 'the node\'s refusal (group.region: ... not wales) is shown beside the region field, which gets focus');
    const other = await page.evaluate(() => document.getElementById('e-name').textContent);
    ok(other === '', 'no other field shows an error');
    await page.screenshot({ path: path.join(outdir, 'web_refusal_en.png'), fullPage: true });
    await page.select('#f-nation', 'england');
    await page.click('#publish');
    await page.waitForFunction(() => location.hash === '#mine', { timeout: WAIT });
    await waitText(page, 'main table', 'Camden Abu Dis Friendship Association');
    pass('fixed, the group is published and listed under My records');
    await axe(page, 'my records');
    await keyboard(page, 'my records');
    await fits(page, 'my records');

    // ---- the registry: kind filter and search, then the record
    await page.evaluate(() => { location.hash = '#registry?kind=group&q='; });
    await waitText(page, '#results', 'Camden Abu Dis');
    pass('the registry lists the group under kind group');
    await page.evaluate(() => { location.hash = '#registry?kind=place&q='; });
    await waitText(page, '#results', '0');
    const none = await page.evaluate(() => !document.getElementById('results').textContent.includes('Camden'));
    ok(none, '... and not under kind place');
    await page.evaluate(() => { location.hash = '#registry'; });
    await page.waitForSelector('#f-q', { timeout: WAIT });
    await page.type('#f-q', 'abu dis');
    await page.keyboard.press('Enter');
    await waitText(page, '#results', 'Camden Abu Dis');
    pass('search "abu dis" finds it');
    await axe(page, 'the registry');
    await keyboard(page, 'the registry');
    await fits(page, 'the registry');
    await page.click('#results a');
    await waitText(page, 'main h1', 'Camden Abu Dis');
    await waitText(page, 'main', 'Signature verified');
    pass('the record page shows the group and its signature verified');
    await axe(page, 'a record');
    await fits(page, 'a record');

    // ---- bundles: download, and upload another node's with its counts
    await page.evaluate(() => { location.hash = '#bundles'; });
    await page.waitForSelector('#f-bundle', { timeout: WAIT });
    await axe(page, 'bundles');
    await keyboard(page, 'bundles');
    await fits(page, 'bundles');
    const dl = await page.evaluate(async () => {
      const href = document.getElementById('export').getAttribute('href');
      const r = await fetch(href);
      return [r.status, (await r.arrayBuffer()).byteLength, r.headers.get('content-type')];
    });
    ok(dl[0] === 200 && dl[1] > 0 && dl[2] === 'application/octet-stream', `the export link gives the bundle (${dl[1]} bytes)`, dl.join(' '));
    const input = await page.$('#f-bundle');
    await input.uploadFile(bundle);
    await page.click('#import');
    await waitText(page, '#import-result', 'Imported');
    const counts = await page.evaluate(() => {
      const o = {};
      document.querySelectorAll('#import-result dt').forEach((dt) => { o[dt.textContent] = dt.nextElementSibling.textContent; });
      return o;
    });
    ok(counts['New'] === '1' && counts['Refused'] === '0' && counts['End of file'] === 'ok',
       'uploading another node\'s bundle shows its counts: 1 new, 0 refused, trailer ok', JSON.stringify(counts));
    await page.evaluate(() => { location.hash = '#registry?kind=group&q='; });
    await waitText(page, '#results', 'Bradford Nablus');
    pass('... and its group is in the registry');

    // ---- Arabic
    await page.evaluate(() => { location.hash = '#node'; });
    await waitText(page, 'main h1', 'This node');
    await page.click('#lang');
    // The page is drawn again in Arabic once the translation has loaded.
    await page.waitForFunction(() => document.documentElement.dir === 'rtl' &&
      document.querySelector('main h1').textContent !== 'This node', { timeout: WAIT });
    const ar = await page.evaluate(() => ({ lang: document.documentElement.lang, h1: document.querySelector('main h1').textContent,
      navDir: getComputedStyle(document.querySelector('nav')).direction }));
    ok(ar.lang === 'ar' && ar.navDir === 'rtl' && ar.h1 === 'هذه العقدة',
       'after the switch the page is Arabic and right-to-left (lang=ar, dir=rtl, "هذه العقدة")', JSON.stringify(ar));
    await page.screenshot({ path: path.join(outdir, 'web_ar_node.png'), fullPage: true });
    await axe(page, 'this node (ar)');
    await fits(page, 'this node (ar)');
    await page.evaluate(() => { location.hash = '#registry?kind=group&q='; });
    await waitText(page, '#results', 'Camden Abu Dis');
    const nameDir = await page.evaluate(() => {
      const a = document.querySelector('#results a');
      return [a.getAttribute('dir'), getComputedStyle(a).direction, getComputedStyle(document.body).direction];
    });
    ok(nameDir[0] === 'auto' && nameDir[1] === 'ltr' && nameDir[2] === 'rtl',
       'an English name keeps left-to-right inside the Arabic page (dir=auto)', nameDir.join(' '));
    await page.screenshot({ path: path.join(outdir, 'web_ar_registry.png'), fullPage: true });
    await axe(page, 'the registry (ar)');
    await page.evaluate(() => { location.hash = '#publish/place'; });
    await page.waitForSelector('#f-name_ar', { timeout: WAIT });
    await page.type('#f-slot', 'abu-dis');
    await page.type('#f-name_en', 'Abu Dis');
    await page.type('#f-name_ar', 'أبو ديس');
    await page.select('#f-place_kind', 'town');
    await page.type('#f-country', 'PS');
    await page.select('#f-subdivision', 'PS-JEM');
    await page.select('#f-area', 'west_bank');
    await axe(page, 'the place form (ar)');
    await keyboard(page, 'the place form (ar)');
    await fits(page, 'the place form (ar)');
    await page.click('#publish');
    await page.waitForFunction(() => location.hash === '#mine', { timeout: WAIT });
    await waitText(page, 'main table', 'Abu Dis');
    const dirs = await page.evaluate(() => {
      const a = Array.from(document.querySelectorAll('main table a')).find((x) => x.textContent === 'أبو ديس');
      const l = Array.from(document.querySelectorAll('main table .alt')).find((x) => x.textContent === 'Abu Dis');
      return [a ? getComputedStyle(a).direction : '', l ? getComputedStyle(l).direction : ''];
    });
    ok(dirs[0] === 'rtl' && dirs[1] === 'ltr',
       'a place published from the Arabic page is listed with both names: أبو ديس right-to-left, Abu Dis left-to-right', dirs.join(' '));
    await page.evaluate(() => { location.hash = '#registry?kind=&q=' + encodeURIComponent('أبو ديس'); });
    await waitText(page, '#results', 'Abu Dis');
    pass('search in Arabic script finds the place');
    await page.screenshot({ path: path.join(outdir, 'web_ar.png'), fullPage: true });
    pass('screenshots kept in ' + outdir);

    // ---- delete with confirmation (dismissed, then accepted)
    await page.evaluate(() => { location.hash = '#mine'; });
    // Not 'main table': the registry's table, still shown, holds Abu Dis too.
    await page.waitForSelector('main table button.danger[aria-label*="abu-dis"]', { timeout: WAIT });
    let dialogs = 0;
    page.once('dialog', (d) => { dialogs++; d.dismiss(); });
    await page.click('main table button.danger[aria-label*="abu-dis"]');
    await new Promise((r) => setTimeout(r, 300));
    const hasPlace = () => !!document.querySelector('main table button.danger[aria-label*="abu-dis"]');
    let still = await page.evaluate(hasPlace);
    ok(dialogs === 1 && still, 'delete asks for confirmation; dismissed, the record stays');
    page.once('dialog', (d) => { dialogs++; d.accept(); });
    await page.click('main table button.danger[aria-label*="abu-dis"]');
    await page.waitForFunction(() => !document.querySelector('main table button.danger[aria-label*="abu-dis"]'), { timeout: WAIT });
    still = await page.evaluate(() => document.querySelector('main').textContent.includes('Camden Abu Dis'));
    ok(dialogs === 2 && still, 'confirmed, the place is deleted and the group stays');

    ok(csp.length === 0, 'no Content-Security-Policy violation in the console', csp.join('\n'));
    ok(foreign.length === 0, 'the pages asked for nothing outside this node', foreign.join('\n'));
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)/.exec(status), hwm = /VmHWM:\s+(\d+)/.exec(status);
    console.log(`figure: twind RSS with the interface open ${rss ? rss[1] : '?'} KiB (peak ${hwm ? hwm[1] : '?'} KiB)`);
  } finally {
    await closeBrowser(browser);
  }
}

run(main, 'browser script');
