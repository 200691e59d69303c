// The hub report in a real browser (Debian's chromium, headless, driven by
// puppeteer-core), for tests/integration/t_web_report.sh.
//
// usage: node report.js URL ORIGIN OUTDIR FILE_EN FILE_AR FILE_SMALL
//   URL: the login address twin ui printed; ORIGIN: http://127.0.0.1:PORT;
//   FILE_EN, FILE_AR: the files twin report --html wrote (--lang ar);
//   FILE_SMALL: the file of a registry of 1002 links, 2 of them active in
//   one governorate (figures past a thousand, a map whose most is 2).
// Renders the web interface's report page (English, then Arabic) and both
// files; checks charts, maps and sections, right-to-left, axe-core; prints
// each file to an A4 PDF (OUTDIR/report_en.pdf, report_ar.pdf) and writes
// OUTDIR/tables_en.json: for each table, its header text and the first
// cell of each row, which the shell checks against the PDF's pages.
// Prints "PASS: ..." / "FAIL: ..." lines; every wait is bounded.
'use strict';
const fs = require('fs');
const path = require('path');

const [url, origin, outdir, fileEn, fileAr, fileSmall] = process.argv.slice(2);
const { pass, fail, ok, axe, keyboard, fits, waitText, run, launch, closeBrowser } = require('./common');
const WAIT = 20000;

// What a rendered report holds: its maps' tiles, charts, sections.
async function inspect(page) {
  return page.evaluate(() => {
    const q = (s) => Array.from(document.querySelectorAll(s));
    const maps = q('figure.map svg');
    const tiles = (i) => (maps[i] ? Array.from(maps[i].querySelectorAll('g.tile')).map((g) => g.getAttribute('data-code')) : []);
    const accessible = q('figure.chart svg').every((s) => s.getAttribute('role') === 'img' && s.querySelector('title') && s.querySelector('desc'));
    const filled = q('figure.map g.tile rect').map((r) => r.getAttribute('fill'));
    return {
      dir: document.documentElement.dir, lang: document.documentElement.lang,
      h1: (document.querySelector('.report h1') || {}).textContent || '',
      psTiles: tiles(0), ukTiles: tiles(1), accessible, shades: new Set(filled).size,
      // Per map: the shades its tiles use, and its legend's shades and words.
      legends: maps.map((m) => ({
        used: Array.from(new Set(Array.from(m.querySelectorAll('g.tile rect')).map((r) => r.getAttribute('fill')))),
        shades: Array.from(m.querySelectorAll('rect.legend')).map((r) => r.getAttribute('fill')),
        words: Array.from(m.querySelectorAll('.legend-text')).map((x) => x.textContent),
      })),
      bars: q('svg.bars rect').length, trendBars: q('svg.trend rect').length,
      govs: q('section.gov').map((s) => s.getAttribute('data-code')),
      govTables: q('table.gov-table').length,
      countryRows: q('table.country-table tbody tr').map((r) => r.cells[0].textContent),
      h2: q('.report h2').map((h) => h.textContent),
      text: document.querySelector('.report').textContent,
      markup: document.querySelectorAll('.report img, .report b, body > img').length + (window.pwned ? 1 : 0),
    };
  });
}

// Each map's legend names every shade its tiles use, and no count twice
// (with few links several shades started at one count: "1+ 2+ 2+ 2+").
function legendOk(r, name) {
  const lg = r.legends.map((l) => {
    const nums = l.words.map((w) => Number(w.replace(/[^0-9]/g, '')));
    return l.used.every((f) => l.shades.includes(f)) && nums.every((n, i) => i === 0 || n > nums[i - 1]);
  });
  ok(lg.length === 2 && lg.every(Boolean), `${name}: each map's legend has each shade its tiles use, its counts increasing`,
     JSON.stringify(r.legends));
}

