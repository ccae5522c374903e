"""The product as one process: database, bot, outbox, web server and Telegram link, started and stopped in order."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import peewee_async
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ai import build_consultant
from app.http import Startup, create_app
from app.telegram_side import Deferred, load, load_in_background
from bot.languages import ManagerLanguages
from core.config import Settings, StartupError
from core.db import connection_failure, make_database, parse_database_url
from core.migrations import UnmigratedDatabaseError, apply_migrations, ensure_migrated
from core.paths import from_project
from models import bind_database
from sandbox.personas import ROLE_LABELS, SandboxPersona, personas, sandbox_access
from support.attachments import AttachmentStore
from support.coordination import (
    COORDINATOR,
    Coordinator,
    Role,
    build_coordination,
    leader_only_jobs,
    single_sender,
)
from support.integrations import IntegrationSink
from support.notify import PgNotifier
from support.outbox import OutboxWorker
from support.pacing import PaceLimits, Pacer
from support.service import SupportService, log_delivery
from support.topics import TopicDelivery, Topics
from support.update_claims import last_update_id
from webhook.outgoing import IntegrationWorker

if TYPE_CHECKING:  # the Telegram side is imported by start_telegram(), after the web server is up
    from aiogram import Bot, Dispatcher
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.polling import TelegramPoller
    from support.jobs import SupportJobs
    from support.mailer import EmailWorker

log = logging.getLogger("ilpo")

# What /healthz lists under "starting" between serve_web() and the end of start_telegram().
STARTING_PARTS = ("telegram", "deliveries", "jobs")

SANDBOX_TOKEN = "1000000001:SANDBOX-not-a-real-token"
SANDBOX_PREFIX = "/telegram-sandbox"


def check_sandbox(settings: Settings) -> None:
    """Without a bot token the product serves its own Bot API, which needs the Bot API description."""
    if not settings.telegram.sandbox:
        return
    from sandbox.spec import SpecError, load_spec

    try:
        load_spec()
    except SpecError as exc:
        raise StartupError("Telegram sandbox", str(exc)) from exc


class QuietAccessLogger(AbstractAccessLogger):
    """Access log without query strings: the widget's WebSocket URL carries its token there."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, duration: float) -> None:
        if request.path.startswith(SANDBOX_PREFIX):
            return  # the sandbox's own Bot API traffic would drown everything else
        self.logger.info('%s "%s %s" %s %.1fms', request.remote, request.method, request.path,
                         response.status, duration * 1000)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class Product:
    """Everything the product runs, in one event loop. `start()` returns when it is serving."""

    def __init__(self, settings: Settings, *, migrate: bool = False) -> None:
        self.settings = settings
        self.migrate = migrate
        self.db: peewee_async.AioDatabase | None = None
        self.bot: Bot | None = None
        self.dispatcher: Dispatcher | None = None
        self.service: SupportService | None = None
        self.worker: OutboxWorker | None = None
        self.pacer: Pacer | None = None
        self.integration_worker: IntegrationWorker | None = None
        self.email_worker: EmailWorker | None = None
        self.attachments: AttachmentStore | None = None
        self.fake = None  # sandbox.bot_api.FakeBotAPI when running without a real token
        self.runner: web.AppRunner | None = None
        self.jobs: SupportJobs | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.port: int | None = None
        self.coordinator: Coordinator | None = None
        self.notifier: PgNotifier | None = None
        self.poller: TelegramPoller | None = None
        self.languages = ManagerLanguages()
        self.startup = Startup(STARTING_PARTS)
        self._channels: tuple[Deferred, ...] = ()

    @property
    def telegram_mode(self) -> str:
        if self.settings.telegram.sandbox:
            return "sandbox"
        return "webhook" if self.settings.telegram.webhook_url else "polling"

    @property
    def base_url(self) -> str:
        http = self.settings.http
        if http.public_url:
            return http.public_url
        host = "127.0.0.1" if http.host in ("0.0.0.0", "::", "") else http.host
        return f"http://{host}:{self.port}"

    def _access_ids(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        admins, managers = self.settings.access.admin_ids, self.settings.access.manager_ids
        if self.telegram_mode == "sandbox":
            return sandbox_access(admins, managers)
        return admins, managers

    def personas(self) -> list[SandboxPersona]:
        return personas(*self._access_ids())

    async def start(self) -> None:
        """Serves the web side first, then brings the Telegram side up in the same loop; returns when both are."""
        await self.serve_web()
        await self.start_telegram()

    async def serve_web(self) -> None:
        """Database, service and the web server (widget, API, sandbox Bot API, /healthz): everything that needs
        no aiogram. From here visitors chat with the AI and can ask for a manager; what must reach Telegram is
        stored in the outbox, which start_telegram() starts sending. /healthz lists the parts still starting."""
        settings = self.settings
        check_sandbox(settings)  # before the database: say the real cause, and say it at once
        url = settings.database.url
        try:
            if self.migrate:
                await asyncio.to_thread(apply_migrations, url)
            else:
                await asyncio.to_thread(ensure_migrated, url)
            self.db = make_database(url, settings.database.pool_size)
            bind_database(self.db)
            await self.db.aio_connect()
        except UnmigratedDatabaseError:
            raise
        except Exception as exc:
            reason = connection_failure(exc)
            if reason is None:
                raise
            raise StartupError("database", reason) from exc
        log.info("Database: %s", parse_database_url(url).safe)
        # The sandbox's Telegram lives in this process: no other process could poll it or send to it.
        coordinator, self.notifier, hub = build_coordination(parse_database_url(url),
                                                             alone=self.telegram_mode == "sandbox")
        self.coordinator = coordinator
        if self.notifier is not None:
            await self.notifier.start()

        storage = settings.storage
        self.attachments = AttachmentStore(from_project(storage.uploads_path), storage.max_upload_mb * 1024 * 1024)
        telegram = settings.telegram
        self.pacer = Pacer(PaceLimits(per_bot_rate=telegram.max_sends_per_second,
                                      per_bot_burst=max(1, int(telegram.max_sends_per_second))),
                           enabled=telegram.pace_sends)
        integrations = settings.integrations
        self.integration_worker = IntegrationWorker(integrations.webhook_secret)
        admins, managers = self._access_ids()
        languages = self.languages
        await languages.load()
        zone = settings.support.zone
        # The channels render for Telegram (bot/, aiogram): built once the Telegram side is loaded, or at once
        # should a visitor need one before that (support/ stores what they render; the outbox sends it later).
        self._channels = (Deferred(lambda: _localised("bot.render", "TelegramManagerChannel", zone, languages)),
                          Deferred(lambda: _localised("bot.topic_render", "TelegramTopicChannel", zone, languages)),
                          Deferred(lambda: _copilot_view(self._build_bot(), languages)))
        channel, topic_channel, copilot_view = self._channels
        self.service = SupportService(
            self.db,
            hub=hub,
            channel=channel,
            consultant=build_consultant(settings.ai),
            policy=settings.support,
            admin_ids=admins,
            manager_ids=managers,
            outbox_worker=None,  # start_telegram() sets it: rows stored before then are sent on its first round
            auto_handoff=settings.ai.auto_handoff,
            stream_ai=settings.ai.backend == "openai",
            integrations=IntegrationSink(integrations.webhook_urls, live=bool(integrations.api_keys)),
            integration_worker=self.integration_worker,
            attachments=self.attachments,
            identity=settings.identity,
            email=settings.email,
            topic_channel=topic_channel,
            topic_delete_after_days=settings.telegram.topic_delete_after_days,
            copilot_view=copilot_view,
        )
        app = create_app(
            settings=settings, database=self.db, service=self.service, hub=hub, telegram_mode=self.telegram_mode,
            startup=self.startup,
        )
        app[COORDINATOR] = coordinator
        if self.telegram_mode == "sandbox":
            self._mount_sandbox(app, SANDBOX_TOKEN)
            assert self.fake is not None
            self.fake.continue_updates_after(await last_update_id())
        self.runner = web.AppRunner(app, access_log_class=QuietAccessLogger, shutdown_timeout=5.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, settings.http.host, settings.http.port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError("HTTP server", f"cannot listen on {settings.http.host}:{settings.http.port} "
                               f"({exc.strerror or exc}); set HTTP_PORT or [http] port") from exc
        self.port = _bound_port(site, settings.http.port)
        self.service.transcripts.base_url = self.base_url  # file links in transcripts point here
        log.info("Web server up on %s; the Telegram side is starting", self.base_url)

    async def start_telegram(self) -> None:
        """aiogram imported in a worker thread (the loop keeps serving), then the bot, the outbox's sending,
        the dispatcher, the scheduled jobs and the Telegram link (polling role or webhook)."""
        assert self.service is not None and self.coordinator is not None and self.attachments is not None
        settings, service, coordinator, startup = self.settings, self.service, self.coordinator, self.startup
        await load_in_background()
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from bot.assembly import build_dispatcher
        from support.jobs import SupportJobs

        bot = self._build_bot()
        for deferred in self._channels:
            deferred.resolve()
        self.worker = OutboxWorker(bot, files=self.attachments.input_file, pacer=self.pacer)
        self.worker.on_delivered(log_delivery)
        self.worker.threads = TopicDelivery(service.topics)
        service.store.outbox_worker = self.worker
        self._wire_topics(bot, service.topics)
        self.dispatcher = build_dispatcher(service, self.languages)
        if self.telegram_mode == "webhook":
            from webhook.telegram import telegram_webhook_handler

            startup.telegram_webhook = telegram_webhook_handler(self.dispatcher, bot, settings.telegram)
        if settings.email.enabled:
            from support.mailer import EmailWorker

            self.email_worker = EmailWorker(settings.email, service.transcripts)
        senders = [w for w in (self.worker, self.integration_worker, self.email_worker) if w is not None]
        single_sender(coordinator, self.notifier, senders)  # only the leader sends, whatever the queue
        for sender in senders:
            sender.start()
        startup.up("deliveries")
        self.jobs = SupportJobs(service)
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self.jobs.schedule(self.scheduler)
        self.scheduler.start()
        leader_only_jobs(self.scheduler, coordinator)
        startup.up("jobs")
        await self._start_telegram_link(self._access_ids()[0])
        await coordinator.start()
        startup.up("telegram")
        log.info("Serving on %s (Telegram: %s)", self.base_url, self.telegram_mode)

    def _build_bot(self) -> Bot:
        """The aiogram Bot, once (start_telegram, or a co-pilot view needed before it)."""
        if self.bot is None:
            load()
            from aiogram.client.telegram import TelegramAPIServer

            from bot.assembly import build_bot
            from bot.pacing import PacedRequests

            sandbox = self.telegram_mode == "sandbox"
            token = SANDBOX_TOKEN if sandbox else self.settings.telegram.bot_token
            bot = build_bot(token, self.settings.telegram.api_base)
            bot.session.middleware(PacedRequests(self.pacer))
            if sandbox:
                bot.session.api = TelegramAPIServer.from_base(self.base_url + SANDBOX_PREFIX)
            self.bot = bot
        return self.bot

    @staticmethod
    def _wire_topics(bot: Bot, topics: Topics) -> None:
        """The Telegram side of topic mode: getMe's has_topics_enabled, a topic made at once, typing hints."""

        async def probe() -> bool:
            return bool((await bot.get_me()).has_topics_enabled)

        async def create_now(chat_id: int, name: str) -> int:
            if topics.channel is not None:  # the name as the channel shows it: in the manager's language
                name = topics.channel.create(chat_id, name).params["name"]
            return (await bot.create_forum_topic(chat_id, name)).message_thread_id

        async def typing(chat_id: int, thread_id: int) -> None:
            await bot.send_chat_action(chat_id, "typing", message_thread_id=thread_id)

        topics.probe, topics.create_now, topics.chat_action = probe, create_now, typing

    def _mount_sandbox(self, app: web.Application, token: str) -> None:
        from sandbox.bot_api import FakeBotAPI, FakeUser
        from sandbox.web import setup_sandbox

        # Inline mode on, as after BotFather's /setinline: saved replies' «🔎 Найти и изменить» and the co-pilot's
        # «✏️ Изменить» put «@bot …» into the input field, and the /sandbox page shows the results.
        self.fake = fake = FakeBotAPI(token, topics_enabled=self.settings.telegram.sandbox_topics, inline_mode=True)
        fake.register(app, prefix=SANDBOX_PREFIX)
        people = self.personas()
        users = [FakeUser(id=p.telegram_id, first_name=p.first_name) for p in people]
        setup_sandbox(app, fake, users, labels={p.telegram_id: ROLE_LABELS[p.role] for p in people})

    async def _start_telegram_link(self, admins: tuple[int, ...]) -> None:
        from bot.assembly import set_commands
        from bot.polling import TelegramPoller

        assert self.bot is not None and self.dispatcher is not None
        try:
            await set_commands(self.bot, admins)
        except Exception as exc:  # Telegram unreachable must not keep the widget down
            log.warning("Could not set the bot's command menu: %s", exc)
        assert self.service is not None
        await self.service.topics.refresh_mode()
        if self.telegram_mode == "webhook":
            telegram = self.settings.telegram
            await self.bot.set_webhook(
                telegram.webhook_url + telegram.webhook_path,
                secret_token=telegram.webhook_secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
                max_connections=1,  # Telegram then delivers one update at a time, in order
            )
            return
        # Exactly one process polls: the one holding the poller role (the others wait for it to fall free).
        assert self.coordinator is not None
        self.poller = TelegramPoller(self.dispatcher, self.bot)
        self.coordinator.want(Role.POLLER, on_gain=self.poller.start, on_lose=self.poller.stop)

    async def stop(self) -> None:
        """Stop taking new work, finish what is in flight, close the database last."""
        started = time.monotonic()
        was_serving = self.runner is not None
        if self.coordinator is not None:
            await _bounded("leaving the coordination", self.coordinator.stop(), 5)  # takes no new role
        if self.poller is not None:
            await _bounded("stopping Telegram polling", self.poller.stop(), 25)
            self.poller = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)  # jobs derive their work from the database: none is lost
            self.scheduler = None
        if self.fake is None:
            # Real Telegram: take no new HTTP work and finish what is in flight first, so the outbox can still
            # deliver what those last requests queued.
            await self._stop_http()
            await self._finish_background_work()
        else:
            # The sandbox's Bot API is served by this very server: flush to it before it goes away.
            await self._finish_background_work()
            await self._stop_http()
        if self.coordinator is not None:
            # After the last flush: the next leader / poller takes over within its next retry.
            await _bounded("releasing the coordination roles", self.coordinator.release(), 5)
        if self.notifier is not None:
            await _bounded("stopping the notifier", self.notifier.stop(), 5)
        if self.bot is not None:
            await _bounded("closing the Bot API session", self.bot.session.close(), 5)
        if self.db is not None:
            # aiopg waits for every borrowed connection to come back; a straggler must not hold the exit.
            await _bounded("closing the database pool", self.db.aio_close(), 10)
        if was_serving:
            log.info("Stopped cleanly in %.1fs", time.monotonic() - started)

    async def _stop_http(self) -> None:
        if self.runner is not None:
            # Stops listening, answers in-flight requests, closes WebSockets.
            await _bounded("stopping the HTTP server", self.runner.cleanup(), 20)
            self.runner = None

    async def _finish_background_work(self) -> None:
        if self.service is not None:
            await self.service.drain()  # AI answers being written
        for worker in (self.worker, self.integration_worker, self.email_worker):
            if worker is not None:
                # What is still queued stays in its table for the next start.
                await _bounded(f"stopping the {worker.name} worker", worker.stop(), 10)


def _localised(module: str, name: str, zone: dt.tzinfo, languages: ManagerLanguages) -> Any:
    """A bot/ channel that renders each message in its recipient's language (bot.i18n.Localised)."""
    from bot.i18n import Localised

    return Localised(getattr(importlib.import_module(module), name)(zone), languages)


def _copilot_view(bot: Bot, languages: ManagerLanguages) -> Any:
    """The co-pilot's Telegram view, in its recipient's language."""
    from bot.copilot import TelegramCopilotView
    from bot.i18n import Localised

    return Localised(TelegramCopilotView(bot), languages)


async def _bounded(step: str, work: Awaitable[object], seconds: float) -> None:
    """One shutdown step with a deadline: SIGTERM must end the process even if a step hangs; the log says which."""
    try:
        await asyncio.wait_for(work, timeout=seconds)
    except TimeoutError:
        log.warning("Shutdown: %s took longer than %ss; going on without it", step, seconds)


def _bound_port(site: web.TCPSite, configured: int) -> int:
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else configured
