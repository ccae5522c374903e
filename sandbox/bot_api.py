"""A local, stateful fake of the Telegram Bot API that the real aiogram Bot can talk to.

Telegram is unreachable from the machines this project is built and tested on,
so the product's bot is exercised end-to-end against this server instead: the
bot uses its ordinary AiohttpSession pointed at ``TelegramAPIServer.from_base``,
tests (and the /sandbox page) act as Telegram users, and every request is
checked against the official api.json so that calls Telegram would reject fail
here too, with Telegram's status codes and wording.

The server is assembled from one part per job:

- :mod:`sandbox.model` — the value types (users, messages, files, Telegram's error answer);
- :mod:`sandbox.state` — what "Telegram" knows (chats, messages, the update queue) and how tests read it;
- :mod:`sandbox.transport` — the HTTP surface: routes, request parsing, spec checks, faults, flood limits;
- :mod:`sandbox.updates`, :mod:`sandbox.messages`, :mod:`sandbox.bot_methods`, :mod:`sandbox.topics` —
  the Bot API methods (``_m_<method>``), found by name by the transport;
- :mod:`sandbox.actors` — what tests and the sandbox page call to act as users.
"""

from __future__ import annotations

from .actors import ActorAPI
from .bot_methods import BotMethods
from .messages import MessageMethods
from .model import ApiCall, FakeUser, SentMessage, TelegramError, UploadedFile
from .topics import TopicMethods
from .updates import UpdateDelivery

__all__ = ["ApiCall", "FakeBotAPI", "FakeUser", "SentMessage", "TelegramError", "UploadedFile"]


class FakeBotAPI(ActorAPI, TopicMethods, MessageMethods, BotMethods, UpdateDelivery):
    """In-memory Telegram Bot API server (see module docstring).

    Typical use::

        fake = FakeBotAPI(token)
        base_url = await fake.start()
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    """
