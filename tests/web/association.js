// An association with several nodes, its next key and a recovery, in a real
// browser (Debian's chromium, headless, puppeteer-core), for
// tests/integration/t_web_association.sh: three nodes with their interfaces
// (the hub, the network's root; a1, association A's node; a2, a fresh
// machine), each in a browser context of its own.  On a1's page "Our
// association" a code is made; on a2's page it is entered; a2's answer is
// entered on a1's page; both pages list both nodes.  a1 removes a2 from a
// date, after a confirmation that says what that means; a1 plans the next
// key (the page says where its file went), and moves to it with that file;
// on the hub's members page A's lost key is recovered to a new key.  Wrong
// inputs get the page's words.  Arabic right-to-left, axe-core, the
// keyboard and 360 pixels on every new page.
//
// usage: node association.js HUB_URL HUB_ORIGIN A1_URL A1_ORIGIN A2_URL A2_ORIGIN OUTDIR STATEFILE A3_KEY
//   STATEFILE: lines "name value" the page showed (code, answer, plan file,
//   keys) for the calling script to check with twin.
'use strict';
const fs = require('fs');
const path = require('path');

const [hubUrl, hubOrigin, a1Url, a1Origin, a2Url, a2Origin, outdir, stateFile, a3Key] = process.argv.slice(2);
const { pass, fail, ok, axe, keyboard, fits, waitText, run, launch, closeBrowser, loginPage } = require('./common');
const WAIT = 15000;
const PASS = 'twelve quiet olive trees';
const state = (k, v) => fs.appendFileSync(stateFile, k + ' ' + v + '\n');

async function login(browser, url, origin, hash, h1) {
  const L = await loginPage(browser, url, origin, WAIT);
  await go(L.page, hash, h1);
  return L;
}
async function go(page, hash, h1) {
  await page.evaluate((h) => { location.hash = '#nowhere'; location.hash = h; }, hash);
  await waitText(page, 'main h1', h1);
  await page.waitForFunction(() => !document.querySelector('main p[role=status]') || document.querySelector('main h2'), { timeout: WAIT });
}
async function checks(page, name) { await axe(page, name); await keyboard(page, name); await fits(page, name); }
// The rows of the association's node list: [label, fingerprint, role, since, refused from].
const rows = (page) => page.evaluate(() => Array.from(document.querySelectorAll('#device-list tbody tr'))
  .map((tr) => Array.from(tr.children).slice(0, 5).map((td) => td.textContent).concat([tr.getAttribute('data-key')])));
