"""The fake's HTTP surface: routes, request parsing, checks against the vendored spec, faults.

A request is parsed the way Telegram parses it (query, form, multipart, JSON), coerced field by
field by :mod:`sandbox.spec`, and answered with Telegram's exact error bodies; the method itself
is found by name (``_m_<method>``) on the assembled :class:`~sandbox.bot_api.FakeBotAPI`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from .limits import too_many_requests
from .model import ApiCall, Fault, FaultKind, TelegramError, UploadedFile, bad_request
from .spec import CoercionError, MethodSpec, coerce
from .state import FakeState

log = logging.getLogger(__name__)

MAX_CALLBACK_DATA = 64
# Fields that Telegram removed from the docs but still honours; the fake honours them
# too (so behaviour matches production) while still reporting them as violations.
_LEGACY_FIELDS = {"reply_to_message_id", "allow_sending_without_reply", "disable_web_page_preview"}
_STATUS_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_EMPTY_LIST_ALLOWED = {("answerInlineQuery", "results")}
_REQUIRED_WORDING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "callback_query_id": "query_id is empty",
    "action": "action is empty",
    "url": "url is empty",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "commands": "commands are empty",
}


class Transport(FakeState):
    """HTTP routes and the checks every call goes through before its method runs."""

    @property
    def app(self) -> web.Application:
        if self._app is None:
            # Telegram accepts 50 MB uploads; aiohttp's default 1 MiB would reject documents.
            app = web.Application(client_max_size=50 * 1024 * 1024)
            self.register(app, prefix="")
            self._app = app
        return self._app

    def register(self, app: web.Application, prefix: str = "/telegram-sandbox") -> None:
        """Mount the API routes into ``app`` under ``prefix`` (base url = host + prefix)."""
        prefix = prefix.rstrip("/")
        app.router.add_route("*", prefix + "/bot{token}/{method}", self._handle)
        app.router.add_get(prefix + "/file/bot{token}/{path:.+}", self._handle_file)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._closing = False
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        bound_port = sockets[0].getsockname()[1] if sockets else port
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        await self._on_shutdown(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._on_cleanup(None)

    async def _on_shutdown(self, _app: web.Application | None) -> None:
        # Long polls and held "timeout" faults must end now, or shutdown waits for them.
        self._closing = True
        self._updates_signal.notify()
        self._changes.notify()

    async def _on_cleanup(self, _app: web.Application | None) -> None:
        await self._stop_webhook_delivery()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(TelegramError(401, "Unauthorized").body(), status=401)
        path = request.match_info["path"]
        upload = next((f for f in self._files.values() if self._file_path(f) == path), None)
        if upload is None:
            return web.json_response(TelegramError(404, "Not Found").body(), status=404)
        return web.Response(body=upload.data, content_type=upload.content_type or "application/octet-stream")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        if token != self.token:
            return web.json_response(TelegramError(401, "Unauthorized").body(), status=401)
        spec = self.spec.method(method_name)
        if spec is None:
            log.warning("fake Bot API: unknown method %r", method_name)
            return web.json_response(TelegramError(404, "Not Found").body(), status=404)
        try:
            raw = await self._read_params(request)
        except TelegramError as err:
            return web.json_response(err.body(), status=err.code)
        call = ApiCall(method=spec.name, params=dict(raw), time=time.time())
        self.calls.append(call)

        fault = self._take_fault(spec.name)
        if fault is not None:
            call.ok = False
            call.fault = fault.kind
            if fault.kind == "429":
                self.flood.record_fault(spec.name, raw.get("chat_id"), fault.retry_after)
            return await self._apply_fault(request, fault)

        try:
            result = await self._execute(spec, call, raw)
        except TelegramError as err:
            if err.code != 409:
                log.info("fake Bot API: %s -> %s %s", spec.name, err.code, err.description)
            return web.json_response(err.body(), status=err.code)
        return web.json_response({"ok": True, "result": result})

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Execute a method in-process (used for webhook replies); raises TelegramError."""
        spec = self.spec.method(method)
        if spec is None:
            raise TelegramError(404, "Not Found")
        raw = dict(params or {})
        call = ApiCall(method=spec.name, params=raw, time=time.time())
        self.calls.append(call)
        return await self._execute(spec, call, raw)

    async def _execute(self, spec: MethodSpec, call: ApiCall, raw: dict[str, Any]) -> Any:
        """Checks a call against the spec and the flood limits, runs it and records how it went on ``call``."""
        try:
            params = self._validate(spec, raw)
            call.params = params
            self.flood.admit(spec.name, params.get("chat_id"))
            result = await self._dispatch(spec, params)
        except TelegramError as err:
            call.ok, call.error = False, err.description
            raise
        call.ok = True
        return result

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        content_type = request.content_type
        try:
            if content_type == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                        continue
                    if part.filename is not None:
                        data = await part.read(decode=True)
                        params[part.name] = UploadedFile(
                            filename=part.filename,
                            data=bytes(data),
                            content_type=part.headers.get("Content-Type"),
                        )
                    else:
                        params[part.name] = await part.text()
            elif content_type == "application/json":
                body = await request.content.read()
                if body:
                    decoded = json.loads(body)
                    if not isinstance(decoded, dict):
                        raise bad_request("JSON body must be an object")
                    params.update(decoded)
            elif request.can_read_body:
                # Read the raw stream rather than request.post(): the host app's
                # client_max_size must not cap what the fake accepts.
                body = await request.content.read()
                charset = request.charset or "utf-8"
                params.update(parse_qsl(body.decode(charset), keep_blank_values=True))
        except (ValueError, UnicodeDecodeError) as err:
            raise bad_request(f"can't parse request body: {err}") from None
        return params

    def inject_fault(
        self,
        method: str | None,
        kind: FaultKind,
        times: int = 1,
        retry_after: int = 1,
        status: int = 502,
        *,
        delay: float | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (any method if None) fail; faulted
        calls have no effect. ``delay`` is how long a "timeout" fault holds the request."""
        if kind not in ("429", "5xx", "timeout", "network"):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(
            Fault(
                method=method.lower() if method else None,
                kind=kind,
                remaining=times,
                retry_after=retry_after,
                status=status,
                delay=self.timeout_fault_delay if delay is None else delay,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        lowered = method.lower()
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, lowered):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _apply_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind == "429":
            err = too_many_requests(fault.retry_after)
            return web.json_response(err.body(), status=429)
        if fault.kind == "5xx":
            err = TelegramError(fault.status, _STATUS_TEXT.get(fault.status, "Internal Server Error"))
            return web.json_response(err.body(), status=fault.status)
        if fault.kind == "timeout":
            loop = asyncio.get_running_loop()
            deadline = loop.time() + fault.delay
            while not self._closing and loop.time() < deadline:
                await self._changes.wait(deadline - loop.time())
            err = TelegramError(504, "Gateway Timeout")
            return web.json_response(err.body(), status=504)
        # "network": drop the TCP connection mid-request, as a flaky proxy or NAT would.
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    def _validate(self, spec: MethodSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
        # aiogram uploads files as separate multipart parts referenced by "attach://<name>".
        attachments = {
            key: value for key, value in raw.items() if isinstance(value, UploadedFile) and key not in spec.fields
        }
        referenced: set[str] = set()
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in attachments:
                continue
            field_spec = spec.fields.get(key)
            if field_spec is None:
                if key in _LEGACY_FIELDS:
                    self._violation(f"{spec.name}: deprecated field {key!r} (not in Bot API {self.spec.version})")
                    params[key] = _legacy_value(key, value)
                else:
                    self._violation(f"{spec.name}: unknown field {key!r}")
                continue
            if isinstance(value, UploadedFile):
                if not field_spec.accepts_file:
                    raise bad_request(f'field "{key}" can\'t be a file')
                params[key] = value
                continue
            if field_spec.accepts_file and isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name not in attachments:
                    raise bad_request(f"file attach://{name} not found in the request")
                referenced.add(name)
                params[key] = attachments[name]
                continue
            try:
                params[key] = coerce(field_spec, value)
            except CoercionError as err:
                if key == "reply_markup":
                    raise bad_request("can't parse reply keyboard markup JSON object") from None
                raise bad_request(str(err)) from None
        for name in attachments:
            if name not in referenced and not any(isinstance(v, str) and f"attach://{name}" in v for v in raw.values()):
                self._violation(f"{spec.name}: uploaded file part {name!r} is not referenced by any field")
        for field_spec in spec.fields.values():
            if not field_spec.required:
                continue
            value = params.get(field_spec.name)
            # An empty list is a value where Telegram says so: answerInlineQuery's results=[] shows "no results".
            empty_list_allowed = (spec.name, field_spec.name) in _EMPTY_LIST_ALLOWED
            if value is None or value == "" or (value == [] and not empty_list_allowed):
                default = f'parameter "{field_spec.name}" is required'
                wording = _REQUIRED_WORDING.get(field_spec.name, default)
                raise bad_request(wording)
        markup = params.get("reply_markup")
        if markup is not None:
            check_reply_markup(markup)
        return params

    async def _dispatch(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"_m_{spec.name}", None)
        if handler is not None:
            return await handler(params)
        if spec.returns == ("Message",) and "chat_id" in params:
            return self._generic_send(spec.name, params)
        if spec.returns != ("Boolean",):
            log.warning(
                "fake Bot API: %s is not modelled; answering true although it returns %s",
                spec.name,
                " or ".join(spec.returns),
            )
        return True


def _legacy_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key == "reply_to_message_id":
        return int(value) if value.lstrip("-").isdigit() else None
    return value.strip().lower() in ("true", "1")


def check_reply_markup(markup: Any) -> None:
    """Inline keyboards as Telegram checks them: button texts, one action each, callback data and URLs."""
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('can\'t parse inline keyboard: field "inline_keyboard" must be an Array')
    actions = (
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")):
                raise bad_request("can't parse inline keyboard button: Text is not specified")
            if not any(key in button for key in actions):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and (
                not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA
            ):
                raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                raise bad_request("BUTTON_URL_INVALID")
