(() => {
  "use strict";
  const CONFIG = JSON.parse(document.getElementById("config").textContent);
  const API = CONFIG.api;
  const T = CONFIG.t;
  const $ = (id) => document.getElementById(id);
  const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

  const state = {
    personaId: null,
    version: -1,
    replyTo: null,
    chat: null,
    renderedKey: "",
    threadId: null,  // the topic shown (null: the general thread)
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function initials(persona) {
    return ((persona.first_name || "?")[0] + ((persona.last_name || "")[0] || "")).toUpperCase();
  }

  let toastTimer = null;
  function toast(text, isError) {
    const box = $("toast");
    box.textContent = text;
    box.className = isError ? "error" : "";
    box.style.display = "block";
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.style.display = "none"; }, isError ? 5000 : 2500);
  }

  function alertModal(text) {
    $("modaltext").textContent = text;
    $("modal").classList.add("on");
    $("modalok").focus();
  }
  $("modalok").addEventListener("click", () => $("modal").classList.remove("on"));

  function setStatus(text, bad) {
    $("status").textContent = text;
    $("status").className = bad ? "bad" : "";
  }

  async function api(path, options) {
    const response = await fetch(API + path, {
      headers: { "Content-Type": "application/json" },
      ...options,
    });
    if (!response.ok) {
      const detail = await response.text();
      throw new Error(detail || response.statusText);
    }
    return response.json();
  }

  function currentPersona() {
    return CONFIG.personas.find((p) => p.id === state.personaId);
  }

  function renderPersonas() {
    const nav = $("personas");
    nav.replaceChildren();
    CONFIG.personas.forEach((persona, index) => {
      const sub = persona.username ? "@" + persona.username : "id " + persona.id;
      nav.append(el("button", {
        class: "persona" + (persona.id === state.personaId ? " active" : ""),
        type: "button",
        "data-persona": persona.id,
        onclick: () => selectPersona(persona.id),
      },
        el("span", { class: "avatar", style: "background:" + COLORS[index % COLORS.length] }, initials(persona)),
        el("span", {}, persona.label, el("small", {}, sub)),
      ));
    });
  }

  function selectPersona(id) {
    state.personaId = id;
    state.replyTo = null;
    state.renderedKey = "";
    localStorage.setItem("sandbox.persona", String(id));
    history.replaceState(null, "", "#" + id);
    renderPersonas();
    renderReplyBar();
    hideInline();
    const persona = currentPersona();
    $("subtitle").textContent = T.writingAs + persona.label;
    $("fold").textContent = persona.label + " · " + T.switch + " ▾";
    fold(false); // on a phone the list folds away once a persona is chosen
    $("log").replaceChildren(el("div", { class: "empty" }, T.loading));
    refresh();
    $("input").focus();
  }

  function formatTime(unix) {
    const date = new Date(unix * 1000);
    return date.toLocaleTimeString(CONFIG.lang, { hour: "2-digit", minute: "2-digit" });
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " " + T.bytes;
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " " + T.kb;
    return (bytes / 1024 / 1024).toFixed(1) + " " + T.mb;
  }

  function richText(html) {
    // The server rebuilt this HTML from Telegram entities, so it only contains the Telegram subset.
    const span = el("span", { class: "text" });
    span.innerHTML = html;
    return span;
  }

  function renderKeyboard(message) {
    if (!message.buttons.length) return null;
    const board = el("div", { class: "keyboard" });
    for (const row of message.buttons) {
      const line = el("div", { class: "krow" });
      for (const button of row) {
        if (button.type === "url") {
          line.append(el("a", { class: "kbtn url", href: button.url, target: "_blank", rel: "noopener noreferrer" },
            button.text));
        } else if (button.type === "callback") {
          line.append(el("button", {
            class: "kbtn", type: "button", "data-callback": button.data,
            onclick: (event) => press(message.id, button.data, event.currentTarget),
          }, button.text));
        } else if (button.type === "inline") {
          line.append(el("button", { class: "kbtn inline", type: "button", "data-inline": button.query,
            onclick: () => startInline(button.query) }, button.text));
        } else if (button.type === "copy") {
          line.append(el("button", { class: "kbtn copy", type: "button", onclick: () => copyText(button.copy) },
            button.text));
        } else {
          line.append(el("button", { class: "kbtn other", type: "button", disabled: true,
            title: T.unsupportedButton }, button.text));
        }
      }
      board.append(line);
    }
    return board;
  }

  function renderMessage(message) {
    const mine = !message.from_bot;
    const bubble = el("div", { class: "bubble", id: "m" + message.id });
    if (message.forward_from) bubble.append(el("div", { class: "forward" }, T.forwarded + message.forward_from));
    if (message.reply_to) {
      bubble.append(el("div", {
        class: "quote", title: T.goTo,
        onclick: () => flash(message.reply_to.id),
      }, (message.reply_to.from_bot ? CONFIG.bot.first_name : T.you) + ": " + message.reply_to.snippet));
    }
    if (message.photo) bubble.append(el("img", { class: "photo", src: message.photo.url, alt: T.photo }));
    if (message.document) {
      const name = message.document.url
        ? el("a", { href: message.document.url, target: "_blank", rel: "noopener" }, message.document.name)
        : el("span", {}, message.document.name);
      bubble.append(el("div", { class: "doc" }, el("span", { class: "icon" }, "📄"),
        el("span", {}, name, el("br"), el("small", {}, formatSize(message.document.size)))));
    }
    if (message.html !== null) bubble.append(richText(message.html));
    if (message.caption_html !== null) bubble.append(richText(message.caption_html));
    if (message.html === null && message.caption_html === null && !message.document && !message.photo) {
      bubble.append(el("i", {}, "[" + message.kind + "]"));
    }
    bubble.append(el("div", { class: "meta" },
      (message.edited ? T.edited : "") + (message.deleted ? T.deleted : "") + formatTime(message.date)));
    const row = el("div", { class: "row " + (mine ? "mine" : "theirs") + (message.deleted ? " deleted" : ""),
      "data-message-id": message.id, "data-edited": message.edited }, bubble);
    const keyboard = renderKeyboard(message);
    if (keyboard) row.append(keyboard);
    if (!mine && !message.deleted) {
      row.append(el("div", { class: "actions" }, el("button", {
        type: "button", title: T.replyTitle, "data-action": "reply",
        onclick: () => startReply(message),
      }, T.reply)));
    }
    return row;
  }

  function renderTopics(chat) {
    // Topic mode (Bot API 10.1): the general thread and one tab per topic, each with its own messages.
    const topic = chat.topics.find((t) => t.id === state.threadId);
    if (!topic) state.threadId = null;
    const tab = (id, label) => el("button", {
      class: "chip" + (state.threadId === id ? " on" : ""), type: "button", "data-thread": id === null ? "" : id,
      onclick: () => { state.threadId = id; state.renderedKey = ""; renderChat(state.chat); },
    }, label);
    $("topics").replaceChildren(...(chat.topics.length ? [tab(null, "Общий чат"), ...chat.topics.map(
      (t) => tab(t.id, t.name + (t.typing ? " · печатает…" : "")))] : []));
    return topic ? topic.messages : chat.messages;
  }

  function renderChat(chat) {
    const log = $("log");
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    chat = { ...chat, messages: renderTopics(chat) };
    if (!chat.messages.length) {
      log.replaceChildren(el("div", { class: "empty" }, T.empty));
    } else {
      log.replaceChildren(...chat.messages.map(renderMessage));
    }
    const follow = atBottom || state.renderedKey === "";
    state.renderedKey = String(chat.version);

    const commands = $("commands");
    commands.replaceChildren(...chat.commands.map((command) => el("button", {
      class: "chip", type: "button", title: command.description,
      onclick: () => sendText("/" + command.command),
    }, el("b", {}, "/" + command.command), " " + command.description)));

    const replyKb = $("replykb");
    replyKb.replaceChildren(...chat.reply_keyboard.flat().map((text) => el("button", {
      class: "chip", type: "button", onclick: () => sendText(text),
    }, text)));
    // Last: the command chips above change the log's height. Photos lay out only once loaded.
    if (follow) {
      toEnd();
      log.querySelectorAll("img").forEach((img) => img.addEventListener("load", toEnd));
    }
  }

  function toEnd() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
  }

  function fold(open) {
    document.body.classList.toggle("personas-open", open);
    $("fold").setAttribute("aria-expanded", String(open));
  }
  $("fold").addEventListener("click", () => fold(!document.body.classList.contains("personas-open")));

  function flash(id) {
    const target = document.getElementById("m" + id);
    if (!target) return;
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    target.classList.add("highlight");
    setTimeout(() => target.classList.remove("highlight"), 1200);
  }

  function startReply(message) {
    const text = (message.html !== null ? message.html : message.caption_html) || "";
    const plain = new DOMParser().parseFromString(text, "text/html").body.textContent || "";
    state.replyTo = { id: message.id, snippet: plain.slice(0, 100) };
    renderReplyBar();
    $("input").focus();
  }

  function renderReplyBar() {
    const bar = $("replybar");
    if (!state.replyTo) {
      bar.classList.remove("on");
      return;
    }
    bar.querySelector("span").textContent = T.replyTo + state.replyTo.snippet;
    bar.classList.add("on");
  }
  $("cancelreply").addEventListener("click", () => { state.replyTo = null; renderReplyBar(); });

  async function refresh() {
    const personaId = state.personaId;
    if (personaId === null) return;
    try {
      const chat = await api("/chats/" + personaId);
      if (personaId !== state.personaId) return;
      // Refreshes run concurrently (long poll, after a send, after a press) and their responses can arrive out
      // of order: never replace a newer view with an older one.
      if (state.renderedKey !== "" && chat.version < Number(state.renderedKey)) return;
      state.chat = chat;
      renderChat(chat);
      setStatus(T.live);
    } catch (error) {
      setStatus(T.error + error.message, true);
    }
  }

  async function sendText(text) {
    text = text.trim();
    if (!text || state.personaId === null) return;
    const body = { text };
    if (state.replyTo) body.reply_to_message_id = state.replyTo.id;
    if (state.threadId !== null && state.threadId !== undefined) body.thread_id = state.threadId;
    $("send").disabled = true;
    try {
      await api("/chats/" + state.personaId + "/messages", { method: "POST", body: JSON.stringify(body) });
      state.replyTo = null;
      renderReplyBar();
      await refresh();
      toEnd();
      return true;
    } catch (error) {
      toast(T.notSent + error.message, true);
      return false;
    } finally {
      $("send").disabled = false;
    }
  }

  async function press(messageId, data, button) {
    button.disabled = true;
    try {
      const result = await api("/chats/" + state.personaId + "/press", {
        method: "POST", body: JSON.stringify({ message_id: messageId, callback_data: data }),
      });
      const answer = result.answer;
      if (!answer) toast(T.noAnswer, true);
      else if (answer.text && answer.show_alert) alertModal(answer.text);
      else if (answer.text) toast(answer.text);
    } catch (error) {
      toast(T.buttonFailed + error.message, true);
    } finally {
      button.disabled = false;
      refresh();
    }
  }

  // Inline mode: «@bot query» in the input field asks the bot (answerInlineQuery) and lists its results above
  // the field, as Telegram does; a tap on a result sends it into the chat (the topic shown) via the bot.
  const inline = { seq: 0, timer: null };
  function inlinePrefix() {
    return CONFIG.bot.username ? "@" + CONFIG.bot.username + " " : null;
  }
  function inlineQueryOf(text) {
    const prefix = inlinePrefix();
    if (!prefix || !text.toLowerCase().startsWith(prefix.toLowerCase())) return null;
    return text.slice(prefix.length);
  }
  function hideInline() {
    inline.seq += 1;  // a late answer to an older query is dropped
    clearTimeout(inline.timer);
    $("inline").classList.remove("on");
    $("inline").replaceChildren();
  }
  function startInline(query) {
    const prefix = inlinePrefix();
    if (!prefix) return;
    input.value = prefix + query;
    autoGrow();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    runInline(query);
  }
  async function runInline(query) {
    const seq = ++inline.seq;
    const personaId = state.personaId;
    try {
      const answer = await api("/chats/" + personaId + "/inline", { method: "POST", body: JSON.stringify({ query }) });
      if (seq !== inline.seq || personaId !== state.personaId) return;
      renderInline(answer);
    } catch (error) {
      if (seq === inline.seq) toast(T.error + error.message, true);
    }
  }
  function renderInline(answer) {
    const panel = $("inline");
    const items = [el("div", { class: "ititle" }, T.inlineTitle)];
    if (!answer.answered) items.push(el("div", { class: "inone" }, T.inlineWaiting));
    else if (answer.button) items.push(el("div", { class: "inone ibutton" }, answer.button.text));
    for (const result of answer.results) {
      items.push(el("button", {
        class: "iresult", type: "button", role: "option", "data-result": result.id, disabled: !result.choosable,
        onclick: () => chooseInline(answer.query_id, result.id),
      }, el("b", {}, result.title), result.description ? el("small", {}, result.description) : null));
    }
    if (answer.answered && !answer.results.length && !answer.button) items.push(el("div", { class: "inone" },
      T.inlineNone));
    panel.replaceChildren(...items);
    panel.classList.add("on");
  }
  async function chooseInline(queryId, resultId) {
    const body = { query_id: queryId, result_id: resultId };
    if (state.threadId !== null && state.threadId !== undefined) body.thread_id = state.threadId;
    try {
      await api("/chats/" + state.personaId + "/inline/choose", { method: "POST", body: JSON.stringify(body) });
      input.value = "";
      autoGrow();
      hideInline();
      await refresh();
      toEnd();
    } catch (error) {
      toast(T.notSent + error.message, true);
    }
  }
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      toast(T.copied + text.slice(0, 60));
    } catch (error) {
      // No clipboard (a page over plain HTTP): the text goes into the input field instead.
      input.value = text;
      autoGrow();
      input.focus();
    }
  }

  $("log").addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const spoiler = target.closest(".tg-spoiler");
    if (spoiler) spoiler.classList.add("shown");
    const command = target.closest(".cmd");
    if (command && command.dataset.cmd) sendText(command.dataset.cmd);
  });

  const input = $("input");
  async function submit() {
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    autoGrow();
    hideInline();
    if (!(await sendText(text))) input.value = text;
  }
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  function autoGrow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
  }
  input.addEventListener("input", autoGrow);
  input.addEventListener("input", () => {
    const query = inlineQueryOf(input.value);
    if (query === null) { hideInline(); return; }
    clearTimeout(inline.timer);
    inline.timer = setTimeout(() => runInline(query), 250);
  });
  $("send").addEventListener("click", submit);

  async function listen() {
    // Long poll: the server answers when anything in the fake changes (or after ~25 s).
    for (;;) {
      try {
        const result = await api("/events?since=" + state.version);
        if (result.version !== state.version) {
          state.version = result.version;
          await refresh();
        }
      } catch (error) {
        setStatus(T.offline, true);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  $("botname").textContent = CONFIG.bot.first_name + (CONFIG.bot.username ? " (@" + CONFIG.bot.username + ")" : "");
  const fromHash = Number(location.hash.slice(1));
  const saved = Number(localStorage.getItem("sandbox.persona"));
  const initial = [fromHash, saved].find((id) => CONFIG.personas.some((p) => p.id === id));
  if (CONFIG.personas.length) {
    selectPersona(initial !== undefined ? initial : CONFIG.personas[0].id);
  } else {
    $("log").replaceChildren(el("div", { class: "empty" }, T.noPersonas));
  }
  listen();
})();
