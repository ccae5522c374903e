"""Telegram's flood limits, opt-in: per chat, per bot and per group, answered with Telegram's 429.

Telegram documents them loosely ("about one message per second in a chat, short bursts allowed",
"about 30 messages per second" per bot, "no more than 20 messages per minute" in a group); the fake
enforces them as token buckets so that pacing in the product can be tested against them. Off by
default, so tests that do not care keep their pace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import TelegramError


@dataclass(frozen=True)
class FloodLimits:
    """The rates the fake enforces once limits are on; the defaults are Telegram's documented ones."""

    per_chat_rate: float = 1.0  # messages a second, sustained
    per_chat_burst: int = 3
    per_bot_rate: float = 30.0
    per_bot_burst: int = 30
    per_group_rate: float = 20 / 60
    per_group_burst: int = 20


@dataclass
class FloodHit:
    """One 429 the fake answered: what was refused, for which chat, and why."""

    method: str
    chat_id: int | str | None
    scope: str  # "chat", "group", "bot", or "fault" for an injected 429
    retry_after: int
    time: float = field(default_factory=time.time)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class FloodControl:
    """Counts message sends per chat and per bot and refuses the ones over the limits."""

    def __init__(self, limits: FloodLimits | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = limits is not None
        self.limits = limits or FloodLimits()
        self.hits: list[FloodHit] = []
        self._clock = clock
        self._buckets: dict[object, _Bucket] = {}

    def enable(self, limits: FloodLimits | None = None) -> None:
        self.limits = limits or self.limits
        self.enabled = True
        self._buckets.clear()

    def disable(self) -> None:
        self.enabled = False
        self._buckets.clear()

    @staticmethod
    def counts(method: str) -> bool:
        """Only methods that put a new message into a chat count against the limits."""
        lowered = method.lower()
        if lowered in ("sendchataction", "sendmessagedraft"):
            return False
        return lowered.startswith(("send", "copymessage", "forwardmessage"))

    def admit(self, method: str, chat_id: int | str | None) -> None:
        """Take one send from the buckets or raise Telegram's 429 (nothing is taken then)."""
        if not self.enabled or not self.counts(method):
            return
        now = self._clock()
        limits = self.limits
        checks: list[tuple[object, str, float, int]] = [("bot", "bot", limits.per_bot_rate, limits.per_bot_burst)]
        if chat_id is not None:
            is_group = isinstance(chat_id, int) and chat_id < 0
            if is_group:
                checks.append((("group", chat_id), "group", limits.per_group_rate, limits.per_group_burst))
            else:
                checks.append((("chat", chat_id), "chat", limits.per_chat_rate, limits.per_chat_burst))
        buckets: list[_Bucket] = []
        for key, scope, rate, burst in checks:
            bucket = self._buckets.setdefault(key, _Bucket(float(burst), now))
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                retry_after = max(1, math.ceil((1.0 - bucket.tokens) / rate))
                self.hits.append(FloodHit(method, chat_id, scope, retry_after))
                raise too_many_requests(retry_after)
            buckets.append(bucket)
        for bucket in buckets:
            bucket.tokens -= 1.0

    def record_fault(self, method: str, chat_id: int | str | None, retry_after: int) -> None:
        self.hits.append(FloodHit(method, chat_id, "fault", retry_after))


def too_many_requests(retry_after: int) -> TelegramError:
    return TelegramError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
