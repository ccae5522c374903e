"""ILPO-TAXI support desk: one process runs the Telegram bot and the web server.

    python run.py                 serve (refuses an unmigrated database)
    python run.py --migrate       apply pending migrations, then serve (what `make run` does)
    python run.py migrate         apply pending migrations and exit
    python run.py check-config    validate config.toml + environment and print the effective settings
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

from core.config import ConfigError, Settings, StartupError, load_settings
from core.db import connection_failure
from core.migrations import UnmigratedDatabaseError, apply_migrations

log = logging.getLogger("ilpo")


# Libraries that narrate routine work at INFO: every migration step, every scheduled job run, polling starting
# and stopping. At the default level that buries the URLs to open, so their INFO counts as DEBUG here.
CHATTY_LOGGERS = ("peewee_migrate", "apscheduler", "aiogram.dispatcher")


class RoutineAsDebug(logging.Filter):
    """Shows the chatty libraries' INFO records as DEBUG, i.e. only when LOG_LEVEL is DEBUG."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.startswith(CHATTY_LOGGERS):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.threshold


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    threshold = logging.getLevelName(level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RoutineAsDebug(threshold))
    # aiogram logs every handled update at INFO; keep it for debugging only.
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, threshold))


def raise_open_files_limit() -> None:
    """Every widget WebSocket is a file descriptor; the usual soft limit (1024) would refuse visitors long
    before memory or CPU run out, so take what the hard limit allows."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("Open files limit stays at %s: %s", soft, exc)


async def serve(settings: Settings, *, migrate: bool) -> None:
    from app.product import Product

    product = Product(settings, migrate=migrate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await product.start()
        # What start-up loaded lives as long as the process: kept out of the collector's sight, each full
        # collection walks only what serving made (thousands of held sockets), not every module's ~230,000
        # objects. Here, not in Product.start: tests start many desks in one process and must collect theirs.
        gc.freeze()
        base = product.base_url
        # The last lines of the start-up: what to open (access log lines follow as requests come in).
        log.info("Ready (Ctrl+C stops it). Open:")
        log.info("  %s/          the demo page with the chat widget", base)
        if product.telegram_mode == "sandbox":
            log.info("  %s/sandbox   the Telegram sandbox: act as a manager, an admin or a stranger", base)
        log.info("  %s/healthz   health of the database and of the Telegram link", base)
        await stop.wait()
        log.info("Shutting down…")
    finally:
        await product.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="ILPO-TAXI support desk: the Telegram bot for managers and the web server for the chat "
        "widget, in one process. Configuration: config.toml, overridden by environment variables.",
    )
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "check-config"],
                        help="serve (default), migrate (apply migrations and exit), "
                        "check-config (validate configuration and exit)")
    parser.add_argument("--migrate", action="store_true", help="apply pending migrations before serving")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure_logging(settings.logging.level)
    try:
        if args.command == "migrate":
            applied = apply_migrations(settings.database.url)
            log.info("Migrations applied: %s", ", ".join(applied) if applied else "none pending")
            return 0
        if args.command == "check-config":
            from app.product import check_sandbox

            check_sandbox(settings)
            log.info("Configuration is valid: %s", settings.model_dump(mode="json", exclude={"telegram": {
                "bot_token", "webhook_secret"}, "ai": {"api_key"}}))
            return 0
        raise_open_files_limit()
        asyncio.run(serve(settings, migrate=args.migrate))
    except UnmigratedDatabaseError as exc:
        log.error("%s", exc)
        return 3
    except StartupError as exc:
        log.error("%s", exc)
        return 4 if exc.part == "database" else 5
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        # `migrate` reaches the database directly: an unreachable one is an expected failure, one line.
        reason = connection_failure(exc)
        if args.command == "migrate" and reason is not None:
            log.error("database error: %s", reason)
            return 4
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
