  // widget.js continued: widget/pages.py joins widget/script/ in WIDGET_JS_PARTS order into the one function.
  /* ---------- handoff to a live manager ---------- */
  var PHONE = /^\+?[\d\s\-()]+$/;
  function check(f, ok) {
    f[0].setAttribute('aria-invalid', ok ? 'false' : 'true');
    f[1].textContent = ok ? '' : f[2];
    f[1].hidden = ok;
    return ok;
  }
  function validName(v) { return v.length >= 2 && v.length <= 100; }
  function validPhone(v) {
    var digits = v.replace(/\D/g, '').length;
    return PHONE.test(v) && digits >= 7 && digits <= 15;
  }

  function transfer(name, phone) {
    form.hidden = true;
    mgrBtn.disabled = true;
    input.focus(); // the form (or the button) that had focus is going away
    var v = modeVer, data = {}, sid;
    ensureSession().then(function () {
      data.session_id = sid = S.sid;
      if (name) data.name = name;
      if (phone) data.phone = phone;
      return api('POST', '/api/chat/transfer-to-manager', data);
    }).then(function (r) {
      if (v === modeVer) setStatus(r.status === 'assigned' ? 'assigned' : r.status === 'queued' ? 'queued' : 'waiting');
      if (r.status === 'assigned') refreshState().catch(function () {});
    }, function (e) {
      mgrBtn.disabled = false;
      actions.hidden = status !== 'ai';
      if (lost(e)) resetSession(sid);
      showError(L.tfail);
    });
  }

  mgrBtn.addEventListener('click', function () {
    if (!ASK && !lead) return transfer();
    fName[0].value = fName[0].value || S.name || '';
    fPhone[0].value = fPhone[0].value || S.phone || '';
    form.hidden = false;
    actions.hidden = true;
    fName[0].focus();
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var name = fName[0].value.trim(), phone = fPhone[0].value.trim();
    var ok = check(fName, validName(name)) & check(fPhone, validPhone(phone));
    if (!ok) return (validName(name) ? fPhone : fName)[0].focus();
    S.name = name; S.phone = phone;
    save();
    transfer(name, phone);
  });
  skipBtn.addEventListener('click', function () { transfer(); });
  [fName, fPhone].forEach(function (f) {
    f[0].addEventListener('input', function () { if (!f[1].hidden) check(f, f === fName ? validName(f[0].value.trim()) : validPhone(f[0].value.trim())); });
  });

  /* ---------- panel, keyboard ---------- */
  function grow() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 132) + 'px';
    sendBtn.disabled = !input.value.trim();
    if (input.value && ws && ws.readyState == 1 && Date.now() - tpAt > 2e3) { tpAt = Date.now(); ws.send('{"type":"typing"}'); }
  }
  input.addEventListener('input', grow);
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  sendBtn.addEventListener('click', function () { send(); input.focus(); });
  pill.addEventListener('click', toBottom);
  msgs.addEventListener('scroll', function () { if (nearBottom()) pill.hidden = true; });

  function open(restoring) {
    if (isOpen) return;
    isOpen = S.open = true;
    save();
    panel.hidden = false;
    root.classList.add('ilpo-open');
    launcher.setAttribute('aria-expanded', 'true');
    launcher.setAttribute('aria-label', L.close);
    markRead();
    toBottom();
    if (restoring !== true) (form.hidden ? input : fName[0]).focus(); // a page load must not steal focus
    if (!S.sid && !starting) connect();
    if (gRule && restoring !== true) gTell('opened');
  }
  function close() {
    if (!isOpen) return;
    isOpen = S.open = false;
    save();
    panel.hidden = true;
    root.classList.remove('ilpo-open');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', L.open);
    launcher.focus();
  }
  launcher.addEventListener('click', function () { if (isOpen) close(); else open(); });
  closeBtn.addEventListener('click', close);
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.stopPropagation(); close(); } });
  window.addEventListener('focus', markRead);

  /* ---------- the conversation by email (offered only where the server has SMTP: state.email) ---------- */
  var mail = false;
  var mailBtn = h('button', 'ilpo-mail', '✉', { type: 'button', 'aria-label': L.mail, title: L.mail, hidden: '' });
  head.insertBefore(mailBtn, closeBtn);
  function mailForm() {
    var f = h('form', 'ilpo-mail-form');
    var inp = h('input', null, null, { type: 'email', required: '', maxlength: '320', autocomplete: 'email', placeholder: L.email, 'aria-label': L.email });
    f.append(inp, h('button', null, L.send, { type: 'submit' }));
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      api('POST', '/api/chat/transcript', { session_id: S.sid, email: inp.value.trim() })
        .then(function () { f.replaceWith(h('p', 'ilpo-mailed', L.mailed)); }, function (x) { showError(x.message); });
    });
    return f;
  }
  mailBtn.addEventListener('click', function () {
    var f = msgs.querySelector('.ilpo-mail-form') || msgs.insertBefore(mailForm(), typing);
    toBottom();
    f.firstChild.focus();
  });

  /* ---------- proactive greeting (rules from /admin); the server allows one show per rule a day ---------- */
  S.vid = S.vid || uuid();
  var returning = S.since && Date.now() - S.since > 18e5; // first seen over half an hour ago
  S.since = S.since || Date.now();
  var gRule = 0;
  function gTell(ev) {
    return api('POST', '/api/chat/greeting', { visitor: S.vid, rule_id: gRule, event: ev }).catch(function () {});
  }
  function greeting() {
    api('GET', '/api/chat/greeting?' + qs({ visitor: S.vid, url: location.href.slice(0, 2000), returning: returning ? 1 : 0 })).then(function (r) {
      var g = r && r.greeting;
      if (g) setTimeout(function () {
        api('POST', '/api/chat/greeting', { visitor: S.vid, rule_id: g.rule_id, event: 'shown' }).then(function () {
          gRule = g.rule_id;
          msgs.insertBefore(h('div', 'ilpo-msg ai-message ilpo-proactive', g.text), typing);
          if (g.open_on_desktop && !window.matchMedia('(max-width: 480px)').matches) open(true);
          if (isOpen) toBottom(); else { unread++; showUnread(); }
        });
      }, g.delay_seconds * 1000);
    }).catch(function () {});
  }

  /* ---------- start ---------- */
  function init() {
    document.body.appendChild(host);
    if (probe) {
      var c = getComputedStyle(probe).color.match(/\d+(\.\d+)?/g) || [255, 196, 0];
      var lum = (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255;
      root.style.setProperty('--on-a', lum > 0.6 ? '#111' : '#fff');
      probe.remove();
    }
    setStatus('ai');
    S.q.forEach(bubble); // messages typed offline before a reload: still on their way
    connect(); // a return visit replays the history; messages queued offline start a session
    if (S.open && !window.matchMedia('(max-width: 480px)').matches) open(true);
    save();
    greeting();
  }
  // Every page load replays the history from the start; seen{} drops repeats.
  S.last = 0;
  if (document.body) init(); else document.addEventListener('DOMContentLoaded', init);

  identify();
  window.ILPO = window.ILPOTaxiWidget = { open: open, close: close, identify: function (o) { ID = o && o.id ? o : null; identify(); } };
})();
