/* The hub report, made to be published: one renderer for both doors.  The
 * web interface's report page (#report) calls twReport.render() with the
 * answer of POST /api/report; the file `twin report --html` writes holds
 * this script, report.css, one translation file and the same answer inline,
 * and renders itself on load.  Text from the registry is only ever set as
 * textContent (dir="auto"), never parsed as HTML; charts and maps are
 * inline SVG built here, each with a title, a description and a table
 * holding the same figures. */
'use strict';
(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  /* Tile maps: [column, row], placed roughly as on a map.  West Bank north
   * at the top, Gaza to the south-west; the UK from Scotland down. */
  var PS_TILES = {
    'PS-JEN': [2, 0], 'PS-TBS': [3, 0], 'PS-TKM': [1, 1], 'PS-NBS': [2, 1], 'PS-QQA': [1, 2], 'PS-SLT': [2, 2],
    'PS-JRH': [3, 2], 'PS-RBH': [2, 3], 'PS-JEM': [2, 4], 'PS-BTH': [2, 5], 'PS-HBN': [2, 6],
    'PS-NGZ': [0, 4], 'PS-GZA': [0, 5], 'PS-DEB': [0, 6], 'PS-KYS': [0, 7], 'PS-RFH': [0, 8]
  };
  var UK_TILES = {
    S92000003: [2, 0], N92000002: [0, 1], E12000001: [3, 1], E12000002: [2, 2], E12000003: [3, 2],
    W92000004: [1, 3], E12000005: [2, 3], E12000004: [3, 3], E12000006: [4, 3],
    E12000009: [1, 4], E12000008: [2, 4], E12000007: [3, 4]
  };
  var SHADES = ['#f1f4f2', '#c7e3cf', '#8cc79d', '#2f7a47', '#1d5a33', '#0f3d20'];  /* white ink from the fourth on */

  function make(t, lang) {
    var uid = 0;
    var rtl = lang === 'ar';
    function has(k) { return t(k) !== k; }
    function el(tag, attrs, kids) {
      var e = document.createElement(tag);
      Object.keys(attrs || {}).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') e.textContent = v;
        else e.setAttribute(k, v === true ? '' : v);
      });
      (kids || []).forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
      return e;
    }
    function sv(tag, attrs, text) {
      var e = document.createElementNS(SVG, tag);
      Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function id(p) { return 'tw-' + p + '-' + (++uid); }
    /* A count, its thousands grouped (300,000; in Arabic with the same
     * digits as the rest of the page's figures). */
    function num(n) { return Number(n || 0).toLocaleString(rtl ? 'ar-u-nu-latn' : 'en-GB'); }
    /* A value of a schema enumeration, in words. */
    function enumText(v) {
      if (v === '(none)') return t('report.none');
      if (v === '(other)') return t('report.other');
      if (v === '(unknown)') return t('report.unknown');
      return has('enum.' + v) ? t('enum.' + v) : v;
    }
    function codeName(names, code) {
      if (code === '(none)' || code === '(other)' || code === '(unknown)') return enumText(code);
      if (has('report.uk.' + code)) return t('report.uk.' + code);
      var n = names[code];
      if (!n) return code;
      return rtl && n.ar ? n.ar : n.en;
    }
    function pairs(m) {
      return Object.keys(m || {}).map(function (k) { return { k: k, v: m[k] }; });
    }
    function byCount(a, b) { return b.v - a.v || (a.k < b.k ? -1 : 1); }
    /* numeric: every column but the first holds numbers (aligned to the end). */
    function table(cls, caption, heads, rows, extraHead, numeric) {
      var thead = el('thead', {}, (extraHead ? [extraHead] : []).concat([
        el('tr', {}, heads.map(function (h, i) { return el('th', { scope: 'col', class: i && numeric ? 'n' : null, text: h }); }))]));
      /* Wide tables scroll on a phone rather than widen the page (and can
       * take focus, so that a keyboard scrolls them too). */
      return el('div', { class: 'scroll', tabindex: '0' }, [el('table', { class: cls }, [caption ? el('caption', { text: caption }) : null, thead, el('tbody', {}, rows)])]);
    }
    function numRows(list) {
      return list.map(function (p) { return el('tr', {}, [el('td', { dir: 'auto', text: p.label }), el('td', { class: 'n', text: num(p.v) })]); });
    }
    /* The figures of a chart as a table, for those who cannot see it. */
    function alt(heads, list) {
      return el('details', { class: 'alt-table' }, [el('summary', { text: t('report.table.alt') }),
        table('figures', null, heads, numRows(list), null, true)]);
    }
    function figure(cls, title, desc, svg, altTable) {
      var tid = id('t'), did = id('d');
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-labelledby', tid + ' ' + did);
      svg.insertBefore(sv('desc', { id: did }, desc), svg.firstChild);
      svg.insertBefore(sv('title', { id: tid }, title), svg.firstChild);
      return el('figure', { class: 'chart ' + cls }, [el('figcaption', { text: title }), svg, altTable]);
    }

    /* Horizontal bars, largest first, labels at the reading start. */
    function bars(title, list, head) {
      if (!list.length) return el('figure', { class: 'chart' }, [el('figcaption', { text: title }), el('p', { class: 'none', text: t('report.none') })]);
      var max = Math.max.apply(null, list.map(function (p) { return p.v; }).concat([1]));
      var bh = 24, lw = 210, cw = 330, W = lw + cw + 50, H = list.length * bh + 4;
      var s = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'bars', direction: 'ltr' });
      list.forEach(function (p, i) {
        var w = Math.max(cw * p.v / max, p.v ? 2 : 0), y = i * bh;
        var label = p.label.length > 30 ? p.label.slice(0, 29) + '…' : p.label;
        if (rtl) {
          s.appendChild(sv('text', { x: W - 6, y: y + 16, 'text-anchor': 'start', direction: 'rtl', class: 'label' }, label));
          s.appendChild(sv('rect', { x: W - lw - w, y: y + 4, width: w, height: bh - 8 }));
          s.appendChild(sv('text', { x: W - lw - w - 4, y: y + 16, 'text-anchor': 'end', class: 'value' }, num(p.v)));
        } else {
          s.appendChild(sv('text', { x: lw - 6, y: y + 16, 'text-anchor': 'end', class: 'label' }, label));
          s.appendChild(sv('rect', { x: lw, y: y + 4, width: w, height: bh - 8 }));
          s.appendChild(sv('text', { x: lw + w + 4, y: y + 16, class: 'value' }, num(p.v)));
        }
      });
      var desc = list.map(function (p) { return p.label + ': ' + p.v; }).join('; ');
      return figure('bar', title, desc, s, alt([head, t('report.col.value')], list));
    }

    /* Tiles shaded by count, with the count in each and a legend. */
    function tiles(cls, title, what, layout, counts, label) {
      var codes = Object.keys(layout), max = 0;
      codes.forEach(function (c) { max = Math.max(max, counts[c] || 0); });
      var step = function (v) { return v ? Math.min(SHADES.length - 1, 1 + Math.floor((SHADES.length - 2) * (v - 1) / Math.max(max - 1, 1))) : 0; };
      var cols = 0, rows = 0, S = 78, G = 4;
      codes.forEach(function (c) { cols = Math.max(cols, layout[c][0] + 1); rows = Math.max(rows, layout[c][1] + 1); });
      var W = cols * (S + G), H = rows * (S + G) + 40;
      var s = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'tiles ' + cls, direction: 'ltr' });
      var list = [];
      codes.forEach(function (c) {
        var v = counts[c] || 0, k = step(v), x = layout[c][0] * (S + G), y = layout[c][1] * (S + G);
        var name = label(c), short = name.length > 13 ? name.slice(0, 12) + '…' : name;
        var g = sv('g', { class: 'tile', 'data-code': c });
        g.appendChild(sv('title', {}, name + ': ' + v));
        g.appendChild(sv('rect', { x: x, y: y, width: S, height: S, rx: 4, fill: SHADES[k], stroke: '#5b6b60' }));
        var ink = k >= 3 ? '#ffffff' : '#111111';
        g.appendChild(sv('text', { x: x + S / 2, y: y + 40, 'text-anchor': 'middle', class: 'count', fill: ink }, num(v)));
        g.appendChild(sv('text', { x: x + S / 2, y: y + 62, 'text-anchor': 'middle', class: 'name', fill: ink, direction: rtl ? 'rtl' : 'ltr' }, short));
        s.appendChild(g);
        list.push({ label: name, v: v });
      });
      /* Legend: the shades some count can take, each with the least count
       * it stands for.  With few counts several shades would start at the
       * same count ("1+ 2+ 2+ 2+"); only the last of those is used. */
      var ly = rows * (S + G) + 8, lx = 0, los = [];
      for (var k = 0; k < SHADES.length; k++)
        los.push(k === 0 ? 0 : 1 + Math.ceil((k - 1) * Math.max(max - 1, 1) / (SHADES.length - 2)));
      for (k = 0; k < SHADES.length; k++) {
        if (k > 0 && los[k] > max) break;
        if (k > 0 && k + 1 < SHADES.length && los[k + 1] === los[k]) continue;
        s.appendChild(sv('rect', { x: lx, y: ly, width: 22, height: 16, fill: SHADES[k], stroke: '#5b6b60', class: 'legend' }));
        s.appendChild(sv('text', { x: lx + 26, y: ly + 13, class: 'legend-text' }, k === 0 ? '0' : num(los[k]) + '+'));
        lx += 62;
      }
      var desc = t('report.map.desc', { what: t(what) }) + ' ' + list.map(function (p) { return p.label + ': ' + p.v; }).join('; ');
      return figure('map', title, desc, s, alt([t('report.col.area'), t('report.col.activelinks')], list));
    }

    /* Active links per year: one bar per year, oldest at the left. */
    function trend(title, byYear) {
      var list = pairs(byYear).sort(function (a, b) { return a.k < b.k ? -1 : 1; });
      if (!list.length) return el('p', { class: 'none', text: t('report.trend.empty') });
      var max = Math.max.apply(null, list.map(function (p) { return p.v; }).concat([1]));
      var L = 40, B = 30, ch = 200, bw = Math.max(4, Math.min(28, Math.floor(620 / list.length))), W = L + list.length * bw + 10, H = ch + B + 10;
      var s = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'trend', direction: 'ltr' });
      var ticks = [0, Math.round(max / 2), max];
      ticks.forEach(function (v) {
        var y = 10 + ch - ch * v / max;
        s.appendChild(sv('line', { x1: L - 4, x2: W, y1: y, y2: y, class: 'grid' }));
        s.appendChild(sv('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'value' }, String(v)));
      });
      var every = Math.ceil(list.length / 12);
      list.forEach(function (p, i) {
        var h = ch * p.v / max, x = L + i * bw;
        s.appendChild(sv('rect', { x: x + 1, y: 10 + ch - h, width: bw - 2, height: h }));
        if (i % every === 0 || i === list.length - 1)
          s.appendChild(sv('text', { x: x + bw / 2, y: 10 + ch + 18, 'text-anchor': 'middle', class: 'year' }, p.k));
      });
      var desc = t('report.trend.desc') + ' ' + list.map(function (p) { return p.k + ': ' + p.v; }).join('; ');
      return figure('trend', title, desc, s, alt([t('report.col.year'), t('report.col.activelinks')],
        list.map(function (p) { return { label: p.k, v: p.v }; })));
    }

    function kpis(items) {
      return el('ul', { class: 'kpis' }, items.map(function (i) {
        return el('li', {}, [el('strong', { text: num(i[1]) }), el('span', { text: t(i[0]) })]);
      }));
    }

    function partnerList(ps) {
      if (!ps.length) return el('span', { class: 'none', text: t('report.nopartner') });
      return el('ul', { class: 'partners' }, ps.map(function (p) {
        var bits = [enumText(p.formality), enumText(p.status)];
        if (p.since) bits.push(t('report.partner.since', { y: p.since }));
        bits.push(t(p.confirmed ? 'report.partner.confirmed' : 'report.partner.unconfirmed'));
        return el('li', {}, [el('span', { dir: 'auto', class: 'gname', text: p.name || t('report.unknown') }), ' — ', bits.join(t('report.sep'))]);
      }));
    }

    function placeName(p) {
      var first = rtl && p.name_ar ? p.name_ar : p.name_en || p.name_ar || '';
      var other = rtl ? p.name_en : p.name_ar;
      return [el('span', { dir: 'auto', class: 'pname', text: first }),
        other && other !== first ? el('span', { dir: 'auto', class: 'alt-name', lang: rtl ? 'en' : 'ar', text: other }) : null];
    }

    function governorate(g) {
      var name = rtl && g.name_ar ? g.name_ar : g.name_en;
      var other = rtl ? g.name_en : g.name_ar;
      var hid = id('gov');
      var sec = el('section', { class: 'gov', 'aria-labelledby': hid, 'data-code': g.code }, [
        el('h3', { id: hid }, [name, other ? el('span', { class: 'alt-name', lang: rtl ? 'en' : 'ar', text: other }) : null]),
        el('p', { text: t('report.gov.places', { n: num(g.places_total) }) })]);
      if (!g.places.length) { sec.appendChild(el('p', { class: 'none', text: t('report.gov.none') })); return sec; }
      var head = el('tr', { class: 'gov-head' }, [el('th', { colspan: '4', scope: 'colgroup', text: t('report.gov.head', { gov: name }) })]);
      sec.appendChild(table('gov-table', null, [t('report.col.place'), t('report.col.kind'), t('report.col.partners'), t('report.col.seeking')],
        g.places.map(function (p) {
          return el('tr', {}, [el('td', {}, placeName(p)), el('td', { text: enumText(p.place_kind) }),
            el('td', {}, [partnerList(p.partners || [])]), el('td', { text: p.seeking ? t('yes') : '' })]);
        }), head));
      if (g.places_total > g.places.length)
        sec.appendChild(el('p', { text: t('report.gov.more', { n: num(g.places_total - g.places.length) }) }));
      return sec;
    }

    function render(root, d) {
      var st = d.stats || {}, gp = d.gaps || {}, names = d.names || {}, c = gp.counts || {};
      var tot = st.totals || {}, status = st.links_by_status || {}, conf = st.links_by_confirmation || {};
      root.textContent = '';
      var when = new Date(d.at_ms || 0);
      var whenText = when.toLocaleString(rtl ? 'ar' : 'en-GB', { timeZone: 'UTC', year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit' }) + ' UTC';
      root.appendChild(el('header', { class: 'report-head' }, [
        el('h1', { text: t('report.title') }),
        el('p', { text: t('report.computed', { when: whenText }) })]));
      var idents = c.place_identities || 0, unp = c.unpartnered_places || 0;
      root.appendChild(el('section', { class: 'summary', 'aria-labelledby': 'tw-sum' }, [
        el('h2', { id: 'tw-sum', text: t('report.summary') }),
        kpis([['report.kpi.groups', tot.group_identities], ['report.kpi.places', idents], ['report.kpi.links', tot.links],
          ['report.kpi.active', status.active], ['report.kpi.confirmed', conf.confirmed], ['report.kpi.unconfirmed', conf.unconfirmed],
          ['report.kpi.unpartnered', unp], ['report.kpi.duplicated', c.duplicated_places], ['report.kpi.dormant', (st.dormant_links || {}).total]]),
        el('p', { text: t('report.coverage', { covered: num(idents - unp), total: num(idents), pct: idents ? Math.round(100 * (idents - unp) / idents) : 0 }) })]));
      var ps = function (code) { return codeName(names, code); };
      root.appendChild(el('section', { class: 'maps', 'aria-labelledby': 'tw-maps' }, [
        el('h2', { id: 'tw-maps', text: t('report.maps') }),
        el('div', { class: 'map-row' }, [
          tiles('ps', t('report.map.ps'), 'report.map.what.ps', PS_TILES, st.active_links_by_governorate || {}, ps),
          tiles('uk', t('report.map.uk'), 'report.map.what.uk', UK_TILES, st.active_links_by_region || {}, ps)])]));
      var und = st.active_links_undated || {};
      root.appendChild(el('section', { class: 'trend-sec', 'aria-labelledby': 'tw-trend' }, [
        el('h2', { id: 'tw-trend', text: t('report.trend') }),
        el('p', { text: t('report.trend.desc') }),
        trend(t('report.trend'), st.active_links_by_year || {}),
        el('p', { class: 'undated', text: t('report.trend.undated', { no_since: num(und.no_since), no_end: num(und.no_end), before: num(und.ended_before_since) }) })]));
      var words = function (m) { return pairs(m).map(function (p) { return { label: enumText(p.k), v: p.v }; }).sort(byCount); };
      root.appendChild(el('section', { class: 'kinds', 'aria-labelledby': 'tw-kinds' }, [
        el('h2', { id: 'tw-kinds', text: t('report.kinds') }),
        bars(t('report.chart.formality'), words(st.active_links_by_formality), t('report.col.formality')),
        bars(t('report.chart.gkind'), words(st.active_links_by_group_kind), t('report.col.gkind')),
        bars(t('report.chart.nation'), words(st.active_links_by_nation), t('report.col.nation')),
        bars(t('report.chart.status'), words(st.links_by_status), t('report.col.status'))]));
      /* Partner countries: places and active links per country. */
      var pc = st.places_by_country || {}, ac = st.active_links_by_country || {}, keys = {};
      Object.keys(pc).concat(Object.keys(ac)).forEach(function (k) { keys[k] = 1; });
      var crow = Object.keys(keys).map(function (k) { return { k: k, label: codeName(names, k), p: pc[k] || 0, a: ac[k] || 0 }; })
        .sort(function (a, b) { return b.a - a.a || b.p - a.p || (a.label < b.label ? -1 : 1); });
      root.appendChild(el('section', { class: 'countries', 'aria-labelledby': 'tw-countries' }, [
        el('h2', { id: 'tw-countries', text: t('report.countries') }),
        table('country-table', t('report.countries.caption'), [t('report.col.country'), t('report.col.places'), t('report.col.activelinks')],
          crow.map(function (r) {
            return el('tr', {}, [el('td', { dir: 'auto', text: r.label }), el('td', { class: 'n', text: num(r.p) }), el('td', { class: 'n', text: num(r.a) })]);
          }), null, true)]));
      var govs = el('section', { class: 'govs', 'aria-labelledby': 'tw-govs' }, [
        el('h2', { id: 'tw-govs', text: t('report.govs') }), el('p', { text: t('report.govs.intro') })]);
      (d.governorates || []).forEach(function (g) { govs.appendChild(governorate(g)); });
      root.appendChild(govs);
      root.appendChild(el('section', { class: 'housekeeping', 'aria-labelledby': 'tw-hk' }, [
        el('h2', { id: 'tw-hk', text: t('report.housekeeping') }),
        el('p', { text: t('report.hk.text', { dangling: c.dangling_links || 0, twice: c.places_listed_twice || 0, gtwice: c.groups_listed_twice || 0 }) })]));
    }
    return { render: render };
  }

  window.twReport = {
    /* root: an element; data: the report op's result; t(key, vars): the
     * page's translations; lang: "en" or "ar". */
    render: function (root, data, t, lang) { make(t, lang).render(root, data); }
  };

  /* The static file: data and translations inline, no request made. */
  function standalone() {
    var dataEl = document.getElementById('tw-report-data'), strEl = document.getElementById('tw-report-strings');
    if (!dataEl || !strEl) return;
    var data = JSON.parse(dataEl.textContent), strings = JSON.parse(strEl.textContent);
    var lang = document.documentElement.lang === 'ar' ? 'ar' : 'en';
    var t = function (key, vars) {
      var s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
      if (vars) Object.keys(vars).forEach(function (k) { s = s.split('{' + k + '}').join(String(vars[k])); });
      return s;
    };
    document.title = t('report.title');
    window.twReport.render(document.getElementById('report'), data, t, lang);
    document.documentElement.setAttribute('data-rendered', 'yes');
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', standalone);
  else standalone();
})();
