"""Busy manager: 20 visitors × 5 messages written within one second to one manager, through the real product
and a fake Bot API that enforces Telegram's flood limits (1/s per chat with bursts of 3, 30/s per bot).

Runs the case twice in one go: with the outbox's pacing (the default) and without it (TELEGRAM_PACE_SENDS
off: no buckets, no merging, only the reaction to 429), and prints both beside the goals of issue 12:
all delivered, each visitor's in order, 0 × 429, ≤ 40 Bot API sends, the last delivered within 20 s.

    python bench/busy_manager.py [--visitors 20] [--messages 5]   (each case on a fresh SQLite file)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.product import Product  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.migrations import apply_migrations  # noqa: E402
from sandbox.bot_api import FakeUser  # noqa: E402

MANAGER = FakeUser(id=910_001, first_name="Занятой менеджер")
LINE = re.compile(r"^гость (\d+) · (\d+)$")


@dataclass
class Outcome:
    delivered: int
    in_order: bool
    refused: int
    sends: int
    last_seconds: float


async def run_case(database_url: str, visitors: int, messages: int, *, paced: bool) -> Outcome:
    apply_migrations(database_url)
    settings = load_settings(ROOT / "config.toml", {
        "DATABASE_URL": database_url, "HTTP_PORT": "0", "LOG_LEVEL": "WARNING", "TELEGRAM_BOT_TOKEN": "",
        "MANAGER_IDS": str(MANAGER.id), "TELEGRAM_PACE_SENDS": "true" if paced else "false",
        "UPLOADS_PATH": tempfile.mkdtemp(prefix="bench-uploads-"),
    })
    settings = settings.model_copy(update={
        "support": settings.support.model_copy(update={"max_active_chats": visitors, "messages_per_minute": 10_000}),
        "http": settings.http.model_copy(update={"sessions_per_minute": 10_000}),
    })
    product = Product(settings)
    await product.start()
    fake, base = product.fake, product.base_url
    try:
        async with aiohttp.ClientSession() as http:
            await fake.send_message(MANAGER, "/start")
            await fake.send_message(MANAGER, "/online")
            await asyncio.sleep(0.5)
            sessions = []
            for n in range(visitors):
                async with http.post(f"{base}/api/chat/start", json={}) as response:
                    session = await response.json()
                headers = {"Authorization": f"Bearer {session['token']}"}
                async with http.post(f"{base}/api/chat/transfer-to-manager", headers=headers,
                                     json={"session_id": session["session_id"], "name": f"Гость {n}"}) as response:
                    await response.read()
                session["headers"] = headers
                sessions.append(session)
            pressed: set[int] = set()
            deadline = time.monotonic() + 120
            while await product.service.queries.waiting_chats() and time.monotonic() < deadline:
                for message in fake.messages(MANAGER.id):
                    if "✅ Принять чат" in message.button_texts and message.message_id not in pressed:
                        pressed.add(message.message_id)
                        await fake.press_button(MANAGER, message.message_id, "✅ Принять чат")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # let the accept confirmations leave before the clock starts

            fake.flood.enable()  # Telegram's documented limits, fresh buckets
            calls_before = len(fake.calls)
            seen_before = len(fake.messages(MANAGER.id))

            async def write(n: int, session: dict) -> None:
                for m in range(1, messages + 1):
                    await asyncio.sleep(1.0 / messages * (n / visitors))  # everyone within one second
                    async with http.post(f"{base}/api/chat/send-message", headers=session["headers"],
                                         json={"session_id": session["session_id"], "text": f"гость {n} · {m}"}
                                         ) as response:
                        await response.read()

            started = time.monotonic()
            await asyncio.gather(*(write(n, s) for n, s in enumerate(sessions)))
            expected = visitors * messages
            lines: list[tuple[int, int]] = []
            last = started
            give_up = started + 120
            while time.monotonic() < give_up:
                lines = [(int(found[1]), int(found[2])) for message in fake.messages(MANAGER.id)[seen_before:]
                         for text in (message.text or "").splitlines() if (found := LINE.match(text))]
                if len(lines) >= expected:
                    last = time.monotonic()
                    break
                await asyncio.sleep(0.02)
            in_order = all([m for v, m in lines if v == n] == list(range(1, messages + 1)) for n in range(visitors))
            sends = [call for call in fake.calls[calls_before:] if call.method.lower().startswith("send")
                     and call.params.get("chat_id") in (MANAGER.id, str(MANAGER.id))]
            return Outcome(delivered=len(lines), in_order=in_order, refused=len(fake.flood.hits), sends=len(sends),
                           last_seconds=last - started if len(lines) >= expected else float("inf"))
    finally:
        await product.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    def url() -> str:
        return f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    paced = asyncio.run(run_case(url(), args.visitors, args.messages, paced=True))
    unpaced = asyncio.run(run_case(url(), args.visitors, args.messages, paced=False))
    total = args.visitors * args.messages
    rows = [
        ("delivered", f"{total}", lambda o: f"{o.delivered}"),
        ("each visitor in order", "yes", lambda o: "yes" if o.in_order else "NO"),
        ("429 answers", "0", lambda o: f"{o.refused}"),
        ("Bot API sends", "≤ 40", lambda o: f"{o.sends}"),
        ("last delivered after", "≤ 20 s", lambda o: f"{o.last_seconds:.1f} s"),
    ]
    print(f"busy manager: {args.visitors} visitors × {args.messages} messages within 1 s to one manager "
          "(fake Bot API enforcing Telegram's flood limits)")
    print(f"{'':24}{'goal':>10}{'paced':>10}{'unpaced':>10}")
    for name, goal, value in rows:
        print(f"{name:24}{goal:>10}{value(paced):>10}{value(unpaced):>10}")


if __name__ == "__main__":
    main()