// Visits the association page again every second until ROWS rows are listed.
async function pollRows(page, n, tries) {
  for (let i = 0; i < tries; i++) {
    await go(page, '#association', 'Our association');
    try { await page.waitForSelector('#device-list', { timeout: WAIT }); } catch (e) { /* next time */ }
    if ((await rows(page)).length === n) return i + 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return 0;
}
async function fill(page, sel, text) {
  await page.evaluate((s) => { document.querySelector(s).value = ''; }, sel);
  await page.type(sel, text);
}

async function main() {
  fs.writeFileSync(stateFile, '');
  const browser = await launch(outdir);
  try {
    const A1 = await login(browser, a1Url, a1Origin, '#association', 'Our association'), a1 = A1.page;
    const A2 = await login(browser, a2Url, a2Origin, '#association', 'Our association'), a2 = A2.page;
    const HB = await login(browser, hubUrl, hubOrigin, '#members', 'Members'), hub = HB.page;

    // ---- a1 alone: it holds the key, may add a node, has no plan yet
    await a1.waitForSelector('#device-add', { timeout: WAIT });
    let r = await rows(a1);
    ok(r.length === 1 && /first key/.test(r[0][2]) && /this node/.test(r[0][2]),
       'a1\'s page lists one node: its own, the first key, "this node"', JSON.stringify(r));
    const a1Key = r[0][5];
    state('a1key', a1Key);
    ok(await a1.evaluate(() => document.getElementById('plan-state').textContent === 'No next key is planned.' && !!document.getElementById('key-plan')),
       'a1 says no next key is planned and offers to plan one');
    ok(await a1.evaluate(() => document.querySelector('#nav a[href="#association"]').getAttribute('aria-current') === 'page'),
       'the menu marks "Our association" as the page shown');
    await checks(a1, 'Our association (alone, holding the key)');

    // ---- a code for the new machine
    await a1.click('#dv-go');
    await waitText(a1, '#add-result', 'Give the machine a name first');
    pass('a code without a machine name is refused by the page');
    await a1.type('#dv-label', 'office laptop');
    await a1.select('#dv-exp', '1800');
    await a1.click('#dv-go');
    await a1.waitForSelector('#dv-code', { timeout: WAIT });
    const made = await a1.evaluate(() => ({ code: document.getElementById('dv-code').value, exp: document.getElementById('dv-expires').textContent,
      steps: document.getElementById('dv-steps').textContent, warn: document.querySelector('#add-result .warn').textContent,
      focused: document.activeElement && document.activeElement.id, inUrl: location.href.includes('twd_') }));
    ok(/^twd_[a-z2-7]+$/.test(made.code) && /\d/.test(made.exp) && /Join an association/.test(made.steps) && /private/.test(made.warn) && made.focused === 'dv-code' && !made.inUrl,
       'a1 shows the code (focused), when it expires, how to use it, and to keep it private; not in the address', JSON.stringify(made).slice(0, 300));
    state('code', made.code);
    await a1.click('#dv-code-copy');
    await waitText(a1, '#dv-code-said', 'Copied');
    ok(await a1.evaluate(() => navigator.clipboard.readText()) === made.code, 'the copy button puts the code on the clipboard');
    await checks(a1, 'the code shown');

    // ---- a2 enters it; a wrong code first
    await a2.waitForSelector('#device-join', { timeout: WAIT });
    ok(await a2.evaluate(() => !!document.getElementById('device-add')), 'a fresh machine may also add nodes of its own (it is its own association)');
    await fill(a2, '#dj-code', made.code.slice(0, 60));
    await a2.click('#dj-go');
    await waitText(a2, '#djoin-result', 'This is not a code for adding a machine');
    pass('a cut code is refused in words: ' + await a2.evaluate(() => document.querySelector('#djoin-result p').textContent));
    await checks(a2, 'join refused');
    await fill(a2, '#dj-code', made.code.replace(/(.{50})/g, '$1\n'));
    await a2.click('#dj-go');
    await a2.waitForSelector('#dj-answer', { timeout: 30000 });
    const ans = await a2.evaluate(() => ({ a: document.getElementById('dj-answer').value, said: document.getElementById('djoin-result').textContent,
      code: document.getElementById('dj-code').value }));
    ok(/^twa_[a-z2-7]+$/.test(ans.a) && /joined/.test(ans.said) && ans.code === '',
       'a2 takes the code (line breaks and all): it has joined and shows its answer; the code is cleared', ans.said.slice(0, 200));
    state('answer', ans.a);
    await checks(a2, 'joined, the answer shown');

    // ---- a1 takes the answer; a mangled one first
    await a1.type('#da-answer', ans.a.slice(0, -3) + 'aaa');
    await a1.click('#da-go');
    await a1.waitForFunction(() => document.querySelector('#accept-result .error'), { timeout: WAIT });
    const bad = await a1.evaluate(() => document.querySelector('#accept-result .error').textContent);
    ok(/answer/.test(bad) && /The node said/.test(bad), 'a mangled answer is refused in words, with the node\'s reason under them', bad);
    await fill(a1, '#da-answer', ans.a);
    await a1.click('#da-go');
    await waitText(a1, '#as-said', 'office laptop is now a node of this association');
    r = await rows(a1);
    const dev = r.find((x) => x[0] === 'office laptop');
    ok(r.length === 2 && dev && /added node/.test(dev[2]) && /\d{4}/.test(dev[3]) && dev[4] === '—',
       'a1 lists both nodes: itself and "office laptop", an added node, since now, not refused', JSON.stringify(r));
    const a2Key = dev ? dev[5] : '';
    state('a2key', a2Key);
    await checks(a1, 'Our association with two nodes');
    const seen = await pollRows(a2, 2, 40);
    r = await rows(a2);
    ok(seen > 0 && r.some((x) => x[0] === 'office laptop' && /this node/.test(x[2])) && r.some((x) => /first key/.test(x[2]) && /signs now/.test(x[2])),
       `a2's page lists both nodes too, itself as "office laptop" (${seen} visits)`, JSON.stringify(r));
    ok(await a2.evaluate(() => !document.getElementById('device-add') && !document.getElementById('key-plan') && !document.getElementById('device-join') &&
      !document.querySelector('#device-list button')), 'a2, an added node, offers no code, no plan, no join and no remove');
    await checks(a2, 'Our association on an added node');

    // ---- Arabic
    await a1.click('#lang');
    await a1.waitForFunction(() => document.documentElement.dir === 'rtl' && document.querySelector('main h1').textContent === 'جمعيتنا' &&
      document.getElementById('device-list'), { timeout: WAIT });
    const ar = await a1.evaluate(() => {
      const n = Array.from(document.querySelectorAll('#device-list td span')).find((s) => s.textContent === 'office laptop');
      const latin = Array.from(document.querySelectorAll('main h2, main p, main label, main button, main th'))
        .map((e) => e.textContent).filter((s) => s && !/[\u0600-\u06ff]/.test(s) && !/^[0-9a-z_]+$/.test(s));
      return { body: getComputedStyle(document.body).direction, name: n ? n.getAttribute('dir') : '', latin };
    });
    ok(ar.body === 'rtl' && ar.name === 'auto' && ar.latin.length === 0,
       'the Arabic page is right-to-left, the machine\'s name in its own direction, and no English text on it', JSON.stringify(ar));
    await a1.screenshot({ path: path.join(outdir, 'web_association_ar.png'), fullPage: true });
    await checks(a1, 'Our association (ar)');
    await a1.click('#lang');
    await a1.waitForFunction(() => document.documentElement.dir === 'ltr' && document.getElementById('device-list'), { timeout: WAIT });

    // ---- a1 removes a2, from a date, after saying what that means
    await a1.click(`#device-list button[data-key="${a2Key}"]`);
    await a1.waitForSelector('#dr-yes', { timeout: WAIT });
    const ask = await a1.evaluate(() => ({ q: document.getElementById('dr-q').textContent, what: document.getElementById('dr-what').textContent,
      focused: document.activeElement && document.activeElement.id }));
    ok(/office laptop/.test(ask.q) && /will be refused everywhere; its earlier entries stay/.test(ask.what) && ask.focused === 'dr-from',
       'remove asks first: which machine, and that what it signs after the date is refused everywhere and its earlier entries stay', JSON.stringify(ask));
    await checks(a1, 'the remove confirmation');
    await a1.click('#dr-no');
    ok(await a1.evaluate(() => !document.getElementById('dr-yes')), 'cancelled, nothing happens');
    await a1.click(`#device-list button[data-key="${a2Key}"]`);
    await a1.waitForSelector('#dr-from', { timeout: WAIT });
    // From ten minutes from now: the field's own value, set as a user would type it.
    const from = await a1.evaluate(() => {
      const d = new Date(Date.now() + 600000 - new Date().getTimezoneOffset() * 60000);
      const f = document.getElementById('dr-from');
      f.value = d.toISOString().slice(0, 16);
      f.dispatchEvent(new Event('input'));
      return new Date(f.value).getTime();
    });
    ok(await a1.evaluate(() => /refused everywhere/.test(document.getElementById('dr-what').textContent)), 'the explanation follows the date');
    state('revokefrom', from);
    await a1.click('#dr-yes');
    await waitText(a1, '#as-said', 'office laptop is removed');
    r = await rows(a1);
    const gone = r.find((x) => x[5] === a2Key);
    ok(gone && /\d{4}/.test(gone[4]) && !(await a1.evaluate((k) => !!document.querySelector(`#device-list button[data-key="${k}"]`), a2Key)),
       'a1 lists a2 with the date its entries are refused from, and no remove button any more', JSON.stringify(gone));

    // ---- the next key: planned into a file, then moved to
    await a1.type('#kp-pass', PASS);
    await a1.type('#kp-pass2', PASS + ' ');
    await a1.click('#kp-go');
    await waitText(a1, '#plan-result', 'The two passphrases differ');
    await fill(a1, '#kp-pass', 'short');
    await fill(a1, '#kp-pass2', 'short');
    await a1.click('#kp-go');
    await waitText(a1, '#plan-result', 'too short');
    pass('differing and short passphrases are refused by the page');
    await fill(a1, '#kp-pass', PASS);
    await fill(a1, '#kp-pass2', PASS);
    await a1.click('#kp-go');
    await a1.waitForSelector('#plan-path', { timeout: 30000 });
    const plan = await a1.evaluate(() => ({ file: document.getElementById('plan-path').textContent, box: document.getElementById('plan-file').textContent,
      state: document.getElementById('plan-state').textContent, pass: Array.from(document.querySelectorAll('input[type=password]')).map((i) => i.value).join('') }));
    ok(/\/next-key-[a-z0-9]+\.twinkey$/.test(plan.file) && /USB stick/.test(plan.box) && /delete it from this computer/.test(plan.box) &&
       /planned/.test(plan.state) && plan.pass === '',
       'planned: the page says where the key file went and to move it to a USB stick, off this computer', JSON.stringify(plan));
    state('planfile', plan.file);
    await checks(a1, 'the next key planned');
    await a1.click('#kr-go');
    await waitText(a1, '#rotate-result', 'Choose the next-key file first');
    const input = await a1.$('#kr-file');
    await input.uploadFile(plan.file);
    await a1.type('#kr-pass', PASS + 'x');
    await a1.click('#kr-go');
    await a1.waitForFunction(() => document.querySelector('#rotate-result .error'), { timeout: 30000 });
    ok(/Wrong passphrase/.test(await a1.evaluate(() => document.querySelector('#rotate-result .error').textContent)),
       'a wrong passphrase is refused in words');
    await fill(a1, '#kr-pass', PASS);
    await a1.click('#kr-go');
    await waitText(a1, '#as-said', 'The association moved from key', 30000);
    r = await rows(a1);
    const succ = r.find((x) => /next key/.test(x[2]));
    ok(succ && /signs now/.test(succ[2]) && /this node/.test(succ[2]) && r.find((x) => x[5] === a1Key && /first key/.test(x[2]) && !/signs now/.test(x[2])),
       'moved: a1 now signs with the next key; the first key is listed, no longer signing', JSON.stringify(r));
    state('a1new', succ ? succ[5] : '');
    ok(await a1.evaluate(() => /No next key is planned/.test(document.getElementById('plan-state').textContent)), 'and a next key can be planned again');
    await checks(a1, 'after the move to the next key');

    // ---- the hub, A's voucher and the root: A lost its laptop
    await go(hub, '#members', 'Members');
    await hub.waitForSelector('#recover', { timeout: WAIT });
    const opts = await hub.evaluate(() => Array.from(document.querySelectorAll('#rc-key option')).map((o) => o.value));
    ok(opts.length === 1 && opts[0] === a1Key, 'the hub\'s members page offers to recover the association it vouched for (and only that)', opts.join(' '));
    await checks(hub, 'members with the recovery form');
    await hub.type('#rc-next', 'twk_notakey');
    await hub.click('#rc-go');
    await waitText(hub, '#recover-result', 'This is not a node key');
    await fill(hub, '#rc-next', a3Key.slice(0, -2) + (a3Key.endsWith('a') ? 'bb' : 'aa'));
    await hub.click('#rc-go');
    await hub.waitForFunction(() => document.querySelector('#recover-result .error'), { timeout: WAIT });
    pass('a mistyped key is refused: ' + await hub.evaluate(() => document.querySelector('#recover-result').textContent).then((s) => s.slice(0, 160)));
    await fill(hub, '#rc-next', a3Key);
    await hub.type('#rc-lost', succ ? succ[5] : '');
    ok(await hub.evaluate(() => /from .* on, what the lost key signed will be refused everywhere/.test(document.getElementById('rc-what').textContent)),
       'the form says what a recovery does, with the date');
    // With the keyboard, as a volunteer without a mouse would.
    await hub.focus('#rc-go');
    await hub.keyboard.press('Enter');
    await hub.waitForSelector('#rc-done', { timeout: WAIT });
    const done = await hub.evaluate(() => ({ c: document.getElementById('rc-done').className, t: document.getElementById('rc-done').textContent }));
    ok(done.c === 'ok' && done.t.includes(a3Key.slice(4, 14)) && /refused on every node/.test(done.t),
       'the hub recovered A\'s lost key to the new machine\'s key', JSON.stringify(done));
    await checks(hub, 'the recovery done');

    for (const [n, x] of [['hub', HB], ['a1', A1], ['a2', A2]]) {
      ok(x.csp.length === 0, `no Content-Security-Policy violation on ${n}'s pages`, x.csp.join('\n'));
      ok(x.foreign.length === 0, `${n}'s pages asked for nothing outside it`, x.foreign.join('\n'));
    }
  } finally {
    await closeBrowser(browser);
  }
}

run(main, 'browser script');
