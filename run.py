"""ILPO-TAXI support desk: one process runs the Telegram bot and the web server.

    python run.py                 serve (refuses an unmigrated database)
    python run.py --migrate       apply pending migrations, then serve (what `make run` does)
    python run.py migrate         apply pending migrations and exit
    python run.py check-config    validate config.toml + environment and print the effective settings
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from core.config import ConfigError, Settings, load_settings
from core.migrations import UnmigratedDatabaseError, apply_migrations

log = logging.getLogger("ilpo")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiogram logs every handled update at INFO; keep it for debugging only.
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def serve(settings: Settings, *, migrate: bool) -> None:
    from app.product import Product

    product = Product(settings, migrate=migrate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await product.start()
        base = product.base_url
        log.info("Ready. Demo page: %s/  Sandbox: %s  Health: %s/healthz",
                 base, f"{base}/sandbox" if product.telegram_mode == "sandbox" else "(real Telegram)", base)
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
            log.info("Configuration is valid: %s", settings.model_dump(mode="json", exclude={"telegram": {
                "bot_token", "webhook_secret"}, "ai": {"api_key"}}))
            return 0
        asyncio.run(serve(settings, migrate=args.migrate))
    except UnmigratedDatabaseError as exc:
        log.error("%s", exc)
        return 3
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        # A database that cannot be reached is an expected failure: one clear line, no traceback.
        if _is_connection_error(exc):
            log.error("database error: cannot connect (%s): %s", type(exc).__name__, str(exc).strip().splitlines()[0])
            return 4
        raise
    return 0


def _is_connection_error(exc: BaseException) -> bool:
    import peewee

    names = {type(exc).__name__ for exc in _chain(exc)}
    return bool(names & {"OperationalError", "InterfaceError"}) or any(
        isinstance(e, peewee.OperationalError | OSError) for e in _chain(exc))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


if __name__ == "__main__":
    sys.exit(main())
