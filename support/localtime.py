"""Times as managers and admins see them: in the desk's `[support] timezone`, always labelled.

The database stores naive UTC (models.utcnow); everything shown to a person goes through here, so the
notification, the history, the statistics, the chart and the CSV agree on the zone and on its label.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from core.i18n import N_, translate

# Russians read Moscow time as "МСК" (English readers as "MSK"); any other zone is labelled with its UTC offset.
_NAMED_ZONES = {"Europe/Moscow": N_("МСК")}


def as_local(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A stored moment (naive UTC, or aware) in the desk's zone."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(zone)


def offset_label(moment: dt.datetime) -> str:
    """"+03:00" for an aware moment (the offset it has then, so summer time is right)."""
    offset = moment.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_label(zone: dt.tzinfo, moment: dt.datetime | None = None, locale: str | None = None) -> str:
    """"МСК" for Europe/Moscow (in the reader's language), else the zone's offset at `moment` (now if not given)."""
    name = getattr(zone, "key", None)
    if name in _NAMED_ZONES:
        return translate(locale, _NAMED_ZONES[name])
    return offset_label(as_local(moment or dt.datetime.now(dt.UTC), zone))


def local_text(moment: dt.datetime, zone: dt.tzinfo, fmt: str = "%d.%m.%Y %H:%M", locale: str | None = None) -> str:
    """"05.03.2026 14:30 МСК": the moment in the desk's zone with the zone's label."""
    local = as_local(moment, zone)
    return f"{local.strftime(fmt)} {zone_label(zone, local, locale)}"


def local_iso(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """ISO 8601 with the offset, "2026-03-05T14:30:00+03:00", for files other programs read."""
    return as_local(moment, zone).replace(microsecond=0).isoformat()


def local_midnight(now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The start of today in the desk's zone, as naive UTC (how the database compares moments)."""
    local = as_local(now, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Rebuilt from the wall clock so a zone whose offset changed since midnight is still right.
    midnight = dt.datetime.combine(midnight.date(), dt.time(), tzinfo=zone)
    return midnight.astimezone(dt.UTC).replace(tzinfo=None)


def default_zone() -> ZoneInfo:
    """The zone config.toml ships with; for callers built without settings (tests of single pieces)."""
    return ZoneInfo("Europe/Moscow")
