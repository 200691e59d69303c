/* twind's web interface: a page per hash route, each built from the same
 * operations twin uses (POST /api/OP).  Text from the registry is only ever
 * set as textContent, with dir="auto", never parsed as HTML. */
'use strict';
(function () {
  var csrf = '', strings = {}, lang = 'en', schema = null, me = '';
  var main = document.getElementById('main');

  /* ------------------------------------------------------------ helpers */
  function t(key, vars) {
    var s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    if (vars) Object.keys(vars).forEach(function (k) { s = s.split('{' + k + '}').join(String(vars[k])); });
    return s;
  }
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    });
    (kids || []).forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  /* User text (names in Latin or Arabic script): its own direction. */
  function utext(s, tag) { return el(tag || 'span', { dir: 'auto', text: s === undefined || s === null ? '' : String(s) }); }
  function api(op, args) {
    return fetch('/api/' + op, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(args || {})
    }).then(function (r) {
      if (r.status === 401) { location.replace('/login'); throw new Error('logged out'); }
      return r.json();
    });
  }
  function fmtTime(ms) { return ms ? new Date(ms).toLocaleString(lang === 'ar' ? 'ar' : 'en-GB') : t('node.never'); }
  /* A place has names in both scripts: the page's language first. */
  function title(rec) {
    var b = rec.body || {};
    if (lang === 'ar' && b.name_ar) return b.name_ar;
    return b.name || b.name_en || b.name_ar || b.key || rec.slot;
  }
  function otherName(rec) {
    var b = rec.body || {}, first = title(rec);
    var o = b.name_en && b.name_en !== first ? b.name_en : b.name_ar && b.name_ar !== first ? b.name_ar : '';
    return o ? el('span', { class: 'alt', dir: 'auto', text: o }) : null;
  }
  function show(nodes, heading) {
    main.textContent = '';
    main.appendChild(el('h1', { text: heading }));
    nodes.forEach(function (n) { if (n) main.appendChild(n); });
    document.title = heading + ' — ' + t('app.title');
  }
  function failure(j) { return el('p', { class: 'error', role: 'alert', dir: 'auto', text: t('err.refused') + ' ' + (j.error || '') }); }
  function table(cols, rows) {
    var head = el('tr', {}, cols.map(function (c) { return el('th', { scope: 'col', text: c }); }));
    return el('div', { class: 'table' }, [el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)])]);
  }
  function kv(pairs) {
    var dl = el('dl', { class: 'kv' });
    pairs.forEach(function (p) {
      if (p[1] === undefined) return;
      dl.appendChild(el('dt', { text: p[0] }));
      dl.appendChild(el('dd', {}, [typeof p[1] === 'object' ? p[1] : utext(p[1])]));
    });
    return dl;
  }
  function fieldLabel(kind, name) {
    var k = 'field.' + name;
    return Object.prototype.hasOwnProperty.call(strings, k) ? strings[k] : name;
  }
  function valueText(v) {
    if (Array.isArray(v)) return v.join('; ');
    if (v === true) return t('yes');
    if (v === false) return t('no');
    if (v && typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }
  function enumText(v) {
    var k = 'enum.' + v;
    return Object.prototype.hasOwnProperty.call(strings, k) ? strings[k] : v;
  }

  /* -------------------------------------------------------------- pages */
  function pageNode() {
    Promise.all([api('status'), api('peers')]).then(function (a) {
      var st = a[0], pe = a[1];
      if (!st.ok) { show([failure(st)], t('nav.node')); return; }
      var s = st.result, out = [];
      if (s.clock && s.clock.skewed)
        out.push(el('p', { class: 'warn', role: 'alert', text: t('node.clock', { min: Math.round(Math.abs(s.clock.median_offset_ms) / 60000) }) }));
      if (s.storage_full) out.push(el('p', { class: 'warn', role: 'alert', dir: 'auto', text: s.storage_full.message }));
      out.push(kv([
        [t('node.key'), el('span', { class: 'key', text: s.node })],
        [t('node.fingerprint'), el('span', { class: 'key', text: s.fingerprint })],
        [t('node.admission'), s.admission],
        [t('node.entries'), String(s.entries)],
        [t('node.members'), String(s.members)],
        [t('node.network'), el('span', { class: 'key', text: s.network })],
        [t('node.version'), s.version]
      ]));
      out.push(el('h2', { text: t('node.peers') }));
      var conns = pe.ok ? pe.result.connections : [];
      var prog = {};
      (s.peers || []).forEach(function (p) { prog[p.key || p.address] = p; });
      if (!conns.length) out.push(el('p', { text: t('node.nopeers') }));
      else out.push(table([t('node.peer'), t('node.state'), t('node.toreceive'), t('node.lastsync')], conns.map(function (c) {
        return el('tr', {}, [
          el('td', {}, [el('span', { class: 'key', text: c.fingerprint || c.address })]),
          el('td', { text: enumText(c.state) }),
          el('td', { text: String(c.to_receive) }),
          el('td', { text: fmtTime(c.last_sync_ms) })
        ]);
      })));
      show(out, t('nav.node'));
    });
  }

  function kindSelect(id, value, withAll) {
    var s = el('select', { id: id, name: 'kind' });
    if (withAll) s.appendChild(el('option', { value: '', text: t('reg.allkinds') }));
    (schema ? schema.kinds : []).forEach(function (k) {
      s.appendChild(el('option', { value: k.kind, selected: k.kind === value, text: t('kind.' + k.kind) }));
    });
    return s;
  }

  function pageRegistry(q) {
    var kind = q.kind || '', text = q.q || '';
    var ks = kindSelect('f-kind', kind, true);
    var qs = el('input', { id: 'f-q', type: 'search', name: 'q', value: text, dir: 'auto' });
    var form = el('form', { class: 'filters', role: 'search', onsubmit: function (ev) {
      ev.preventDefault();
      location.hash = '#registry?kind=' + encodeURIComponent(ks.value) + '&q=' + encodeURIComponent(qs.value.trim());
    } }, [
      el('div', {}, [el('label', { for: 'f-kind', text: t('reg.kind') }), ks]),
      el('div', {}, [el('label', { for: 'f-q', text: t('reg.search') }), qs]),
      el('div', {}, [el('button', { type: 'submit', text: t('reg.go') })])
    ]);
    var results = el('div', { id: 'results', 'aria-live': 'polite' });
    show([form, results], t('nav.registry'));
    var p = text ? api('search', { text: text, limit: 500 }) : api('list', { kind: kind || null, limit: 500 });
    p.then(function (j) {
      if (!j.ok) { results.appendChild(failure(j)); return; }
      var recs = j.result.records.filter(function (r) { return !kind || r.kind === kind; });
      results.appendChild(el('p', { text: t('reg.count', { n: recs.length }) }));
      if (recs.length) results.appendChild(table([t('reg.kind'), t('reg.name'), t('reg.author')], recs.map(function (r) {
        return el('tr', {}, [
          el('td', { text: t('kind.' + r.kind) }),
          el('td', {}, [el('a', { href: '#record/' + r.id, dir: 'auto', text: title(r) }), otherName(r)]),
          el('td', {}, [el('span', { class: 'key', text: r.fingerprint })])
        ]);
      })));
    });
  }

  function pageRecord(id) {
    api('show', { id: id }).then(function (j) {
      if (!j.ok) { show([failure(j)], t('rec.title')); return; }
      var r = j.result.records[0], out = [];
      var pairs = [[t('reg.kind'), t('kind.' + r.kind)], [t('rec.slot'), r.slot],
        [t('reg.author'), el('span', { class: 'key', text: r.author })],
        [t('rec.time'), fmtTime(r.ts)], [t('rec.verified'), r.verified ? t('yes') : t('no')]];
      if (r.confirmed !== undefined) pairs.push([t('rec.confirmed'), r.confirmed ? t('yes') : t('no')]);
      if (r.superseded_by) pairs.push([t('rec.superseded'), r.superseded_by]);
      out.push(kv(pairs));
      out.push(el('h2', { text: t('rec.fields') }));
      if (!r.body) out.push(el('p', { text: t('rec.deleted') }));
      else out.push(kv(Object.keys(r.body).map(function (k) {
        var v = r.body[k];
        return [fieldLabel(r.kind, k), typeof v === 'string' ? enumText(v) : valueText(v)];
      })));
      if (r.mine && r.body) out.push(el('p', {}, [el('a', { class: 'button', href: '#publish/' + r.kind + '/' + encodeURIComponent(r.slot), text: t('mine.edit') })]));
      show(out, title(r));
    });
  }

  function pageMine() {
    api('list', { author: me, limit: 1000 }).then(function (j) {
      var out = [];
      var kinds = (schema ? schema.kinds : []).filter(function (k) { return k.kind === 'group' || k.kind === 'place' || k.kind === 'link'; });
      out.push(el('div', { class: 'actions' }, kinds.map(function (k) {
        return el('a', { class: 'button', href: '#publish/' + k.kind, text: t('mine.new.' + k.kind) });
      })));
      if (!j.ok) { out.push(failure(j)); show(out, t('nav.mine')); return; }
      var recs = j.result.records;
      if (!recs.length) out.push(el('p', { text: t('mine.none') }));
      else out.push(table([t('reg.kind'), t('reg.name'), t('rec.slot'), t('mine.actions')], recs.map(function (r) {
        var del = el('button', { type: 'button', class: 'danger', text: t('mine.delete'), 'aria-label': t('mine.delete') + ' ' + r.kind + ' ' + r.slot,
          onclick: function () {
            if (!window.confirm(t('mine.confirm', { kind: t('kind.' + r.kind), slot: r.slot }))) return;
            api('delete', { kind: r.kind, slot: r.slot }).then(function (d) { if (d.ok) pageMine(); else main.appendChild(failure(d)); });
          } });
        return el('tr', {}, [
          el('td', { text: t('kind.' + r.kind) }),
          el('td', {}, [el('a', { href: '#record/' + r.id, dir: 'auto', text: title(r) }), otherName(r)]),
          el('td', {}, [el('span', { class: 'key', text: r.slot })]),
          el('td', {}, [el('a', { href: '#publish/' + r.kind + '/' + encodeURIComponent(r.slot), text: t('mine.edit'),
            'aria-label': t('mine.edit') + ' ' + r.kind + ' ' + r.slot }), ' ', del])
        ]);
      })));
      show(out, t('nav.mine'));
    });
  }

  /* A control for one schema field; its value is read back by readField. */
  function fieldControl(kind, f, value) {
    var id = 'f-' + f.name, desc = 'h-' + f.name + ' e-' + f.name, c;
    var codes = f.name === 'region' ? schema.uk_regions : f.name === 'subdivision' ? schema.governorates : null;
    if (f.type === 'enum' || codes) {
      c = el('select', { id: id, name: f.name, 'aria-describedby': desc, required: f.required });
      c.appendChild(el('option', { value: '', text: t('form.choose') }));
      (codes || f.values.map(function (v) { return { code: v }; })).forEach(function (o) {
        c.appendChild(el('option', { value: o.code, selected: o.code === value,
          text: codes ? o.code + ' — ' + o.name : enumText(o.code) }));
      });
    } else if (f.type === 'bool') {
      c = el('select', { id: id, name: f.name, 'aria-describedby': desc });
      [['', t('form.unset')], ['true', t('yes')], ['false', t('no')]].forEach(function (o) {
        c.appendChild(el('option', { value: o[0], selected: String(value) === o[0] || (value === undefined && o[0] === ''), text: o[1] }));
      });
    } else if (f.type === 'text' || f.type === 'list') {
      c = el('textarea', { id: id, name: f.name, dir: 'auto', 'aria-describedby': desc, required: f.required });
      c.value = value === undefined ? '' : Array.isArray(value) ? value.join('\n') : String(value);
    } else {
      var type = f.type === 'uint' ? 'number' : f.type === 'url' ? 'url' : f.type === 'email' ? 'email' : 'text';
      c = el('input', { id: id, name: f.name, type: type, dir: 'auto', 'aria-describedby': desc, required: f.required,
        min: f.type === 'uint' ? '0' : null, value: value === undefined ? '' : String(value) });
    }
    var hint = f.help + (f.type === 'list' ? ' ' + t('form.oneperline') : '') + (f.type === 'date' ? ' ' + t('form.date') : '');
    return el('div', { class: 'field' }, [
      el('label', { for: id }, [fieldLabel(kind, f.name) + (f.required ? ' *' : ''), el('span', { class: 'hint', id: 'h-' + f.name, lang: 'en', dir: 'ltr', text: hint })]),
      c,
      el('p', { class: 'error', id: 'e-' + f.name, dir: 'auto', 'aria-live': 'polite' })
    ]);
  }

  function readField(f) {
    var c = document.getElementById('f-' + f.name), v = c.value.trim();
    if (v === '') return undefined;
    if (f.type === 'bool') return v === 'true';
    if (f.type === 'uint') return Number(v);
    if (f.type === 'list') return v.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
    return v;
  }

  /* The page's own checks; the node's are the authority. */
  function checkField(f, v) {
    if (v === undefined) return f.required ? t('form.required') : '';
    if (f.type === 'uint' && !(Number.isInteger(v) && v >= 0)) return t('form.uint');
    if (f.type === 'url' && !/^https?:\/\/\S+$/.test(v)) return t('form.url');
    if (f.type === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v)) return t('form.email');
    if (f.type === 'date' && !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(v)) return t('form.datebad');
    return '';
  }

  function setError(name, msg) {
    var e = document.getElementById('e-' + name), c = document.getElementById('f-' + name);
    if (!e) return false;
    e.textContent = msg;
    if (c) { if (msg) c.setAttribute('aria-invalid', 'true'); else c.removeAttribute('aria-invalid'); }
    return true;
  }

  function pagePublish(kind, slot) {
    var ks = schema && schema.kinds.filter(function (k) { return k.kind === kind; })[0];
    if (!ks) { show([el('p', { text: t('form.nokind') })], t('nav.mine')); return; }
    var load = slot ? api('list', { author: me, kind: kind, limit: 10000 }) : Promise.resolve(null);
    load.then(function (j) {
      var body = {};
      if (j && j.ok) j.result.records.forEach(function (r) { if (r.slot === slot && r.body) body = r.body; });
      var top = el('p', { class: 'error', id: 'e-form', role: 'alert', dir: 'auto' });
      var done = el('p', { id: 'done', role: 'status' });
      var slotIn = el('input', { id: 'f-slot', name: 'slot', required: true, value: slot || '', pattern: '[a-z0-9._\\-]+',
        'aria-describedby': 'h-slot e-slot', readonly: slot ? true : null, dir: 'ltr' });
      var fields = [el('div', { class: 'field' }, [
        el('label', { for: 'f-slot' }, [t('form.slot') + ' *', el('span', { class: 'hint', id: 'h-slot', text: t('form.slothint') })]),
        slotIn, el('p', { class: 'error', id: 'e-slot', 'aria-live': 'polite' })])];
      ks.fields.forEach(function (f) { fields.push(fieldControl(kind, f, body[f.name])); });
      var form = el('form', { novalidate: true, onsubmit: function (ev) {
        ev.preventDefault();
        top.textContent = '';
        done.textContent = '';
        var out = {}, bad = false;
        setError('slot', /^[a-z0-9._-]+$/.test(slotIn.value.trim()) ? '' : t('form.slotbad'));
        if (document.getElementById('e-slot').textContent) bad = true;
        ks.fields.forEach(function (f) {
          var v = readField(f), m = checkField(f, v);
          setError(f.name, m);
          if (m) bad = true;
          if (v !== undefined) out[f.name] = v;
        });
        if (bad) { top.textContent = t('form.fix'); return; }
        api('publish', { kind: kind, slot: slotIn.value.trim(), body: out }).then(function (r) {
          if (r.ok) { location.hash = '#mine'; return; }
          /* The node's refusal names its field: "kind.field: reason". */
          var m = /^[a-z_]+\.([a-z_]+)(\[\d+\])?: ?(.*)$/.exec(r.error || '');
          if (m && setError(m[1], r.error)) {
            top.textContent = t('form.fix');
            document.getElementById('f-' + m[1]).focus();
          } else {
            top.textContent = t('err.refused') + ' ' + r.error;
          }
        });
      } }, fields.concat([top, done, el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'publish', text: t('form.publish') })])]));
      show([el('p', { lang: 'en', dir: 'ltr', class: 'hint', text: ks.help }), form], t('mine.new.' + kind));
    });
  }

  /* Bundles: the whole registry as a file, and a file's entries taken in
   * (verified by the node as if they came from a peer). */
  function pageBundles() {
    var file = el('input', { id: 'f-bundle', type: 'file', 'aria-describedby': 'h-bundle' });
    var res = el('div', { id: 'import-result', 'aria-live': 'polite' });
    var form = el('form', { onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      if (!file.files.length) { res.appendChild(el('p', { class: 'error', text: t('bundle.nofile') })); return; }
      res.appendChild(el('p', { text: t('bundle.reading') }));
      file.files[0].arrayBuffer().then(function (buf) {
        return fetch('/api/bundle_import', { method: 'POST', credentials: 'same-origin',
          headers: { 'Content-Type': 'application/octet-stream', 'X-CSRF-Token': csrf }, body: buf });
      }).then(function (r) { return r.json(); }).then(function (j) {
        if (!j.ok) { res.textContent = ''; res.appendChild(failure(j)); return; }
        var id = j.result.import, tries = 0;
        (function poll() {
          api('bundle_result', { import: id }).then(function (r) {
            if (!r.ok) { res.textContent = ''; res.appendChild(failure(r)); return; }
            if (!r.result.done) { if (++tries < 3000) setTimeout(poll, 200); return; }
            var c = r.result;
            res.textContent = '';
            res.appendChild(el('p', { class: 'ok', role: 'status', text: t('bundle.done') }));
            res.appendChild(kv(['entries', 'new', 'known', 'superseded', 'refused', 'damaged'].map(function (k) {
              return [t('bundle.' + k), String(c[k])];
            }).concat([[t('bundle.trailer'), c.trailer]])));
            if (!c.same_network) res.appendChild(el('p', { class: 'warn', text: t('bundle.othernet') }));
            if (c.problems.length) res.appendChild(el('ul', {}, c.problems.map(function (p) {
              return el('li', { dir: 'auto', text: p.offset + ': ' + p.reason });
            })));
          });
        })();
      });
    } }, [
      el('label', { for: 'f-bundle' }, [t('bundle.file'), el('span', { class: 'hint', id: 'h-bundle', text: t('bundle.filehint') })]),
      file,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'import', text: t('bundle.import') })])
    ]);
    show([
      el('h2', { text: t('bundle.exporttitle') }),
      el('p', { text: t('bundle.exporthint') }),
      el('p', {}, [el('a', { class: 'button', id: 'export', href: '/api/bundle_export', download: 'registry.twinbundle', text: t('bundle.export') })]),
      el('h2', { text: t('bundle.importtitle') }),
      form, res
    ], t('nav.bundles'));
  }

  /* The hub report: drawn by report.js from the report op's answer, as in
   * the file twin report --html writes. */
  function pageReport() {
    show([el('p', { role: 'status', text: t('report.loading') })], t('report.title'));
    api('report', {}).then(function (j) {
      if (!j.ok) { show([failure(j)], t('report.title')); return; }
      var root = el('div', { class: 'report', id: 'report' });
      main.textContent = '';
      main.appendChild(root);
      window.twReport.render(root, j.result, t, lang);
      document.title = t('report.title') + ' — ' + t('app.title');
    });
  }

  /* ------------------------------------------------------------- router */
  function route() {
    var h = location.hash.replace(/^#/, '') || 'node';
    var qi = h.indexOf('?'), path = qi < 0 ? h : h.slice(0, qi), q = {};
    if (qi >= 0) h.slice(qi + 1).split('&').forEach(function (p) {
      var kv2 = p.split('=');
      q[decodeURIComponent(kv2[0])] = decodeURIComponent((kv2[1] || '').replace(/\+/g, ' '));
    });
    var parts = path.split('/');
    document.querySelectorAll('#nav a').forEach(function (a) {
      if (a.getAttribute('href') === '#' + (parts[0] === 'record' ? 'registry' : parts[0] === 'publish' ? 'mine' : parts[0])) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    if (parts[0] === 'registry') pageRegistry(q);
    else if (parts[0] === 'record') pageRecord(parts[1] || '');
    else if (parts[0] === 'mine') pageMine();
    else if (parts[0] === 'bundles') pageBundles();
    else if (parts[0] === 'report') pageReport();
    else if (parts[0] === 'publish') pagePublish(parts[1] || '', parts[2] ? decodeURIComponent(parts[2]) : '');
    else pageNode();
    main.focus();
  }

  function applyLang() {
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === 'ar' ? 'rtl' : 'ltr';
    document.querySelectorAll('[data-t]').forEach(function (e) { e.textContent = t(e.getAttribute('data-t')); });
    var b = document.getElementById('lang');
    b.textContent = lang === 'ar' ? 'English' : 'العربية';
    b.setAttribute('lang', lang === 'ar' ? 'en' : 'ar');
    b.setAttribute('aria-label', t('lang.switch'));
  }
  function loadLang(l) {
    return fetch('/i18n/' + l + '.json').then(function (r) { return r.json(); }).then(function (s) {
      strings = s;
      lang = l;
      localStorage.setItem('twlang', l);
      applyLang();
    });
  }
  document.getElementById('lang').addEventListener('click', function () {
    loadLang(lang === 'ar' ? 'en' : 'ar').then(route);
  });

  var start = (localStorage.getItem('twlang') || navigator.language || 'en').slice(0, 2) === 'ar' ? 'ar' : 'en';
  fetch('/api/session', { credentials: 'same-origin' }).then(function (r) {
    if (r.status === 401) { location.replace('/login'); throw new Error('logged out'); }
    return r.json();
  }).then(function (j) {
    csrf = j.result.csrf;
    return Promise.all([loadLang(start), api('schema'), api('status')]);
  }).then(function (a) {
    schema = a[1].ok ? a[1].result : { kinds: [], governorates: [], uk_regions: [] };
    me = a[2].ok ? a[2].result.node : '';
    window.addEventListener('hashchange', route);
    route();
  });
})();
