"""Statements the product sends to its database per relayed message, counted at the driver.

    python bench/queries_per_message.py [--database sqlite|postgresql|both] [--messages 40] [--path ai|relay]

--path ai (default): a visitor message in AI mode (the throughput part's path: POST /api/chat/send-message, the
AI's answer on the visitor's WebSocket). --path relay (the relay part's path): in a chat assigned to a manager,
a visitor's message up to its Bot API call, and the manager's reply from the Telegram update (webhook) to the
widget, counted apart; each message is counted until the product is quiet again (outbox rows delivered).

run.py runs under a wrapper that counts every statement the driver executes (aiosqlite or aiopg cursors,
BEGIN and COMMIT included) and writes the counts on SIGUSR1; the figure is the difference over the measured
messages divided by their number, with a breakdown by statement kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scaling.support import (  # noqa: E402
    MANAGER_ID,
    QUESTION,
    TOKEN,
    Databases,
    Server,
    auth,
    bench_config,
    frame_until,
    free_port,
    insert_sessions,
    open_socket,
    running,
    send,
    start_product,
)

WRAPPER = r"""
import collections, json, os, re, runpy, signal, sys
counts = collections.Counter()
out = os.environ["QUERY_COUNT_FILE"]

def kind(sql):
    sql = " ".join(str(sql).split())
    match = re.match(r'(?i)(select|insert into|update|delete from)\s.*?"?(\w+)"?(?:\s|$)', sql)
    if match and match.group(1).lower() == "select":
        table = re.search(r'(?i)\sfrom\s+"?(\w+)"?', sql)
        return "SELECT " + (table.group(1) if table else "?")
    if match:
        return match.group(1).upper() + " " + match.group(2)
    return sql.split(" ")[0].upper()

def wrap(cls, name):
    original = getattr(cls, name)
    async def counted(self, sql, *args, **kwargs):
        counts[kind(sql)] += 1
        return await original(self, sql, *args, **kwargs)
    setattr(cls, name, counted)

import aiosqlite, aiopg
wrap(aiosqlite.Cursor, "execute")
wrap(aiosqlite.Connection, "execute")
wrap(aiopg.Cursor, "execute")
import importlib, importlib.util
import core.db
# Since the split of core/db.py, statements run in core/db_engines.py; older trees keep them in core/db.py.
statements = importlib.import_module("core.db_engines") if importlib.util.find_spec("core.db_engines") else core.db
if hasattr(statements, "_run_statement"):  # SQLite statements run in one hop to the connection's thread
    run_statement = statements._run_statement
    def counted_statement(connection, sql, params):
        counts[kind(sql)] += 1
        return run_statement(connection, sql, params)
    statements._run_statement = counted_statement
if hasattr(statements, "_PendingBegin"):  # BEGIN IMMEDIATE sent with a transaction's first statement
    begin = statements._PendingBegin.begin
    def counted_begin(self, connection):
        counts["BEGIN"] += 1
        return begin(self, connection)
    statements._PendingBegin.begin = counted_begin

def dump(*_):
    with open(out, "w") as f:
        json.dump(counts, f)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["run.py", "--migrate"]
runpy.run_path("run.py", run_name="__main__")
"""


def ask_counts(server: Server, path: Path) -> None:
    path.unlink(missing_ok=True)
    os.kill(server.process.pid, signal.SIGUSR1)


def written_counts(path: Path) -> Counter[str] | None:
    try:
        return Counter(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None  # not (completely) written yet


async def snapshot(server: Server, path: Path) -> Counter[str]:
    ask_counts(server, path)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if (counts := written_counts(path)) is not None:
            return counts
    raise RuntimeError("no counts from the product")


def start_counted(url: str, workdir: Path, counts_path: Path) -> Server:
    """run.py under the counting wrapper (see WRAPPER)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "HTTP_"))}
    env.update({"DATABASE_URL": url, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
                "ILPO_CONFIG": str(bench_config(workdir)), "UPLOADS_PATH": str(workdir / "uploads"),
                "QUERY_COUNT_FILE": str(counts_path)})
    log_path = workdir / "product.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", WRAPPER], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    return Server("product", url, port, process, log_path)


