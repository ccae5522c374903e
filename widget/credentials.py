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
# Redeemed tickets are remembered until they expire. Only authenticated visitors get tickets, so this many
# within one ticket lifetime is far past any real load; past it a ticket is refused rather than forgotten
# (a ticket must never open two sockets).
MAX_REMEMBERED_TICKETS = 500_000


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
        # Each ticket opens one socket: the nonces redeemed, bucketed by the second their ticket expires, so
        # forgetting the expired ones costs one bucket per second and checking one costs one set lookup.
        self._redeemed: dict[int, set[int]] = {}
        self._remembered = 0
        self._forgotten_before = int(time.time())  # every bucket before this second is gone

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
        expires_text, _, rest = ticket.partition(".")
        nonce, _, signature = rest.partition(".")
        now = int(time.time())
        if not (expires_text.isascii() and expires_text.isdigit() and len(expires_text) < 12
                and len(nonce) == 16 and all(char in "0123456789abcdef" for char in nonce)):
            return False
        expires = int(expires_text)
        # A ticket of ours expires within ticket_seconds (a longer one was not made under this configuration).
        if not now <= expires <= now + self.ticket_seconds + 1:
            return False
        expected = self._sign("ws", session_id, expires_text, nonce)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
            return False
        self._forget_expired(now)
        bucket = self._redeemed.setdefault(expires, set())
        key = int(nonce, 16)  # signed by us, so hex; an int is half the memory of the text
        if key in bucket or self._remembered >= MAX_REMEMBERED_TICKETS:
            return False
        bucket.add(key)
        self._remembered += 1
        return True

    def _forget_expired(self, now: int) -> None:
        if now - self._forgotten_before > len(self._redeemed):  # a quiet spell: fewer buckets than seconds
            for second in [second for second in self._redeemed if second < now]:
                self._remembered -= len(self._redeemed.pop(second))
            self._forgotten_before = now
        while self._forgotten_before < now:
            self._remembered -= len(self._redeemed.pop(self._forgotten_before, ()))
            self._forgotten_before += 1


CREDENTIALS = web.AppKey("credentials", Credentials)
