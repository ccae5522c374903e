"""Relay latency and memory: visitors ↔ managers through the real product (sandbox Telegram).

Prints, for N visitors handed to managers:
- widget → Telegram: from POST send-message to the message reaching the (fake) Bot API, p50/p99;
- Telegram → widget: from the manager's message to the WebSocket event, p50/p99;
- the HTTP API's own answer time for send-message, p50/p99;
- resident memory before and after holding the visitors' WebSockets open (per connection).

    python bench/relay_bench.py [--visitors 40] [--messages 5] [--database-url sqlite:///…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.product import Product  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.migrations import apply_migrations  # noqa: E402
from sandbox.bot_api import FakeUser  # noqa: E402

MANAGERS = [FakeUser(id=900_000 + n, first_name=f"Менеджер {n}") for n in range(4)]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def ws_url(http: aiohttp.ClientSession, base: str, session: dict[str, str]) -> str:
    """The widget's way in: a single-use ticket from POST /api/chat/ws-ticket, never the token in the URL."""
    async with http.post(f"{base}/api/chat/ws-ticket", headers={"Authorization": f"Bearer {session['token']}"},
                         json={"session_id": session["session_id"]}) as response:
        if response.status != 200:
            raise RuntimeError(f"ws-ticket {response.status}: {await response.text()}")
        ticket = (await response.json())["ticket"]
    return f"{base}/api/chat/ws?session_id={session['session_id']}&ticket={ticket}&after=0"


async def main(visitors: int, messages: int, database_url: str) -> None:
    apply_migrations(database_url)
    settings = load_settings(ROOT / "config.toml", {
        "DATABASE_URL": database_url, "HTTP_PORT": "0", "LOG_LEVEL": "WARNING",
        "MANAGER_IDS": ",".join(str(m.id) for m in MANAGERS), "TELEGRAM_BOT_TOKEN": "",
    })
    settings = settings.model_copy(update={
        "support": settings.support.model_copy(update={"max_active_chats": visitors, "messages_per_minute": 10_000}),
        "http": settings.http.model_copy(update={"sessions_per_minute": 10_000}),
    })
    product = Product(settings)
    await product.start()
    fake = product.fake
    base = product.base_url
    try:
        async with aiohttp.ClientSession() as http:
            for manager in MANAGERS:
                await fake.send_message(manager, "/start")
                await fake.send_message(manager, "/online")
            await asyncio.sleep(0.5)
            sessions = []
            for _ in range(visitors):
                async with http.post(f"{base}/api/chat/start", json={}) as response:
                    sessions.append(await response.json())
            # Hand everyone over and let the managers accept.
            for session in sessions:
                headers = {"Authorization": f"Bearer {session['token']}"}
                async with http.post(f"{base}/api/chat/transfer-to-manager", headers=headers,
                                     json={"session_id": session["session_id"], "name": "Bench"}) as response:
                    session["chat_id"] = (await response.json())["support_chat_id"]
            pressed: set[tuple[int, int]] = set()
            deadline = time.monotonic() + 60
            while await product.service.queries.waiting_chats() and time.monotonic() < deadline:
                for manager in MANAGERS:
                    for message in fake.messages(manager.id):
                        key = (manager.id, message.message_id)
                        if "✅ Принять чат" in message.button_texts and key not in pressed:
                            pressed.add(key)
                            await fake.press_button(manager, message.message_id, "✅ Принять чат")
                await asyncio.sleep(0.05)
            owner = {}
            for manager in MANAGERS:
                row = await product.service.team.manager_by_telegram_id(manager.id)
                for chat in await product.service.queries.active_chats(row):
                    owner[chat.chat_id] = manager

            memory_before = rss_mb()
            sockets = [await http.ws_connect(await ws_url(http, base, s)) for s in sessions]
            await asyncio.sleep(0.5)
            memory_after = rss_mb()

            api_times: list[float] = []
            to_telegram: list[float] = []
            for round_no in range(messages):
                for session in sessions:
                    marker = f"bench {round_no} {session['session_id'][:8]}"
                    headers = {"Authorization": f"Bearer {session['token']}"}
                    started = time.monotonic()
                    async with http.post(f"{base}/api/chat/send-message", headers=headers,
                                         json={"session_id": session["session_id"], "text": marker}) as response:
                        await response.read()
                    api_times.append(time.monotonic() - started)
                    manager = owner[session["chat_id"]]
                    await fake.wait_for_message(manager.id, lambda m, marker=marker: marker in (m.text or ""),
                                                timeout=30)
                    to_telegram.append(time.monotonic() - started)

            to_widget: list[float] = []
            for session, ws in zip(sessions, sockets, strict=True):
                manager = owner[session["chat_id"]]
                chat_id = session["chat_id"]
                relay = next(m for m in reversed(fake.messages(manager.id))
                             if (m.text or "").startswith("💬") and f"чат #{chat_id}\n" in (m.text or ""))
                started = time.monotonic()
                await fake.send_message(manager, f"ответ {chat_id}", reply_to_message_id=relay.message_id)
                while True:
                    frame = json.loads((await ws.receive()).data)
                    if frame.get("type") == "manager_message":
                        break
                to_widget.append(time.monotonic() - started)
            for ws in sockets:
                await ws.close()

        print(f"database: {database_url.split('://')[0]}, visitors: {visitors}, messages each: {messages}")
        print(f"send-message API answer:  p50 {pct(api_times, 0.5):7.1f} ms   p99 {pct(api_times, 0.99):7.1f} ms")
        print(f"widget -> Telegram:       p50 {pct(to_telegram, 0.5):7.1f} ms   p99 {pct(to_telegram, 0.99):7.1f} ms")
        print(f"Telegram -> widget (WS):  p50 {pct(to_widget, 0.5):7.1f} ms   p99 {pct(to_widget, 0.99):7.1f} ms")
        print(f"resident memory: {memory_before:.1f} MB -> {memory_after:.1f} MB with {visitors} WebSockets "
              f"({(memory_after - memory_before) * 1024 / visitors:.1f} KB each)")
        print(f"mean relay {statistics.mean(to_telegram) * 1000:.1f} ms over {len(to_telegram)} messages")
    finally:
        await product.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=40)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    asyncio.run(main(args.visitors, args.messages, url))
