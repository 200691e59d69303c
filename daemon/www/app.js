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
  /* Each page view has a generation (route() counts them).  A page draws
   * itself when its answers arrive, so an answer for a page the user has
   * already left is dropped: it would draw over the page shown now. */
  var routeGen = 0;
  function api(op, args) {
    var gen = routeGen;
    return fetch('/api/' + op, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(args || {})
    }).then(function (r) {
      if (r.status === 401) { location.replace('/login'); throw new Error('logged out'); }
      return r.json();
    }).then(function (j) {
      return gen === routeGen ? j : new Promise(function () {});
    });
  }
  /* A count, its thousands grouped (1,002,056), Latin digits as elsewhere. */
  function fmtNum(n) { return Number(n || 0).toLocaleString(lang === 'ar' ? 'ar-u-nu-latn' : 'en-GB'); }
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
  /* A schema help text in the page's language: help.KIND or help.KIND.FIELD
   * of the translation file, else the schema's own (English) text. */
  function helpText(key, fallback) {
    var k = 'help.' + key;
    return Object.prototype.hasOwnProperty.call(strings, k) ? strings[k] : fallback;
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
        [t('node.entries'), fmtNum(s.entries)],
        [t('node.members'), fmtNum(s.members)],
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
          el('td', { text: fmtNum(c.to_receive) }),
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

  /* The registry, one page of REG_PAGE records at a time, filtered by the
   * list op itself (kind, where, confirmed) and paged with its cursor: the
   * page never holds more than one page of a registry of 100 000 records.
   * The filters are in the hash, so a view can be bookmarked. */
  var REG_PAGE = 100;
  var regFilters = [['gov', 'place', 'subdivision'], ['nation', 'group', 'nation'], ['status', 'link', 'status'], ['confirmed', 'link', null]];
  function schemaField(kind, name) {
    var k = schema && schema.kinds.filter(function (x) { return x.kind === kind; })[0];
    return k ? k.fields.filter(function (f) { return f.name === name; })[0] : null;
  }
  function filterSelect(f, value) {
    var s = el('select', { id: 'f-' + f[0], name: f[0] });
    var opts = [['', t('reg.any')]];
    if (f[0] === 'gov') (schema ? schema.governorates : []).forEach(function (o) { opts.push([o.code, o.code + ' — ' + o.name]); });
    else if (f[0] === 'confirmed') opts.push(['yes', t('yes')], ['no', t('no')]);
    else ((schemaField(f[1], f[2]) || {}).values || []).forEach(function (v) { opts.push([v, enumText(v)]); });
    opts.forEach(function (o) { s.appendChild(el('option', { value: o[0], selected: o[0] === value, text: o[1] })); });
    return s;
  }
  function regHash(q) {
    return '#registry?' + ['kind', 'gov', 'nation', 'status', 'confirmed', 'q'].filter(function (k) { return q[k]; })
      .map(function (k) { return k + '=' + encodeURIComponent(q[k]); }).join('&');
  }
  function regDetail(r) {
    var b = r.body || {};
    if (r.kind === 'link') return [enumText(b.status || ''), r.confirmed ? t('reg.confirmedyes') : t('reg.confirmedno')].join(' · ');
    if (r.kind === 'place') return [b.subdivision ? govName(b.subdivision) : '', b.kind ? enumText(b.kind) : ''].filter(Boolean).join(' · ');
    if (r.kind === 'group') return b.nation ? enumText(b.nation) : '';
    return '';
  }
  function govName(code) {
    var g = (schema ? schema.governorates : []).filter(function (o) { return o.code === code; })[0];
    return g ? g.name : code;
  }
  function linkTitle(r) {
    var b = r.body || {};
    var place = lang === 'ar' && r.place_name_ar ? r.place_name_ar : r.place_name;
    return (r.group_name || b.group || b.party_key || '?') + ' — ' + (place || b.place || '?');
  }
  function regRows(recs) {
    return table([t('reg.kind'), t('reg.name'), t('reg.detail'), t('reg.author')], recs.map(function (r) {
      return el('tr', {}, [
        el('td', { text: t('kind.' + r.kind) }),
        el('td', {}, [el('a', { href: '#record/' + r.id, dir: 'auto', text: r.kind === 'link' ? linkTitle(r) : title(r) }), r.kind === 'link' ? null : otherName(r),
          r.superseded_by ? el('span', { class: 'alt', text: t('reg.superseded') }) : null]),
        el('td', { dir: 'auto', text: regDetail(r) }),
        el('td', {}, [el('span', { class: 'key', text: r.fingerprint })])
      ]);
    }));
  }
  function pageRegistry(q) {
    var kind = q.kind || '', text = q.q || '';
    regFilters.forEach(function (f) { if (q[f[0]] && !kind) kind = f[1]; });
    var ks = kindSelect('f-kind', kind, true);
    var qs = el('input', { id: 'f-q', type: 'search', name: 'q', value: text, dir: 'auto' });
    var fdivs = regFilters.map(function (f) {
      var d = el('div', { 'data-kind': f[1] }, [el('label', { for: 'f-' + f[0], text: t('reg.f.' + f[0]) }), filterSelect(f, q[f[0]] || '')]);
      d.hidden = kind !== f[1];
      return d;
    });
    ks.addEventListener('change', function () { fdivs.forEach(function (d) { d.hidden = ks.value !== d.getAttribute('data-kind'); }); });
    var form = el('form', { class: 'filters', role: 'search', onsubmit: function (ev) {
      ev.preventDefault();
      var n = { kind: ks.value, q: qs.value.trim() };
      regFilters.forEach(function (f) { if (ks.value === f[1]) n[f[0]] = document.getElementById('f-' + f[0]).value; });
      location.hash = regHash(n);
    } }, [el('div', {}, [el('label', { for: 'f-kind', text: t('reg.kind') }), ks])].concat(fdivs).concat([
      el('div', {}, [el('label', { for: 'f-q', text: t('reg.search') }), qs]),
      el('div', {}, [el('button', { type: 'submit', text: t('reg.go') })])
    ]));
    var results = el('div', { id: 'results', 'aria-live': 'polite' });
    show([form, results], t('nav.registry'));
    if (text) {
      api('search', { text: text, limit: REG_PAGE }).then(function (j) {
        if (!j.ok) { results.appendChild(failure(j)); return; }
        var recs = j.result.records.filter(function (r) { return !kind || r.kind === kind; });
        results.appendChild(el('p', { id: 'reg-count', text: t('reg.count', { n: recs.length }) }));
        if (recs.length) results.appendChild(regRows(recs));
      });
      return;
    }
    var where = {}, args = { kind: kind || null, limit: REG_PAGE };
    if (q.gov && kind === 'place') where.subdivision = q.gov;
    if (q.nation && kind === 'group') where.nation = q.nation;
    if (q.status && kind === 'link') where.status = q.status;
    if (Object.keys(where).length) args.where = where;
    if (q.confirmed && kind === 'link') args.confirmed = q.confirmed === 'yes';
    var cursors = [null];       /* cursors[i]: the "after" of page i */
    function load(i) {
      args.after = cursors[i];
      api('list', args).then(function (j) {
        results.textContent = '';
        if (!j.ok) { results.appendChild(failure(j)); return; }
        var recs = j.result.records, next = j.result.next;
        cursors.length = i + 1;
        if (next) cursors.push(next);
        var from = i * REG_PAGE + 1;
        results.appendChild(el('p', { id: 'reg-count', text: recs.length ? t('reg.range', { from: from, to: from + recs.length - 1 }) + (next ? '' : ' ' + t('reg.end')) : t('reg.count', { n: 0 }) }));
        if (recs.length) results.appendChild(regRows(recs));
        var nav = el('nav', { class: 'actions', 'aria-label': t('reg.pages') }, [
          i > 0 ? el('button', { type: 'button', id: 'reg-prev', text: t('reg.prev'), onclick: function () { load(i - 1); } }) : null,
          next ? el('button', { type: 'button', id: 'reg-next', text: t('reg.next'), onclick: function () { load(i + 1); } }) : null
        ]);
        if (nav.childNodes.length) results.appendChild(nav);
        var h = document.getElementById('reg-count');
        if (i > 0 && h) { h.setAttribute('tabindex', '-1'); h.focus(); }
      });
    }
    load(0);
  }

  /* The name a key publishes under: its group or place record, if any. */
  function authorName(key) {
    return Promise.all([api('list', { author: key, kind: 'group', limit: 1 }), api('list', { author: key, kind: 'place', limit: 1 })])
      .then(function (a) {
        var r = (a[0].ok && a[0].result.records[0]) || (a[1].ok && a[1].result.records[0]);
        return r ? title(r) : '';
      });
  }
  /* Every statement of a link: this one and the other side's, each with
   * its author, and whether two different authors make it confirmed. */
  function linkStatements(r, box) {
    api('list', { kind: 'link', pair_of: r.id, limit: REG_PAGE }).then(function (j) {
      if (!j.ok) { box.appendChild(failure(j)); return; }
      var st = j.result.records;
      return Promise.all(st.map(function (x) { return authorName(x.author); })).then(function (names) {
        box.appendChild(el('h2', { id: 'stmts', text: t('rec.statements') }));
        box.appendChild(el('p', { id: 'stmt-state', class: r.confirmed ? '' : 'warn', text: r.confirmed ? t('rec.confirmedby', { n: st.length }) : t('rec.unconfirmed') }));
        box.appendChild(table([t('rec.by'), t('field.formality'), t('field.status'), t('field.since'), t('rec.statement')], st.map(function (x, i) {
          var b = x.body || {};
          return el('tr', { class: 'stmt' }, [
            el('td', {}, [names[i] ? utext(names[i]) : null, ' ', el('span', { class: 'key', text: x.fingerprint })]),
            el('td', { text: b.formality ? enumText(b.formality) : '' }),
            el('td', { text: b.status ? enumText(b.status) : '' }),
            el('td', { text: b.since || '' }),
            el('td', {}, [x.id === r.id ? el('span', { text: t('rec.thisone') }) : el('a', { href: '#record/' + x.id, text: t('rec.open') })])
          ]);
        })));
      });
    });
  }
  /* A listing superseded by its identity's own record: a link to that record. */
  function supersededLink(r, dd) {
    var k = r.superseded_by, sl = k.indexOf('/');
    api('show', { kind: r.kind, slot: k.slice(sl + 1) }).then(function (j) {
      var o = j.ok && j.result.records.filter(function (x) { return x.author === k.slice(0, sl); })[0];
      if (o) { dd.textContent = ''; dd.appendChild(el('a', { id: 'superseded-by', href: '#record/' + o.id, dir: 'auto', text: title(o) })); }
    });
  }

  function pageRecord(id) {
    api('show', { id: id }).then(function (j) {
      if (!j.ok) { show([failure(j)], t('rec.title')); return; }
      var r = j.result.records[0], out = [], sup = null;
      var pairs = [[t('reg.kind'), t('kind.' + r.kind)], [t('rec.slot'), r.slot],
        [t('reg.author'), el('span', { class: 'key', text: r.author })],
        [t('rec.time'), fmtTime(r.ts)], [t('rec.verified'), r.verified ? t('yes') : t('no')]];
      if (r.confirmed !== undefined) pairs.push([t('rec.confirmed'), r.confirmed ? t('yes') : t('no')]);
      if (r.superseded_by) {
        sup = el('span', { dir: 'auto', text: r.superseded_by_name || r.superseded_by });
        pairs.push([t('rec.superseded'), sup]);
      }
      out.push(kv(pairs));
      var stmts = el('div', { id: 'statements' });
      if (r.kind === 'link' && r.body) out.push(stmts);
      out.push(el('h2', { text: t('rec.fields') }));
      if (!r.body) out.push(el('p', { text: t('rec.deleted') }));
      else out.push(kv(Object.keys(r.body).map(function (k) {
        var v = r.body[k];
        return [fieldLabel(r.kind, k), typeof v === 'string' ? enumText(v) : valueText(v)];
      })));
      if (r.mine && r.body) out.push(el('p', {}, [el('a', { class: 'button', href: '#publish/' + r.kind + '/' + encodeURIComponent(r.slot), text: t('mine.edit') })]));
      show(out, r.kind === 'link' && r.body ? linkTitle(r) : title(r));
      if (r.kind === 'link' && r.body) linkStatements(r, stmts);
      if (sup) supersededLink(r, sup);
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
    var hint = helpText(kind + '.' + f.name, f.help) + (f.type === 'list' ? ' ' + t('form.oneperline') : '') + (f.type === 'date' ? ' ' + t('form.date') : '');
    return el('div', { class: 'field' }, [
      el('label', { for: id }, [fieldLabel(kind, f.name) + (f.required ? ' *' : ''), el('span', { class: 'hint', id: 'h-' + f.name, text: hint })]),
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
      show([el('p', { class: 'hint', text: helpText(kind, ks.help) }), form], t('mine.new.' + kind));
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
              return [t('bundle.' + k), fmtNum(c[k])];
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

  /* ------------------------------------------ members and invitations
   * The members op's list with a vouch form and a revoke that asks first,
   * naming the organisation; invitations (invite) and, on a node of no
   * network yet, joining one (join).  An invitation code holds the network
   * key: it is shown once, in a read-only field, and kept nowhere else (not
   * in the address, localStorage or the console). */
  var INVITE_MAX_S = 7776000;   /* TW_INVITE_TTL_MAX_S, 90 days: the node checks it too */
  function fingerprint(key) { return String(key || '').slice(4, 14); }
  /* A read-only field with a copy button: the clipboard where the browser
   * allows it, else the text is selected for Ctrl+C. */
  function copyField(id, label, value, multi) {
    var f = el(multi ? 'textarea' : 'input', { id: id, readonly: true, dir: 'ltr', spellcheck: 'false', autocomplete: 'off',
      class: 'key copy', 'aria-describedby': id + '-said' });
    f.value = value;
    var said = el('p', { id: id + '-said', class: 'hint', 'aria-live': 'polite' });
    var b = el('button', { type: 'button', class: 'plain', id: id + '-copy', text: t('mem.copy'), onclick: function () {
      var sel = function () { f.focus(); f.select(); said.textContent = t('mem.selected'); };
      if (navigator.clipboard && navigator.clipboard.writeText)
        navigator.clipboard.writeText(f.value).then(function () { said.textContent = t('mem.copied'); }, sel);
      else sel();
    } });
    return el('div', { class: 'field' }, [el('label', { for: id, text: label }), f, el('div', { class: 'actions' }, [b]), said]);
  }
  function memberRows(m, self, confirmBox) {
    return m.members.map(function (x) {
      var who = x.name || fingerprint(x.key);
      var act = x.key === self || x.role === 'root' ? '' : el('button', { type: 'button', class: 'danger', text: t('mem.revoke'),
        'aria-label': t('mem.revoke') + ' ' + who, 'data-key': x.key, onclick: function () { askRevoke(x, confirmBox); } });
      return el('tr', {}, [
        el('td', {}, [el('span', { class: 'key', title: x.key, text: fingerprint(x.key) })]),
        el('td', {}, [utext(x.name)]),
        el('td', { text: t('mem.role.' + x.role) }),
        el('td', { text: String(x.depth) }),
        el('td', {}, x.voucher ? [utext(x.voucher_name || fingerprint(x.voucher))] : [t('mem.none')]),
        el('td', { text: x.since ? fmtTime(x.since) : t('mem.none') }),
        el('td', {}, [act])
      ]);
    });
  }
  /* The confirmation step: a region naming the organisation, focus moved to it. */
  function askRevoke(x, box) {
    var who = x.name || fingerprint(x.key);
    box.textContent = '';
    var yes = el('button', { type: 'button', class: 'danger', id: 'revoke-yes', text: t('mem.revokeyes', { name: who }), onclick: function () {
      yes.disabled = true;
      api('revoke', { key: x.key }).then(function (r) {
        if (!r.ok) { box.textContent = ''; box.appendChild(failure(r)); return; }
        pageMembers(t('mem.revoked', { name: who }) + (r.result.note ? ' ' + r.result.note : ''));
      });
    } });
    box.appendChild(el('div', { class: 'warn', role: 'group', 'aria-labelledby': 'revoke-q' }, [
      el('p', { id: 'revoke-q', dir: 'auto', text: t('mem.revokeq', { name: who }) }),
      el('p', { text: t('mem.revokewhat') }),
      el('div', { class: 'actions' }, [yes, el('button', { type: 'button', class: 'plain', id: 'revoke-no', text: t('mem.cancel'),
        onclick: function () { box.textContent = ''; } })])
    ]));
    yes.focus();
  }
  function vouchForm() {
    var res = el('div', { id: 'vouch-result', 'aria-live': 'polite' });
    var key = el('input', { id: 'v-key', name: 'key', required: true, dir: 'ltr', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'h-v-key' });
    var name = el('input', { id: 'v-name', name: 'name', required: true, dir: 'auto', 'aria-describedby': 'h-v-name' });
    var role = el('select', { id: 'v-role', name: 'role' }, ['member', 'hub'].map(function (r) { return el('option', { value: r, text: t('mem.role.' + r) }); }));
    return el('form', { id: 'vouch', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      var k = key.value.trim(), n = name.value.trim();
      if (!/^twk_[a-z0-9]+$/.test(k) || !n) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('mem.vouchbad') })); return; }
      api('vouch', { key: k, name: n, role: role.value }).then(function (r) {
        if (!r.ok) { res.appendChild(failure(r)); return; }
        pageMembers(t(r.result.admitted ? 'mem.vouched' : 'mem.vouchednot', { name: n }) + (r.result.note ? ' ' + r.result.note : ''));
      });
    } }, [
      el('label', { for: 'v-key' }, [t('mem.key') + ' *', el('span', { class: 'hint', id: 'h-v-key', text: t('mem.keyhint') })]), key,
      el('label', { for: 'v-name' }, [t('mem.name') + ' *', el('span', { class: 'hint', id: 'h-v-name', text: t('mem.namehint') })]), name,
      el('label', { for: 'v-role', text: t('mem.role') }), role,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'vouch-go', text: t('mem.vouch') })]), res
    ]);
  }
  function inviteForm() {
    var res = el('div', { id: 'invite-result', 'aria-live': 'polite' });
    var exp = el('select', { id: 'i-exp', name: 'expires' }, [['1800', 'mem.exp30m'], ['43200', 'mem.exp12h'], ['604800', 'mem.exp7d'], ['custom', 'mem.expcustom']]
      .map(function (o) { return el('option', { value: o[0], selected: o[0] === '604800', text: t(o[1]) }); }));
    var num = el('input', { id: 'i-num', type: 'number', min: '1', value: '3', 'aria-describedby': 'h-i-num' });
    var unit = el('select', { id: 'i-unit' }, [['60', 'mem.minutes'], ['3600', 'mem.hours'], ['86400', 'mem.days']]
      .map(function (o) { return el('option', { value: o[0], selected: o[0] === '86400', text: t(o[1]) }); }));
    var custom = el('div', { class: 'filters', hidden: true }, [
      el('div', {}, [el('label', { for: 'i-num' }, [t('mem.expnum'), el('span', { class: 'hint', id: 'h-i-num', text: t('mem.expmax') })]), num]),
      el('div', {}, [el('label', { for: 'i-unit', text: t('mem.expunit') }), unit])]);
    exp.addEventListener('change', function () { custom.hidden = exp.value !== 'custom'; });
    var addr = el('input', { id: 'i-addr', name: 'address', dir: 'ltr', spellcheck: 'false', 'aria-describedby': 'h-i-addr' });
    return el('form', { id: 'invite', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      var s = exp.value === 'custom' ? Number(num.value) * Number(unit.value) : Number(exp.value), args = { expires_s: s };
      if (!Number.isInteger(s) || s < 1 || s > INVITE_MAX_S) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('mem.expbad') })); return; }
      if (addr.value.trim()) args.address = addr.value.trim();
      api('invite', args).then(function (r) {
        if (!r.ok) { res.appendChild(failure(r)); return; }
        var c = r.result;
        res.appendChild(el('p', { class: 'warn', role: 'alert', text: t('mem.private') }));
        res.appendChild(copyField('i-code', t('mem.code'), c.code, true));
        res.appendChild(kv([[t('mem.expires'), fmtTime(c.expires * 1000)], [t('mem.address'), el('span', { class: 'key', text: c.address })]]));
        if (c.root_created) res.appendChild(el('p', { text: t('mem.nowroot') }));
        if (c.note) res.appendChild(el('p', { class: 'warn', lang: 'en', dir: 'ltr', text: c.note }));
        document.getElementById('i-code').focus();
      });
    } }, [
      el('label', { for: 'i-exp', text: t('mem.expiry') }), exp, custom,
      el('label', { for: 'i-addr' }, [t('mem.address'), el('span', { class: 'hint', id: 'h-i-addr', text: t('mem.addrhint') })]), addr,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'invite-go', text: t('mem.invite') })]), res
    ]);
  }
  function joinForm() {
    var res = el('div', { id: 'join-result', 'aria-live': 'polite' });
    var code = el('textarea', { id: 'j-code', name: 'code', required: true, dir: 'ltr', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'h-j-code' });
    var name = el('input', { id: 'j-name', name: 'name', dir: 'auto', 'aria-describedby': 'h-j-name' });
    return el('form', { id: 'join', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      if (!code.value.trim()) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('mem.nocode') })); return; }
      var args = { code: code.value };
      if (name.value.trim()) args.name = name.value.trim();
      api('join', args).then(function (r) {
        if (!r.ok) { res.appendChild(failure(r)); return; }
        var j = r.result;
        code.value = '';
        res.appendChild(el('p', { class: 'ok', role: 'status', text: t('mem.joined') }));
        res.appendChild(kv([[t('mem.network'), el('span', { class: 'key', text: j.network })],
          [t('mem.inviter'), el('span', { class: 'key', text: fingerprint(j.inviter) })]]));
        res.appendChild(copyField('j-key', t('mem.yourkey'), j.key, false));
        res.appendChild(el('p', { text: t('mem.sendthis') }));
        res.appendChild(copyField('j-send', t('mem.send'), j.send, true));
        if (j.note) res.appendChild(el('p', { class: 'warn', lang: 'en', dir: 'ltr', text: j.note }));
        document.getElementById('j-send').focus();
      });
    } }, [
      el('label', { for: 'j-code' }, [t('mem.code') + ' *', el('span', { class: 'hint', id: 'h-j-code', text: t('mem.codehint') })]), code,
      el('label', { for: 'j-name' }, [t('mem.yourname'), el('span', { class: 'hint', id: 'h-j-name', text: t('mem.yournamehint') })]), name,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'join-go', text: t('mem.join') })]), res
    ]);
  }
  function pageMembers(said) {
    Promise.all([api('members'), api('device_list')]).then(function (a) {
      var m = a[0], d = a[1], out = [];
      if (!m.ok) { show([failure(m)], t('nav.members')); return; }
      if (said) out.push(el('p', { class: 'ok', role: 'status', dir: 'auto', text: said }));
      var mine = m.result.members.filter(function (x) { return x.key === me; })[0];
      if (!m.result.open) out.push(el('p', { id: 'my-admission', text: mine ? t('mem.me', { role: t('mem.role.' + mine.role), depth: mine.depth }) : t('mem.menot') }));
      var box = el('div', { id: 'revoke-confirm' });
      if (m.result.open) out.push(el('p', { text: t('mem.open') }));
      else {
        /* On a phone the table scrolls sideways: a region the keyboard can scroll. */
        var tb = table([t('mem.fingerprint'), t('mem.name'), t('mem.role'), t('mem.depth'), t('mem.voucher'), t('mem.since'), t('mine.actions')],
          memberRows(m.result, me, box));
        tb.setAttribute('tabindex', '0');
        tb.setAttribute('role', 'region');
        tb.setAttribute('aria-label', t('mem.list'));
        tb.id = 'member-list';
        out.push(tb, box);
      }
      if (!m.result.open) out.push(el('h2', { text: t('mem.vouchtitle') }), el('p', { text: t('mem.vouchhint') }), vouchForm());
      out.push(el('h2', { text: t('mem.invitetitle') }), el('p', { text: t(m.result.open ? 'mem.invitehintopen' : 'mem.invitehint') }), inviteForm());
      if (m.result.open) out.push(el('h2', { text: t('mem.jointitle') }), el('p', { text: t('mem.joinhint') }), joinForm());
      if (m.result.open || !d.ok) { show(out, t('nav.members')); return; }
      /* The keys of this node's association: a vouch signed by any of them
       * is the association's. */
      var rf = recoverForm(m.result.members, d.result.keys.map(function (k) { return k.key; }), me);
      if (rf) out.push(el('h2', { text: t('as.recovertitle') }), el('p', { text: t('as.recoverhint') }), rf);
      show(out, t('nav.members'));
    });
  }

  /* ----------------------------------------------- our association
   * The association's nodes (device_list), adding one by a one-time code
   * (device_add, then device_accept of the new machine's answer), joining
   * one (device_join), withdrawing one from a date (device_revoke), and its
   * next key: planned into a file in the data directory (key_plan_sealed)
   * and moved to (key_rotate_sealed).  Codes and passphrases are kept in no
   * address, storage or console; the next key itself never reaches the
   * page, only where its file is. */
  var ERR = { EINVAL: -2, ETOOBIG: -4, EBADSIG: -9, ESTALE: -12, EEXIST: -13, ENOTFOUND: -14, EIO: -16,
              EVERSION: -19, EDECRYPT: -20, EPERM: -23, EKEY: -26 };
  /* A refusal in the volunteer's words when the op and code say which,
   * with the node's own (English) reason under it. */
  function refusal(op, j) {
    var code = j.code, k = null, msg = String(j.error || '');
    var byOp = {
      device_join: { EINVAL: 'as.e.badcode', ESTALE: 'as.e.expired', EVERSION: 'as.e.version' },
      device_accept: { EINVAL: 'as.e.badanswer', EBADSIG: 'as.e.badanswer', ENOTFOUND: 'as.e.nocode', ESTALE: 'as.e.expired' },
      device_add: { ETOOBIG: 'as.e.toomany', EPERM: 'as.e.notcurrent' },
      device_revoke: { EPERM: 'as.e.notcurrent', ENOTFOUND: 'as.e.notdevice' },
      key_plan_sealed: { EEXIST: 'as.e.planned', EPERM: 'as.e.notcurrent', EIO: 'as.e.io' },
      key_rotate_sealed: { EDECRYPT: 'as.e.passphrase', EINVAL: 'as.e.notkeyfile', ETOOBIG: 'as.e.notkeyfile', EKEY: 'as.e.notkeyfile', EPERM: 'as.e.rotateperm' },
      key_recover: { EPERM: 'as.e.notvoucher', EINVAL: 'as.e.badkey' }
    }[op] || {};
    Object.keys(byOp).forEach(function (n) { if (ERR[n] === code) k = byOp[n]; });
    if (op === 'key_plan_sealed' && code === ERR.EPERM && /two commitments/.test(msg)) k = 'as.e.blocked';
    if (op === 'key_rotate_sealed' && code === ERR.EPERM && /mismatch/.test(msg)) k = 'as.e.mismatch';
    if (op === 'key_rotate_sealed' && code === ERR.EPERM && /two commitments/.test(msg)) k = 'as.e.blocked';
    if (op === 'key_recover' && code === ERR.EPERM && /own association/.test(msg)) k = 'as.e.ownassoc';
    if ((op === 'key_plan_sealed' || op === 'key_rotate_sealed') && code === ERR.EINVAL && /passphrase/.test(msg)) k = 'as.e.shortpass';
    if (!k) return failure(j);
    return el('div', { class: 'error', role: 'alert' }, [el('p', { text: t(k) }),
      el('p', { class: 'hint', lang: 'en', dir: 'ltr', text: t('as.e.detail') + ' ' + msg })]);
  }
  function roleText(k) { return t('as.role.' + k.role); }
  /* A date and time field (the browser's local time), now by default. */
  function whenField(id, label, hint) {
    var d = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
    var f = el('input', { id: id, type: 'datetime-local', required: true, value: d.toISOString().slice(0, 16), 'aria-describedby': 'h-' + id });
    return { input: f, nodes: [el('label', { for: id }, [label, el('span', { class: 'hint', id: 'h-' + id, text: hint })]), f] };
  }
  function whenMs(f) { var v = new Date(f.value).getTime(); return isNaN(v) ? null : v; }
  function askDeviceRevoke(x, box) {
    box.textContent = '';
    var w = whenField('dr-from', t('as.revokefrom'), t('as.revokefromhint'));
    var said = el('p', { id: 'dr-what', 'aria-live': 'polite' });
    var label = x.label || x.fingerprint;
    function explain() {
      var ms = whenMs(w.input);
      said.textContent = ms === null ? t('as.whenbad') : t('as.revokewhat', { when: fmtTime(ms) });
    }
    w.input.addEventListener('input', explain);
    explain();
    var res = el('div', { 'aria-live': 'polite' });
    var yes = el('button', { type: 'button', class: 'danger', id: 'dr-yes', text: t('as.revokeyes', { name: label }), onclick: function () {
      var ms = whenMs(w.input);
      res.textContent = '';
      if (ms === null) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.whenbad') })); return; }
      yes.disabled = true;
      api('device_revoke', { key: x.key, from_ms: ms }).then(function (r) {
        yes.disabled = false;
        if (!r.ok) { res.appendChild(refusal('device_revoke', r)); return; }
        pageAssociation(t('as.revoked', { name: label, when: fmtTime(r.result.from) }));
      });
    } });
    box.appendChild(el('div', { class: 'warn', role: 'group', 'aria-labelledby': 'dr-q' }, [
      el('p', { id: 'dr-q', dir: 'auto', text: t('as.revokeq', { name: label }) })].concat(w.nodes).concat([said,
      el('div', { class: 'actions' }, [yes, el('button', { type: 'button', class: 'plain', id: 'dr-no', text: t('mem.cancel'),
        onclick: function () { box.textContent = ''; } })]), res])));
    w.input.focus();
  }
  function deviceRows(d, mayEdit, box) {
    return d.keys.map(function (k) {
      var notes = [];
      if (k.current) notes.push(t('as.current'));
      if (k['this']) notes.push(t('as.thisnode'));
      var act = mayEdit && k.role === 'device' && !k.revoked ? el('button', { type: 'button', class: 'danger', text: t('as.revoke'),
        'aria-label': t('as.revoke') + ' ' + (k.label || k.fingerprint), 'data-key': k.key, onclick: function () { askDeviceRevoke(k, box); } }) : '';
      return el('tr', { 'data-key': k.key }, [
        el('td', {}, [utext(k.label || (k.role === 'device' ? '' : t('as.nolabel')))]),
        el('td', {}, [el('span', { class: 'key', title: k.key, text: k.fingerprint })]),
        el('td', { text: roleText(k) + (notes.length ? ' (' + notes.join(', ') + ')' : '') }),
        el('td', { text: k.since ? fmtTime(k.since) : t('mem.none') }),
        el('td', { class: k.cutoff ? 'cut' : '', text: k.cutoff ? fmtTime(k.cutoff) : t('mem.none') }),
        el('td', {}, [act])
      ]);
    });
  }
  function expirySelect(id) {
    return el('select', { id: id, name: 'expires' }, [['1800', 'mem.exp30m'], ['43200', 'mem.exp12h'], ['604800', 'mem.exp7d']]
      .map(function (o) { return el('option', { value: o[0], selected: o[0] === '43200', text: t(o[1]) }); }));
  }
  function acceptForm() {
    var res = el('div', { id: 'accept-result', 'aria-live': 'polite' });
    var ans = el('textarea', { id: 'da-answer', name: 'answer', required: true, dir: 'ltr', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'h-da-answer' });
    return el('form', { id: 'device-accept', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      if (!ans.value.trim()) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.noanswer') })); return; }
      api('device_accept', { answer: ans.value }).then(function (r) {
        if (!r.ok) { res.appendChild(refusal('device_accept', r)); return; }
        pageAssociation(t(r.result.counts ? 'as.accepted' : 'as.acceptednot', { name: r.result.label }));
      });
    } }, [
      el('label', { for: 'da-answer' }, [t('as.answer') + ' *', el('span', { class: 'hint', id: 'h-da-answer', text: t('as.answerhint') })]), ans,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'da-go', text: t('as.accept') })]), res
    ]);
  }
  function deviceAddForm() {
    var res = el('div', { id: 'add-result', 'aria-live': 'polite' });
    var label = el('input', { id: 'dv-label', name: 'label', required: true, dir: 'auto', 'aria-describedby': 'h-dv-label' });
    var exp = expirySelect('dv-exp');
    var addr = el('input', { id: 'dv-addr', name: 'address', dir: 'ltr', spellcheck: 'false', 'aria-describedby': 'h-dv-addr' });
    return el('form', { id: 'device-add', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      if (!label.value.trim()) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.nolabelgiven') })); return; }
      var args = { label: label.value.trim(), expires_s: Number(exp.value) };
      if (addr.value.trim()) args.address = addr.value.trim();
      api('device_add', args).then(function (r) {
        if (!r.ok) { res.appendChild(refusal('device_add', r)); return; }
        res.appendChild(el('p', { class: 'warn', role: 'alert', text: t('as.codeprivate') }));
        res.appendChild(copyField('dv-code', t('as.code'), r.result.code, true));
        res.appendChild(kv([[t('mem.expires'), el('span', { id: 'dv-expires', text: fmtTime(r.result.expires * 1000) })]]));
        res.appendChild(el('ol', { id: 'dv-steps' }, [t('as.step1'), t('as.step2'), t('as.step3')].map(function (s) { return el('li', { text: s }); })));
        res.appendChild(el('h3', { text: t('as.answertitle') }));
        res.appendChild(acceptForm());
        document.getElementById('dv-code').focus();
      });
    } }, [
      el('label', { for: 'dv-label' }, [t('as.label') + ' *', el('span', { class: 'hint', id: 'h-dv-label', text: t('as.labelhint') })]), label,
      el('label', { for: 'dv-exp', text: t('mem.expiry') }), exp,
      el('label', { for: 'dv-addr' }, [t('mem.address'), el('span', { class: 'hint', id: 'h-dv-addr', text: t('mem.addrhint') })]), addr,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'dv-go', text: t('as.makecode') })]), res
    ]);
  }
  function deviceJoinForm() {
    var res = el('div', { id: 'djoin-result', 'aria-live': 'polite' });
    var code = el('textarea', { id: 'dj-code', name: 'code', required: true, dir: 'ltr', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'h-dj-code' });
    return el('form', { id: 'device-join', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      if (!code.value.trim()) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.nocode') })); return; }
      api('device_join', { code: code.value }).then(function (r) {
        if (!r.ok) { res.appendChild(refusal('device_join', r)); return; }
        code.value = '';
        res.appendChild(el('p', { class: 'ok', role: 'status', text: t('as.joined') }));
        res.appendChild(copyField('dj-answer', t('as.answer'), r.result.answer, true));
        res.appendChild(el('p', { text: t('as.sendanswer') }));
        document.getElementById('dj-answer').focus();
      });
    } }, [
      el('label', { for: 'dj-code' }, [t('as.code') + ' *', el('span', { class: 'hint', id: 'h-dj-code', text: t('as.codehint') })]), code,
      el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'dj-go', text: t('as.join') })]), res
    ]);
  }
  function passFields(id, twice) {
    var p1 = el('input', { id: id, type: 'password', required: true, autocomplete: 'new-password', 'aria-describedby': 'h-' + id });
    var nodes = [el('label', { for: id }, [t('as.pass') + ' *', el('span', { class: 'hint', id: 'h-' + id, text: t(twice ? 'as.passhint' : 'as.passuse') })]), p1];
    var p2 = null;
    if (twice) {
      p2 = el('input', { id: id + '2', type: 'password', required: true, autocomplete: 'new-password' });
      nodes.push(el('label', { for: id + '2', text: t('as.pass2') + ' *' }), p2);
    }
    return { p1: p1, p2: p2, nodes: nodes };
  }
  var PASS_MIN = 8;   /* TW_KEYFILE_PASS_MIN: twind checks it too */
  function planForm() {
    var res = el('div', { id: 'plan-result', 'aria-live': 'polite' });
    var p = passFields('kp-pass', true);
    var go = el('button', { type: 'submit', id: 'kp-go', text: t('as.plan') });
    return el('form', { id: 'key-plan', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      if (p.p1.value.length < PASS_MIN) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.e.shortpass') })); return; }
      if (p.p1.value !== p.p2.value) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.passdiffer') })); return; }
      go.disabled = true;
      res.appendChild(el('p', { role: 'status', text: t('as.working') }));
      api('key_plan_sealed', { passphrase: p.p1.value }).then(function (r) {
        go.disabled = false;
        p.p1.value = p.p2.value = '';
        res.textContent = '';
        if (!r.ok) { res.appendChild(refusal('key_plan_sealed', r)); return; }
        pageAssociation(t('as.planned'), r.result.file);
      });
    } }, p.nodes.concat([el('div', { class: 'actions' }, [go]), res]));
  }
  function rotateForm() {
    var res = el('div', { id: 'rotate-result', 'aria-live': 'polite' });
    var file = el('input', { id: 'kr-file', type: 'file', required: true, 'aria-describedby': 'h-kr-file' });
    var p = passFields('kr-pass', false);
    var go = el('button', { type: 'submit', id: 'kr-go', text: t('as.rotate') });
    return el('form', { id: 'key-rotate', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      var f = file.files && file.files[0];
      if (!f) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.nofile') })); return; }
      if (f.size > 4096) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.e.notkeyfile') })); return; }
      if (p.p1.value.length < PASS_MIN) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.e.shortpass') })); return; }
      go.disabled = true;
      res.appendChild(el('p', { role: 'status', text: t('as.working') }));
      f.arrayBuffer().then(function (buf) {
        var hex = Array.prototype.map.call(new Uint8Array(buf), function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join('');
        return api('key_rotate_sealed', { file_hex: hex, passphrase: p.p1.value });
      }).then(function (r) {
        go.disabled = false;
        p.p1.value = '';
        res.textContent = '';
        if (!r.ok) { res.appendChild(refusal('key_rotate_sealed', r)); return; }
        me = r.result.key;
        pageAssociation(t('as.rotated', { old: fingerprint(r.result.previous), key: fingerprint(r.result.key) }));
      });
    } }, [el('label', { for: 'kr-file' }, [t('as.file') + ' *', el('span', { class: 'hint', id: 'h-kr-file', text: t('as.filehint') })]), file]
      .concat(p.nodes).concat([el('div', { class: 'actions' }, [go]), res]));
  }
  function pageAssociation(said, planFile) {
    api('device_list').then(function (j) {
      if (!j.ok) { show([failure(j)], t('nav.association')); return; }
      var d = j.result, out = [];
      if (said) out.push(el('p', { class: 'ok', role: 'status', dir: 'auto', id: 'as-said', text: said }));
      if (planFile) out.push(el('div', { class: 'warn', id: 'plan-file' }, [el('p', { text: t('as.planfile') }),
        el('p', {}, [el('span', { class: 'key', id: 'plan-path', text: planFile })]), el('p', { text: t('as.planmove') })]));
      var mine = d.keys.filter(function (k) { return k['this']; })[0] || {};
      var holds = !!(mine.current && mine.role !== 'device' && !mine.revoked);
      var alone = d.keys.length === 1;
      out.push(kv([[t('as.name'), d.name || t('mem.none')],
        [t('as.identity'), el('span', { class: 'key', text: fingerprint(d.association) })],
        [t('as.currentkey'), el('span', { class: 'key', text: fingerprint(d.current) })],
        [t('as.thisis'), mine.revoked ? t('as.thisrevoked') : holds ? t('as.thisholds') : mine.role === 'device' ? t('as.thisdevice') : t('as.thisformer')]]));
      out.push(el('h2', { text: t('as.nodes') }));
      out.push(el('p', { text: t(alone ? 'as.alonehint' : 'as.nodeshint') }));
      var box = el('div', { id: 'device-revoke-confirm' });
      var tb = table([t('as.label'), t('mem.fingerprint'), t('as.role'), t('mem.since'), t('as.cutoff'), t('mine.actions')], deviceRows(d, holds, box));
      tb.setAttribute('tabindex', '0');
      tb.setAttribute('role', 'region');
      tb.setAttribute('aria-label', t('as.nodes'));
      tb.id = 'device-list';
      out.push(tb, box);
      if (holds) out.push(el('h2', { text: t('as.addtitle') }), el('p', { text: t('as.addhint') }), deviceAddForm());
      if (holds) {
        out.push(el('h2', { text: t('as.keytitle') }));
        if (d.commitment === 'none') out.push(el('p', { id: 'plan-state', text: t('as.plannone') }), el('p', { text: t('as.planhint') }), planForm());
        else if (d.commitment === 'planned') out.push(el('p', { id: 'plan-state', text: t('as.planyes') }), el('p', { text: t('as.rotatehint') }), rotateForm());
        else out.push(el('p', { id: 'plan-state', class: 'warn', role: 'alert', text: t('as.planconflict') }));
      }
      if (alone) out.push(el('h2', { text: t('as.jointitle') }), el('p', { text: t('as.joinhint') }), deviceJoinForm());
      show(out, t('nav.association'));
    });
  }

  /* On the members page of a root, or of an association that vouched for
   * others: a recovery for a member that lost its key (key_recover). */
  function recoverForm(members, mine, self) {
    var res = el('div', { id: 'recover-result', 'aria-live': 'polite' });
    var isRoot = members.some(function (x) { return x.role === 'root' && mine.indexOf(x.key) >= 0; });
    var them = members.filter(function (x) { return x.role !== 'root' && mine.indexOf(x.key) < 0 && (isRoot || mine.indexOf(x.voucher) >= 0); });
    if (!them.length) return null;
    var who = el('select', { id: 'rc-key', name: 'key' }, them.map(function (x) {
      return el('option', { value: x.key, text: (x.name || t('mem.none')) + ' — ' + fingerprint(x.key) });
    }));
    var next = el('input', { id: 'rc-next', name: 'next', required: true, dir: 'ltr', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'h-rc-next' });
    /* The members list names an association by its first key; one that
     * has moved to a next key lost that one, which they tell. */
    var lost = el('input', { id: 'rc-lost', name: 'lost', dir: 'ltr', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'h-rc-lost' });
    var w = whenField('rc-from', t('as.lostwhen'), t('as.lostwhenhint'));
    /* The key to recover is the association's current one: its first key,
     * or the successor it moved to (members' keys say which). */
    function currentKey(first) {
      var m = them.filter(function (x) { return x.key === first; })[0];
      var c = m && (m.keys || []).filter(function (k) { return k.current && k.role === 'successor'; })[0];
      return c ? c.key : first;
    }
    var said = el('p', { id: 'rc-what', 'aria-live': 'polite' });
    function explain() {
      var ms = whenMs(w.input), o = who.options[who.selectedIndex];
      said.textContent = ms === null ? t('as.whenbad') : t('as.recoverwhat', { name: o ? o.textContent : '', when: fmtTime(ms) });
    }
    w.input.addEventListener('input', explain);
    who.addEventListener('change', explain);
    explain();
    return el('form', { id: 'recover', novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      res.textContent = '';
      var k = next.value.trim(), lk = lost.value.trim() || currentKey(who.value), ms = whenMs(w.input);
      if (!/^twk_[a-z0-9]+$/.test(k) || !/^twk_[a-z0-9]+$/.test(lk)) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.e.badkey') })); return; }
      if (ms === null) { res.appendChild(el('p', { class: 'error', role: 'alert', text: t('as.whenbad') })); return; }
      api('key_recover', { key: lk, next: k, from_ms: ms }).then(function (r) {
        if (!r.ok) { res.appendChild(refusal('key_recover', r)); return; }
        var name = who.options[who.selectedIndex].textContent;
        res.appendChild(el('p', { class: r.result.counts ? 'ok' : 'warn', role: 'status', dir: 'auto', id: 'rc-done',
          text: t(r.result.counts ? 'as.recovered' : 'as.recoverednot', { name: name, key: fingerprint(r.result.next), when: fmtTime(r.result.from) }) }));
      });
    } }, [
      el('label', { for: 'rc-key', text: t('as.lostwho') }), who,
      el('label', { for: 'rc-lost' }, [t('as.lostkey'), el('span', { class: 'hint', id: 'h-rc-lost', text: t('as.lostkeyhint') })]), lost,
      el('label', { for: 'rc-next' }, [t('as.newkey') + ' *', el('span', { class: 'hint', id: 'h-rc-next', text: t('as.newkeyhint') })]), next
    ].concat(w.nodes).concat([said, el('div', { class: 'actions' }, [el('button', { type: 'submit', id: 'rc-go', class: 'danger', text: t('as.recover') })]), res]));
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
    routeGen++;
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
    else if (parts[0] === 'members') pageMembers();
    else if (parts[0] === 'association') pageAssociation();
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
