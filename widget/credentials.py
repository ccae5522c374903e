"""Short-lived credentials, so the visitor's long-lived token never travels in a URL (where proxies log it):
HMAC-signed attachment links (minutes) and single-use WebSocket tickets (seconds)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode

from aiohttp import web

LINK_SECONDS = 30 * 60
TICKET_SECONDS = 60


def signing_secret(link_secret: str, bot_token: str) -> str:
    """`[http] link_secret` if set; else a key derived from the bot token, which every process of one desk
    shares and nobody else knows (an HMAC of it reveals nothing of it); else, in the sandbox, a random one."""
    if link_secret:
        return link_secret
    if bot_token:
        return hmac.new(bot_token.encode(), b"ilpo widget links and tickets", hashlib.sha256).hexdigest()
    return ""


class Credentials:
    """Signs with one secret (see signing_secret); an empty one is replaced by a random secret of this process."""

    def __init__(self, secret: str = "", *, link_seconds: int = LINK_SECONDS, ticket_seconds: int = TICKET_SECONDS
                 ) -> None:
        self._key = (secret or secrets.token_hex(32)).encode()
        self.link_seconds = link_seconds
        self.ticket_seconds = ticket_seconds
        self._redeemed: dict[str, float] = {}  # ticket nonce -> expiry, so each ticket opens one socket

    def _sign(self, *parts: object) -> str:
        message = "\x1f".join(str(part) for part in parts).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def attachment_path(self, session_id: str, attachment_id: int) -> str:
        expires = int(time.time()) + self.link_seconds
        signature = self._sign("file", session_id, attachment_id, expires)
        query = urlencode({"session_id": session_id, "expires": expires, "sig": signature})
        return f"/api/chat/attachments/{attachment_id}?{query}"

    def check_attachment(self, session_id: str, attachment_id: int, expires: str, signature: str) -> bool:
        if not (expires.isascii() and expires.isdigit() and len(expires) < 12) or int(expires) < time.time():
            return False
        expected = self._sign("file", session_id, attachment_id, expires)
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape"))

    def ticket(self, session_id: str) -> str:
        expires = int(time.time()) + self.ticket_seconds
        nonce = secrets.token_hex(8)
        return f"{expires}.{nonce}.{self._sign('ws', session_id, expires, nonce)}"

    def redeem(self, session_id: str, ticket: str) -> bool:
        """True once per valid, unexpired ticket for this session."""
        expires, _, rest = ticket.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (expires.isascii() and expires.isdigit() and len(expires) < 12) or int(expires) < time.time():
            return False
        expected = self._sign("ws", session_id, expires, nonce)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
            return False
        now = time.time()
        for old in [key for key, until in self._redeemed.items() if until < now]:
            del self._redeemed[old]
        if nonce in self._redeemed:
            return False
        self._redeemed[nonce] = float(expires)
        return True


CREDENTIALS = web.AppKey("credentials", Credentials)