function checkReport(r, name, lang) {
  const ps = ['PS-JEN', 'PS-TBS', 'PS-TKM', 'PS-NBS', 'PS-QQA', 'PS-SLT', 'PS-RBH', 'PS-JRH', 'PS-JEM', 'PS-BTH', 'PS-HBN',
    'PS-NGZ', 'PS-GZA', 'PS-DEB', 'PS-KYS', 'PS-RFH'];
  ok(r.psTiles.length === 16 && ps.every((c) => r.psTiles.includes(c)), `${name}: the governorate map has one tile per governorate (${r.psTiles.length})`, r.psTiles.join(','));
  ok(r.ukTiles.length === 12 && r.ukTiles.includes('S92000003') && r.ukTiles.includes('E12000007'),
     `${name}: the UK map has one tile per nation or region (${r.ukTiles.length})`, r.ukTiles.join(','));
  ok(r.shades >= 3, `${name}: tiles are shaded by count (${r.shades} shades)`);
  legendOk(r, name);
  ok(r.accessible, `${name}: every chart and map is an image with a title and a description`);
  ok(r.bars >= 8 && r.trendBars >= 5, `${name}: bar charts (${r.bars} bars) and the per-year trend (${r.trendBars} years) are drawn`);
  ok(r.govs.length === 16 && r.govs[0] === 'PS-JEN' && r.govs[15] === 'PS-RFH' && r.govTables >= 8,
     `${name}: a section per governorate in code list order (${r.govs.length}, ${r.govTables} with places)`);
  ok(r.countryRows.length >= 3, `${name}: the partner-country table has ${r.countryRows.length} rows`);
  ok(r.markup === 0 && r.text.includes('Friends </script><img src=x onerror=window.pwned=1> of Salfit') &&
     r.text.includes('Qarya <b>bold</b> </script>'), `${name}: names holding markup are shown as text, never run or drawn`);
  const codes = r.text.match(/\bPS-[A-Z]{3}\b|\b[ENSW]\d{8}\b|twk_/g);
  ok(!codes, `${name}: names, not codes or keys`, codes && codes.slice(0, 5).join(' '));
  if (lang === 'en') {
    ok(['Summary', 'Where the links are', 'Active links per year', 'Links by kind', 'Partner countries', 'Palestinian governorates']
      .every((h) => r.h2.includes(h)) && r.dir === 'ltr', `${name}: headings in words, left-to-right`, r.h2.join(' | '));
    ok(r.text.includes('Bethlehem') && r.text.includes('France') && r.text.includes('West Midlands') && r.text.includes('بيت ساحور'),
       `${name}: governorates, countries and UK regions by name; Arabic place names beside English ones`);
  } else {
    ok(r.dir === 'rtl' && r.lang === 'ar' && r.h1 === 'روابط التوأمة: تقرير المركز' && r.h2.includes('المحافظات الفلسطينية'),
       `${name}: Arabic and right-to-left (dir=${r.dir}, "${r.h1}")`);
    ok(r.text.includes('بيت لحم') && r.text.includes('فرنسا') && r.text.includes('لندن'),
       `${name}: governorates, countries and UK regions by their Arabic names`);
  }
}

