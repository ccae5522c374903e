"""The measurements of bench/scale.py, each against one running server: AI-mode throughput, one-at-a-time relay
through the fake Bot API, and idle sockets held by client processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.scaling.support import (
    MANAGER_ID,
    QUESTION,
    ROOT,
    SCALE_SCRIPT,
    Server,
    auth,
    frame_until,
    insert_sessions,
    open_socket,
    pct,
    raise_fd_limit,
    rss_kb,
    send,
    start_spy,
)


async def throughput(server: Server, sessions: list[str], seconds: float, profile: Path | None = None,
                     label: str = "") -> dict[str, float]:
    """Each visitor sends its next message once the answer to the last one came back; for the product the answer
    is the AI's message on the visitor's socket, for the bare server it is in the HTTP response."""
    cycles: list[float] = []
    sends: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = ([await open_socket(http, server.kind, server.base, sid) for sid in sessions]
                   if server.kind == "product" else [None] * len(sessions))
        for sid, ws in zip(sessions, sockets, strict=True):  # warm-up: one message each, not counted
            await send(http, server.base, sid, QUESTION)
            if ws is not None:
                await frame_until(ws, "ai_message")
        deadline = time.perf_counter() + seconds

        async def visitor(index: int, sid: str, ws: aiohttp.ClientWebSocketResponse | None) -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                # Every text differs (visitor and turn), so the AI's memo of recent answers never answers for it:
                # each message pays for a real match, as a visitor's own words do.
                await send(http, server.base, sid, f"{QUESTION} {index}.{n}")
                sends.append(time.perf_counter() - started)
                if ws is not None:
                    await frame_until(ws, "ai_message")
                cycles.append(time.perf_counter() - started)

        spy = await start_spy(server, seconds, profile, label)
        started = time.perf_counter()
        await asyncio.gather(*(visitor(index, sid, ws)
                               for index, (sid, ws) in enumerate(zip(sessions, sockets, strict=True))))
        elapsed = time.perf_counter() - started
        if spy is not None:
            await spy.wait()
        for ws in sockets:
            if ws is not None:
                await ws.close()
    return {"rate": len(cycles) / elapsed, "p50": pct(cycles, 0.5), "p99": pct(cycles, 0.99),
            "send50": pct(sends, 0.5), "send99": pct(sends, 0.99)}


async def relay(server: Server, telegram: Any, rounds: int, gap: float) -> dict[str, list[float]]:
    from sandbox.bot_api import FakeUser

    manager = FakeUser(id=MANAGER_ID, first_name="Анна", username="anna_bench")
    for text, expect in (("/start", "рабочее место"), ("/online", "Смена начата")):
        await telegram.send_message(manager, text)
        await telegram.wait_for_message(manager.id, lambda m, e=expect: e in (m.text or ""), timeout=20)
    sid = insert_sessions(server.url, 1)[0]
    to_widget: list[float] = []
    to_telegram: list[float] = []
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base}/api/chat/transfer-to-manager", headers=auth(),
                             json={"session_id": sid, "name": "Bench", "phone": "+7 900 000-00-00"}) as response:
            if response.status != 200:
                raise RuntimeError(f"transfer {response.status}: {await response.text()}")
        offer = await telegram.wait_for_message(manager.id, lambda m: "✅ Принять чат" in m.button_texts, timeout=20)
        await telegram.press_button(manager, offer.message_id, "✅ Принять чат")
        await telegram.wait_for_message(manager.id, lambda m: "Режим ответа" in (m.text or ""), timeout=20)
        async with await open_socket(http, server.kind, server.base, sid) as ws:
            for n in range(rounds):
                # One at a time means at the pace Telegram allows one chat (about a message a second, which
                # the outbox keeps to): a round puts two messages into the manager's chat. The pause comes
                # before each round, the first too: /start, /online, the offer and the accept have just spent
                # the manager chat's burst, and the first relay would otherwise wait for it to refill.
                await asyncio.sleep(gap)
                question = f"Вопрос {n}"
                started = time.perf_counter()
                await send(http, server.base, sid, question)
                await telegram.wait_for_message(manager.id, lambda m, q=question: q in (m.text or ""), timeout=20)
                to_telegram.append(time.perf_counter() - started)
                text = f"Ответ {n}"
                started = time.perf_counter()
                await telegram.send_message(manager, text)
                await frame_until(ws, "manager_message", text)
                to_widget.append(time.perf_counter() - started)
    return {"to_telegram": to_telegram, "to_widget": to_widget}


# --- idle sockets, held by client processes --------------------------------------------------------------------


def socket_client(kind: str, base: str, ids_path: str, concurrency: int) -> None:
    """Opens one WebSocket per session id in the file (for the product: until it answers "ready"), prints the
    seconds it took, holds them until stdin closes."""
    raise_fd_limit()

    ids = Path(ids_path).read_text().split()

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            gate = asyncio.Semaphore(concurrency)
            failures = 0

            async def open_one(sid: str) -> aiohttp.ClientWebSocketResponse | None:
                nonlocal failures
                async with gate:
                    try:
                        return await open_socket(http, kind, base, sid, heartbeat=None, autoping=True)
                    except (aiohttp.ClientError, OSError, RuntimeError, TimeoutError):
                        failures += 1
                        return None

            started = time.perf_counter()
            sockets = await asyncio.gather(*(open_one(sid) for sid in ids))
            print(json.dumps({"seconds": time.perf_counter() - started, "failures": failures}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            for ws in sockets:
                if ws is not None:
                    await ws.close()

    asyncio.run(run())


async def idle_sockets(server: Server, count: int, clients: int, probes: int, workdir: Path,
                       profile: Path | None = None, label: str = "") -> dict[str, float]:
    sessions = insert_sessions(server.url, count + 1)
    probe_sid, held = sessions[0], sessions[1:]
    async with aiohttp.ClientSession() as http:  # warm the server up so the baseline memory is a working one
        for n in range(5):
            await send(http, server.base, probe_sid, f"разогрев {n}")
    await asyncio.sleep(0.5)
    before = rss_kb(server.process.pid)
    spy = await start_spy(server, 4, profile, f"{server.kind}-{label}-opening-sockets")
    chunk = -(-count // clients)
    processes = []
    for n in range(clients):
        part = workdir / f"sockets-{server.kind}-{n}.txt"
        part.write_text("\n".join(held[n * chunk:(n + 1) * chunk]))
        processes.append(await asyncio.create_subprocess_exec(
            sys.executable, str(SCALE_SCRIPT), "--socket-client", server.kind, server.base, str(part), cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE))
    try:
        reports = []
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=180)
            reports.append(json.loads(line))
        if spy is not None:
            await spy.wait()
        open_seconds = max(report["seconds"] for report in reports)
        failures = sum(report["failures"] for report in reports)
        await asyncio.sleep(1)
        after = rss_kb(server.process.pid)
        reach: list[float] = []
        async with aiohttp.ClientSession() as http, \
                await open_socket(http, server.kind, server.base, probe_sid) as ws:
            if server.kind == "product":
                await frame_until(ws, "user_message", "разогрев 4")  # the replay of what is stored
            for n in range(probes):
                text = f"проба {n}"
                started = time.perf_counter()
                await send(http, server.base, probe_sid, text)
                await frame_until(ws, "user_message", text)
                reach.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
    return {"per_socket_kb": (after - before) / max(1, count - failures), "rate": (count - failures) / open_seconds,
            "failures": failures, "reach50": pct(reach, 0.5), "reach99": pct(reach, 0.99),
            "rss_mb": after / 1024}




# --- the busy manager: many visitors writing to one manager at once -------------------------------------------


async def busy_manager(server: Server, telegram: Any, sessions: list[str], messages: int) -> dict[str, Any]:
    """Each session hands over to the one manager, who accepts them all; then, against a fake Bot API that enforces
    Telegram's flood limits, every visitor writes `messages` messages, all of them within one second. Returns what
    reached the manager: delivered lines, each visitor's in order, 429 answers, sends, and when the last arrived."""
    import re

    from sandbox.bot_api import FakeUser

    line = re.compile(r"^гость (\d+) · (\d+)$")
    manager = FakeUser(id=MANAGER_ID, first_name="Занятой менеджер", username="busy_bench")
    for text, expect in (("/start", "рабочее место"), ("/online", "Смена начата")):
        await telegram.send_message(manager, text)
        await telegram.wait_for_message(manager.id, lambda m, e=expect: e in (m.text or ""), timeout=30)
    visitors = len(sessions)
    async with aiohttp.ClientSession() as http:
        for n, sid in enumerate(sessions):
            async with http.post(f"{server.base}/api/chat/transfer-to-manager", headers=auth(),
                                 json={"session_id": sid, "name": f"Гость {n}"}) as response:
                if response.status != 200:
                    raise RuntimeError(f"transfer {response.status}: {await response.text()}")
        # Accepting paces like any other send (offers and confirmations are urgent): this takes a while.
        pressed: set[int] = set()
        async with asyncio.timeout(240):
            while sum("Режим ответа" in (m.text or "") for m in telegram.messages(manager.id)) < visitors:
                for message in telegram.messages(manager.id):
                    if "✅ Принять чат" in message.button_texts and message.message_id not in pressed:
                        pressed.add(message.message_id)
                        await telegram.press_button(manager, message.message_id, "✅ Принять чат")
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # the last confirmations leave before the clock starts

        telegram.flood.enable()  # Telegram's documented limits, fresh buckets
        calls_before = len(telegram.calls)
        seen_before = len(telegram.messages(manager.id))

        async def write(n: int, sid: str) -> None:
            for m in range(1, messages + 1):
                await asyncio.sleep(1.0 / messages * (n / visitors))  # everyone within one second
                await send(http, server.base, sid, f"гость {n} · {m}")

        started = time.monotonic()
        await asyncio.gather(*(write(n, sid) for n, sid in enumerate(sessions)))
        expected = visitors * messages
        lines: list[tuple[int, int]] = []
        last = float("inf")
        give_up = started + 120
        while time.monotonic() < give_up:
            lines = [(int(found[1]), int(found[2])) for message in telegram.messages(manager.id)[seen_before:]
                     for text in (message.text or "").splitlines() if (found := line.match(text))]
            if len(lines) >= expected:
                last = time.monotonic() - started
                break
            await asyncio.sleep(0.02)
    in_order = all([m for v, m in lines if v == n] == list(range(1, messages + 1)) for n in range(visitors))
    from support.pacing import counts

    # Telegram's limits count messages put into a chat; the co-pilot's draft frames (sendMessageDraft) and chat
    # actions are not messages: they are counted apart.
    calls = [call for call in telegram.calls[calls_before:]
             if call.params.get("chat_id") in (manager.id, str(manager.id))]
    sends = [call for call in calls if counts(call.method)]
    drafts = [call for call in calls if call.method == "sendMessageDraft"]
    return {"delivered": len(lines), "in_order": in_order, "refused": len(telegram.flood.hits),
            "sends": len(sends), "drafts": len(drafts), "last": last}
