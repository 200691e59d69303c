// The registry's filters and pages and a link's record, in a real browser
// (Debian's chromium, headless, puppeteer-core), for
// tests/integration/t_web_registry.sh.
//
// usage: node registry.js LOGIN_URL ORIGIN OUTDIR EXPECT_JSON
//   EXPECT_JSON: {"counts": {HASH_QUERY: rows twin list gives}, "link",
//   "back", "onesided", "listing": entry ids}.
// Prints "PASS: ..." / "FAIL: ..." lines (counted by the caller).  Every
// wait and every loop is bounded.
'use strict';
const fs = require('fs');
const path = require('path');

const [url, origin, outdir, expectFile] = process.argv.slice(2);
const X = JSON.parse(fs.readFileSync(expectFile, 'utf8'));
const { pass, fail, ok, axe, keyboard, fits, waitText, run, launch, closeBrowser } = require('./common');
const WAIT = 15000;
const PAGE = 100;
const MAX_PAGES = 50;

// The list requests the page makes, with their arguments.
const lists = [];

// Draws the registry at HASH (a fresh draw), then waits for its count line.
async function visit(page, hash) {
  await page.evaluate(() => { location.hash = '#node'; });
  await page.waitForFunction(() => !document.getElementById('reg-count'), { timeout: WAIT });
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector('#reg-count', { timeout: WAIT });
}

// Pages through the registry as shown: rows, pages, list requests per page.
async function walk(page) {
  let rows = 0, pages = 0, most = 0, bigLimit = 0;
  for (;;) {
    const n = await page.evaluate(() => document.querySelectorAll('#results tbody tr').length);
    rows += n; pages++;
    most = Math.max(most, n);
    const next = await page.$('#reg-next');
    if (!next || pages >= MAX_PAGES) break;
    const before = lists.length;
    const first = await page.evaluate(() => document.getElementById('reg-count').textContent);
    await next.click();
    await page.waitForFunction((f) => { const e = document.getElementById('reg-count'); return e && e.textContent !== f; }, { timeout: WAIT }, first);
    const asked = lists.slice(before);
    if (asked.length !== 1) bigLimit = Math.max(bigLimit, 1000 + asked.length);
    asked.forEach((a) => { if (a.limit > PAGE) bigLimit = Math.max(bigLimit, a.limit); });
  }
  return { rows, pages, most, bigLimit };
}

