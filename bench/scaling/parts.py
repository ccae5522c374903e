"""The parts of bench/scale.py: each runs the product and the bare server on a fresh database of one engine and
prints the figures beside their goals."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import aiohttp

from bench.scaling.measures import busy_manager, idle_sockets, relay, throughput
from bench.scaling.support import (
    TOKEN,
    Databases,
    insert_sessions,
    pct,
    running,
    send,
    start_bare,
    start_product,
    verdict,
)


async def part_throughput(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    url = dbs.create()
    sessions = insert_sessions(url, args.visitors)
    async with running(start_product(url, workdir)) as srv:
        product = await throughput(srv, sessions, args.seconds, args.profile, f"product-{dbs.engine}")
    bare_sessions = insert_sessions(url, args.visitors)
    async with running(start_bare(url, workdir)) as srv:
        bare = await throughput(srv, bare_sessions, args.seconds, args.profile, f"bare-{dbs.engine}")
    ratio = product["rate"] / bare["rate"]
    p99_ratio = product["p99"] / bare["p99"]
    print(f"[{dbs.engine}] AI mode, {args.visitors} visitors, {args.seconds:g} s:")
    print(f"    bare aiohttp:  {bare['rate']:8.1f} msg/s   p50 {bare['p50']:7.1f} ms   p99 {bare['p99']:7.1f} ms")
    print(f"    product:       {product['rate']:8.1f} msg/s   p50 {product['p50']:7.1f} ms   "
          f"p99 {product['p99']:7.1f} ms   (send answered p50 {product['send50']:.1f} /"
          f" p99 {product['send99']:.1f} ms)")
    print(f"    ratio {ratio:.2f} of bare msg/s (goal ≥ 0.5: {verdict(ratio >= 0.5)}); "
          f"p99 {p99_ratio:.1f}× bare (goal ≤ 3×: {verdict(p99_ratio <= 3)})")


async def part_relay(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    from sandbox.bot_api import FakeBotAPI

    url = dbs.create()
    telegram = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
    await telegram.start()
    try:
        async with running(start_product(url, workdir, telegram_base=str(telegram.base_url),
                                         label=f"relay-{dbs.engine}")) as srv:
            result = await relay(srv, telegram, args.rounds, args.relay_gap)
    finally:
        await telegram.stop()
    # The same-run floor: one bare HTTP round trip to the bare server (the stack's own cost per hop).
    bare_sessions = insert_sessions(url, 1)
    floor: list[float] = []
    async with running(start_bare(url, workdir)) as srv, aiohttp.ClientSession() as http:
        for n in range(args.rounds):
            started = time.perf_counter()
            await send(http, srv.base, bare_sessions[0], f"Вопрос {n}")
            floor.append(time.perf_counter() - started)
    tt, tw = result["to_telegram"], result["to_widget"]
    print(f"[{dbs.engine}] relay one at a time, {args.rounds} rounds {args.relay_gap:g} s apart "
          f"(bare send-message round trip p50 {pct(floor, 0.5):.1f} ms):")
    print(f"    visitor → Bot API call:     p50 {pct(tt, 0.5):6.1f} ms   p99 {pct(tt, 0.99):6.1f} ms"
          f"   (goal p50 ≤ 10 ms: {verdict(pct(tt, 0.5) <= 10)})")
    print(f"    Telegram update → widget:   p50 {pct(tw, 0.5):6.1f} ms   p99 {pct(tw, 0.99):6.1f} ms"
          f"   (goal p50 ≤ 10 ms: {verdict(pct(tw, 0.5) <= 10)})")


async def part_sockets(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    url = dbs.create()
    async with running(start_product(url, workdir, label=f"sockets-{dbs.engine}")) as srv:
        product = await idle_sockets(srv, args.sockets, args.socket_clients, args.rounds, workdir, args.profile,
                                     dbs.engine)
    async with running(start_bare(url, workdir)) as srv:
        bare = await idle_sockets(srv, args.sockets, args.socket_clients, args.rounds, workdir, args.profile,
                                  dbs.engine)
    memory_ratio = product["per_socket_kb"] / bare["per_socket_kb"]
    print(f"[{dbs.engine}] {args.sockets} idle WebSockets from {args.socket_clients} client processes "
          f"(a product socket is open once it answered the auth frame with «ready»; a bare one at the upgrade):")
    for name, r in (("bare aiohttp", bare), ("product", product)):
        print(f"    {name + ':':14} {r['per_socket_kb']:6.1f} KB/socket (RSS {r['rss_mb']:.0f} MB)   "
              f"opened {r['rate']:7.0f}/s ({r['failures']} failed)   "
              f"a message reaches one: p50 {r['reach50']:5.1f} ms  p99 {r['reach99']:5.1f} ms")
    print(f"    memory {memory_ratio:.2f}× bare (goal ≤ 1.5×: {verdict(memory_ratio <= 1.5)}); "
          f"open rate goal ≥ 1,000/s: {verdict(product['rate'] >= 1000)}; "
          f"reach goal p50 ≤ 20 ms: {verdict(product['reach50'] <= 20)}")


async def part_cold(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    """run.py as `make run` starts it (sandbox Telegram, --migrate on an already migrated database): until /healthz
    answers 200 (the widget and API serve), and until it lists nothing as starting (the Telegram side is up too)."""
    url = dbs.create()
    product_times: list[float] = []
    whole_times: list[float] = []
    bare_times: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(args.cold_starts):
            for times, start in ((product_times, lambda: start_product(url, workdir, label="cold")),
                                 (bare_times, lambda: start_bare(url, workdir))):
                started = time.perf_counter()
                server = start()
                try:
                    await server.wait_ready(http, whole=False)
                    times.append(time.perf_counter() - started)
                    if server.kind == "product":
                        await server.wait_ready(http)
                        whole_times.append(time.perf_counter() - started)
                finally:
                    server.stop()

    def spread(times: list[float]) -> str:
        return f"{statistics.median(times):.2f} s (min {min(times):.2f})"

    product = statistics.median(product_times)
    print(f"[{dbs.engine}] cold start to /healthz 200, median of {args.cold_starts}: product {spread(product_times)}, "
          f"bare aiohttp {spread(bare_times)} (goal ≤ 2 s: {verdict(product <= 2)}); "
          f"the product's Telegram side up too: {spread(whole_times)}")


async def part_busy(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    """The busy manager, with the outbox's pacing (as the product runs) and, in the same run, without it (no buckets,
    no merging, only the reaction to 429): the reference that shows what pacing prevents."""
    from sandbox.bot_api import FakeBotAPI

    outcomes = {}
    for paced in (True, False):
        url = dbs.create()
        sessions = insert_sessions(url, args.busy_visitors)
        telegram = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
        await telegram.start()
        try:
            async with running(start_product(url, workdir, telegram_base=str(telegram.base_url),
                                             label=f"busy-{dbs.engine}-{'paced' if paced else 'unpaced'}",
                                             extra_env={"TELEGRAM_PACE_SENDS": "true" if paced else "false"})) as srv:
                outcomes[paced] = await busy_manager(srv, telegram, sessions, args.busy_messages)
        finally:
            await telegram.stop()
    total = args.busy_visitors * args.busy_messages
    paced, unpaced = outcomes[True], outcomes[False]
    print(f"[{dbs.engine}] busy manager: {args.busy_visitors} visitors × {args.busy_messages} messages within 1 s to "
          "one manager (fake Bot API enforcing Telegram's flood limits), paced beside unpaced:")
    rows = [
        ("delivered", f"{total}", lambda o: f"{o['delivered']}", lambda o: o["delivered"] == total),
        ("each visitor in order", "yes", lambda o: "yes" if o["in_order"] else "NO", lambda o: o["in_order"]),
        ("429 answers", "0", lambda o: f"{o['refused']}", lambda o: o["refused"] == 0),
        ("Bot API sends (messages)", "≤ 40", lambda o: f"{o['sends']}", lambda o: o["sends"] <= 40),
        ("co-pilot draft frames", "—", lambda o: f"{o['drafts']}", lambda o: True),
        ("last delivered after", "≤ 20 s", lambda o: f"{o['last']:.1f} s", lambda o: o["last"] <= 20),
    ]
    for name, goal, shown, met in rows:
        print(f"    {name:26} goal {goal:>7}   paced {shown(paced):>8}   unpaced {shown(unpaced):>8}"
              + (f"   ({verdict(met(paced))})" if goal != "—" else ""))


PARTS = {"throughput": part_throughput, "relay": part_relay, "sockets": part_sockets, "cold": part_cold,
         "busy": part_busy}

