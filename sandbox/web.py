"""The /sandbox page: chat with the bot as one of several fake Telegram users.

Without a real bot token the product serves the fake Bot API in-process and
this page in front of it, so a person can try the managers' side of the desk
(commands, inline keyboards, replies) in a browser. The page only ever sees
HTML that was rebuilt from Telegram entities, never the bot's raw markup.

Anyone who can open the page can act as any persona, so it must only be
mounted when the fake (not real Telegram) is in use.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from .bot_api import FakeBotAPI, FakeUser, SentMessage
from .model import Topic
from .tg_render import render_html

TEMPLATES = Path(__file__).resolve().parent / "templates"
LONG_POLL_SECONDS = 25.0
CALLBACK_WAIT_SECONDS = 5.0
INLINE_QUERY_LIMIT = 256  # Telegram's limit for what follows «@bot »

# sandbox.html pulls its style and script in from the partials beside it (sandbox.css, sandbox.js) with
# {% include %}: the page stays one request, and each file holds one language.
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
)


# The page speaks one language: Russian, or English when the browser asks for it first.
_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Песочница Telegram · ILPO-TAXI", "heading": "Песочница Telegram",
        "hint": "Выберите, от чьего имени писать боту",
        "footer": "Локальная имитация Telegram Bot API — реальный Telegram не используется.",
        "bot": "бот", "connecting": "подключение…", "commands": "Меню команд бота",
        "replykb": "Клавиатура бота", "cancelReply": "Отменить ответ",
        "placeholder": "Сообщение…", "send": "Отправить",
        "inputHint": "Enter — отправить · Shift+Enter — новая строка · /команды работают как в Telegram",
        "writingAs": "вы пишете как: ", "switch": "Сменить", "loading": "Загрузка…",
        "unsupportedButton": "Этот тип кнопки песочница не поддерживает", "forwarded": "Переслано от ",
        "goTo": "Перейти к сообщению", "you": "Вы", "photo": "фото", "edited": "изменено · ",
        "deleted": "удалено · ", "reply": "↩ Ответить", "replyTitle": "Ответить цитатой",
        "empty": "Сообщений пока нет. Отправьте /start, чтобы начать.", "replyTo": "Ответ на: ",
        "live": "на связи", "error": "ошибка: ", "notSent": "Не отправлено: ",
        "noAnswer": "Бот не ответил на нажатие (нет answerCallbackQuery)", "buttonFailed": "Кнопка не сработала: ",
        "offline": "нет связи с сервером, повтор…", "noPersonas": "Персоны не настроены",
        "bytes": "Б", "kb": "КБ", "mb": "МБ",
        "inlineTitle": "Результаты бота (inline-режим)", "inlineNone": "Нет результатов",
        "inlineWaiting": "Бот не ответил на inline-запрос", "copied": "Скопировано: ",
    },
    "en": {
        "title": "Telegram sandbox · ILPO-TAXI", "heading": "Telegram sandbox",
        "hint": "Pick who you write to the bot as",
        "footer": "A local imitation of the Telegram Bot API — real Telegram is not used.",
        "bot": "bot", "connecting": "connecting…", "commands": "The bot's command menu",
        "replykb": "The bot's keyboard", "cancelReply": "Cancel the reply",
        "placeholder": "Message…", "send": "Send",
        "inputHint": "Enter — send · Shift+Enter — new line · /commands work as in Telegram",
        "writingAs": "you write as: ", "switch": "Switch", "loading": "Loading…",
        "unsupportedButton": "The sandbox does not support this kind of button", "forwarded": "Forwarded from ",
        "goTo": "Go to the message", "you": "You", "photo": "photo", "edited": "edited · ",
        "deleted": "deleted · ", "reply": "↩ Reply", "replyTitle": "Reply with a quote",
        "empty": "No messages yet. Send /start to begin.", "replyTo": "Reply to: ",
        "live": "live", "error": "error: ", "notSent": "Not sent: ",
        "noAnswer": "The bot did not answer the press (no answerCallbackQuery)", "buttonFailed": "The button failed: ",
        "offline": "no connection to the server, retrying…", "noPersonas": "No personas configured",
        "bytes": "B", "kb": "KB", "mb": "MB",
        "inlineTitle": "The bot's results (inline mode)", "inlineNone": "No results",
        "inlineWaiting": "The bot did not answer the inline query", "copied": "Copied: ",
    },
}
# The product labels its personas in Russian; the English page shows these instead.
_LABELS_EN = {"Менеджер": "Manager", "Администратор": "Administrator", "Посторонний": "Outsider"}


def page_language(request: web.Request) -> str:
    """?lang= wins; otherwise the browser's first choice in Accept-Language (navigator.language); Russian else."""
    asked = request.query.get("lang") or request.headers.get("Accept-Language", "")
    first = asked.split(",")[0].split(";")[0].strip().lower()
    return "en" if first.startswith("en") else "ru"


