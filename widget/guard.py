"""One visitor cannot slow everyone: who the client is behind trusted proxies, caps on the connections a session
or an address holds open, and one database read shared by all of a session's waiting connections."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, TypeVar

from aiohttp import web

from webhook.http_api import ApiError

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def client_address(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The visitor's address. X-Forwarded-For is believed only hop by hop from a trusted proxy: the rightmost
    address that is not itself a trusted proxy is the client (anything to its left the client could forge)."""
    peer = request.remote or "?"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", []) for hop in header.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _valid(hop):
            return peer  # a garbled header: the proxy we trust is the last thing we know
        if not _is_trusted(hop, trusted):
            return hop
        peer = hop
    return peer


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


class ConnectionCaps:
    """Counts the WebSockets and long-polls held open per session and per address; past a cap, 429."""

    def __init__(self, per_session: int, per_address: int) -> None:
        self.per_session = per_session
        self.per_address = per_address
        self._sessions: Counter[int] = Counter()
        self._addresses: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, session_id: int, address: str) -> Iterator[None]:
        self.take_address(address)
        try:
            self.take_session(session_id)
            try:
                yield
            finally:
                self.give_session(session_id)
        finally:
            self.give_address(address)

    # take_* counts a connection in (or refuses it: 429); each successful take_* is paired with its give_*.
    def take_address(self, address: str) -> None:
        if self._addresses[address] >= self.per_address:
            raise ApiError(429, "too_many_connections",
                           f"At most {self.per_address} live connections per address.", retry_after=5)
        self._addresses[address] += 1

    def take_session(self, session_id: int) -> None:
        if self._sessions[session_id] >= self.per_session:
            raise ApiError(429, "too_many_connections",
                           f"At most {self.per_session} live connections per chat; close another tab.",
                           retry_after=5)
        self._sessions[session_id] += 1

    def give_address(self, address: str) -> None:
        _uncount(self._addresses, address)

    def give_session(self, session_id: int) -> None:
        _uncount(self._sessions, session_id)


def _uncount(counter: Counter[Any], key: Hashable) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]

class SharedReads:
    """Single flight: connections of one session that wake together for the same events share one query."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def read(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(load())
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        # shield: one impatient connection leaving must not cancel the read the others wait for
        return await asyncio.shield(running)  # type: ignore[no-any-return]


CAPS = web.AppKey("connection_caps", ConnectionCaps)
SHARED_READS = web.AppKey("shared_reads", SharedReads)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)
