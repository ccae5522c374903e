"""Several processes on one PostgreSQL: throughput and relay latency with 1, 2 and 3 run.py processes behind a
round-robin proxy (webhook mode, the fake Bot API as its own server), and the delay a cross-process wake-up adds
beside an in-process one, measured in the same run.

    python bench/scale_out.py [--processes 1,2,3] [--visitors 20] [--messages 10] [--rounds 30]
                              [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

On a 2-core machine the processes share the cores with PostgreSQL and the load generator: more processes
buy failover and restarts without a gap, not much speed. The figures say how much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pgdb import create_database, drop_databases  # noqa: E402
from core.db import parse_database_url  # noqa: E402
from sandbox.bot_api import FakeBotAPI  # noqa: E402
from support.notify import ClusterEventHub, PgNotifier  # noqa: E402
from tests.clients import MANAGER, Visitor  # noqa: E402
from tests.procs import SECRET, TOKEN, Desk, RoundRobinProxy, desk_env, free_port  # noqa: E402

log = logging.getLogger("bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def throughput(http: aiohttp.ClientSession, base: str, visitors: int, messages: int) -> tuple[float, list[float]]:
    clients = [await Visitor(http, base).start() for _ in range(visitors)]
    latencies: list[float] = []

    async def one(visitor: Visitor) -> None:
        for n in range(messages):
            started = time.perf_counter()
            await visitor.send(f"Сколько вы берёте комиссию? {n}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(v) for v in clients))
    return visitors * messages / (time.perf_counter() - started), latencies


async def relay(http: aiohttp.ClientSession, base: str, telegram: FakeBotAPI, rounds: int
                ) -> tuple[list[float], list[float]]:
    visitor = await Visitor(http, base).start()
    await visitor.transfer(name="Bench", phone="+7 900 000-00-00")
    offer = await telegram.wait_for_message(MANAGER.id, lambda m: "✅ Принять чат" in m.button_texts, timeout=20)
    await telegram.press_button(MANAGER, offer.message_id, "✅ Принять чат")
    await telegram.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""), timeout=20)
    to_widget: list[float] = []
    to_telegram: list[float] = []
    async with http.ws_connect(await visitor.ws_url()) as ws:
        for n in range(rounds):
            text = f"Ответ {n}"
            started = time.perf_counter()
            await telegram.send_message(MANAGER, text)
            while True:
                frame = json.loads((await ws.receive(timeout=20)).data)
                if frame.get("type") == "manager_message" and frame.get("text") == text:
                    break
            to_widget.append(time.perf_counter() - started)
            question = f"Вопрос {n}"
            started = time.perf_counter()
            await visitor.send(question)
            await telegram.wait_for_message(MANAGER.id, lambda m, q=question: q in (m.text or ""), timeout=20)
            to_telegram.append(time.perf_counter() - started)
    return to_widget, to_telegram


async def cross_process_delay(url: str, samples: int) -> tuple[list[float], list[float]]:
    """In-process wake (the baseline) against a wake that crosses to another 'process' through PostgreSQL."""
    parsed = parse_database_url(url)
    notifiers = [PgNotifier(parsed, process=f"bench-{n}") for n in range(2)]
    near, far = ClusterEventHub(notifiers[0]), ClusterEventHub(notifiers[1])
    for notifier in notifiers:
        await notifier.start()
    local: list[float] = []
    remote: list[float] = []
    try:
        for n in range(samples):
            same, other = near.subscribe(n), far.subscribe(n)
            started = time.perf_counter()
            near.wake(n)
            await same.get()
            local.append(time.perf_counter() - started)
            await asyncio.wait_for(other.get(), timeout=5)
            remote.append(time.perf_counter() - started)
            near.unsubscribe(n, same)
            far.unsubscribe(n, other)
    finally:
        for notifier in notifiers:
            await notifier.stop()
    return local, remote


async def run_with(processes: int, args: argparse.Namespace) -> dict[str, float]:
    url = create_database(args.admin_url)
    telegram = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
    await telegram.start()
    ports = [free_port() for _ in range(processes)]
    proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
    proxy_url = await proxy.start()
    # The product as deployed: tests/procs.py's desk_env turns pacing off for tests, the bench turns it back on.
    env = desk_env(url, telegram, TELEGRAM_WEBHOOK_URL=proxy_url, TELEGRAM_WEBHOOK_SECRET=SECRET, LOG_LEVEL="WARNING",
                   TELEGRAM_PACE_SENDS="true")
    desk = Desk(url=proxy_url, env=env)
    logs = Path(tempfile.mkdtemp(prefix="ilpo-bench-"))
    for port in ports:
        desk.spawn(logs, port)
    try:
        async with aiohttp.ClientSession() as http:
            await desk.wait_ready(http, timeout=120)
            for text, expect in (("/start", "рабочее место"), ("/online", "Смена начата")):
                await telegram.send_message(MANAGER, text)
                await telegram.wait_for_message(MANAGER.id, lambda m, e=expect: e in (m.text or ""), timeout=20)
            rate, sends = await throughput(http, proxy_url, args.visitors, args.messages)
            to_widget, to_telegram = await relay(http, proxy_url, telegram, args.rounds)
    finally:
        desk.stop_all()
        await proxy.stop()
        await telegram.stop()
        drop_databases(args.admin_url, [url])
    return {"rate": rate, "send50": pct(sends, 0.5), "send99": pct(sends, 0.99),
            "tw50": pct(to_widget, 0.5), "tw99": pct(to_widget, 0.99),
            "tt50": pct(to_telegram, 0.5), "tt99": pct(to_telegram, 0.99)}


async def main(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.processes.split(",")]
    print(f"{args.visitors} visitors × {args.messages} AI-mode messages through a round-robin proxy; "
          f"{args.rounds} relay rounds (PostgreSQL, webhook mode)")
    print(f"{'processes':>9} | {'msg/s':>7} | {'send p50/p99 ms':>16} | {'Telegram→widget p50/p99':>24} | "
          f"{'widget→Telegram p50/p99':>24}")
    for count in counts:
        r = await run_with(count, args)
        print(f"{count:>9} | {r['rate']:>7.1f} | {r['send50']:>7.1f} / {r['send99']:>6.1f} | "
              f"{r['tw50']:>11.1f} / {r['tw99']:>10.1f} | {r['tt50']:>11.1f} / {r['tt99']:>10.1f}")
    url = create_database(args.admin_url)
    try:
        local, remote = await cross_process_delay(url, args.samples)
    finally:
        drop_databases(args.admin_url, [url])
    print(f"wake-up, {args.samples} samples: in-process (baseline) p50 {pct(local, 0.5):.2f} ms, "
          f"p99 {pct(local, 0.99):.2f} ms; across processes via LISTEN/NOTIFY p50 {pct(remote, 0.5):.2f} ms, "
          f"p99 {pct(remote, 0.99):.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
