"""Topic mode: what a manager writes or sends in a chat's topic goes to that chat's visitor (no reply mode, no
quoting), an edit of a sent message follows to the visitor, and /chats' «🗂» button leads to a chat's topic."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from bot.callbacks import ChatAction, ChatCallback
from bot.handlers.chats import relay_manager_file
from bot.i18n import N_, _
from bot.middlewares import IsManager
from bot.render import client_label
from models import Manager
from support.service import SupportService

NOT_A_CHAT_TOPIC = N_("Эта тема не связана с чатом клиента. Пишите в тему нужного чата или в общий чат "
                      "(«💬 Ответить» / ответ на сообщение клиента).")


async def text_in_topic(message: Message, service: SupportService, manager: Manager) -> None:
    assert message.text is not None and message.message_thread_id is not None
    chat_id = await service.topics.chat_for_thread(manager, message.message_thread_id)
    if chat_id is None:
        await message.answer(_(NOT_A_CHAT_TOPIC))
        return
    # The topic is the conversation: the visitor's answer shows there, no confirmation needed.
    await service.relay.manager_reply(manager, chat_id, message.text, telegram_message_id=message.message_id)


async def file_in_topic(message: Message, bot: Bot, service: SupportService, manager: Manager) -> None:
    assert message.message_thread_id is not None
    chat_id = await service.topics.chat_for_thread(manager, message.message_thread_id)
    if chat_id is None:
        await message.answer(_(NOT_A_CHAT_TOPIC))
        return
    # The topic is the conversation: no confirmation, as for text.
    await relay_manager_file(message, bot, service, manager, chat_id)


async def unsupported_in_topic(message: Message, service: SupportService, manager: Manager) -> None:
    assert message.message_thread_id is not None
    if await service.topics.chat_for_thread(manager, message.message_thread_id) is None:
        return
    await message.answer(_("В веб-чат можно отправлять текст, фото и документы (PDF). Это сообщение не ушло клиенту."))


async def edited(message: Message, service: SupportService, manager: Manager) -> None:
    """The manager corrected a message they had sent a visitor: the visitor's copy is corrected too."""
    assert message.text is not None
    await service.relay.manager_edit(manager, message.message_id, message.text)


async def go_to_topic(query: CallbackQuery, callback_data: ChatCallback, service: SupportService,
                      manager: Manager) -> None:
    """A private chat's topic has no t.me link: a short message in the topic brings it up in the client."""
    card = await service.queries.chat_card(callback_data.chat_id, manager)
    thread_id = await service.topics.thread_of(card.chat_id, manager)
    if thread_id is None:
        await query.answer(_("У этого чата нет темы — его сообщения в общем чате."), show_alert=True)
        return
    await query.answer(_("🗂 Тема чата #{chat_id}").format(chat_id=card.chat_id))
    assert query.bot is not None
    await query.bot.send_message(manager.telegram_id, _("📍 Чат #{chat_id} с {client} — здесь.").format(
                                     chat_id=card.chat_id, client=client_label(card)),
                                 message_thread_id=thread_id)


def build_router() -> Router:
    """Before the chats router: a message in a topic belongs to the topic's chat whatever reply mode says."""
    router = Router(name="topics")
    router.message.filter(IsManager())
    router.edited_message.filter(IsManager())
    router.callback_query.filter(IsManager())
    in_topic = F.is_topic_message & F.message_thread_id
    router.message.register(text_in_topic, in_topic, F.text, ~F.text.startswith("/"))
    router.message.register(file_in_topic, in_topic, F.document | F.photo)
    router.message.register(unsupported_in_topic, in_topic, ~F.text)
    router.edited_message.register(edited, F.text)
    router.callback_query.register(go_to_topic, ChatCallback.filter(F.action == ChatAction.TOPIC))
    return router
