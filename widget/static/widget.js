/*! ILPO-TAXI chat widget. One tag: <script src="https://<host>/widget.js" defer></script>.
 * Options (data- attributes on that tag): title, accent, position (right|left), locale (ru|en; else <html lang>),
 * greeting, ask-contact (true|false), api (API base URL, when it is not the script's origin),
 * user-id, user-hash, user-name, user-phone, user-email (a logged-in user; or call ILPO.identify({...})).
 * Plain JS, no dependencies, no build step; renders in an open shadow root. */
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

  /* ---------- rendering ---------- */
  var TYPES = { user_message: 'user-message', ai_message: 'ai-message', manager_message: 'manager-message', system_message: 'system-message' };

  function timeEl(iso, text) {
    var d = iso ? new Date(iso) : new Date();
    return h('span', 'ilpo-time', text || (isNaN(d) ? '' : d.toLocaleTimeString(LOC, { hour: '2-digit', minute: '2-digit' })));
  }

  // Keep bubbles in event-id order; bubbles still waiting for their id stay last.
  function place(el, id) {
    var ref = typing, n = typing.previousElementSibling;
    while (n && n !== greet && (!n.dataset.id || +n.dataset.id > id)) { ref = n; n = n.previousElementSibling; }
    if (ref !== el) msgs.insertBefore(el, ref);
  }

  function nearBottom(grown) {
    return msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight - (grown || 0) < 80;
  }
  function toBottom() {
    msgs.scrollTop = msgs.scrollHeight;
    pill.hidden = true;
  }

  function confirm(cmid, id) {
    var el = pending[cmid];
    dequeue(cmid);
    if (!el) return false;
    delete pending[cmid];
    el.classList.remove('ilpo-pending', 'ilpo-failed');
    el.lastChild.textContent = timeEl().textContent;
    if (id) {
      seen[id] = true;
      el.setAttribute('data-id', id);
      var prev = el.previousElementSibling;
      if (prev && +prev.dataset.id > id) { el.remove(); place(el, id); }
    }
    return true;
  }

  function fileEl(a) {
    var url = BASE + a.url;
    var link = h('a', 'ilpo-file', null, { href: url, target: '_blank', rel: 'noopener' });
    if (/^image\/(jpeg|png|webp)$/.test(a.content_type)) {
      var img = link.appendChild(h('img', null, null, { src: url, alt: a.name }));
      // The image grows the list only once it has loaded: follow the end if the list was at the end before.
      img.onload = function () { if (nearBottom(img.offsetHeight)) toBottom(); };
    } else link.textContent = '📎 ' + a.name;
    return link;
  }

  function onEvent(ev, fromStream) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.type === 'typing') return setTyping(!!ev.active && ev.author !== 'user');
    if (ev.type === 'ack') return void confirm(ev.client_message_id, +ev.id);
    if (ev.type === 'error') return wsError(ev);
    if (ev.type === 'ai_delta') return draftPiece(ev.text);
    var id = +ev.id;
    if (!(id > 0)) return;
    // Only the stream moves the resume point: a POST answer may overtake events still on their way.
    if (fromStream && id > S.last) { S.last = id; dirty = true; }
    if (seen[id]) return;
    seen[id] = true;
    if (ev.type == 'message_edited') return void ((el = msgs.querySelector('[data-id="' + ev.message_id + '"] .ilpo-text')) && (el.innerHTML = ev.html, el.dataset.ed = L.ed));
    var cls = TYPES[ev.type];
    if (!cls) return; // unknown types are skipped, but their id still counts
    // Chips belong to the latest message only: anything newer takes them away (or brings its own).
    if (id > topId) { topId = id; S.c = dirty = 1; chips(ev.type === 'ai_message' && ev.chips); }

    var stick = nearBottom();
    if (!(ev.type === 'user_message' && ev.client_message_id && confirm(ev.client_message_id, id))) {
      var el = h('div', 'ilpo-msg ' + cls, null, { 'data-id': id });
      if (ev.type === 'manager_message') el.appendChild(h('span', 'ilpo-author', (ev.author && ev.author.name) || L.manager));
      var txt = h('div', 'ilpo-text');
      if ((ev.type === 'ai_message' || ev.type === 'manager_message') && typeof ev.html === 'string' && ev.html) {
        txt.innerHTML = ev.html; // rendered and sanitized by the server
        var links = txt.querySelectorAll('a[href]');
        for (var i = 0; i < links.length; i++) { links[i].target = '_blank'; links[i].rel = 'noopener noreferrer'; }
      } else {
        txt.textContent = ev.text == null ? '' : String(ev.text);
      }
      if (ev.edited) txt.dataset.ed = L.ed;
      var a = ev.attachment;
      // A file sent without a caption carries "📎 name" as its text: the file link says it already.
      if (!a || ev.text !== '📎 ' + a.name) el.append(txt);
      if (ev.more_html) { var mb = el.appendChild(h('button', 'ilpo-more', L.more, { type: 'button' })); mb.onclick = function () { txt.innerHTML = ev.more_html; mb.remove(); }; }
      if (a) el.appendChild(fileEl(a));
      el.appendChild(timeEl(ev.created_at));
      place(el, id);
    }
    if (ev.type === 'ai_message' || ev.type === 'manager_message') { lastReply = Math.max(lastReply, id); setTyping(false); }
    if (ev.type === 'ai_message') dropDraft();
    if (ev.type === 'system_message') {
      if (ev.chat) applyChat(ev.chat);
      if (ev.queue && ev.queue.position && (status === 'waiting' || status === 'queued')) setStatus('queued', null, ev.queue.position);
      if (ev.offer_manager && status === 'ai') mgrBtn.classList.add('ilpo-attn');
      if (ev.rating_request && ev.rating_request.support_chat_id) rating(el || msgs.querySelector('[data-id="' + id + '"]'), ev.rating_request.support_chat_id);
    }
    if (ev.type !== 'user_message' && id > S.read) {
      if (isOpen && !document.hidden) { S.read = id; dirty = true; } else { unread++; showUnread(); }
    }
    if (stick || ev.type === 'user_message') toBottom(); else pill.hidden = false;
  }

  function commit() { if (dirty) { dirty = false; save(); } }

  // Quick-reply chips: the top questions when the chat opens empty, related ones under the latest AI answer.
  var chipBox = null, topId = 0;
  function chips(list) {
    if (chipBox) chipBox.remove();
    chipBox = null;
    if (!list || !list.length) return;
    var stick = nearBottom();
    chipBox = h('div', 'ilpo-chips');
    list.slice(0, 4).forEach(function (t) {
      chipBox.appendChild(h('button', 'ilpo-chip', t, { type: 'button' })).onclick = function () { send(t); };
    });
    msgs.insertBefore(chipBox, typing);
    if (stick) toBottom();
  }
  // S.c: this session has messages, so a /state answer that overtakes their replay brings no opening chips.
  function openingChips(list) { if (!S.c && !chipBox && !msgs.querySelector('[data-id],[data-cmid]')) chips(list); }

  // A streamed AI answer grows in a draft bubble (text only) until the stored ai_message replaces it.
  var draft = null, draftTimer;
  function draftPiece(piece) {
    if (typeof piece !== 'string') return;
    var stick = nearBottom();
    if (!draft) {
      draft = h('div', 'ilpo-msg ai-message ilpo-draft', null, { 'aria-hidden': 'true' });
      msgs.insertBefore(draft, typing);
    }
    draft.textContent += piece;
    typing.hidden = true;
    clearTimeout(draftTimer);
    draftTimer = setTimeout(dropDraft, 20000);
    if (stick) toBottom();
  }
  function dropDraft() {
    clearTimeout(draftTimer);
    if (draft) draft.remove();
    draft = null;
  }

  // After a manager closes the chat: five stars under the closing message, once per chat.
  function rating(el, chatId) {
    S.rated = S.rated || [];
    if (!el || S.rated.indexOf(chatId) >= 0 || el.querySelector('.ilpo-rating')) return;
    var box = h('div', 'ilpo-rating', null, { role: 'group', 'aria-label': L.rate });
    box.appendChild(h('span', null, L.rate));
    var stars = h('span', 'ilpo-stars'), chosen = 0;
    var extra = h('form', 'ilpo-rate-form');
    var comment = h('input', 'ilpo-rate-comment', null, { type: 'text', maxlength: '1000', placeholder: L.comment,
      'aria-label': L.comment });
    extra.appendChild(comment);
    extra.appendChild(h('button', 'ilpo-rate-send', L.send, { type: 'submit' }));
    extra.hidden = true;
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = h('button', 'ilpo-star', '★', { type: 'button', 'aria-label': n + L.star, 'data-rating': n });
      b.addEventListener('click', function () {
        chosen = n;
        stars.querySelectorAll('.ilpo-star').forEach(function (s, i) {
          s.classList.toggle('ilpo-on', i < n);
          s.setAttribute('aria-pressed', String(i === n - 1));
        });
        extra.hidden = false;
        comment.focus();
      });
      stars.appendChild(b);
    });
    extra.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!chosen) return;
      var data = { session_id: S.sid, support_chat_id: chatId, rating: chosen };
      if (comment.value.trim()) data.comment = comment.value.trim();
      box.setAttribute('aria-busy', 'true');
      api('POST', '/api/chat/rate', data).then(done, function (e) {
        box.removeAttribute('aria-busy');
        if (e.status === 409) done(); else showError(e.message);
      });
    });
    function done() {
      if (S.rated.indexOf(chatId) < 0) S.rated.push(chatId);
      save();
      box.textContent = L.thanks;
      if (mail) box.appendChild(mailForm());
      input.focus(); // the form that had focus is gone
    }
    box.appendChild(stars);
    box.appendChild(extra);
    el.appendChild(box);
  }

  var typingTimer;
  function setTyping(on) {
    clearTimeout(typingTimer);
    var stick = nearBottom();
    typing.hidden = !on;
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, 30000);
    if (on && stick) toBottom();
  }

  /* ---------- unread badge and title flash ---------- */
  var baseTitle = null, flashTimer;
  function showUnread() {
    badge.textContent = unread > 9 ? '9+' : String(unread);
    badge.hidden = !unread || isOpen;
    if (!unread) return stopFlash();
    if (flashTimer) return;
    baseTitle = document.title;
    var on = false;
    flashTimer = setInterval(function () {
      on = !on;
      document.title = on ? '(' + unread + ') ' + L.flash : baseTitle;
    }, 1000);
  }
  function stopFlash() {
    if (!flashTimer) return;
    clearInterval(flashTimer);
    flashTimer = null;
    document.title = baseTitle;
  }
  function markRead() {
    if (!isOpen || document.hidden) return;
    unread = 0;
    if (S.last > S.read) { S.read = S.last; save(); }
    showUnread();
  }
  document.addEventListener('visibilitychange', function () {
    markRead();
    if (!document.hidden && transport === 'offline' && S.sid) connect(true);
  });

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
    // A one-time ticket keeps the token out of the URL
    api('POST', '/api/chat/ws-ticket', { session_id: S.sid }).then(function (t) {
    if (g !== gen) return;
    try {
      sock = new WebSocket(WSBASE + '/api/chat/ws?' + qs({ session_id: S.sid, ticket: t.ticket, after: S.last }));
    } catch (e) {
      wsFails = 2;
      return longPoll(g);
    }
    ws = sock;
    sock.onopen = function () {
      if (g !== gen) return;
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
    };
    sock.onmessage = function (m) {
      if (g !== gen) return;
      lastRx = Date.now();
      var d;
      try { d = JSON.parse(m.data); } catch (e) { return; }
      (Array.isArray(d) ? d : [d]).forEach(function (ev) { onEvent(ev, true); });
      commit();
    };
    sock.onclose = closed;
    }, closed);
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
