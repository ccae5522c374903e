"""Working hours: whether managers are at work now, and when they are back."""

from __future__ import annotations

import datetime as dt

from core.config import SupportSettings


def _local(now_utc: dt.datetime, policy: SupportSettings) -> dt.datetime:
    aware = now_utc if now_utc.tzinfo else now_utc.replace(tzinfo=dt.UTC)
    return aware.astimezone(policy.zone)


def _open_at(local: dt.datetime, policy: SupportSettings) -> bool:
    start, end = policy.hours
    if local.isoweekday() not in policy.working_days:
        return False
    moment = local.time().replace(tzinfo=None)
    if end is None:
        return moment >= start
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # a night shift across midnight


def is_open(now_utc: dt.datetime, policy: SupportSettings) -> bool:
    return _open_at(_local(now_utc, policy), policy)


def next_opening(now_utc: dt.datetime, policy: SupportSettings) -> dt.datetime:
    """The next moment managers are at work, in the support time zone (now, if they are)."""
    local = _local(now_utc, policy)
    if _open_at(local, policy):
        return local
    start, _ = policy.hours
    for days_ahead in range(0, 8):
        day = (local + dt.timedelta(days=days_ahead)).date()
        candidate = dt.datetime.combine(day, start, tzinfo=policy.zone)
        if candidate > local and _open_at(candidate, policy):
            return candidate
    return local  # no working day configured at all: validation forbids it
