"""Local stand-in for Telegram: a fake Bot API server and the /sandbox page that drives it."""

from .bot_api import ApiCall, FakeBotAPI, FakeUser, SentMessage, TelegramError, UploadedFile

__all__ = ["ApiCall", "FakeBotAPI", "FakeUser", "SentMessage", "TelegramError", "UploadedFile"]
