"""Proactive greetings: the rules admins set up, which one a visitor's page gets, once a day, and what came of it.

The widget asks `applicable()` on each page; after the rule's delay it claims the show with `shown()`. The claim
is a row under a unique (rule, visitor, day) index, so a second tab, a reload or a forged call cannot show the
same greeting twice in a day. `opened()` and `chatted()` mark that day's row for the statistics.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from urllib.parse import urlsplit

import peewee

from core.config import SupportSettings
from core.i18n import N_
from models import GreetingRule, GreetingShow, utcnow
from support.hours import is_open
from support.store import ChatStore

MAX_TEXT = 1000
MAX_PATTERN = 500
MAX_DELAY_SECONDS = 3600


class GreetingError(ValueError):
    """A rule an admin typed that cannot work (the message says why, in Russian; the bot says `template` with
    `values` in the admin's language)."""

    def __init__(self, template: str, **values: object) -> None:
        self.template, self.values = template, values
        super().__init__(template.format(**values) if values else template)


@dataclass(frozen=True)
class GreetingFigures:
    rule_id: int
    shown: int
    opened: int
    chats: int


def check_pattern(pattern: str) -> str:
    pattern = pattern.strip()
    if not pattern or len(pattern) > MAX_PATTERN or any(c.isspace() for c in pattern):
        raise GreetingError(N_("Шаблон адреса: без пробелов, до {limit} символов, например /tariffs* или *"),
                            limit=MAX_PATTERN)
    return pattern


def check_delay(raw: str) -> int:
    if not raw.strip().isdigit() or not 0 <= int(raw) <= MAX_DELAY_SECONDS:
        raise GreetingError(N_("Секунды на странице: целое число от 0 до {limit}"), limit=MAX_DELAY_SECONDS)
    return int(raw)


def check_text(text: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise GreetingError(N_("Текст приветствия: от 1 до {limit} символов"), limit=MAX_TEXT)
    return text


def matches(pattern: str, url: str) -> bool:
    """`*` matches every page; a pattern starting with / is matched against the path (and query), any other
    against the whole address."""
    if pattern == "*":
        return True
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "") if pattern.startswith("/") else url
    return fnmatch.fnmatchcase(target, pattern)


class Greetings:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    @property
    def policy(self) -> SupportSettings:
        return self.store.policy

    def _day(self, now: dt.datetime) -> str:
        return now.replace(tzinfo=dt.UTC).astimezone(self.policy.zone).date().isoformat()

    # --- the admins' side ---------------------------------------------------------------------------

    async def create(self, *, url_pattern: str, delay_seconds: int, text: str, first_visit_only: bool = False,
                     working_hours_only: bool = False, open_on_desktop: bool = False,
                     created_by: int | None = None) -> GreetingRule:
        rule: GreetingRule = await GreetingRule.aio_create(
            url_pattern=check_pattern(url_pattern), delay_seconds=delay_seconds, text=check_text(text),
            first_visit_only=first_visit_only, working_hours_only=working_hours_only,
            open_on_desktop=open_on_desktop, created_by=created_by,
        )
        return rule

    async def rules(self) -> list[GreetingRule]:
        return list(await GreetingRule.select().order_by(GreetingRule.id).aio_execute())

    async def rule(self, rule_id: int) -> GreetingRule | None:
        rule: GreetingRule | None = await GreetingRule.aio_get_or_none(GreetingRule.id == rule_id)
        return rule

    async def set_active(self, rule_id: int, active: bool) -> bool:
        return bool(await GreetingRule.update(is_active=active).where(GreetingRule.id == rule_id).aio_execute())

    async def delete(self, rule_id: int) -> bool:
        return bool(await GreetingRule.delete().where(GreetingRule.id == rule_id).aio_execute())

    async def figures(self, since: dt.datetime | None = None) -> dict[int, GreetingFigures]:
        """Per rule: greetings shown, widgets opened after one, chats started after one (since `since`)."""
        query = GreetingShow.select(
            GreetingShow.rule, peewee.fn.COUNT(GreetingShow.id).alias("shown"),
            peewee.fn.COUNT(GreetingShow.opened_at).alias("opened"),
            peewee.fn.COUNT(GreetingShow.chatted_at).alias("chats"),
        ).group_by(GreetingShow.rule)
        if since is not None:
            query = query.where(GreetingShow.shown_at >= since)
        rows = await query.dicts().aio_execute()
        return {row["rule"]: GreetingFigures(row["rule"], row["shown"], row["opened"], row["chats"]) for row in rows}

    # --- the widget's side --------------------------------------------------------------------------

    async def applicable(self, visitor: str, url: str, *, returning: bool) -> GreetingRule | None:
        """The first active rule for this page that this visitor has not been shown today."""
        now = utcnow()
        working = is_open(now, self.policy)
        seen_today = {row.rule_id for row in await GreetingShow.select(GreetingShow.rule).where(
            (GreetingShow.visitor == visitor) & (GreetingShow.day == self._day(now))).aio_execute()}
        for rule in await GreetingRule.select().where(GreetingRule.is_active).order_by(GreetingRule.id).aio_execute():
            if rule.id in seen_today or (rule.first_visit_only and returning):
                continue
            if rule.working_hours_only and not working:
                continue
            if matches(rule.url_pattern, url):
                return rule  # type: ignore[no-any-return]
        return None

    async def shown(self, visitor: str, rule_id: int) -> bool:
        """Claim today's show of this rule for this visitor; False when it was already shown (or the rule is
        gone or switched off)."""
        if not await GreetingRule.select().where((GreetingRule.id == rule_id) & GreetingRule.is_active).aio_exists():
            return False
        try:
            await GreetingShow.aio_create(rule=rule_id, visitor=visitor, day=self._day(utcnow()))
        except peewee.IntegrityError:
            return False
        return True

    async def opened(self, visitor: str, rule_id: int) -> bool:
        return await self._mark(visitor, rule_id, GreetingShow.opened_at)

    async def chatted(self, visitor: str, rule_id: int) -> bool:
        return await self._mark(visitor, rule_id, GreetingShow.chatted_at)

    async def _mark(self, visitor: str, rule_id: int, column: peewee.Field) -> bool:
        """Only the first time counts, and only for a greeting really shown today."""
        return bool(await GreetingShow.update({column: utcnow()}).where(
            (GreetingShow.rule == rule_id) & (GreetingShow.visitor == visitor)
            & (GreetingShow.day == self._day(utcnow())) & column.is_null()).aio_execute())
