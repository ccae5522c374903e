  // widget.js continued: widget/pages.py joins widget/script/ in WIDGET_JS_PARTS order into the one function.
  /* ---------- live connection: WebSocket, long-poll fallback, backoff ---------- */
  var gen = 0, ws = null, tpAt = 0, wsFails = 0, attempt = 0, retryTimer, pingTimer, lpAbort, wsProbeAt = 0;
  var sentOnSocket = {};

  function stop() {
    gen++;
    clearTimeout(retryTimer);
    clearInterval(pingTimer);
    if (ws) {
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
      try { ws.close(); } catch (e) { /* already closed */ }
      ws = null;
    }
    if (lpAbort) { lpAbort.abort(); lpAbort = null; }
  }

  function connect(now) {
    stop();
    if (now) attempt = 0;
    var g = gen;
    if (!S.sid) {
      // No session yet: start one only when the visitor opened the chat or has something to send.
      if (isOpen || S.q.length) ensureSession().catch(function () { retryLater(g); });
      return;
    }
    if (window.WebSocket && wsFails < 2) openWs(g); else longPoll(g);
  }

  function retryLater(g) {
    if (g !== gen) return;
    setTransport('offline');
    var delay = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () { if (g === gen) connect(); }, delay);
  }

  function openWs(g) {
    var opened = 0, sock, lastRx = Date.now();
    function closed() {
      if (g !== gen) return;
      ws = null;
      clearInterval(pingTimer);
      setTransport('offline');
      if (opened) {
        // Back off afresh only after a socket that lived: one that is accepted and dropped at once keeps backing off.
        if (Date.now() - opened > 10000) attempt = 0;
        return retryLater(g);
      }
      // Never opened: a bad session, a server that is down, or a network that blocks WebSockets.
      wsFails++;
      refreshState().then(function () {
        if (g !== gen) return;
        if (wsFails >= 2) { wsProbeAt = Date.now() + 60000; longPoll(g); } else retryLater(g);
      }, function () { retryLater(g); });
    }
    try {
      sock = new WebSocket(WSBASE + '/api/chat/ws');
    } catch (e) {
      wsFails = 2;
      return longPoll(g);
    }
    ws = sock;
    sock.onopen = function () {
      // The token goes in the first frame, never in the URL (where proxies log it); the server answers "ready".
      if (g === gen) sock.send(JSON.stringify({ type: 'auth', session_id: S.sid, token: S.token, after: S.last || 0 }));
    };
    function ready() {
      opened = Date.now();
      everConnected = true;
      wsFails = 0;
      sentOnSocket = {};
      setTransport('ws');
      refreshState().catch(function () {});
      flush();
      pingTimer = setInterval(function () {
        if (Date.now() - lastRx > 60000) { // a silent socket is a dead one: do not wait for TCP to notice
          sock.onclose = null;
          try { sock.close(); } catch (e) { /* ignore */ }
          return closed();
        }
        try { sock.send('{"type":"ping"}'); } catch (e) { /* closing */ }
      }, 25000);
    }
    sock.onmessage = function (m) {
      if (g !== gen) return;
      lastRx = Date.now();
      var d;
      try { d = JSON.parse(m.data); } catch (e) { return; }
      // Before "ready" only a refusal can come, and the server closes the socket after it.
      if (!opened) { if (d && d.type === 'ready') ready(); return; }
      (Array.isArray(d) ? d : [d]).forEach(function (ev) { onEvent(ev, true); });
      commit();
    };
    sock.onclose = closed;
  }

  function longPoll(g) {
    if (g !== gen) return;
    var ctl = window.AbortController ? new AbortController() : null;
    lpAbort = ctl;
    var sid = S.sid;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, 40000);
    // The first poll answers at once, so the panel knows it is connected without waiting for news.
    var wait = transport === 'longpoll' ? 25 : 0;
    api('GET', '/api/chat/events?' + qs({ session_id: sid, after: S.last, timeout: wait }), null, ctl && ctl.signal)
      .then(function (d) {
        clearTimeout(timer);
        if (g !== gen) return;
        var was = transport;
        attempt = 0;
        everConnected = true;
        setTransport('longpoll');
        if (was !== 'longpoll') { refreshState().catch(function () {}); flush(); }
        ((d && d.events) || []).forEach(function (ev) { onEvent(ev, true); });
        commit();
        // Try the WebSocket again now and then; if it still fails we come back here.
        if (window.WebSocket && Date.now() > wsProbeAt) { wsFails = 1; return connect(); }
        longPoll(g);
      }, function (e) {
        clearTimeout(timer);
        if (g !== gen) return;
        if (lost(e)) return resetSession(sid);
        retryLater(g);
      });
  }

  window.addEventListener('online', function () { if (S.sid) { wsFails = 0; connect(true); } });

  /* ---------- sending ---------- */
  function dequeue(cmid) {
    var n = S.q.length;
    S.q = S.q.filter(function (m) { return m.id !== cmid; });
    if (S.q.length !== n) save();
  }

  function bubble(m) {
    var el = h('div', 'ilpo-msg user-message ilpo-pending', null, { 'data-cmid': m.id });
    el.append(h('div', 'ilpo-text', m.text), timeEl(null, L.pending));
    pending[m.id] = el;
    msgs.insertBefore(el, typing);
    toBottom();
  }

  function failed(cmid, text) {
    var el = pending[cmid];
    dequeue(cmid);
    if (el) {
      delete pending[cmid];
      el.classList.remove('ilpo-pending');
      el.classList.add('ilpo-failed');
      el.lastChild.textContent = L.failed;
    }
    showError(text);
  }

  function wsError(ev) {
    var cmid = ev.client_message_id;
    if (ev.error === 'too_many_messages' && cmid) {
      delete sentOnSocket[cmid];
      showError(L.tooFast);
      setTimeout(flush, Math.max(2, +ev.retry_after || 5) * 1000);
    } else if (cmid) {
      failed(cmid, ev.message);
    }
  }

  var posting = false, lpTyping;
  function flush() {
    if (!S.sid) return;
    if (ws && ws.readyState === 1) {
      S.q.forEach(function (m) {
        if (sentOnSocket[m.id]) return;
        sentOnSocket[m.id] = true;
        ws.send(JSON.stringify({ type: 'user_message', text: m.text, client_message_id: m.id }));
      });
      return;
    }
    if (transport !== 'longpoll' || posting || !S.q.length) return;
    posting = true;
    var m = S.q[0], sid = S.sid;
    api('POST', '/api/chat/send-message', { session_id: sid, text: m.text, client_message_id: m.id })
      .then(function (ev) {
        var id = ev && +ev.id;
        confirm(m.id, id);
        onEvent(ev, false);
        // Long-poll carries no typing events: show the dots until the answer comes.
        if (status === 'ai' && !(lastReply > id)) { setTyping(true); clearTimeout(lpTyping); lpTyping = setTimeout(function () { setTyping(false); }, 20000); }
        posting = false;
        flush();
      }, function (e) {
        posting = false;
        if (lost(e)) return resetSession(sid);
        if (e.status === 429) { showError(L.tooFast); return setTimeout(flush, Math.max(2, +e.retry || 5) * 1000); }
        if (e.status) { failed(m.id, e.message); return flush(); }
        // network error: the message stays queued and goes out on reconnection
      });
  }

  function send(chip) {
    var text = (chip || input.value).replace(/^\s+|\s+$/g, '');
    if (!text) return;
    if (text.length > MAXLEN) return showError(L.tooLong);
    var m = { id: uuid(), text: text };
    S.q.push(m);
    save();
    if (!chip) { input.value = ''; grow(); }
    chips();
    bubble(m);
    if (gRule) { gTell('chat'); gRule = 0; }
    if (S.sid) flush(); else if (!starting) connect();
  }

