"""Shared fixtures: both databases, the product running against the fake Telegram, a threaded live server.

Every test that asks for `database_url` (directly or through `desk` / `live_server`) runs twice: on SQLite
and on PostgreSQL. Outside CI a missing PostgreSQL or Chromium skips those tests with a loud reason; with
REQUIRE_POSTGRES=1 / REQUIRE_BROWSER=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiohttp
import psycopg2
import pytest
from aiohttp.test_utils import TestServer

from bot.lazy_models import import_aiogram
from core.config import Settings, load_settings
from core.db import parse_database_url
from core.migrations import apply_migrations
from models import ALL_MODELS
from tests.fakes import FakeOpenAI

# aiogram as the product loads it (app/telegram_side.py): each pydantic model completed when first used.
import_aiogram()

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

T = TypeVar("T")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
MANAGER_ID = 111111111
SECOND_MANAGER_ID = 222222222
ADMIN_ID = 123456789
STRANGER_ID = 555555555


def _required(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")


def _pg_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)


def _pg_connect(url: str) -> Any:
    parsed = parse_database_url(url)
    return psycopg2.connect(dbname=parsed.database, user=parsed.user, password=parsed.password,
                            host=parsed.host, port=parsed.port, connect_timeout=5)


def _postgres_available() -> str | None:
    """None when PostgreSQL answers; else the reason. Starts a local cluster that is installed but down."""
    try:
        _pg_connect(_pg_admin_url()).close()
        return None
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                           capture_output=True, timeout=60, check=False)
        try:
            _pg_connect(_pg_admin_url()).close()
            return None
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0]
    return reason


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this test run, on each engine."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite:///{path}"
        apply_migrations(url)
        yield url
        return
    reason = _postgres_available()
    if reason is not None:
        message = f"PostgreSQL is not reachable at {_pg_admin_url()}: {reason}"
        if _required("REQUIRE_POSTGRES"):
            pytest.fail(message + " (REQUIRE_POSTGRES=1)")
        pytest.skip("!!! SKIPPING POSTGRESQL TESTS: " + message)
    name = f"ilpo_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_connect(_pg_admin_url())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    parsed = parse_database_url(_pg_admin_url())
    auth = parsed.user + (f":{parsed.password}" if parsed.password else "") + "@" if parsed.user else ""
    url = f"postgresql://{auth}{parsed.host}:{parsed.port}/{name}"
    apply_migrations(url)
    try:
        yield url
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _wipe(url: str) -> None:
    tables = [model._meta.table_name for model in ALL_MODELS]
    parsed = parse_database_url(url)
    if parsed.engine == "postgresql":
        connection = _pg_connect(url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        connection.close()
        return
    import sqlite3

    connection = sqlite3.connect(parsed.database)
    with connection:
        for table in tables:
            connection.execute(f"DELETE FROM {table}")
    connection.close()


@pytest.fixture
def clean_database(database_url: str) -> str:
    """The run's database, emptied: each test starts from nothing."""
    _wipe(database_url)
    return database_url


# For tests about Telegram pacing (make_settings turns it off by default): `start_desk(url, **PACED)`.
PACED = {"TELEGRAM_PACE_SENDS": "true"}


def make_settings(database_url: str, **env: str) -> Settings:
    environ = {
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        "TELEGRAM_BOT_TOKEN": "",
        "MANAGER_IDS": f"{MANAGER_ID},{SECOND_MANAGER_ID}",
        "ADMIN_IDS": str(ADMIN_ID),
        "LOG_LEVEL": "INFO",
        "UPLOADS_PATH": tempfile.mkdtemp(prefix="ilpo-uploads-"),
        # The co-pilot adds messages of its own to a manager's chat; tests/test_copilot.py switches it on.
        "SUPPORT_COPILOT": "false",
        # Telegram pacing holds a manager's chat to about a message a second after a burst of three: real time
        # that tests not about pacing only wait out (it took the suite from 12.5 to ~20 minutes). The fake Bot
        # API enforces no flood limits unless a test enables them, so nothing here needs it; tests about pacing,
        # merged relays and 429s (tests/test_pacing.py, ...) switch it on with PACED.
        "TELEGRAM_PACE_SENDS": "false",
        **env,
    }
    return load_settings(PROJECT_ROOT / "config.toml", environ)


