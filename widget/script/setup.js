/*! ILPO-TAXI chat widget. One tag: <script src="https://<host>/widget.js" defer></script>.
 * Options (data- attributes on that tag): title, accent, position (right|left), locale (ru|en; else <html lang>),
 * greeting, ask-contact (true|false), api (API base URL, when it is not the script's origin),
 * user-id, user-hash, user-name, user-phone, user-email (a logged-in user; or call ILPO.identify({...})).
 * Plain JS, no dependencies, no build step; renders in an open shadow root. */
// Served as one script, widget.js: widget/pages.py joins widget/script/ (WIDGET_JS_PARTS order), so the
// function opened here closes at the end of boot.js and every part shares its closure.
(function () {
  'use strict';
  if (window.ILPOTaxiWidget || document.getElementById('ilpo-taxi-widget')) return;

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var D = (script && script.dataset) || {};
  // The API lives where the script came from, so the widget works when embedded in other sites.
  var BASE = (D.api || new URL(script && script.src ? script.src : '/', location.href).origin).replace(/\/+$/, '');
  var WSBASE = BASE.replace(/^http/, 'ws');

  // data-locale, then the page's <html lang>, then the browser (ru for the CIS languages, else en).
  function lang(v) { v = (v || '').slice(0, 2).toLowerCase(); return v == 'ru' || v == 'en' ? v : ''; }
  var LOC = lang(D.locale) || lang(document.documentElement.lang) ||
    (/^(ru|uk|be|kk)/i.test(navigator.language || 'ru') ? 'ru' : 'en');
  var L = {
    ru: {
      open: 'Открыть чат', close: 'Закрыть чат', log: 'Сообщения чата', more: 'Подробнее', ed: 'изменено',
      ai: 'ИИ-консультант онлайн', waiting: 'Ищем менеджера…', queued: 'В очереди', mgr: 'Менеджер: ',
      greeting: 'Здравствуйте! Я ИИ-консультант ILPO-TAXI. Спросите о подключении, выплатах или аренде авто — или позовите живого менеджера.',
      ph: 'Напишите сообщение…', send: 'Отправить', btn: '👤 Связаться с живым менеджером',
      intro: 'Оставьте контакты, чтобы менеджер мог перезвонить, если чат прервётся.',
      name: 'Имя', phone: 'Телефон', submit: 'Позвать менеджера', skip: 'Пропустить',
      badName: 'Имя: от 2 до 100 символов', badPhone: 'Телефон: 7–15 цифр, можно +, пробелы, скобки и дефисы',
      pill: 'Новые сообщения ↓', flash: 'Новое сообщение', offline: 'Нет связи. Переподключаемся…',
      pending: 'отправляется…', failed: 'не отправлено', tooLong: 'Сообщение слишком длинное (до 4000 символов).',
      tooFast: 'Слишком часто. Сообщение уйдёт через несколько секунд.',
      tfail: 'Не получилось позвать менеджера. Попробуйте ещё раз.', manager: 'Менеджер',
      note: 'ИИ может ошибаться: детали уточняйте у менеджера',
      rate: 'Оцените, пожалуйста, помощь менеджера:', star: ' из 5', thanks: 'Спасибо за оценку!',
      comment: 'Комментарий', attach: 'Прикрепить фото или PDF',
      lead: '📝 Оставить заявку менеджеру', back: 'Менеджеры вернутся ',
      leadIntro: 'Сейчас менеджеров нет на связи. Оставьте имя и телефон — менеджер свяжется с вами.',
      mail: 'Отправить переписку на email', email: 'Ваш email', mailed: 'Отправим переписку на почту.'
    },
    en: {
      open: 'Open chat', close: 'Close chat', log: 'Chat messages', more: 'More', ed: 'edited',
      ai: 'AI consultant online', waiting: 'Looking for a manager…', queued: 'In the queue', mgr: 'Manager: ',
      greeting: 'Hello! I am the ILPO-TAXI AI consultant. Ask about joining, payouts or car rental — or call a live manager.',
      ph: 'Type a message…', send: 'Send', btn: '👤 Contact a live manager',
      intro: 'Leave your contacts so the manager can call back if the chat drops.',
      name: 'Name', phone: 'Phone', submit: 'Call a manager', skip: 'Skip',
      badName: 'Name: 2 to 100 characters', badPhone: 'Phone: 7–15 digits; +, spaces, brackets and dashes allowed',
      pill: 'New messages ↓', flash: 'New message', offline: 'Offline. Reconnecting…',
      pending: 'sending…', failed: 'not sent', tooLong: 'The message is too long (4000 characters at most).',
      tooFast: 'Too fast. The message will go in a few seconds.',
      tfail: 'Could not call a manager. Please try again.', manager: 'Manager',
      note: 'AI can make mistakes: check details with a manager',
      rate: 'Please rate the manager\'s help:', star: ' of 5', thanks: 'Thank you for your rating!',
      comment: 'Comment', attach: 'Attach a photo or PDF',
      lead: '📝 Leave a request for a manager', back: 'Managers are back ',
      leadIntro: 'No manager is available right now. Leave your name and phone and a manager will get back to you.',
      mail: 'Email me the conversation', email: 'Your email', mailed: 'We will email you the conversation.'
    }
  }[LOC];
  var TITLE = D.title || 'ILPO-TAXI';
  var ASK = D.askContact === 'true';
  var MAXLEN = 4000;

  /* ---------- storage: session, last event id, read mark, offline queue ---------- */
  var KEY = 'ilpo-taxi:' + BASE;
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  var S = load();
  S.last = +S.last || 0;
  S.read = +S.read || 0;
  S.q = Array.isArray(S.q) ? S.q : [];
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(S)); } catch (e) { /* private mode: memory only */ }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === 'x' ? r : (r & 3 | 8)).toString(16);
    });
  }

  /* ---------- DOM ---------- */
  function h(tag, cls, text, attrs) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }
  function svg(path) {
    var s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    var p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    p.setAttribute('d', path);
    p.setAttribute('fill', 'currentColor');
    s.appendChild(p);
    return s;
  }

  var host = h('div', null, null, { id: 'ilpo-taxi-widget' });
  // Inline !important beats any page rule aimed at our host; the shadow root isolates the rest.
  host.setAttribute('style', 'all:initial!important;display:block!important');
  var shadow = host.attachShadow({ mode: 'open' });
  var css = h('link', null, null, { rel: 'stylesheet', href: BASE + '/widget.css' });
  var root = h('div', 'ilpo-root' + (D.position === 'left' ? ' ilpo-left' : ''), null, { 'data-transport': 'offline', 'data-status': 'ai', lang: LOC });
  root.style.visibility = 'hidden';
  css.onload = css.onerror = function () { root.style.visibility = ''; };
  shadow.append(css, root);

  var launcher = h('button', 'ilpo-launcher', null, { id: 'ilpo-launcher', type: 'button', 'aria-label': L.open, 'aria-expanded': 'false', 'aria-controls': 'ilpo-panel' });
  launcher.appendChild(svg('M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.6 3.5 6.1L4.6 21l4.4-2.4c.9.2 1.9.4 3 .4 5.5 0 10-3.6 10-8s-4.5-8-10-8zm-4 9.3a1.3 1.3 0 1 1 0-2.6 1.3 1.3 0 0 1 0 2.6zm4 0a1.3 1.3 0 1 1 0-2.6 1.3 1.3 0 0 1 0 2.6zm4 0a1.3 1.3 0 1 1 0-2.6 1.3 1.3 0 0 1 0 2.6z'));
  var badge = h('span', 'ilpo-badge', null, { hidden: '', 'aria-hidden': 'true' });
  launcher.appendChild(badge);

  var panel = h('div', 'ilpo-panel', null, { id: 'ilpo-panel', role: 'dialog', 'aria-label': TITLE, hidden: '', 'data-transport': 'offline' });
  var head = h('div', 'ilpo-head');
  var titles = h('div', 'ilpo-titles');
  var statusEl = h('div', 'ilpo-status', L.ai, { 'aria-live': 'polite' });
  titles.append(h('div', 'ilpo-title', TITLE), statusEl);
  var closeBtn = h('button', 'ilpo-close', '×', { type: 'button', 'aria-label': L.close });
  head.append(h('div', 'ilpo-avatar', '🚕', { 'aria-hidden': 'true' }), titles, closeBtn);
  var conn = h('div', 'ilpo-conn', L.offline, { hidden: '' });

  var body = h('div', 'ilpo-body');
  var msgs = h('div', 'ilpo-messages', null, { role: 'log', 'aria-live': 'polite', 'aria-label': L.log, tabindex: '0' });
  var greet = h('div', 'ilpo-msg ai-message ilpo-greeting', D.greeting || L.greeting);
  var typing = h('div', 'ilpo-typing', null, { hidden: '', 'aria-hidden': 'true' });
  typing.innerHTML = '<i></i><i></i><i></i>';
  msgs.append(greet, typing);
  var pill = h('button', 'ilpo-pill', L.pill, { type: 'button', hidden: '' });
  body.append(msgs, pill);

  var actions = h('div', 'ilpo-actions');
  var mgrBtn = h('button', 'ilpo-manager-btn', L.btn, { type: 'button' });
  actions.appendChild(mgrBtn);

  var form = h('form', 'ilpo-contact-form', null, { hidden: '', novalidate: '' });
  function field(name, label, type, auto, err) {
    var lab = h('label', null, label);
    var inp = h('input', null, null, { name: name, type: type, autocomplete: auto, maxlength: name === 'name' ? '100' : '25' });
    var e = h('span', 'ilpo-field-error', null, { hidden: '', id: 'ilpo-err-' + name });
    inp.setAttribute('aria-describedby', e.id);
    lab.append(inp, e);
    form.appendChild(lab);
    return [inp, e, err];
  }
  var introEl = h('p', null, L.intro);
  form.appendChild(introEl);
  var fName = field('name', L.name, 'text', 'name', L.badName);
  var fPhone = field('phone', L.phone, 'tel', 'tel', L.badPhone);
  var row = h('div', 'ilpo-row');
  var skipBtn = h('button', 'ilpo-contact-skip', L.skip, { type: 'button' });
  row.append(skipBtn, h('button', 'ilpo-contact-submit', L.submit, { type: 'submit' }));
  form.appendChild(row);

  var errEl = h('div', 'ilpo-error', null, { hidden: '', role: 'alert' });
  var compose = h('div', 'ilpo-compose');
  var input = h('textarea', 'ilpo-input', null, { rows: '1', placeholder: L.ph, 'aria-label': L.ph, maxlength: String(MAXLEN) });
  var sendBtn = h('button', 'ilpo-send', null, { type: 'button', 'aria-label': L.send, disabled: '' });
  sendBtn.appendChild(svg('M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z'));
  var attach = h('button', 'ilpo-attach', null, { type: 'button', 'aria-label': L.attach, title: L.attach });
  attach.appendChild(svg('M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z'));
  var picker = h('input', 'ilpo-file-input', null, { type: 'file', accept: 'image/jpeg,image/png,image/webp,image/heic,application/pdf', hidden: '' });
  attach.addEventListener('click', function () { picker.click(); });
  picker.addEventListener('change', function () {
    var file = picker.files && picker.files[0];
    picker.value = '';
    if (!file) return;
    attach.disabled = true;
    ensureSession().then(function () {
      var fd = new FormData();
      fd.append('file', file, file.name);
      return api('POST', '/api/chat/upload?' + qs({ session_id: S.sid }), fd);
    }).then(function (ev) { onEvent(ev); }, function (e) { showError(e.message); })
      .finally(function () { attach.disabled = false; });
  });
  compose.append(attach, picker, input, sendBtn);
  panel.append(head, conn, body, actions, form, errEl, compose, h('div', 'ilpo-note', L.note));
  root.append(panel, launcher);

  if (D.accent) {
    root.style.setProperty('--a', D.accent);
    // Pick black or white text for whatever accent the site chose.
    var probe = h('i');
    probe.style.color = D.accent;
    root.appendChild(probe);
  }

  /* ---------- state ---------- */
  var seen = {};          // event id -> true: never render an event twice
  var pending = {};       // client_message_id -> bubble of a message not yet stored
  var status = 'ai';      // ai | waiting | queued | assigned
  var modeVer = 0;        // bumps on every chat-state change, so a stale /state answer is ignored
  var transport = 'offline';
  var everConnected = false;
  var isOpen = false;
  var unread = 0;
  var lastReply = 0;      // newest ai/manager event id
  var dirty = false;      // S changed by events: saved once per batch
  var hoursClosed = false; // outside working hours the handoff becomes a request (a lead)
  var lead = false;        // ...and so it does when no manager is online
  var opensAt = null;

  function setTransport(t) {
    transport = t;
    root.setAttribute('data-transport', t);
    panel.setAttribute('data-transport', t);
    conn.hidden = t !== 'offline' || !S.sid || !everConnected;
    root.toggleAttribute('data-rc', !conn.hidden); // reconnecting: the header must not say "online"
  }

  function setStatus(st, manager, position) {
    modeVer++;
    status = st;
    if (manager) S.mgr = manager;
    root.setAttribute('data-status', st);
    statusEl.textContent = st === 'assigned' ? L.mgr + (S.mgr || L.manager) : L[st] + (position ? ' · №' + position : '');
    actions.hidden = st !== 'ai';
    mgrBtn.disabled = false;
    if (st !== 'ai') mgrBtn.classList.remove('ilpo-attn');
    if (st !== 'ai') form.hidden = true;
    else applyHours();
  }
  function applyHours() {
    mgrBtn.textContent = lead ? L.lead : L.btn;
    introEl.textContent = lead ? L.leadIntro : L.intro;
    if (status !== 'ai') return;
    var when = opensAt && new Date(opensAt);
    statusEl.textContent = hoursClosed && when && !isNaN(when)
      ? L.back + when.toLocaleString(LOC, { weekday: 'short', hour: '2-digit', minute: '2-digit' }) : L.ai;
  }
  function applyChat(c) {
    if (c.status === 'closed') setStatus('ai');
    else if (c.status === 'assigned') setStatus('assigned', c.manager);
    else if (c.status === 'waiting') setStatus(c.queued ? 'queued' : 'waiting');
  }

  function showError(text) {
    errEl.textContent = text || '';
    errEl.hidden = !text;
    clearTimeout(showError.t);
    if (text) showError.t = setTimeout(function () { errEl.hidden = true; }, 8000);
  }