class _Sandbox:
    def __init__(
        self,
        fake: FakeBotAPI,
        personas: list[FakeUser],
        labels: Mapping[int, str],
        prefix: str,
    ) -> None:
        self.fake = fake
        self.personas = {p.id: p for p in personas}
        self.order = [p.id for p in personas]
        self.labels = dict(labels)
        self.prefix = prefix

    # ---------------------------------------------------------------- helpers

    def persona(self, request: web.Request) -> FakeUser:
        try:
            user_id = int(request.match_info["user_id"])
        except ValueError:
            raise web.HTTPNotFound(text="unknown persona") from None
        persona = self.personas.get(user_id)
        if persona is None:
            # Only configured personas may be impersonated, never arbitrary Telegram ids.
            raise web.HTTPNotFound(text="unknown persona")
        return persona

    def persona_json(self, persona: FakeUser, language: str = "ru") -> dict[str, Any]:
        label = self.labels.get(persona.id) or persona.full_name
        return {
            "id": persona.id,
            "label": _LABELS_EN.get(label, label) if language == "en" else label,
            "first_name": persona.first_name,
            "last_name": persona.last_name,
            "username": persona.username,
            "language_code": persona.language_code,
        }

    def file_url(self, file_id: str) -> str:
        return f"{self.prefix}/api/files/{file_id}"

    def message_json(self, message: SentMessage) -> dict[str, Any]:
        body_html = None
        caption_html = None
        if message.text is not None:
            body_html = render_html(message.text, message.entities)
        if message.caption is not None:
            caption_html = render_html(message.caption, message.entities)
        reply_to: dict[str, Any] | None = None
        if message.reply_to is not None:
            original = self.fake.message(message.chat_id, message.reply_to)
            if original is not None:
                reply_to = {
                    "id": original.message_id,
                    "from_bot": original.from_bot,
                    "snippet": "(удалено)" if original.deleted else original.content[:120],
                }
        buttons: list[list[dict[str, Any]]] = []
        markup = message.reply_markup or {}
        for row in markup.get("inline_keyboard") or []:
            rendered_row: list[dict[str, Any]] = []
            for button in row:
                if "callback_data" in button:
                    kind, extra = "callback", {"data": button["callback_data"]}
                elif "url" in button:
                    kind, extra = "url", {"url": button["url"]}
                elif "switch_inline_query_current_chat" in button:
                    # Telegram puts «@bot query» into the input field and shows the bot's inline results.
                    kind, extra = "inline", {"query": button["switch_inline_query_current_chat"]}
                elif "copy_text" in button:
                    kind, extra = "copy", {"copy": (button["copy_text"] or {}).get("text", "")}
                else:
                    kind, extra = "other", {}
                rendered_row.append({"text": str(button.get("text", "")), "type": kind, **extra})
            buttons.append(rendered_row)
        forward = None
        if message.forward_from:
            origin = message.forward_from
            sender = origin.get("sender_user") or {}
            name = " ".join(filter(None, [sender.get("first_name"), sender.get("last_name")]))
            forward = name or origin.get("sender_user_name") or "скрытый пользователь"
        document = None
        if message.document is not None:
            document = {
                "name": message.document.filename or "file",
                "size": message.document.size,
                "url": self.file_url(message.document.file_id) if message.document.data else None,
            }
        photo = None
        if message.photo is not None and message.photo.data:
            photo = {"url": self.file_url(message.photo.file_id)}
        return {
            "id": message.message_id,
            "from_bot": message.from_bot,
            "date": message.date,
            "kind": message.kind,
            "html": body_html,
            "caption_html": caption_html,
            "edited": message.edited,
            "deleted": message.deleted,
            "reply_to": reply_to,
            "buttons": buttons,
            "forward_from": forward,
            "document": document,
            "photo": photo,
            "thread_id": message.thread_id,
        }

    def topic_json(self, chat_id: int, topic: Topic) -> dict[str, Any]:
        thread_id = topic.message_thread_id
        actions = self.fake.chat_actions(chat_id, thread_id)
        # Telegram clients show an action for five seconds or until the bot's next message.
        typing = bool(actions) and time.time() - actions[-1].time < 5
        return {
            "id": thread_id,
            "name": topic.name,
            "icon_color": f"#{topic.icon_color:06x}",
            "typing": typing,
            "messages": [self.message_json(m) for m in self.fake.thread(chat_id, thread_id)],
        }

    def reply_keyboard(self, chat_id: int) -> list[list[str]]:
        # A reply keyboard stays until a later message replaces or removes it.
        for message in reversed(self.fake.messages(chat_id)):
            markup = message.reply_markup or {}
            if "keyboard" in markup:
                return [
                    [str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in row]
                    for row in markup["keyboard"]
                ]
            if markup.get("remove_keyboard"):
                return []
        return []

    # ---------------------------------------------------------------- handlers

    async def page(self, request: web.Request) -> web.Response:
        language = page_language(request)
        config = {
            "api": f"{self.prefix}/api",
            "bot": self.fake.bot_user(),
            "personas": [self.persona_json(self.personas[i], language) for i in self.order],
            "lang": language,
            "t": _TEXTS[language],
        }
        body = _env.get_template("sandbox.html").render(config=config, t=_TEXTS[language], lang=language)
        # The language follows Accept-Language: caches must keep one copy per language.
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers={"Vary": "Accept-Language"})

    async def list_personas(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "bot": self.fake.bot_user(),
                "personas": [self.persona_json(self.personas[i]) for i in self.order],
            }
        )

    async def chat(self, request: web.Request) -> web.Response:
        persona = self.persona(request)
        version = self.fake.version
        return web.json_response(
            {
                "version": version,
                "persona": self.persona_json(persona),
                # The general thread; each topic carries its own messages below.
                "messages": [self.message_json(m) for m in self.fake.thread(persona.id, None)],
                "topics_enabled": self.fake.topics_on(persona.id),
                "topics": [self.topic_json(persona.id, t) for t in self.fake.topics(persona.id)],
                "drafts": [
                    {"thread_id": d.thread_id, "html": render_html(d.text, d.entities)}
                    for d in self.fake.drafts(persona.id)
                    if d.active
                ],
                "commands": self.fake.commands_for(persona),
                "reply_keyboard": self.reply_keyboard(persona.id),
            }
        )

    async def send(self, request: web.Request) -> web.Response:
        persona = self.persona(request)
        payload = await _json_body(request)
        text = str(payload.get("text") or "").strip()
        if not text:
            raise web.HTTPBadRequest(text="empty message")
        if len(text) > 4096:
            raise web.HTTPBadRequest(text="message is too long")
        reply_to = payload.get("reply_to_message_id")
        reply_id = int(reply_to) if reply_to not in (None, "") else None
        if reply_id is not None and self.fake.message(persona.id, reply_id) is None:
            raise web.HTTPBadRequest(text="no such message to reply to")
        thread = payload.get("thread_id")
        thread_id = int(thread) if thread not in (None, "") else None
        try:
            message = await self.fake.send_message(persona, text, reply_to_message_id=reply_id, thread_id=thread_id)
        except LookupError:
            raise web.HTTPBadRequest(text="no such topic") from None
        return web.json_response({"message_id": message["message_id"]})

    async def press(self, request: web.Request) -> web.Response:
        persona = self.persona(request)
        payload = await _json_body(request)
        try:
            message_id = int(payload["message_id"])
            button = str(payload["callback_data"])
        except (KeyError, TypeError, ValueError):
            raise web.HTTPBadRequest(text="message_id and callback_data are required") from None
        try:
            cq_id = await self.fake.press_button(persona, message_id, button)
        except (LookupError, ValueError) as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        # A Telegram client shows a spinner on the button until the bot answers; so does the page.
        try:
            answer: dict[str, Any] | None = await self.fake.wait_callback_answer(
                cq_id, timeout=CALLBACK_WAIT_SECONDS
            )
        except TimeoutError:
            answer = None
        return web.json_response({"callback_query_id": cq_id, "answer": answer})

    async def inline_query(self, request: web.Request) -> web.Response:
        """The persona types «@bot query»: the bot's answerInlineQuery, as the result list Telegram shows."""
        persona = self.persona(request)
        payload = await _json_body(request)
        query = str(payload.get("query") or "")
        if not self.fake.inline_mode:
            raise web.HTTPBadRequest(text="inline mode is off for this bot")
        if len(query) > INLINE_QUERY_LIMIT:
            raise web.HTTPBadRequest(text=f"an inline query is at most {INLINE_QUERY_LIMIT} characters")
        query_id = await self.fake.inline_query(persona, query)
        try:
            answer = await self.fake.wait_inline_answer(query_id, timeout=CALLBACK_WAIT_SECONDS)
        except TimeoutError:
            return web.json_response({"query_id": query_id, "answered": False, "results": [], "button": None})
        results = []
        for result in answer.get("results") or []:
            content = result.get("input_message_content") or {}
            results.append({
                "id": str(result.get("id")),
                "title": str(result.get("title") or ""),
                "description": str(result.get("description") or ""),
                # Only text results can be chosen here (the fake models those).
                "choosable": "message_text" in content,
            })
        button = answer.get("button")
        return web.json_response({
            "query_id": query_id, "answered": True, "results": results,
            "button": {"text": str(button.get("text", ""))} if isinstance(button, dict) else None,
        })

    async def choose_inline(self, request: web.Request) -> web.Response:
        """The persona taps an inline result: it is sent into the chat (the topic shown) via the bot."""
        persona = self.persona(request)
        payload = await _json_body(request)
        try:
            query_id, result_id = str(payload["query_id"]), str(payload["result_id"])
        except KeyError:
            raise web.HTTPBadRequest(text="query_id and result_id are required") from None
        thread = payload.get("thread_id")
        try:
            thread_id = int(thread) if thread not in (None, "") else None
            message = await self.fake.choose_inline_result(persona, query_id, result_id, thread_id=thread_id)
        except (LookupError, ValueError, TypeError) as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        return web.json_response({"message_id": message["message_id"]})

    async def events(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "-1"))
        except ValueError:
            since = -1
        started = time.monotonic()
        version = await self.fake.wait_for_change(since, LONG_POLL_SECONDS)
        return web.json_response({"version": version, "waited": round(time.monotonic() - started, 3)})

    async def file(self, request: web.Request) -> web.Response:
        upload = self.fake.file(request.match_info["file_id"])
        if upload is None or not upload.data:
            raise web.HTTPNotFound()
        name = (upload.filename or "file").replace('"', "")
        return web.Response(
            body=upload.data,
            content_type=upload.content_type or "application/octet-stream",
            headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(name, safe='')}"},
        )


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="JSON body expected") from None
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="JSON object expected")
    return payload


