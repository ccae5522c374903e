  // widget.js continued: widget/pages.py joins widget/script/ in WIDGET_JS_PARTS order into the one function.
  /* ---------- HTTP ---------- */
  function api(method, path, data, signal) {
    var headers = {};
    if (S.token) headers.Authorization = 'Bearer ' + S.token;
    headers['Accept-Language'] = LOC; // the server words its refusals in the widget's language
    var form = data instanceof FormData;
    if (data && !form) headers['Content-Type'] = 'application/json';
    return fetch(BASE + path, {
      method: method, headers: headers, body: form ? data : data ? JSON.stringify(data) : undefined,
      signal: signal, credentials: 'omit', cache: 'no-store'
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (j) {
        if (res.ok) return j;
        var e = new Error((j && j.message) || res.statusText || 'HTTP ' + res.status);
        e.status = res.status;
        e.code = j && j.error;
        e.retry = j && j.retry_after;
        throw e;
      });
    });
  }
  function lost(e) { return e && (e.status === 401 || e.status === 403 || e.status === 404); }
  function qs(o) {
    return Object.keys(o).map(function (k) { return k + '=' + encodeURIComponent(o[k]); }).join('&');
  }

  var starting = null;
  function ensureSession() {
    if (S.sid) return Promise.resolve();
    if (!starting) {
      var data = { page_url: HERE.url, page_title: HERE.title, locale: LOC, referrer: S.ref || document.referrer.slice(0, 2000),
        tz_offset: -new Date().getTimezoneOffset(), pages: S.p || [] };
      starting = api('POST', '/api/chat/start', data).then(function (d) {
        S.sid = d.session_id; S.token = d.token; S.last = S.read = S.c = 0; S.p = S.ref = null;
        save();
        openingChips(d.chips);
        connect();
        identify();
      }).finally(function () { starting = null; });
    }
    return starting;
  }

  /* ---------- who the visitor is (ILPO.identify, data-user-*) and the pages they open ---------- */
  var HERE = { url: location.href.slice(0, 2000), title: document.title.slice(0, 300) };
  var ID = D.userId ? { id: D.userId, hash: D.userHash, name: D.userName, phone: D.userPhone, email: D.userEmail } : null;
  function identify() {
    var sid = S.sid, me = ID && ID.id + sid;
    if (!me || S.idf === me) return;
    api('POST', '/api/chat/identify', Object.assign({ session_id: sid }, ID)).then(function (r) {
      S.idf = me;
      save();
      if (r.verified) connect(true); // the history of the visitor's other devices: replayed from the start
    }, function (e) { if (e.status === 409) follow({}); }); // this browser's chat was another user's
  }
  if (S.sid) api('POST', '/api/chat/visit', { session_id: S.sid, url: HERE.url, title: HERE.title }).catch(function () {});
  else { S.ref = S.ref || document.referrer.slice(0, 2000); S.p = (S.p || []).concat(HERE).slice(-15); save(); }

  // The stored session is gone or not ours any more: forget it, clear its bubbles, start afresh.
  function resetSession(sid) {
    if (sid !== S.sid) return; // an answer about a session we already left
    follow({});
  }

  // Switch to another session (none: start afresh when needed): clear the old one's bubbles and reconnect.
  function follow(next) {
    stop();
    S.sid = next.sid || null;
    S.token = next.token || null;
    S.mgr = next.mgr || null;
    S.last = 0;
    S.read = +next.read || 0;
    S.c = next.c;
    save();
    seen = {};
    topId = 0;
    chips();
    unread = 0;
    showUnread();
    var old = msgs.querySelectorAll('.ilpo-msg[data-id]');
    for (var i = 0; i < old.length; i++) old[i].remove();
    setStatus('ai');
    setTransport('offline');
    connect();
  }

  // Another tab of this site started a new session: follow it, so both tabs show the same chat.
  window.addEventListener('storage', function (e) {
    if (e.key !== KEY || !e.newValue) return;
    var next;
    try { next = JSON.parse(e.newValue) || {}; } catch (x) { return; }
    if (next.sid && next.sid !== S.sid && !starting) follow(next);
  });

  function refreshState() {
    if (!S.sid) return Promise.resolve();
    var v = modeVer, sid = S.sid;
    return api('GET', '/api/chat/state?' + qs({ session_id: sid })).then(function (st) {
      if (!st) return;
      hoursClosed = st.support_open === false;
      lead = hoursClosed || st.managers_online === false;
      opensAt = st.opens_at || null;
      mailBtn.hidden = !(mail = !!st.email);
      openingChips(st.chips);
      applyHours();
      if (v !== modeVer) return;
      var s = st.status;
      if (s === 'waiting' && status === 'queued') return;
      setStatus(s === 'assigned' || s === 'waiting' ? s : 'ai', st.manager);
    }, function (e) {
      if (lost(e)) resetSession(sid);
      throw e;
    });
  }

