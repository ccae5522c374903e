"""The visitor's context for the manager's card: pages seen, where they came from, device, local time, and
their earlier chats (the same browser, or every device of a verified visitor)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from core.i18n import N_
from models import SupportChat, VisitorIdentity, VisitorSession, utcnow
from support.contracts import PastChat, VisitorContext

MAX_PAGES = 15  # the latest pages of a session kept for the card (they must fit one details page)
EARLIER_CHATS = 5
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_MAX_URL = 2000
_MAX_TITLE = 300


def add_page(pages_json: str | None, url: str, title: str | None, at: dt.datetime) -> str:
    """The session's page list with this view appended (a reload of the same page is not a new one)."""
    pages = read_pages(pages_json)
    if not pages or pages[-1]["url"] != url:
        pages.append({"url": url[:_MAX_URL], "title": (title or "")[:_MAX_TITLE] or None,
                      "at": at.isoformat(timespec="seconds")})
    return json.dumps(pages[-MAX_PAGES:], ensure_ascii=False)


def read_pages(pages_json: str | None) -> list[dict[str, Any]]:
    try:
        pages = json.loads(pages_json) if pages_json else []
    except ValueError:
        return []
    return [page for page in pages if isinstance(page, dict) and isinstance(page.get("url"), str)]


def utm_tags(url: str | None) -> tuple[tuple[str, str], ...]:
    if not url:
        return ()
    query = dict(parse_qsl(urlsplit(url).query))
    return tuple((key, query[key][:200]) for key in UTM_KEYS if query.get(key))


# Two words of a device description are Russian; bot.render shows them in the manager's language.
YANDEX_BROWSER = N_("Яндекс Браузер")
MOBILE = N_("(мобильный)")
_BROWSERS = (  # order matters: Edge and Opera say "Chrome" too, Chrome says "Safari"
    ("YaBrowser", YANDEX_BROWSER), ("Edg", "Edge"), ("OPR", "Opera"), ("SamsungBrowser", "Samsung Internet"),
    ("Firefox", "Firefox"), ("Chrome", "Chrome"), ("CriOS", "Chrome"), ("Version", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
    ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"),
)


def device_of(user_agent: str | None) -> str | None:
    """"Android · Chrome 120" from a User-Agent: enough for a manager, not a fingerprint."""
    if not user_agent:
        return None
    system = next((label for token, label in _SYSTEMS if token in user_agent), None)
    browser = None
    for token, label in _BROWSERS:
        found = re.search(re.escape(token) + r"/(\d+)", user_agent)
        if found:
            browser = f"{label} {found.group(1)}"
            break
    if "Mobile" in user_agent and system not in ("Android", "iPhone", "iPad"):
        system = f"{system or ''} {MOBILE}".strip()
    parts = [part for part in (system, browser) if part]
    return " · ".join(parts) if parts else user_agent[:60]


def local_time(tz_offset: int | None, now: dt.datetime | None = None) -> dt.datetime | None:
    if tz_offset is None:
        return None
    return (now or utcnow()) + dt.timedelta(minutes=tz_offset)


async def sibling_session_ids(session: VisitorSession) -> list[int]:
    """The sessions sharing this visitor's history: all of a verified identity's, or just this one."""
    if session.identity_id is None:
        return [session.id]
    rows = await VisitorSession.select(VisitorSession.id).where(
        VisitorSession.identity == session.identity_id).aio_execute()
    return sorted({session.id, *(row.id for row in rows)})


async def visitor_context(session: VisitorSession, chat: SupportChat) -> VisitorContext:
    identity = (await VisitorIdentity.aio_get_or_none(VisitorIdentity.id == session.identity_id)
                if session.identity_id else None)
    earlier = await SupportChat.select().where(
        SupportChat.session.in_(await sibling_session_ids(session)) & (SupportChat.id != chat.id)
    ).order_by(SupportChat.id.desc()).limit(EARLIER_CHATS).aio_execute()
    pages = read_pages(session.pages)
    page_url = chat.page_url or session.page_url
    return VisitorContext(
        verified=identity is not None,
        external_id=identity.external_id if identity else session.claimed_id,
        email=session.email or (identity.email if identity else None),
        page_title=session.page_title,
        referrer=session.referrer,
        utm=utm_tags(page_url) or next((tags for tags in (utm_tags(p["url"]) for p in pages) if tags), ()),
        pages=tuple((page["url"], page.get("title")) for page in pages),
        device=device_of(session.user_agent),
        local_time=local_time(session.tz_offset),
        tz_offset=session.tz_offset,
        earlier_chats=tuple(PastChat(row.id, row.created_at, row.status, row.summary) for row in earlier),
    )
