"""How the team did over a period: the numbers, a chart and a CSV of the period's chats.

A period's chats are the support chats created in it (created_at is the moment of the handoff), so the
numbers, the chart and the CSV always describe the same set of chats. The figures are computed in Python
from the selected rows: a period is at most a month of chats, and medians are not portable SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import statistics
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from core.i18n import language, translate
from models import ChatMessage, Manager, SupportChat, VisitorSession, utcnow
from support.localtime import as_local, default_zone, local_iso, local_midnight, zone_label

PERIOD_DAYS = (1, 7, 30)  # today, a week, a month: anything else is refused (a forged button)
IDLE = "idle"
CSV_COLUMNS = (
    "id", "created_at", "assigned_at", "first_response_at", "closed_at", "status", "close_reason", "manager",
    "client_name", "client_phone", "page_url", "rating", "rating_comment", "message_count",
)


@dataclass(frozen=True)
class ChatRow:
    """One support chat as the statistics and the CSV see it."""

    id: int
    created_at: dt.datetime
    assigned_at: dt.datetime | None
    first_response_at: dt.datetime | None
    closed_at: dt.datetime | None
    status: str
    close_reason: str | None
    manager_id: int | None
    manager: str | None
    manager_telegram_id: int | None
    client_name: str | None
    client_phone: str | None
    page_url: str | None
    rating: int | None
    rating_comment: str | None
    message_count: int


@dataclass(frozen=True)
class Figures:
    """The numbers of one manager, or of the whole team."""

    name: str
    telegram_id: int | None
    chats: int  # chats created in the period (for a manager: the ones they hold)
    taken: int
    median_first_response: float | None  # seconds from accepting to the first reply
    median_time_to_close: float | None  # seconds from accepting to closing
    closed_idle: int
    rating_average: float | None
    rating_count: int


@dataclass(frozen=True)
class Bucket:
    """A bar of the chart: an hour of today or a day of a longer period."""

    start: dt.datetime
    label: str
    created: int
    taken: int


@dataclass(frozen=True)
class PeriodStats:
    days: int
    start: dt.datetime  # naive UTC, inclusive
    end: dt.datetime  # naive UTC, exclusive (the moment the stats were made)
    overall: Figures
    managers: tuple[Figures, ...]  # those who took chats in the period, busiest first
    buckets: tuple[Bucket, ...]
    chats: tuple[ChatRow, ...]
    zone: dt.tzinfo = dt.UTC  # the desk's zone: days, hours and the title are read in it

    @property
    def zone_label(self) -> str:
        return self.zone_label_in(None)

    def zone_label_in(self, locale: str | None) -> str:
        return zone_label(self.zone, self.start, locale)

    @property
    def title(self) -> str:
        return self.title_in(None)

    def title_in(self, locale: str | None) -> str:
        """«сегодня, 05.03.2026 (МСК)» / «7 дней, 27.02–05.03.2026 (МСК)», in the reader's language."""
        first = as_local(self.start, self.zone)
        if self.days == 1:
            return translate(locale, "сегодня, {date} ({zone})", date=f"{first:%d.%m.%Y}",
                             zone=self.zone_label_in(locale))
        last = as_local(self.end - dt.timedelta(microseconds=1), self.zone)
        return translate(locale, "{days} дней, {first}–{last} ({zone})", days=self.days, first=f"{first:%d.%m}",
                         last=f"{last:%d.%m.%Y}", zone=self.zone_label_in(locale))


def period_bounds(days: int, now: dt.datetime, zone: dt.tzinfo = dt.UTC) -> tuple[dt.datetime, dt.datetime]:
    """Whole calendar days of the desk's zone ending with today, as naive UTC: "today" starts at the desk's
    midnight, a week has 7 bars."""
    midnight = local_midnight(now, zone)
    return midnight - dt.timedelta(days=days - 1), now


class StatsService:
    def __init__(self, clock: Callable[[], dt.datetime] = utcnow, zone: dt.tzinfo | None = None) -> None:
        # The clock is swappable so a test can pin "today" and not depend on when it runs.
        self.clock = clock
        self.zone = zone or default_zone()

    async def period(self, days: int) -> PeriodStats:
        if days not in PERIOD_DAYS:
            raise ValueError(f"unsupported period: {days} days")
        start, end = period_bounds(days, self.clock(), self.zone)
        chats = await self.chats_between(start, end)
        return compute(days, start, end, chats, self.zone)

    async def chats_between(self, start: dt.datetime, end: dt.datetime) -> list[ChatRow]:
        in_period = (SupportChat.created_at >= start) & (SupportChat.created_at < end)
        rows = await (
            SupportChat.select(
                SupportChat.id, SupportChat.created_at, SupportChat.assigned_at, SupportChat.first_response_at,
                SupportChat.closed_at, SupportChat.status, SupportChat.close_reason, SupportChat.rating,
                SupportChat.rating_comment, SupportChat.client_name, SupportChat.client_phone,
                SupportChat.page_url, SupportChat.manager.alias("manager_id"),
                Manager.name.alias("manager_name"), Manager.username.alias("manager_username"),
                Manager.telegram_id.alias("manager_telegram_id"),
                VisitorSession.name.alias("session_name"), VisitorSession.phone.alias("session_phone"),
                VisitorSession.page_url.alias("session_page_url"),
            )
            .join(VisitorSession, on=SupportChat.session == VisitorSession.id)
            .switch(SupportChat)
            .join(Manager, peewee.JOIN.LEFT_OUTER, on=SupportChat.manager == Manager.id)
            .where(in_period)
            .order_by(SupportChat.created_at, SupportChat.id)
            .dicts()
            .aio_execute()
        )
        counted = await (
            ChatMessage.select(ChatMessage.support_chat.alias("chat_id"), peewee.fn.COUNT(ChatMessage.id).alias("n"))
            .where(ChatMessage.support_chat.in_(SupportChat.select(SupportChat.id).where(in_period)))
            .group_by(ChatMessage.support_chat)
            .dicts()
            .aio_execute()
        )
        counts = {row["chat_id"]: row["n"] for row in counted}
        return [_chat_row(row, counts.get(row["id"], 0)) for row in rows]


