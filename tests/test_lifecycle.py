"""The chat lifecycle on the service alone (no HTTP, no bot): who writes status and availability, and what a
change sets off only once it is committed."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from models import ChatStatus, CloseReason, Manager, SupportChat
from support.contracts import AlreadyRated
from support.events import Committed
from tests.conftest import ADMIN_ID, MANAGER_ID, SECOND_MANAGER_ID, Service

ROOT = Path(__file__).resolve().parent.parent


async def online(support: Service, telegram_id: int, name: str) -> Manager:
    manager = await support.service.team.register_manager(telegram_id, name=name, username=None)
    assert manager is not None
    await support.service.lifecycle.set_online(manager, True)
    return manager


async def handed_over(support: Service) -> SupportChat:
    session, _ = await support.service.visitors.start_session(name="Пётр")
    result = await support.service.lifecycle.hand_over(session)
    return await SupportChat.aio_get(SupportChat.id == result.support_chat_id)


async def test_a_pending_offer_counts_the_same_in_the_admin_list_and_on_the_member_card(support: Service) -> None:
    await online(support, MANAGER_ID, "Анна")
    chat = await handed_over(support)
    assert chat.offered_manager_id is not None and chat.status == ChatStatus.WAITING
    listed = {member.telegram_id: member.active_chats for member in await support.service.team.overview()}
    card = await support.service.team.member(MANAGER_ID)
    assert card is not None
    assert listed[MANAGER_ID] == card.active_chats == 1


async def test_disabling_a_manager_routes_their_pending_offer_to_a_colleague_at_once(support: Service) -> None:
    await support.service.team.register_manager(ADMIN_ID, name="Админ", username=None)
    anna = await online(support, MANAGER_ID, "Анна")
    chat = await handed_over(support)
    assert chat.offered_manager_id == anna.id
    boris = await online(support, SECOND_MANAGER_ID, "Борис")
    assert "offer" not in support.channel.to(SECOND_MANAGER_ID)  # it is Anna's until she answers or leaves

    change = await support.service.team.disable(ADMIN_ID, MANAGER_ID)

    assert change.changed and not change.member.online and not change.member.active
    rerouted = await SupportChat.aio_get(SupportChat.id == chat.id)
    assert rerouted.offered_manager_id == boris.id
    assert support.channel.to(SECOND_MANAGER_ID) == ["offer"]
    assert not (await Manager.aio_get(Manager.id == anna.id)).is_online


async def test_every_close_reason_is_written_by_a_path_and_only_a_manager_close_is_rated(support: Service) -> None:
    anna = await online(support, MANAGER_ID, "Анна")
    lifecycle = support.service.lifecycle
    by_manager, idle, by_api = [await handed_over(support) for _ in range(3)]
    await lifecycle.accept(by_manager.id, anna)
    await lifecycle.close(anna, by_manager.id)
    await lifecycle.close_idle(idle)
    await lifecycle.close_from_outside(by_api.id, by="CRM")

    reasons = {chat.id: chat.close_reason for chat in await SupportChat.select().aio_execute()}
    assert reasons == {by_manager.id: CloseReason.MANAGER, idle.id: CloseReason.IDLE, by_api.id: CloseReason.API}
    assert set(reasons.values()) == {CloseReason.MANAGER, CloseReason.IDLE, CloseReason.API}

    relay = support.service.relay
    api_session = await support.service.store.session_of(by_api)
    with pytest.raises(AlreadyRated):
        await relay.rate(api_session, by_api.id, 5, None)
    await relay.rate(await support.service.store.session_of(by_manager), by_manager.id, 5, "спасибо")
    assert (await SupportChat.aio_get(SupportChat.id == by_manager.id)).rating == 5


async def test_a_change_wakes_the_widget_only_once_committed_and_never_when_rolled_back(support: Service) -> None:
    store = support.service.store
    session, _ = await support.service.visitors.start_session()
    listener = store.hub.subscribe(session.id)

    with pytest.raises(RuntimeError):
        async with store.change() as change:
            await change.system_message(session, None, "никто этого не увидит")
            raise RuntimeError("rolled back")
    assert listener.empty()

    async with store.change() as change:
        await change.system_message(session, None, "видно после фиксации")
        assert listener.empty()  # inside the transaction nobody is woken yet
    pushed = await asyncio.wait_for(listener.get(), 1)  # the committed row's event, straight from memory
    events = await support.service.visitors.events_after(session, 0)
    assert [event["text"] for event in events] == ["видно после фиксации"]
    assert isinstance(pushed, Committed) and pushed.events == events  # what a re-read from the database gives


def test_bot_handlers_compare_chat_status_with_chat_status_not_strings() -> None:
    statuses = {ChatStatus.WAITING, ChatStatus.ASSIGNED, ChatStatus.CLOSED}
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                for operand in [node.left, *node.comparators]:
                    if isinstance(operand, ast.Constant) and operand.value in statuses:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {operand.value!r}")
    assert found == []


def test_only_lifecycle_writes_a_chats_status_or_a_managers_availability() -> None:
    writers = set()
    for path in sorted(ROOT.glob("*/*.py")):
        if path.parts[-2] in (".venv", "tests", "migrations", "bench"):
            continue
        text = path.read_text(encoding="utf-8")
        if "status=ChatStatus." in text or "is_online=" in text:
            writers.add(str(path.relative_to(ROOT)))
    assert writers == {"support/lifecycle.py"}


async def test_a_managers_reply_is_checked_by_the_insert_and_a_refusal_still_says_why(support: Service) -> None:
    """The reply's insert carries own_chat's rule (Lifecycle.writable): its own manager and an invited colleague
    write; anyone else, a closed chat and a missing one are refused with the error own_chat gives, nothing
    stored; a redelivered reply is the stored one, even once the chat closed."""
    import peewee

    from core.db import is_sqlite
    from models import ChatMessage, ChatParticipant
    from support.contracts import ChatClosed, ChatNotFound, NotAllowed

    anna = await online(support, MANAGER_ID, "Анна")
    boris = await online(support, SECOND_MANAGER_ID, "Борис")
    relay, lifecycle = support.service.relay, support.service.lifecycle
    chat = await handed_over(support)
    await lifecycle.accept(chat.id, anna)

    stored = await relay.manager_reply(anna, chat.id, "Здравствуйте", telegram_message_id=501)
    assert (stored.session_id, stored.support_chat_id, stored.manager_id) == (chat.session_id, chat.id, anna.id)
    # Read back for the fan-out (support.notify): on PostgreSQL the session's row before it, set by the trigger.
    assert "previous_event_id" in stored.__data__
    if not is_sqlite(support.service.store.db):
        before = await ChatMessage.select(peewee.fn.MAX(ChatMessage.id)).where(
            (ChatMessage.session == chat.session_id) & (ChatMessage.id < stored.id)).aio_scalar()
        assert stored.previous_event_id == before
    answered = await SupportChat.aio_get(SupportChat.id == chat.id)
    assert answered.first_response_at is not None and answered.last_activity_at is not None

    with pytest.raises(NotAllowed):
        await relay.manager_reply(boris, chat.id, "Я не отсюда", telegram_message_id=601)
    await ChatParticipant.aio_create(support_chat=chat.id, manager=boris.id)
    joined = await relay.manager_reply(boris, chat.id, "Я помогу", telegram_message_id=602)
    assert joined.session_id == chat.session_id

    with pytest.raises(ChatNotFound):
        await relay.manager_reply(anna, chat.id + 1000, "Кому?", telegram_message_id=502)
    await lifecycle.close(anna, chat.id)
    assert (await relay.manager_reply(anna, chat.id, "Здравствуйте", telegram_message_id=501)).id == stored.id
    with pytest.raises(ChatClosed):
        await relay.manager_reply(anna, chat.id, "Ещё одно", telegram_message_id=503)
    texts = [m.text for m in await ChatMessage.select().where(ChatMessage.sender == "manager").aio_execute()]
    assert sorted(texts) == ["Здравствуйте", "Я помогу"]