async function main() {
  const browser = await launch(outdir);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    const foreign = [];
    page.on('request', (r) => { const u = r.url(); if (!u.startsWith(origin + '/') && !u.startsWith('file://') && !u.startsWith('data:')) foreign.push(u); });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));

    // ---- the live page in the web interface
    await page.goto(url, { waitUntil: 'networkidle0', timeout: WAIT });
    await page.waitForFunction(() => location.pathname === '/' && document.querySelector('main h1'), { timeout: WAIT });
    await page.evaluate(() => { localStorage.setItem('twlang', 'en'); });
    await page.goto(origin + '/#report', { waitUntil: 'networkidle0', timeout: WAIT });
    await page.waitForSelector('.report figure.map svg g.tile', { timeout: WAIT });
    const navOk = await page.evaluate(() => { const a = document.querySelector('#nav a[href="#report"]'); return a && a.getAttribute('aria-current') === 'page'; });
    ok(navOk, 'the web interface has a Report entry in its navigation, marked current');
    checkReport(await inspect(page), 'the live report (en)', 'en');
    await axe(page, 'the live report (en)');
    await page.screenshot({ path: path.join(outdir, 'live_en.png'), fullPage: false });
    await page.setViewport({ width: 360, height: 740, isMobile: true });
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    ok(w <= 360, `the live report fits a 360-pixel-wide screen (scroll width ${w}; wide tables scroll in place)`);
    await axe(page, 'the live report (en) on a 360-pixel screen');
    await page.setViewport({ width: 1100, height: 900 });
    await page.click('#lang');
    await page.waitForFunction(() => document.documentElement.dir === 'rtl' && document.querySelector('.report h1') &&
      document.querySelector('.report h1').textContent.includes('التوأمة'), { timeout: WAIT });
    checkReport(await inspect(page), 'the live report (ar)', 'ar');
    await axe(page, 'the live report (ar)');
    await page.screenshot({ path: path.join(outdir, 'live_ar.png'), fullPage: false });

    // ---- a small registry: a map whose most is 2, figures past a thousand
    if (fileSmall) {
      const sp = await browser.newPage();
      await sp.setViewport({ width: 1100, height: 900 });
      sp.on('pageerror', (e) => errors.push(e.message));
      await sp.goto('file://' + fileSmall, { waitUntil: 'load', timeout: WAIT });
      await sp.waitForFunction(() => document.documentElement.getAttribute('data-rendered') === 'yes', { timeout: WAIT });
      const r = await inspect(sp);
      legendOk(r, 'the small registry\'s file');
      ok(JSON.stringify(r.legends[0].words) === '["0","1+","2+"]', 'the small registry\'s file: the governorate map\'s legend is 0, 1+, 2+',
         JSON.stringify(r.legends[0].words));
      const kpis = await sp.evaluate(() => Array.from(document.querySelectorAll('.kpis li')).map((li) => li.innerText.replace(/\s+/g, ' ').trim()));
      ok(kpis.includes('1,002 Links') && kpis.includes('1,002 Unconfirmed links (stated by one side)'),
         'the small registry\'s file: figures past a thousand have their thousands grouped (1,002 links)', JSON.stringify(kpis));
      await sp.close();
    }

    // ---- the files twin report --html wrote
    for (const [file, lang] of [[fileEn, 'en'], [fileAr, 'ar']]) {
      const fp = await browser.newPage();
      await fp.setViewport({ width: 1100, height: 900 });
      const reqs = [];
      fp.on('request', (r) => { if (r.url() !== 'file://' + file) reqs.push(r.url()); });
      fp.on('pageerror', (e) => errors.push(e.message));
      await fp.goto('file://' + file, { waitUntil: 'load', timeout: WAIT });
      await fp.waitForFunction(() => document.documentElement.getAttribute('data-rendered') === 'yes', { timeout: WAIT });
      ok(reqs.length === 0, `the ${lang} file makes no request when opened (self-contained)`, reqs.slice(0, 5).join('\n'));
      checkReport(await inspect(fp), `the ${lang} file`, lang);
      await axe(fp, `the ${lang} file`);
      await fp.screenshot({ path: path.join(outdir, `file_${lang}.png`), fullPage: false });
      await fp.pdf({ path: path.join(outdir, `report_${lang}.pdf`), format: 'A4', preferCSSPageSize: true, printBackground: true });
      const size = fs.statSync(path.join(outdir, `report_${lang}.pdf`)).size;
      ok(size > 10000, `the ${lang} file prints to an A4 PDF (${size} bytes)`);
      if (lang === 'en') {
        await fp.emulateMediaType('print');
        const tables = await fp.evaluate(() => Array.from(document.querySelectorAll('.report table:not(.figures)')).map((t) => ({
          head: t.tHead ? t.tHead.rows[0].innerText.replace(/\s+/g, ' ').trim() : '',
          rows: Array.from(t.tBodies[0].rows).map((r) => (r.cells[0].querySelector('.pname') || r.cells[0]).innerText.replace(/\s+/g, ' ').trim()),
        })));
        const repeat = await fp.evaluate(() => getComputedStyle(document.querySelector('.report thead')).display);
        ok(repeat === 'table-header-group', `in print, table headers repeat on every page (thead ${repeat})`);
        fs.writeFileSync(path.join(outdir, 'tables_en.json'), JSON.stringify(tables));
      }
      await fp.close();
    }
    ok(errors.length === 0, 'no script error on any page', errors.slice(0, 5).join('\n'));
    ok(foreign.length === 0, 'the live page asked nothing of any server but this node', foreign.slice(0, 5).join('\n'));
  } finally {
    await closeBrowser(browser);
  }
}

run(main, 'report script');
