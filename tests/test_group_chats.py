"""Group chats: a manager invites a colleague; both see the client and may answer; closing stays with the owner."""

from __future__ import annotations

import asyncio

from models import ChatMessage
from tests.clients import MANAGER, SECOND_MANAGER, Visitor, accepted_chat, go_online, is_type, press
from tests.conftest import Desk


async def test_invite_join_answer_together_and_leave(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    card = next(m for m in desk.fake.messages(MANAGER.id) if "👥 Пригласить" in m.button_texts)
    nobody = await press(desk, MANAGER, card.message_id, "👥 Пригласить")
    assert nobody["show_alert"] is True and "некого" in nobody["text"]

    await go_online(desk, SECOND_MANAGER)
    await press(desk, MANAGER, card.message_id, "👥 Пригласить")
    choice = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Кого пригласить" in (m.text or ""))
    answer = await press(desk, MANAGER, choice.message_id, "Борис — чатов: 0")
    assert "Приглашение отправлено" in answer["text"]
    invitation = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "приглашает" in (m.text or ""))
    assert "Анна Смирнова приглашает" in invitation.text and "Пётр <Водитель>" in invitation.text

    # Before joining, the client's messages are Anna's alone.
    await visitor.send("Первое сообщение")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Первое сообщение" in (m.text or ""))
    joined = await press(desk, SECOND_MANAGER, invitation.message_id, "✅ Присоединиться")
    assert f"чате #{chat_id}" in joined["text"]
    assert "Режим ответа" in (await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "Режим" in m.text)).text
    told = await visitor.wait_for(lambda e: "менеджер, теперь тоже в чате" in e["text"])
    assert "Борис" in told["text"]
    assert told["type"] == "system_message"
    told_owner = await desk.fake.wait_for_message(MANAGER.id, lambda m: "тоже в чате" in m.text)
    assert "Борис теперь тоже в чате" in told_owner.text
    assert not [m for m in desk.fake.messages(SECOND_MANAGER.id) if "Первое сообщение" in (m.text or "")]

    # Now the client's messages reach both, and Boris's answer reaches the client and Anna.
    await visitor.send("Вопрос для обоих")
    for manager in (MANAGER, SECOND_MANAGER):
        await desk.fake.wait_for_message(manager.id, lambda m: "Вопрос для обоих" in (m.text or ""))
    await desk.fake.send_message(SECOND_MANAGER, "Отвечаю я, Борис")
    await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "Отправлено клиенту" in (m.text or ""))
    reply = await visitor.wait_for(lambda e: e["type"] == "manager_message" and "Борис" in e["text"])
    assert reply["author"]["name"] == "Борис"
    mirror = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Отвечаю я, Борис" in (m.text or ""))
    assert mirror.text.startswith("🗣 Борис →")

    boris_card = next(m for m in desk.fake.messages(SECOND_MANAGER.id) if "🚪 Выйти" in m.button_texts)
    left = await press(desk, SECOND_MANAGER, boris_card.message_id, "🚪 Выйти")
    assert "вышли" in left["text"]
    await visitor.send("После выхода")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "После выхода" in (m.text or ""))
    await asyncio.sleep(0.3)
    assert not [m for m in desk.fake.messages(SECOND_MANAGER.id) if "После выхода" in (m.text or "")]
    assert "Не понял" in (await _say(desk, SECOND_MANAGER, "ещё?"))  # reply mode ended with leaving
    assert await ChatMessage.select().where(ChatMessage.author_name == "Борис").aio_count() == 1


async def test_a_colleague_may_answer_but_not_close_or_hand_over(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    await go_online(desk, SECOND_MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    owner = await desk.service.team.manager_by_telegram_id(MANAGER.id)
    colleague = await desk.service.team.manager_by_telegram_id(SECOND_MANAGER.id)
    await desk.service.colleagues.invite(owner, chat_id, SECOND_MANAGER.id)
    await desk.service.colleagues.join(chat_id, colleague)
    from support.contracts import NotAllowed

    for action in (desk.service.lifecycle.close(colleague, chat_id),
                   desk.service.lifecycle.transfer(colleague, chat_id, MANAGER.id, None)):
        try:
            await action
        except NotAllowed:
            pass
        else:
            raise AssertionError("a colleague must not close or hand over someone else's chat")
    await desk.service.relay.manager_reply(colleague, chat_id, "Можно и мне ответить")
    assert (await visitor.wait_for(is_type("manager_message")))["author"]["name"] == "Борис"
    assert (await visitor.state())["status"] == "assigned"


async def _say(desk: Desk, user, text: str) -> str:  # type: ignore[no-untyped-def]
    await desk.fake.send_message(user, text)
    return str((await desk.fake.wait_for_message(user.id)).text)