def _chat_row(row: dict[str, Any], message_count: int) -> ChatRow:
    manager: str | None = None
    if row["manager_id"] is not None:
        # The same name the rest of the bot shows (Manager.display_name).
        manager = row["manager_name"] or (
            f"@{row['manager_username']}" if row["manager_username"] else str(row["manager_telegram_id"]))
    return ChatRow(
        id=row["id"],
        created_at=row["created_at"],
        assigned_at=row["assigned_at"],
        first_response_at=row["first_response_at"],
        closed_at=row["closed_at"],
        status=row["status"],
        close_reason=row["close_reason"],
        manager_id=row["manager_id"],
        manager=manager,
        manager_telegram_id=row["manager_telegram_id"],
        # The visitor may have introduced themselves before the handoff only: the session knows it then.
        client_name=row["client_name"] or row["session_name"],
        client_phone=row["client_phone"] or row["session_phone"],
        page_url=row["page_url"] or row["session_page_url"],
        rating=row["rating"],
        rating_comment=row["rating_comment"],
        message_count=message_count,
    )


def _seconds(since: dt.datetime | None, until: dt.datetime | None) -> float | None:
    if since is None or until is None:
        return None
    return max(0.0, (until - since).total_seconds())


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return float(statistics.median(present)) if present else None


def figures(name: str, telegram_id: int | None, chats: Sequence[ChatRow]) -> Figures:
    taken = [chat for chat in chats if chat.assigned_at is not None]
    ratings = [chat.rating for chat in chats if chat.rating is not None]
    return Figures(
        name=name,
        telegram_id=telegram_id,
        chats=len(chats),
        taken=len(taken),
        median_first_response=_median(_seconds(c.assigned_at, c.first_response_at) for c in taken),
        median_time_to_close=_median(_seconds(c.assigned_at, c.closed_at) for c in taken),
        closed_idle=sum(1 for chat in chats if chat.close_reason == IDLE),
        rating_average=sum(ratings) / len(ratings) if ratings else None,
        rating_count=len(ratings),
    )


def compute(
    days: int, start: dt.datetime, end: dt.datetime, chats: Sequence[ChatRow], zone: dt.tzinfo = dt.UTC
) -> PeriodStats:
    by_manager: dict[int, list[ChatRow]] = defaultdict(list)
    for chat in chats:
        if chat.manager_id is not None and chat.assigned_at is not None:
            by_manager[chat.manager_id].append(chat)
    managers = sorted(
        (figures(held[0].manager or "?", held[0].manager_telegram_id, held) for held in by_manager.values()),
        key=lambda f: (-f.taken, f.name),
    )
    return PeriodStats(
        days=days, start=start, end=end, overall=figures("Вся команда", None, chats), managers=tuple(managers),
        buckets=tuple(_buckets(days, start, end, chats, zone)), chats=tuple(chats), zone=zone,
    )


def _buckets(
    days: int, start: dt.datetime, end: dt.datetime, chats: Sequence[ChatRow], zone: dt.tzinfo
) -> list[Bucket]:
    step = dt.timedelta(hours=1) if days == 1 else dt.timedelta(days=1)
    count = 24 if days == 1 else days

    def index(moment: dt.datetime) -> int:
        return int((moment - start) / step)

    created = Counter(index(chat.created_at) for chat in chats)
    taken = Counter(index(chat.created_at) for chat in chats if chat.assigned_at is not None)
    label = "%H" if days == 1 else "%d.%m"
    return [Bucket(start + n * step, f"{as_local(start + n * step, zone):{label}}", created[n], taken[n])
            for n in range(count)]


# --- the chart ---------------------------------------------------------------------------------------

# matplotlib's font cache and text layout are process-wide and not promised to be thread-safe.
_render_lock = threading.Lock()


