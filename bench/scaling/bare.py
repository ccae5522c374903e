"""The bare server of bench/scale.py: a plain aiohttp app on the product's database driver doing the least work the
same request needs, so the product's figures have a same-run floor beside them."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

from aiohttp import web

from bench.scaling.support import BARE_ANSWER, raise_fd_limit


class BareStore:
    """Read the session, insert the visitor's row and the answer's row: nothing else."""

    async def open(self, url: str) -> None:
        from core.db import parse_database_url

        parsed = parse_database_url(url)
        self.engine = parsed.engine
        if parsed.engine == "sqlite":
            import aiosqlite

            self.sqlite = await aiosqlite.connect(parsed.database, isolation_level=None)
            await self.sqlite.execute("PRAGMA journal_mode=WAL")
            await self.sqlite.execute("PRAGMA synchronous=NORMAL")
            self.write_lock = asyncio.Lock()  # one connection, one writer
        else:
            import aiopg

            self.pool = await aiopg.create_pool(dbname=parsed.database, user=parsed.user, password=parsed.password,
                                                host=parsed.host, port=parsed.port, minsize=1, maxsize=10)

    async def close(self) -> None:
        if self.engine == "sqlite":
            await self.sqlite.close()
        else:
            self.pool.close()
            await self.pool.wait_closed()

    async def message(self, session_id: str, token_hash: str, text: str) -> tuple[int, int] | None:
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        if self.engine == "sqlite":
            db = self.sqlite
            async with db.execute("SELECT id, token_hash FROM visitor_sessions WHERE session_id = ?",
                                  (session_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None or row[1] != token_hash:
                return None
            async with self.write_lock:
                await db.execute("BEGIN IMMEDIATE")
                cursor = await db.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                          "VALUES (?, 'user', ?, ?)", (row[0], text, now))
                user_id = cursor.lastrowid
                cursor = await db.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                          "VALUES (?, 'ai', ?, ?)", (row[0], BARE_ANSWER, now))
                answer_id = cursor.lastrowid
                await db.execute("COMMIT")
            return int(user_id or 0), int(answer_id or 0)
        async with self.pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute("SELECT id, token_hash FROM visitor_sessions WHERE session_id = %s", (session_id,))
            row = await cursor.fetchone()
            if row is None or row[1] != token_hash:
                return None
            await cursor.execute("BEGIN")
            await cursor.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                 "VALUES (%s, 'user', %s, now()) RETURNING id", (row[0], text))
            user_id = (await cursor.fetchone())[0]
            await cursor.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                 "VALUES (%s, 'ai', %s, now()) RETURNING id", (row[0], BARE_ANSWER))
            answer_id = (await cursor.fetchone())[0]
            await cursor.execute("COMMIT")
            return int(user_id), int(answer_id)


BARE_STORE = web.AppKey("bare_store", BareStore)
BARE_SOCKETS = web.AppKey("bare_sockets", dict)


def bare_app(url: str) -> web.Application:
    def hash_token(token: str) -> str:  # the product's own check, without importing the product
        return hashlib.sha256(token.encode()).hexdigest()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = BareStore()
        await store.open(url)
        app[BARE_STORE] = store
        yield
        for ws in list(app[BARE_SOCKETS].values()):
            await ws.close()
        await store.close()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def send_message(request: web.Request) -> web.Response:
        body = await request.json()
        token = request.headers.get("Authorization", "")[7:]
        ids = await request.app[BARE_STORE].message(body["session_id"], hash_token(token), body["text"])
        if ids is None:
            return web.json_response({"error": "invalid_token"}, status=403)
        ws = request.app[BARE_SOCKETS].get(body["session_id"])
        if ws is not None:
            await ws.send_json({"id": ids[0], "type": "user_message", "text": body["text"]})
        return web.json_response({"id": ids[0], "type": "user_message", "text": body["text"],
                                  "answer": {"id": ids[1], "type": "ai_message", "text": BARE_ANSWER}})

    async def websocket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session_id = request.query.get("session_id", "")
        request.app[BARE_SOCKETS][session_id] = ws
        try:
            async for _ in ws:
                pass
        finally:
            request.app[BARE_SOCKETS].pop(session_id, None)
        return ws

    app = web.Application()
    app[BARE_SOCKETS] = {}
    app.cleanup_ctx.append(store_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/chat/send-message", send_message)
    app.router.add_get("/api/chat/ws", websocket)
    return app


def serve_bare(url: str, port: int) -> None:
    raise_fd_limit()
    web.run_app(bare_app(url), host="127.0.0.1", port=port, access_log=None, print=None)