class _ProductHandles:
    product: Any

    @property
    def fake(self) -> Any:
        return self.product.fake

    @property
    def service(self) -> Any:
        return self.product.service


@dataclass
class Desk(_ProductHandles):
    """The running product (sandbox mode: the real aiogram bot talks to the in-process fake Bot API)."""

    product: Any
    base_url: str
    http: aiohttp.ClientSession


async def start_desk(database_url: str, **env: str) -> Any:
    from app.product import Product

    product = Product(make_settings(database_url, **env))
    await product.start()
    return product


async def running_desk(database_url: str, **env: str) -> AsyncIterator[Desk]:
    """The product with extra settings, for a fixture of its own: `async for desk in running_desk(...)`."""
    product = await start_desk(database_url, **env)
    async with aiohttp.ClientSession() as http:
        try:
            yield Desk(product=product, base_url=product.base_url, http=http)
        finally:
            await product.stop()
    assert product.fake.violations == [], f"calls outside the Bot API spec: {product.fake.violations}"


@pytest.fixture
async def desk(clean_database: str) -> AsyncIterator[Desk]:
    async for running in running_desk(clean_database):
        yield running


class LiveServer(_ProductHandles):
    """The product in a thread of its own, for synchronous clients such as Playwright's sync API."""

    def __init__(self, database_url: str, **env: str) -> None:
        self._database_url = database_url
        self._env = env
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-server", daemon=True)
        self.product: Any = None

    def start(self) -> None:
        self._thread.start()
        self.product = self.call(start_desk(self._database_url, **self._env))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.product.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def call(self, awaitable: Awaitable[T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop (e.g. act as the manager through the fake Telegram)."""
        async def wrapper() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    @property
    def base_url(self) -> str:
        return str(self.product.base_url)


@pytest.fixture
def live_server(clean_database: str) -> Iterator[LiveServer]:
    server = LiveServer(clean_database)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.fake.violations == [], f"calls outside the Bot API spec: {server.fake.violations}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        message = f"Chromium not found at {path} (apt-get install chromium)"
        if _required("REQUIRE_BROWSER"):
            pytest.fail(message + " (REQUIRE_BROWSER=1)")
        pytest.skip("!!! SKIPPING BROWSER TESTS: " + message)
    return path


# Debian's Chromium, headless, without the background traffic this offline machine would refuse.
WAIT = 10_000  # ms, every Playwright wait: generous for a loaded CI machine
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """One Chromium per browser-test module, driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def device() -> str:
    """The screen `context` emulates; a module runs on both with `pytest.mark.parametrize("device", VIEWPORTS)`."""
    return "desktop"


@pytest.fixture
def context(browser: Browser, device: str) -> Iterator[BrowserContext]:
    """A fresh browser window (Russian locale) sized as `device`; a phone also gets touch and mobile layout."""
    phone = device == "phone"
    context = browser.new_context(viewport=VIEWPORTS[device], locale="ru-RU", is_mobile=phone, has_touch=phone)
    context.set_default_timeout(WAIT)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page in `context` that must finish without a JavaScript error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert errors == [], f"JavaScript errors on the page: {errors}"


class Opener(Protocol):
    def __call__(self, path: str, prepare: Callable[[Page], None] | None = None) -> Page: ...


@pytest.fixture
def open_page(browser: Browser, live_server: LiveServer) -> Iterator[Opener]:
    """Open a product page in a window of its own (visitor and manager are different people).

    Every window must finish without a JavaScript error.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def opener(path: str, prepare: Callable[[Page], None] | None = None) -> Page:
        context = browser.new_context(viewport={"width": 1100, "height": 860}, locale="ru-RU")
        context.set_default_timeout(WAIT)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{path}: {exc}"))
        if prepare is not None:
            prepare(page)  # e.g. network routes that must see the page's very first requests
        page.goto(live_server.base_url + path)
        return page

    try:
        yield opener
    finally:
        for context in contexts:
            context.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"


@pytest.fixture
async def telegram() -> AsyncIterator[Any]:
    """A fake Bot API on a port of its own for a desk started with TELEGRAM_API_BASE (token tests.procs.TOKEN)."""
    from sandbox.bot_api import FakeBotAPI
    from tests.procs import TOKEN

    fake = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.violations == []


@pytest.fixture
def pg_url(clean_database: str) -> str:
    """The run's PostgreSQL database, for tests a module marks PostgreSQL-only (SQLite is the one-process mode)."""
    if not clean_database.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite is the one-process mode")
    return clean_database


@pytest.fixture
async def bot(fake: Any) -> AsyncIterator[Any]:
    """A real aiogram Bot over HTTP to the module's own ``fake`` fixture (see tests.fake_telegram.running_fake)."""
    from tests.fake_telegram import running_bot

    async for running in running_bot(fake):
        yield running


@pytest.fixture
async def fake_openai() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    """A local Chat Completions server and its base URL."""
    fake = FakeOpenAI()
    server = TestServer(fake.app())
    await server.start_server()
    try:
        yield fake, str(server.make_url("/v1"))
    finally:
        fake.shutdown.set()
        await server.close()


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until `check` holds (for effects that travel through the outbox or the network)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly how many tests ran on each database, so CI's output shows PostgreSQL was really used."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            for engine in ("sqlite", "postgresql"):
                if f"[{engine}" in nodeid or f"-{engine}]" in nodeid or f"-{engine}-" in nodeid:
                    counts.setdefault(engine, {}).setdefault(outcome, 0)
                    counts[engine][outcome] += 1
    for engine, by_outcome in sorted(counts.items()):
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(by_outcome.items()))
        terminalreporter.write_line(f"database {engine}: {summary}")


class RecordingChannel:
    """A ManagerChannel that writes down every manager-facing message asked for, as (kind, telegram id), and
    returns a plain sendMessage so the outbox rows are real."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def __getattr__(self, kind: str) -> Callable[..., Any]:
        from support.outbox import OutgoingCall

        def record(*args: Any, **kwargs: Any) -> Any:
            # The addressee is the first int argument (an Outbox row for edits of an offer).
            target = next((a for a in args if isinstance(a, int)), None)
            if target is None:
                target = next(a.chat_id for a in args if hasattr(a, "purpose"))
            self.sent.append((kind, target))
            call = OutgoingCall(target, "sendMessage", {"chat_id": target, "text": kind},
                                purpose="offer" if kind == "offer" else "notice",
                                support_chat_id=getattr(args[0], "chat_id", None) if args else None)
            return [call] if kind == "visitor_message" else call

        return record

    def to(self, telegram_id: int) -> list[str]:
        return [kind for kind, target in self.sent if target == telegram_id]


@dataclass
class Service:
    """The chat service alone: a real database, a recording channel, no HTTP server and no bot."""

    service: Any
    channel: RecordingChannel


@pytest.fixture
async def support(clean_database: str) -> AsyncIterator[Service]:
    from ai import build_consultant
    from core.db import make_database
    from models import bind_database
    from support.events import EventHub
    from support.service import SupportService

    settings = make_settings(clean_database)
    db = make_database(clean_database)
    bind_database(db)
    await db.aio_connect()
    channel = RecordingChannel()
    service = SupportService(
        db, hub=EventHub(), channel=channel, consultant=build_consultant(settings.ai), policy=settings.support,
        admin_ids=settings.access.admin_ids, manager_ids=settings.access.manager_ids,
    )
    try:
        yield Service(service, channel)
    finally:
        await service.drain()
        await db.aio_close()