def render_chart(stats: PeriodStats, locale: str | None = None) -> bytes:
    """A PNG: chats per hour/day (created vs taken) and each manager's chats and median first response, its
    words in the reader's language.

    Blocking (tens of milliseconds); call it through asyncio.to_thread.
    """
    # Imported here: matplotlib takes a while to import, and only admins asking for a chart need it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _render_lock:
        figure = Figure(figsize=(9, 7.5), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)  # Agg: no display, no GUI toolkit, safe in a server
        timeline, team = figure.subplots(2, 1, height_ratios=(3, 2))

        positions = range(len(stats.buckets))
        timeline.bar([p - 0.2 for p in positions], [b.created for b in stats.buckets], width=0.4,
                     label=translate(locale, "обращения"), color="#f5b700")
        timeline.bar([p + 0.2 for p in positions], [b.taken for b in stats.buckets], width=0.4,
                     label=translate(locale, "приняты менеджером"), color="#2d6cdf")
        # Hours ("09") fit side by side; a month of dates ("18.03") only fits turned upright.
        timeline.set_xticks(list(positions), [b.label for b in stats.buckets], rotation=90 if stats.days > 7 else 0,
                            fontsize=8)
        timeline.set_xlabel(translate(locale, "час ({zone})", zone=stats.zone_label_in(locale)) if stats.days == 1
                            else translate(locale, "день"))
        timeline.set_ylabel(translate(locale, "чатов"))
        timeline.yaxis.get_major_locator().set_params(integer=True)
        timeline.margins(y=0.25)  # headroom, so the legend never covers a bar
        timeline.legend(loc="upper left", ncols=2)
        timeline.set_title(translate(locale, "ILPO-TAXI · поддержка · {title}", title=stats.title_in(locale)))

        if stats.managers:
            names = [_short(f.name) for f in stats.managers][::-1]
            taken = [f.taken for f in stats.managers][::-1]
            bars = team.barh(names, taken, color="#2d6cdf")
            labels = [_bar_label(f, locale) for f in stats.managers][::-1]
            team.bar_label(bars, labels=labels, padding=4, fontsize=8)
            team.set_xlim(0, max(taken) * 1.6 + 1)
            team.xaxis.get_major_locator().set_params(integer=True)
            team.set_xlabel(translate(locale, "принято чатов"))
        else:
            team.axis("off")
            team.text(0.5, 0.5, translate(locale, "За период менеджеры не принимали чатов"), ha="center",
                      va="center")

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()


def _short(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _bar_label(f: Figures, locale: str | None = None) -> str:
    parts = [translate(locale, "ответ {duration}", duration=format_duration(f.median_first_response, locale))]
    if f.rating_count:
        parts.append(translate(locale, "оценка {rating} ({count})", rating=format_rating(f.rating_average, locale),
                               count=f.rating_count))
    return " · ".join(parts)


# --- the CSV -----------------------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel: a visitor could plant one in their name.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_LIKE = re.compile(r"[+\-\d\s()]+")


def _cell(value: object, zone: dt.tzinfo) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return local_iso(value, zone)
    text = str(value)
    # Digits and phone punctuation cannot call anything, so "+7 900 …" is kept as the visitor wrote it.
    if text.startswith(_FORMULA_START) and not _PHONE_LIKE.fullmatch(text):
        return "'" + text
    return text


def export_csv(chats: Sequence[ChatRow], zone: dt.tzinfo = dt.UTC) -> bytes:
    """The chats as CSV, times ISO 8601 in the desk's zone with the offset ("2026-03-05T14:30:00+03:00");
    UTF-8 with a BOM, which is how Excel knows it is not cp1251."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for chat in chats:
        writer.writerow([_cell(value, zone) for value in (
            chat.id, chat.created_at, chat.assigned_at, chat.first_response_at, chat.closed_at, chat.status,
            chat.close_reason, chat.manager, chat.client_name, chat.client_phone, chat.page_url, chat.rating,
            chat.rating_comment, chat.message_count,
        )])
    return buffer.getvalue().encode("utf-8-sig")


def csv_filename(stats: PeriodStats) -> str:
    first = as_local(stats.start, stats.zone)
    last = as_local(stats.end - dt.timedelta(microseconds=1), stats.zone)
    return f"ilpo-chats-{first:%Y-%m-%d}--{last:%Y-%m-%d}.csv"


# --- words -------------------------------------------------------------------------------------------


def format_duration(seconds: float | None, locale: str | None = None) -> str:
    """«4 мин 05 с» (or «4 min 05 s» for a reader in English)."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return translate(locale, "{s} с", s=total)
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return (translate(locale, "{m} мин {s} с", m=minutes, s=f"{secs:02d}") if secs
                else translate(locale, "{m} мин", m=minutes))
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return (translate(locale, "{h} ч {m} мин", h=hours, m=f"{minutes:02d}") if minutes
                else translate(locale, "{h} ч", h=hours))
    days, hours = divmod(hours, 24)
    return translate(locale, "{d} д {h} ч", d=days, h=hours) if hours else translate(locale, "{d} д", d=days)


def format_rating(value: float | None, locale: str | None = None) -> str:
    """4,5 in Russian, 4.5 in English."""
    if value is None:
        return "—"
    text = f"{value:.1f}"
    return text if language(locale) == "en" else text.replace(".", ",")
