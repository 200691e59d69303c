// Members and invitations in a real browser (Debian's chromium, headless,
// puppeteer-core), for tests/integration/t_web_members.sh: two nodes, each
// with its interface, each in a browser context of its own (cookies do not
// tell ports apart).  On the hub's page an invitation is made and its code
// taken with the page's copy button; on the new node's page it is joined;
// on the hub's page the key the new node's page shows is vouched for; a
// group published on the new node's page arrives in the hub's registry;
// revoked from the hub's page (after a confirmation naming the
// organisation), member and group are gone.  Arabic pages right-to-left,
// axe-core and the keyboard on every new page.
//
// usage: node members.js HUB_URL HUB_ORIGIN NEW_URL NEW_ORIGIN OUTDIR CODEFILE
//   *_URL: the login addresses twin ui printed; CODEFILE: where the code the
//   page showed is written, for the caller to look for in the node logs.
// Prints "PASS: ..." / "FAIL: ..." lines (counted by the caller).  Every
// wait is bounded.
'use strict';
const fs = require('fs');
const path = require('path');

const [hubUrl, hubOrigin, newUrl, newOrigin, outdir, codeFile] = process.argv.slice(2);
const { pass, fail, ok, axe, keyboard, fits, waitText, run, launch, closeBrowser, loginPage } = require('./common');
const WAIT = 15000;
const ORG = 'Camden Abu Dis Friendship';

