/* Login page: the one-time token is in the fragment (#TOKEN), which no
 * browser sends to a server or puts in a Referer.  It is removed from the
 * address bar at once, posted to /api/login, and the session cookie set by
 * the answer opens the application. */
'use strict';
(function () {
  var token = location.hash.replace(/^#/, '');
  if (location.hash) history.replaceState(null, '', location.pathname);
  var lang = (localStorage.getItem('twlang') || navigator.language || 'en').slice(0, 2) === 'ar' ? 'ar' : 'en';
  var strings = {};
  function t(k) { return strings[k] || k; }
  function say(k, extra) {
    var m = document.getElementById('msg');
    m.textContent = t(k) + (extra ? ' ' + extra : '');
  }
  function apply() {
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === 'ar' ? 'rtl' : 'ltr';
    document.title = t('app.title');
    document.querySelectorAll('[data-t]').forEach(function (e) { e.textContent = t(e.getAttribute('data-t')); });
  }
  fetch('/i18n/' + lang + '.json').then(function (r) { return r.json(); }).then(function (s) {
    strings = s;
    apply();
    if (!/^[0-9a-f]{64}$/.test(token)) { say('login.none'); return; }
    say('login.working');
    return fetch('/api/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: token }), credentials: 'same-origin'
    }).then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); }).then(function (a) {
      if (a[1].ok) { location.replace('/'); return; }
      say(a[0] === 429 ? 'login.slow' : 'login.refused');
    });
  }).catch(function () { say('login.failed'); });
})();