def setup_sandbox(
    app: web.Application,
    fake: FakeBotAPI,
    personas: list[FakeUser],
    *,
    labels: Mapping[int, str] | None = None,
    prefix: str = "/sandbox",
) -> None:
    """Serve the sandbox page at ``prefix`` and its JSON API at ``prefix/api/...``.

    ``labels`` maps persona id to the switcher caption (e.g. "Менеджер"); the
    personas are registered with the fake as users who have already started the bot.
    """
    prefix = prefix.rstrip("/")
    for persona in personas:
        # Personas have "opened the bot" already, so the demo is not stuck on
        # Telegram's rule that a bot cannot write first.
        fake.register_user(persona, started=True)
    sandbox = _Sandbox(fake, personas, labels or {}, prefix)
    router = app.router
    router.add_get(prefix, sandbox.page)
    router.add_get(prefix + "/", sandbox.page)
    router.add_get(prefix + "/api/personas", sandbox.list_personas)
    router.add_get(prefix + "/api/chats/{user_id}", sandbox.chat)
    router.add_post(prefix + "/api/chats/{user_id}/messages", sandbox.send)
    router.add_post(prefix + "/api/chats/{user_id}/press", sandbox.press)
    router.add_post(prefix + "/api/chats/{user_id}/inline", sandbox.inline_query)
    router.add_post(prefix + "/api/chats/{user_id}/inline/choose", sandbox.choose_inline)
    router.add_get(prefix + "/api/events", sandbox.events)
    router.add_get(prefix + "/api/files/{file_id}", sandbox.file)