// Visits HASH again every second until SEL's text does (want true) or does
// not (want false) include TEXT; at most TRIES visits.
async function poll(page, hash, sel, text, want, tries) {
  for (let i = 0; i < tries; i++) {
    await page.evaluate((h) => { location.hash = '#nowhere'; location.hash = h; }, hash);
    try {
      await page.waitForSelector(sel, { timeout: WAIT });
      // The registry's count line is the last thing drawn.
      if (sel === '#results') await page.waitForFunction((s) => document.querySelector(s).textContent.match(/\d/), { timeout: WAIT }, sel);
    } catch (e) { /* drawn next time */ }
    const has = await page.evaluate((s, t) => { const e = document.querySelector(s); return !!e && e.textContent.includes(t); }, sel, text);
    if (has === want) return i + 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return 0;
}

async function login(browser, url, origin) {
  const L = await loginPage(browser, url, origin, WAIT);
  await L.page.evaluate(() => { location.hash = '#members'; });
  await waitText(L.page, 'main h1', 'Members');
  return L;
}

async function main() {
  const browser = await launch(outdir);
  try {
    const H = await login(browser, hubUrl, hubOrigin), hub = H.page;
    const N = await login(browser, newUrl, newOrigin), nw = N.page;

    // ---- the hub: an open network, an invitation
    await waitText(hub, 'main', 'Invitations');
    ok(await hub.evaluate(() => !!document.getElementById('j-code') && !document.getElementById('v-key')),
       'a node of an open network offers to join one and to invite, and has no members to vouch for yet');
    await axe(hub, 'members, open network (hub)');
    await keyboard(hub, 'members, open network (hub)');
    await fits(hub, 'members, open network (hub)');
    await hub.select('#i-exp', 'custom');
    ok(await hub.evaluate(() => !document.getElementById('i-num').closest('[hidden]')), 'choosing another expiry shows its number and unit');
    await keyboard(hub, 'the invitation form with a custom expiry');
    await hub.click('#i-num', { clickCount: 3 });
    await hub.type('#i-num', '91');
    await hub.select('#i-unit', '86400');
    await hub.click('#invite-go');
    await waitText(hub, '#invite-result', '90 days');
    ok(await hub.evaluate(() => !document.getElementById('i-code')), 'an expiry of 91 days is refused by the page, and no code is made');
    await hub.select('#i-exp', '43200');
    await hub.type('#i-addr', 'hub.example');
    await hub.click('#invite-go');
    await waitText(hub, '#invite-result', 'The node refused');
    const badAddr = await hub.evaluate(() => [document.getElementById('invite-result').textContent, !!document.getElementById('i-code')]);
    ok(badAddr[0].includes('HOST:PORT') && !badAddr[1], 'an address without a port is refused with the node\'s reason, and no code is shown', badAddr[0]);
    await hub.click('#i-addr', { clickCount: 3 });
    await hub.keyboard.press('Backspace');
    const t0 = Date.now();
    await hub.click('#invite-go');
    await hub.waitForSelector('#i-code', { timeout: WAIT });
    const inv = await hub.evaluate(() => ({
      code: document.getElementById('i-code').value,
      ro: document.getElementById('i-code').readOnly,
      focused: document.activeElement && document.activeElement.id,
      warn: document.querySelector('#invite-result .warn').textContent,
      text: document.getElementById('invite-result').textContent,
    }));
    ok(/^twi_[a-z0-9]+$/.test(inv.code) && inv.ro && inv.focused === 'i-code',
       'the code is shown in a read-only field, which gets focus', JSON.stringify(inv).slice(0, 300));
    ok(inv.warn.includes('privately'), 'with a warning to send it privately', inv.warn);
    const exp = await hub.evaluate(() => document.querySelector('#invite-result dd').textContent);
    const expOk = await hub.evaluate((shown, t) => {
      for (let s = -120; s <= 120; s++) if (new Date(t + 12 * 3600e3 + s * 1000).toLocaleString('en-GB') === shown) return true;
      return false;
    }, exp, t0);
    ok(expOk, `it expires in 12 hours (${exp})`);
    await hub.click('#i-code-copy');
    await waitText(hub, '#i-code-said', 'Copied');
    const clip = await hub.evaluate(() => navigator.clipboard.readText());
    ok(clip === inv.code, 'the copy button puts the code on the clipboard', clip.slice(0, 20));
    fs.writeFileSync(codeFile, clip + '\n');
    const kept = await hub.evaluate((c) => {
      const ls = Object.keys(localStorage).map((k) => localStorage.getItem(k)).join(' ');
      const ss = Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)).join(' ');
      return ls.includes(c) || ss.includes(c) || location.href.includes(c) || document.cookie.includes(c);
    }, clip);
    ok(!kept, 'the code is in no localStorage, sessionStorage, address or cookie');
    await axe(hub, 'an invitation made');
    await keyboard(hub, 'an invitation made');
    await fits(hub, 'an invitation made');
    await hub.evaluate(() => { location.hash = '#node'; });
    await waitText(hub, 'main h1', 'This node');
    await hub.evaluate(() => { location.hash = '#members'; });
    await hub.waitForSelector('#v-key', { timeout: WAIT });
    ok(await hub.evaluate((c) => !document.body.innerHTML.includes(c) && !document.getElementById('i-code'), clip),
       'the code is shown once: back on the page it is gone, and the hub, now root, offers the vouch form');

    // ---- the new node joins with the code
    await waitText(nw, 'main', 'Join a network');
    await axe(nw, 'members, open network (new node)');
    await nw.type('#j-code', clip.slice(0, 20) + (clip[20] === 'a' ? 'b' : 'a') + clip.slice(21));
    await nw.click('#join-go');
    await waitText(nw, '#join-result', 'The node refused');
    const refusal = await nw.evaluate(() => document.getElementById('join-result').textContent);
    ok(/mistyped|tampered|malformed|checksum/i.test(refusal), 'a code with one character changed is refused with the node\'s reason', refusal);
    await nw.click('#j-code', { clickCount: 3 });
    await nw.evaluate(() => { document.getElementById('j-code').value = ''; });
    // Pasted as a mail client might wrap it.
    await nw.type('#j-code', clip.slice(0, 40) + '\n' + clip.slice(40));
    await nw.type('#j-name', ORG);
    await nw.click('#join-go');
    await nw.waitForSelector('#j-send', { timeout: WAIT });
    const joined = await nw.evaluate(() => ({ key: document.getElementById('j-key').value, send: document.getElementById('j-send').value,
      code: document.getElementById('j-code').value, focused: document.activeElement && document.activeElement.id }));
    ok(/^twk_/.test(joined.key) && joined.send.includes('twin vouch ' + joined.key) && joined.send.includes(ORG) && joined.focused === 'j-send',
       'joined: the page shows this node\'s key and the twin vouch line for the inviter (focused)', JSON.stringify(joined));
    ok(joined.code === '', 'the code is cleared from the join form');
    await nw.click('#j-send-copy');
    await waitText(nw, '#j-send-said', 'Copied');
    ok(await nw.evaluate(() => navigator.clipboard.readText()) === joined.send, 'the vouch line\'s copy button puts it on the clipboard');
    // Where the browser does not allow the clipboard, the text is selected for Ctrl+C.
    await nw.evaluate(() => { navigator.clipboard.writeText = () => Promise.reject(new Error('not allowed')); });
    await nw.click('#j-key-copy');
    await waitText(nw, '#j-key-said', 'Ctrl+C');
    const sel = await nw.evaluate(() => { const f = document.activeElement; return [f.id, f.selectionStart, f.selectionEnd, f.value.length]; });
    ok(sel[0] === 'j-key' && sel[1] === 0 && sel[2] === sel[3], 'without the clipboard, Copy selects the whole key and says to press Ctrl+C', sel.join(' '));
    await axe(nw, 'joined');
    await keyboard(nw, 'joined');
    await fits(nw, 'joined');

    await nw.evaluate(() => { location.hash = '#node'; });
    await waitText(nw, 'main h1', 'This node');
    await nw.evaluate(() => { location.hash = '#members'; });
    await waitText(nw, '#my-admission', 'not admitted yet');
    ok(await nw.evaluate(() => !document.getElementById('j-code') && !!document.getElementById('i-exp')),
       'back on its members page, the new node says it is not admitted yet, and offers no join form any more');

    // ---- the hub vouches for the key the new node's page showed
    await axe(hub, 'members with the vouch form');
    await keyboard(hub, 'members with the vouch form');
    await hub.click('#vouch-go');
    await waitText(hub, '#vouch-result', 'Give a key');
    pass('an empty vouch form is refused by the page');
    const hubKey = await hub.evaluate(async () => {
      const c = (await (await fetch('/api/session')).json()).result.csrf;
      return (await (await fetch('/api/status', { method: 'POST', headers: { 'X-CSRF-Token': c }, body: '{}' })).json()).result.node;
    });
    await hub.type('#v-key', hubKey);
    await hub.type('#v-name', ORG);
    await hub.click('#vouch-go');
    await waitText(hub, '#vouch-result', 'The node refused');
    pass('vouching for the hub\'s own key is refused, with the node\'s reason: ' +
         (await hub.evaluate(() => document.getElementById('vouch-result').textContent)));
    await hub.evaluate(() => { document.getElementById('v-key').value = ''; document.getElementById('v-name').value = ''; });
    await hub.type('#v-key', joined.key);
    await hub.type('#v-name', ORG);
    await hub.select('#v-role', 'member');
    await hub.click('#vouch-go');
    await waitText(hub, 'main', ORG + ' is admitted');
    const row = await hub.evaluate((k) => {
      const b = document.querySelector(`main table button[data-key="${k}"]`);
      return b ? Array.from(b.closest('tr').children).map((td) => td.textContent) : null;
    }, joined.key);
    ok(row && row[0] === joined.key.slice(4, 14) && row[1] === ORG && row[2] === 'member' && row[3] === '1' && /\d{4}/.test(row[5]),
       'the new node is listed: fingerprint, name, role member, depth 1', JSON.stringify(row));
    await axe(hub, 'members with a member');
    await fits(hub, 'members with a member');

    // ---- a group published on the new node arrives at the hub
    await nw.evaluate(() => { location.hash = '#publish/group'; });
    await nw.waitForSelector('#f-nation', { timeout: WAIT });
    await nw.type('#f-slot', 'camden');
    await nw.type('#f-name', ORG + ' Group');
    await nw.select('#f-group_kind', 'friendship_group');
    await nw.select('#f-nation', 'england');
    await nw.click('#publish');
    await nw.waitForFunction(() => location.hash === '#mine', { timeout: WAIT });
    const t1 = Date.now();
    const visits = await poll(hub, '#registry?kind=group&q=', '#results', ORG + ' Group', true, 60);
    ok(visits > 0, `the group published on the new node's page arrives in the hub's registry (${((Date.now() - t1) / 1000).toFixed(1)} s)`);

    const adm = await poll(nw, '#members', '#my-admission', 'This node is admitted: member, depth 1', true, 30);
    ok(adm > 0, 'the new node\'s members page says it is admitted: member, depth 1');

    // ---- Arabic pages
    await hub.evaluate(() => { location.hash = '#members'; });
    await waitText(hub, 'main h1', 'Members');
    await hub.click('#lang');
    await hub.waitForFunction(() => document.documentElement.dir === 'rtl' && document.querySelector('main h1').textContent === 'الأعضاء' &&
      document.querySelector('main table'), { timeout: WAIT });
    const ar = await hub.evaluate((org) => {
      const n = Array.from(document.querySelectorAll('main table td span')).find((s) => s.textContent === org);
      return { body: getComputedStyle(document.body).direction, name: n ? getComputedStyle(n).direction : '',
        th: document.querySelector('main th').textContent, vouch: document.getElementById('vouch-go').textContent };
    }, ORG);
    ok(ar.body === 'rtl' && ar.name === 'ltr' && ar.th === 'بصمة المفتاح' && ar.vouch === 'تزكية',
       'the Arabic members page is right-to-left, the English name in it left-to-right', JSON.stringify(ar));
    await hub.screenshot({ path: path.join(outdir, 'web_members_ar.png'), fullPage: true });
    await axe(hub, 'members (ar)');
    await keyboard(hub, 'members (ar)');
    await fits(hub, 'members (ar)');
    await hub.evaluate(() => { location.hash = '#publish/group'; });
    await hub.waitForSelector('#h-name', { timeout: WAIT });
    const hints = await hub.evaluate(() => Array.from(document.querySelectorAll('main .hint')).map((h) => h.textContent));
    const latinOnly = hints.filter((h) => !/[\u0600-\u06ff]/.test(h));
    ok(hints.length > 5 && latinOnly.length === 0 && hints.includes('اسم الجمعية'),
       `every field help on the Arabic group form is in Arabic (${hints.length} hints)`, latinOnly.join('\n'));
    await hub.click('#lang');
    await hub.waitForFunction(() => document.documentElement.dir === 'ltr' && document.getElementById('h-name') &&
      document.getElementById('h-name').textContent === 'name of the association', { timeout: WAIT });
    pass('... and in English on the English page, as twin says it');

    // ---- revoke, with a confirmation naming the organisation
    await hub.evaluate(() => { location.hash = '#members'; });
    await hub.waitForSelector('main table button.danger', { timeout: WAIT });
    await hub.click(`main table button[data-key="${joined.key}"]`);
    await hub.waitForSelector('#revoke-yes', { timeout: WAIT });
    const ask = await hub.evaluate(() => ({ q: document.getElementById('revoke-q').textContent, yes: document.getElementById('revoke-yes').textContent,
      focused: document.activeElement && document.activeElement.id }));
    ok(ask.q.includes(ORG) && ask.yes.includes(ORG) && ask.focused === 'revoke-yes',
       'revoke asks first, naming the organisation, with focus on the confirmation', JSON.stringify(ask));
    await axe(hub, 'the revoke confirmation');
    await keyboard(hub, 'the revoke confirmation');
    await hub.click('#revoke-no');
    ok(await hub.evaluate((k) => !document.getElementById('revoke-yes') && !!document.querySelector(`main table button[data-key="${k}"]`), joined.key),
       'cancelled, nothing is revoked');
    await hub.click(`main table button[data-key="${joined.key}"]`);
    await hub.waitForSelector('#revoke-yes', { timeout: WAIT });
    await hub.keyboard.press('Enter');
    await waitText(hub, 'main', 'Revoked: ' + ORG);
    ok(await hub.evaluate((k) => !document.querySelector(`main table button[data-key="${k}"]`), joined.key),
       'confirmed with the keyboard, the member is gone from the hub\'s list');
    const gone = await poll(hub, '#registry?kind=group&q=', '#results', ORG + ' Group', false, 10);
    ok(gone > 0, 'and its group is gone from the hub\'s registry');

    // The page's English help texts are the schema's, as twin prints them;
    // every field has its Arabic one.
    const help = await hub.evaluate(async () => {
      const c = (await (await fetch('/api/session')).json()).result.csrf;
      const sc = (await (await fetch('/api/schema', { method: 'POST', headers: { 'X-CSRF-Token': c }, body: '{}' })).json()).result;
      const en = await (await fetch('/i18n/en.json')).json(), ar = await (await fetch('/i18n/ar.json')).json();
      const bad = [];
      let n = 0;
      sc.kinds.forEach((k) => [[k.kind, k.help]].concat(k.fields.map((f) => [k.kind + '.' + f.name, f.help])).forEach((p) => {
        n++;
        if (en['help.' + p[0]] !== p[1]) bad.push(p[0] + ': en.json has ' + JSON.stringify(en['help.' + p[0]]) + ', the schema ' + JSON.stringify(p[1]));
        if (!/[\u0600-\u06ff]/.test(ar['help.' + p[0]] || '')) bad.push(p[0] + ': no Arabic help');
      }));
      return { n, bad };
    });
    ok(help.n > 30 && help.bad.length === 0, `all ${help.n} help texts of the schema are in en.json as the schema has them, and in Arabic in ar.json`, help.bad.join('\n'));

    for (const [n, x] of [['hub', H], ['new node', N]]) {
      ok(x.csp.length === 0, `no Content-Security-Policy violation on the ${n}'s pages`, x.csp.join('\n'));
      ok(x.foreign.length === 0, `the ${n}'s pages asked for nothing outside it`, x.foreign.join('\n'));
    }
  } finally {
    await closeBrowser(browser);
  }
}

run(main, 'browser script');
