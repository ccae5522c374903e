"""Typed inline-button payloads (aiogram CallbackData factories); nothing parses callback_data by hand."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class ChatAction(StrEnum):
    ACCEPT = "accept"
    DETAILS = "details"
    REPLY = "reply"
    CLOSE = "close"
    CALL = "call"


class ChatCallback(CallbackData, prefix="chat"):
    action: ChatAction
    chat_id: int


class HistoryPage(CallbackData, prefix="hist"):
    chat_id: int
    page: int


class MenuAction(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    CHATS = "chats"
    ADMIN = "admin"


class MenuCallback(CallbackData, prefix="menu"):
    action: MenuAction


class AdminAction(StrEnum):
    MANAGERS = "managers"
    QUEUE = "queue"


class AdminCallback(CallbackData, prefix="adm"):
    action: AdminAction