async function main() {
  const browser = await launch(outdir);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 800 });
    const foreign = [], csp = [];
    page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) csp.push(m.text()); });
    page.on('request', (r) => {
      if (!r.url().startsWith(origin + '/')) foreign.push(r.url());
      if (r.url() === origin + '/api/list') { try { lists.push(JSON.parse(r.postData() || '{}')); } catch (e) { lists.push({}); } }
    });
    await page.goto(url, { waitUntil: 'networkidle0', timeout: WAIT });
    await page.waitForFunction(() => location.pathname === '/' && document.querySelector('main h1'), { timeout: WAIT });

    // ---- the filters, from the form: choosing a kind shows its filters only
    await visit(page, '#registry');
    const hidden = await page.evaluate(() => ['gov', 'nation', 'status', 'confirmed'].map((f) => !!document.getElementById('f-' + f).closest('[hidden]')));
    ok(hidden.every(Boolean), 'with all kinds, no kind\'s filter is shown', JSON.stringify(hidden));
    await page.select('#f-kind', 'place');
    const shown = await page.evaluate(() => ['gov', 'nation', 'status', 'confirmed'].map((f) => !document.getElementById('f-' + f).closest('[hidden]')));
    ok(shown[0] && !shown[1] && !shown[2] && !shown[3], 'choosing places shows the governorate filter only', JSON.stringify(shown));
    await page.select('#f-gov', 'PS-BTH');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('gov=PS-BTH'), { timeout: WAIT });
    ok(await page.evaluate(() => location.hash === '#registry?kind=place&gov=PS-BTH'), 'the filters are in the address (a view can be bookmarked)',
       await page.evaluate(() => location.hash));
    await page.waitForSelector('#reg-count', { timeout: WAIT });
    await waitText(page, '#results', 'Bittir');
    pass('the committee\'s place is among the places of its governorate');
    await axe(page, 'the registry filtered by governorate');
    await keyboard(page, 'the registry filtered by governorate');

    // ---- each filter finds what twin list finds, one page of 100 at a time
    for (const [q, want] of Object.entries(X.counts)) {
      const before = lists.length;
      await visit(page, '#registry?' + q);
      const first = lists.slice(before);
      const w = await walk(page);
      ok(w.rows === want, `#registry?${q}: ${w.rows} rows over ${w.pages} pages, as twin list gives (${want})`, `got ${w.rows}`);
      ok(w.most <= PAGE && w.pages === Math.max(1, Math.ceil(want / PAGE)), `#registry?${q}: at most ${PAGE} rows a page (${w.most})`, `pages ${w.pages}`);
      ok(first.length === 1 && first[0].limit === PAGE && w.bigLimit === 0, `#registry?${q}: each page view asks the node for one page of ${PAGE}`,
         JSON.stringify(first) + ' ' + w.bigLimit);
    }
    // Back a page: the same rows as before.
    await visit(page, '#registry?kind=place');
    const p1 = await page.evaluate(() => Array.from(document.querySelectorAll('#results tbody a')).map((a) => a.getAttribute('href')).join());
    await page.click('#reg-next');
    await page.waitForSelector('#reg-prev', { timeout: WAIT });
    ok(await page.evaluate(() => document.activeElement && document.activeElement.id === 'reg-count'),
       'after "Next page" the focus is on the line saying which records are shown');
    await axe(page, 'the second page of places');
    await keyboard(page, 'the second page of places');
    await page.click('#reg-prev');
    await page.waitForFunction(() => !document.getElementById('reg-prev'), { timeout: WAIT });
    const p1b = await page.evaluate(() => Array.from(document.querySelectorAll('#results tbody a')).map((a) => a.getAttribute('href')).join());
    ok(p1 === p1b && p1.length > 0, '"Previous page" shows the first page again');

    // ---- the confirmed link: both statements, their authors, confirmed
    await visit(page, '#registry?kind=link&confirmed=yes');
    await waitText(page, '#results', 'Camden Bittir Link');
    ok(await page.evaluate(() => document.getElementById('results').textContent.includes('Camden Bittir Link — Bittir')),
       'a link row shows the group\'s and the place\'s names, not references');
    await page.evaluate((id) => { location.hash = '#record/' + id; }, X.link);
    await page.waitForSelector('#statements tr.stmt', { timeout: WAIT });
    const st = await page.evaluate(() => ({
      rows: Array.from(document.querySelectorAll('#statements tr.stmt')).map((r) => r.textContent),
      state: document.getElementById('stmt-state').textContent,
      links: Array.from(document.querySelectorAll('#statements a')).map((a) => a.getAttribute('href')),
      h1: document.querySelector('main h1').textContent,
    }));
    ok(st.rows.length === 2, 'the link\'s page lists two statements, one per side', st.rows.join('\n'));
    ok(st.rows.some((r) => r.includes('Camden Bittir Link') && r.includes('2007')) && st.rows.some((r) => r.includes('Bittir') && !r.includes('Camden') && r.includes('2008')),
       'each statement names its author (the group; the committee\'s place) and its own since', st.rows.join('\n'));
    ok(/Confirmed/.test(st.state), 'the link\'s page says it is confirmed by both sides', st.state);
    ok(st.links.includes('#record/' + X.back), 'the other side\'s statement is a link to its record', st.links.join());
    ok(st.h1.includes('Camden Bittir Link') && st.h1.includes('Bittir'), 'the link\'s page is titled with both names', st.h1);
    await axe(page, 'a confirmed link\'s page');
    await keyboard(page, 'a confirmed link\'s page');
    await page.click('#statements a');
    await page.waitForFunction((id) => location.hash === '#record/' + id, { timeout: WAIT }, X.back);
    // The page before also had statements: wait for this record's own
    // (its statement list links back to the first side's record).
    await page.waitForFunction((other) => !!document.querySelector('#statements a[href="#record/' + other + '"]'),
                               { timeout: WAIT }, X.link).catch(() => {});
    ok(await page.evaluate(() => document.querySelectorAll('#statements tr.stmt').length === 2), 'the other side\'s record lists the same two statements');

    // ---- a link only one side states
    await page.evaluate((id) => { location.hash = '#record/' + id; }, X.onesided);
    // The confirmed link's page had a #stmt-state too: wait for this one's.
    await page.waitForFunction(() => document.querySelectorAll('#statements tr.stmt').length === 1 && document.getElementById('stmt-state'),
                               { timeout: WAIT }).catch(() => {});
    const one = await page.evaluate(() => ({ n: document.querySelectorAll('#statements tr.stmt').length, s: document.getElementById('stmt-state').textContent }));
    ok(one.n === 1 && /Not confirmed/.test(one.s), 'a link only one side states: one statement, not confirmed', JSON.stringify(one));
    await axe(page, 'a link stated by one side');

    // ---- a superseded listing names what supersedes it
    await page.evaluate((id) => { location.hash = '#record/' + id; }, X.listing);
    await page.waitForSelector('#superseded-by', { timeout: WAIT });
    const sup = await page.evaluate(() => [document.getElementById('superseded-by').textContent, document.getElementById('superseded-by').getAttribute('href')]);
    ok(sup[0] === 'Bittir' && /^#record\/[0-9a-f]{64}$/.test(sup[1]), 'a superseded listing names the committee\'s record and links to it', sup.join(' '));
    await page.click('#superseded-by');
    await page.waitForFunction(() => document.querySelector('main h1') && document.querySelector('main h1').textContent === 'Bittir', { timeout: WAIT });
    pass('following it shows the committee\'s own record');

    // ---- Arabic
    await page.click('#lang');
    await page.waitForFunction(() => document.documentElement.dir === 'rtl', { timeout: WAIT });
    await page.evaluate((id) => { location.hash = '#record/' + id; }, X.link);
    await page.waitForSelector('#statements tr.stmt', { timeout: WAIT });
    const ar = await page.evaluate(() => [document.getElementById('stmts').textContent, document.getElementById('stmt-state').textContent, document.querySelector('main h1').textContent]);
    ok(ar[0] === 'بيانات هذا الرابط' && ar[1].includes('مؤكَّد') && ar[2].includes('بتير'), 'in Arabic: the statements, confirmed, and the place\'s Arabic name', ar.join(' | '));
    await page.screenshot({ path: path.join(outdir, 'web_ar_link.png'), fullPage: true });
    await axe(page, 'a confirmed link\'s page (ar)');
    await visit(page, '#registry?kind=link&status=active');
    await page.screenshot({ path: path.join(outdir, 'web_ar_registry.png'), fullPage: true });
    const arf = await page.evaluate(() => document.querySelector('label[for=f-status]').textContent);
    ok(arf === 'الحالة (الروابط)', 'in Arabic: the filters are labelled in Arabic', arf);
    await axe(page, 'the registry filtered by status (ar)');
    await keyboard(page, 'the registry filtered by status (ar)');

    ok(csp.length === 0, 'no Content-Security-Policy violation', csp.join('\n'));
    ok(foreign.length === 0, 'the pages asked for nothing outside the node', foreign.join('\n'));
  } finally {
    await closeBrowser(browser);
  }
}

run(main, 'browser script');
