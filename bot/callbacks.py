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
    TRANSFER = "transfer"
    INVITE = "invite"
    JOIN = "join"
    LEAVE = "leave"
    TOPIC = "topic"  # go to the chat's topic (private-chat topics have no t.me link)
    TEMPLATES = "templates"  # the saved replies, filled for this chat


class ChatCallback(CallbackData, prefix="chat"):
    action: ChatAction
    chat_id: int


class TransferTo(CallbackData, prefix="xfer"):
    chat_id: int
    telegram_id: int
    now: bool = False  # hand over at once, without a note


class AssignTo(CallbackData, prefix="asgn"):
    """An admin gives a waiting chat to a manager; telegram_id 0 means "show me who"."""

    chat_id: int
    telegram_id: int = 0


class InviteTo(CallbackData, prefix="invt"):
    chat_id: int
    telegram_id: int


class HistoryPage(CallbackData, prefix="hist"):
    chat_id: int
    page: int
    accept: bool = False  # «✅ Принять чат» on a details page: accept, then refresh that page's buttons


class CloseChat(CallbackData, prefix="cls"):
    """The answer to «Завершить чат?»: a mis-tap on «🔚 Завершить» must not end a conversation."""

    chat_id: int
    confirm: bool


class MenuAction(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    CHATS = "chats"
    ADMIN = "admin"
    COPILOT = "copilot"  # the manager's own switch for the AI co-pilot


class MenuCallback(CallbackData, prefix="menu"):
    action: MenuAction


class AdminAction(StrEnum):
    MANAGERS = "managers"
    QUEUE = "queue"
    TEMPLATES = "templates"


class AdminCallback(CallbackData, prefix="adm"):
    action: AdminAction


class TeamAction(StrEnum):
    LIST = "list"
    ADD = "add"
    OPEN = "open"  # one manager's card with the buttons below
    DISABLE = "disable"
    ENABLE = "enable"
    MAKE_ADMIN = "admin"
    REVOKE_ADMIN = "revoke"


class TeamCallback(CallbackData, prefix="team"):
    action: TeamAction
    telegram_id: int = 0  # the manager acted on; 0 for LIST and ADD


class StatsCallback(CallbackData, prefix="stats"):
    days: int = 0  # 1, 7 or 30; 0 asks which period


class GreetingAction(StrEnum):
    LIST = "list"
    ADD = "add"
    TOGGLE = "toggle"  # switch a rule on or off
    DELETE = "delete"
    FLAG = "flag"  # the new rule's yes/no options, before saving
    SAVE = "save"


class GreetingCallback(CallbackData, prefix="greet"):
    action: GreetingAction
    rule_id: int = 0
    flag: str = ""  # for FLAG: first_visit_only, working_hours_only or open_on_desktop


class CopilotAction(StrEnum):
    SEND = "send"
    EDIT = "edit"  # without inline mode: the text to copy, and reply mode for its chat
    DISMISS = "dismiss"


class CopilotCallback(CallbackData, prefix="cop"):
    action: CopilotAction
    suggestion_id: int


class TemplateAction(StrEnum):
    LIST = "list"
    OPEN = "open"
    ADD = "add"
    EDIT_TITLE = "title"
    EDIT_TEXT = "text"
    DELETE = "delete"  # asks first
    CONFIRM_DELETE = "confirm"


class TemplateCallback(CallbackData, prefix="tpl"):
    """An admin managing saved replies; template_id 0 for LIST and ADD."""

    action: TemplateAction
    template_id: int = 0


class TemplatePick(CallbackData, prefix="tpick"):
    """A manager sends a saved reply, filled for this chat, to its visitor."""

    template_id: int
    chat_id: int
