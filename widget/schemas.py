"""Request bodies of the widget API, validated with pydantic so every bad input gets a precise 400."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from support.visitors import Visit
from webhook.http_api import MAX_ID

PHONE_RE = re.compile(r"^\+?[0-9 ()\-]{7,25}$")


def _clean_optional(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None




def storage_problem(value: str) -> str | None:
    """Why a text cannot be stored the same way on both databases, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"  # PostgreSQL refuses them; SQLite would keep them
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: object) -> object:
        if isinstance(value, str) and (problem := storage_problem(value)) is not None:
            raise ValueError(problem)
        return value


class ContactFields(_Body):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        value = _clean_optional(value)
        if value is not None and len(value) < 2:
            raise ValueError("name must be at least 2 characters")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        value = _clean_optional(value)
        if value is None:
            return None
        digits = re.sub(r"\D", "", value)
        if not PHONE_RE.match(value) or not 7 <= len(digits) <= 15:
            raise ValueError("phone must be 7 to 15 digits, optionally with +, spaces, dashes or parentheses")
        return value


class PageView(_Body):
    url: str = Field(min_length=1, max_length=2000)
    title: str | None = Field(default=None, max_length=300)


class StartBody(ContactFields):
    page_url: str | None = Field(default=None, max_length=2000)
    locale: str = Field(default="ru", max_length=8)
    # The visitor's context for the manager's card (widget/identity.py turns it into a support Visit).
    page_title: str | None = Field(default=None, max_length=300)
    referrer: str | None = Field(default=None, max_length=2000)
    tz_offset: int | None = Field(default=None, ge=-900, le=900)  # minutes east of UTC
    pages: list[PageView] = Field(default_factory=list, max_length=15)  # seen before the chat was opened

    def visit(self, user_agent: str | None) -> Visit:
        """The context a new session starts with: what the widget said, and the browser's User-Agent."""
        return Visit(page_title=self.page_title, referrer=self.referrer or None,
                     user_agent=(user_agent or "")[:512] or None, tz_offset=self.tz_offset,
                     pages=tuple((page.url, page.title) for page in self.pages))

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        language = value.strip().lower().split("-")[0].split("_")[0]
        return language if language in ("ru", "en") else "ru"


class SessionBody(_Body):
    session_id: str = Field(min_length=1, max_length=64)


class SendMessageBody(SessionBody):
    text: str
    client_message_id: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be empty")
        return value


class TransferBody(SessionBody, ContactFields):
    pass


class RateBody(SessionBody):
    support_chat_id: int = Field(ge=1, le=MAX_ID)
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str | None) -> str | None:
        return _clean_optional(value)


class VisitBody(SessionBody, PageView):
    pass


class IdentifyBody(SessionBody, ContactFields):
    id: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=255)
    hash: str | None = Field(default=None, max_length=128)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        value = _clean_optional(value)
        if value is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError("email must look like name@example.com")
        return value
