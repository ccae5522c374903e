  // widget.js continued: widget/pages.py joins widget/script/ in WIDGET_JS_PARTS order into the one function.
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

