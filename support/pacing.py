"""Telegram's flood limits, kept on our side: token buckets per chat, per group and for the whole bot.

Telegram allows about one message a second in a chat (short bursts are fine), about 30 a second per bot
and 20 a minute in a group, and answers anything faster with 429. The outbox asks `Pacer.try_take` before
each send and, when a chat must wait, sends another chat's row instead of sleeping; direct sends (a handler
answering a manager) wait in `acquire`. A 429 that still happens pauses its chat (`pause`), or the whole bot
when several chats are refused at once, which is how a bot-wide limit shows.

The buckets are debited when a request leaves, Telegram's when it arrives; with uneven network delays
Telegram may see two sends closer than we spaced them. `latency_allowance` keeps that much of a refill in
hand before a send, so a late request never finds Telegram's bucket empty.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

# Set while the outbox sends: it has already taken its share from the buckets.
paced_by_outbox: ContextVar[bool] = ContextVar("paced_by_outbox", default=False)


@dataclass(frozen=True)
class PaceLimits:
    """Rates in messages a second; bursts in messages. Defaults stay under Telegram's documented limits."""

    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    per_bot_rate: float = 25.0
    per_bot_burst: int = 25
    per_group_rate: float = 20 / 60
    per_group_burst: int = 20
    latency_allowance: float = 0.25  # seconds of network jitter the buckets absorb


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    stamp: float
    paused_until: float = 0.0

    def _refill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, now: float, allowance: float) -> float:
        """Seconds until one message may go (0.0: now)."""
        self._refill(now)
        need = min(float(self.burst), 1.0 + allowance * self.rate)
        refill = max(0.0, (need - self.tokens) / self.rate)
        return max(refill, self.paused_until - now, 0.0)

    def take(self) -> None:
        self.tokens -= 1.0


def counts(method: str) -> bool:
    """Only calls that put a new message into a chat count against Telegram's limits."""
    lowered = method.lower()
    if lowered in ("sendchataction", "sendmessagedraft"):
        return False
    return lowered.startswith(("send", "copymessage", "forwardmessage"))


class Pacer:
    """The buckets of one bot, shared by the outbox and direct sends in this process."""

    # 429s for this many different chats within one pause mean the bot as a whole is over its limit.
    CHATS_FOR_GLOBAL_LIMIT = 2

    def __init__(self, limits: PaceLimits | None = None, *, clock: Callable[[], float] = time.monotonic,
                 enabled: bool = True) -> None:
        self.limits = limits or PaceLimits()
        self.enabled = enabled
        self._clock = clock
        self._bot = TokenBucket(self.limits.per_bot_rate, self.limits.per_bot_burst,
                                float(self.limits.per_bot_burst), clock())
        self._chats: dict[int, TokenBucket] = {}
        self._refused: dict[int, float] = {}  # chat → until when its last 429 holds
        self._direct_waiters: dict[int, int] = {}  # chat → direct sends waiting for it (they go first)

    def _chat(self, chat_id: int, now: float) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            group = chat_id < 0
            rate = self.limits.per_group_rate if group else self.limits.per_chat_rate
            burst = self.limits.per_group_burst if group else self.limits.per_chat_burst
            bucket = self._chats[chat_id] = TokenBucket(rate, burst, float(burst), now)
        return bucket

    def delay(self, chat_id: int, method: str) -> float:
        """Seconds before a call to this chat may go; 0.0 when it may go now."""
        now = self._clock()
        chat = self._chat(chat_id, now)
        if not self.enabled:
            return 0.0
        if not counts(method):
            # Edits and answers are not paced, but a 429 pause holds everything for its chat or the bot.
            return max(chat.paused_until - now, self._bot.paused_until - now, 0.0)
        allowance = self.limits.latency_allowance
        return max(chat.wait(now, allowance), self._bot.wait(now, allowance))

    def try_take(self, chat_id: int, method: str, *, direct: bool = False) -> float:
        """Take a send from the buckets and return 0.0, or return how long to wait (nothing taken).

        Outbox rows yield to direct sends waiting for the same chat: those answer a manager's button."""
        if not direct and self._direct_waiters.get(chat_id):
            return 0.05
        wait = self.delay(chat_id, method)
        if wait > 0.0 or not self.enabled or not counts(method):
            return wait
        self._chat(chat_id, self._clock()).take()
        self._bot.take()
        return 0.0

    def give_back(self, chat_id: int, method: str) -> None:
        """A send taken from the buckets (try_take) did not leave after all: its share is returned."""
        if not self.enabled or not counts(method):
            return
        chat = self._chat(chat_id, self._clock())
        chat.tokens = min(float(chat.burst), chat.tokens + 1.0)
        self._bot.tokens = min(float(self._bot.burst), self._bot.tokens + 1.0)

    async def acquire(self, chat_id: int, method: str) -> None:
        """Wait until a direct send may go, and take it; outbox rows for the chat wait meanwhile."""
        self._direct_waiters[chat_id] = self._direct_waiters.get(chat_id, 0) + 1
        try:
            while True:
                wait = self.try_take(chat_id, method, direct=True)
                if wait <= 0.0:
                    return
                await asyncio.sleep(wait)
        finally:
            self._direct_waiters[chat_id] -= 1
            if not self._direct_waiters[chat_id]:
                del self._direct_waiters[chat_id]

    def pause(self, chat_id: int, seconds: float) -> str:
        """Telegram said 429 for this chat: hold it for `seconds`; returns the scope held ("chat" or "bot")."""
        now = self._clock()
        until = now + seconds
        chat = self._chat(chat_id, now)
        chat.paused_until = max(chat.paused_until, until)
        chat.tokens = min(chat.tokens, 0.0)
        self._refused = {other: held for other, held in self._refused.items() if held > now}
        self._refused[chat_id] = until
        if len(self._refused) >= self.CHATS_FOR_GLOBAL_LIMIT:
            self._bot.paused_until = max(self._bot.paused_until, until)
            return "bot"
        return "chat"
