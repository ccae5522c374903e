"""Local stand-in for Telegram: a fake Bot API server and the /sandbox page that drives it.

Telegram is unreachable from where this project is built and tested, so the real
aiogram bot talks to :class:`FakeBotAPI` instead. In a pytest fixture::

    fake = FakeBotAPI(token)              # token like "123456:ABC..." (aiogram checks the shape)
    fake.register_user(FakeUser(id=1, first_name="Анна"))
    base_url = await fake.start()         # own server on a free loopback port
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    ...
    await fake.send_message(user, "/start")
    reply = await fake.wait_for_message(user.id)
    assert fake.violations == []
    await fake.stop()

Inside the product's own app use ``fake.register(app, prefix="/telegram-sandbox")``
(base url = the app's url + prefix) and :func:`sandbox.web.setup_sandbox` for the page.
"""

from .bot_api import ApiCall, FakeBotAPI, FakeUser, SentMessage, TelegramError, UploadedFile
from .text import check_html
from .web import setup_sandbox

__all__ = [
    "ApiCall",
    "FakeBotAPI",
    "FakeUser",
    "SentMessage",
    "TelegramError",
    "UploadedFile",
    "check_html",
    "setup_sandbox",
]