async def measure(engine: str, messages: int, admin_url: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="queries-"))
    dbs = Databases(engine, admin_url, workdir)
    try:
        url = dbs.create()
        sessions = insert_sessions(url, 1)
        counts_path = workdir / "counts.json"
        async with running(start_counted(url, workdir, counts_path)) as srv, aiohttp.ClientSession() as http:
            ws = await open_socket(http, "product", srv.base, sessions[0])
            await send(http, srv.base, sessions[0], QUESTION)  # warm-up: the first message writes last_seen_at
            await frame_until(ws, "ai_message")
            await asyncio.sleep(0.3)
            before = await snapshot(srv, counts_path)
            for n in range(messages):
                await send(http, srv.base, sessions[0], f"{QUESTION} {n}")
                await frame_until(ws, "ai_message")
            await asyncio.sleep(0.3)
            after = await snapshot(srv, counts_path)
            await ws.close()
        delta = after - before
        print(f"[{engine}] {sum(delta.values()) / messages:.2f} statements per message ({messages} messages):")
        for statement, count in sorted(delta.items(), key=lambda item: -item[1]):
            print(f"    {count / messages:5.2f}  {statement}")
    finally:
        dbs.drop_all()


QUIET = 0.4  # seconds for the outbox, the co-pilot and the webhook answer to finish after a relayed message


def print_counts(engine: str, label: str, delta: Counter[str], messages: int) -> None:
    print(f"[{engine}] {sum(delta.values()) / messages:.2f} statements per {label} ({messages} messages):")
    for statement, count in sorted(delta.items(), key=lambda item: -item[1]):
        print(f"    {count / messages:5.2f}  {statement}")


async def measure_relay(engine: str, messages: int, admin_url: str) -> None:
    from sandbox.bot_api import FakeBotAPI, FakeUser

    workdir = Path(tempfile.mkdtemp(prefix="queries-"))
    dbs = Databases(engine, admin_url, workdir)
    telegram = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
    await telegram.start()
    try:
        url = dbs.create()
        counts_path = workdir / "counts.json"
        server = start_product(url, workdir, telegram_base=str(telegram.base_url), label=f"queries-{engine}",
                               command=[sys.executable, "-c", WRAPPER],
                               extra_env={"QUERY_COUNT_FILE": str(counts_path)})
        manager = FakeUser(id=MANAGER_ID, first_name="Анна", username="anna_bench")
        async with running(server) as srv, aiohttp.ClientSession() as http:
            for text, expect in (("/start", "рабочее место"), ("/online", "Смена начата")):
                await telegram.send_message(manager, text)
                await telegram.wait_for_message(manager.id, lambda m, e=expect: e in (m.text or ""), timeout=20)
            sid = insert_sessions(url, 1)[0]
            async with http.post(f"{srv.base}/api/chat/transfer-to-manager", headers=auth(),
                                 json={"session_id": sid, "name": "Bench", "phone": "+7 900 000-00-00"}) as response:
                if response.status != 200:
                    raise RuntimeError(f"transfer {response.status}: {await response.text()}")
            offer = await telegram.wait_for_message(manager.id, lambda m: "✅ Принять чат" in m.button_texts,
                                                    timeout=20)
            await telegram.press_button(manager, offer.message_id, "✅ Принять чат")
            await telegram.wait_for_message(manager.id, lambda m: "Режим ответа" in (m.text or ""), timeout=20)
            to_telegram: Counter[str] = Counter()
            to_widget: Counter[str] = Counter()
            async with await open_socket(http, srv.kind, srv.base, sid) as ws:
                for n in range(messages + 1):  # the first round is the warm-up (last_seen_at, first response)
                    await asyncio.sleep(QUIET)
                    before = await snapshot(srv, counts_path)
                    question = f"Вопрос {n}"
                    await send(http, srv.base, sid, question)
                    await telegram.wait_for_message(manager.id, lambda m, q=question: q in (m.text or ""),
                                                    timeout=20)
                    await asyncio.sleep(QUIET)
                    middle = await snapshot(srv, counts_path)
                    answer = f"Ответ {n}"
                    await telegram.send_message(manager, answer)
                    await frame_until(ws, "manager_message", answer)
                    await asyncio.sleep(QUIET)
                    after = await snapshot(srv, counts_path)
                    if n:
                        to_telegram += middle - before
                        to_widget += after - middle
        print_counts(engine, "visitor message in an assigned chat (to its Bot API call)", to_telegram, messages)
        print_counts(engine, "manager reply (Telegram update to the widget)", to_widget, messages)
    finally:
        await telegram.stop()
        dbs.drop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--path", choices=("ai", "relay"), default="ai")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    for engine in ("sqlite", "postgresql") if args.database == "both" else (args.database,):
        if args.path == "relay":
            asyncio.run(measure_relay(engine, args.messages, args.admin_url))
        else:
            asyncio.run(measure(engine, args.messages, args.admin_url))


if __name__ == "__main__":
    main()
