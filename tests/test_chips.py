"""Quick-reply chips: the knowledge base's top questions when the widget opens, related questions after an AI
answer (kept in the stored message, so a reload shows them), and a chip's text answered like any message."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ai.knowledge import MAX_QUICK_REPLIES, KnowledgeConsultant, load_entries
from models import ChatMessage, Sender
from tests.clients import Visitor
from tests.conftest import Desk

BASE = """# Test base

## Как подключиться к парку
<!-- ключевые слова: стать водителем -->
<!-- chip -->
<!-- see also: Залог и условия аренды | Нет такой темы -->
Оставьте заявку в чате, пришлите документы — и через 30 минут можно выходить на линию.

### EN: How to join the fleet
Leave a request in the chat and send your documents: in 30 minutes you can take orders.

## Комиссия парка
<!-- chip: Какая комиссия у парка? -->
Комиссия парка — 3% от стоимости заказа.

### EN: The fleet's commission
<!-- chip: What commission does the fleet take? -->
The fleet takes 3% of the fare.

## Залог и условия аренды
Залог за автомобиль — 15 000 ₽, минимальный срок аренды — 7 дней.

## Штрафы
<!-- chip -->
Штрафы с камер оплачивает водитель, который был за рулём.
"""


@pytest.fixture
def consultant(tmp_path: Path) -> KnowledgeConsultant:
    (tmp_path / "base.md").write_text(BASE, encoding="utf-8")
    return KnowledgeConsultant(tmp_path)


def test_chip_and_see_also_marks_are_read_and_kept_out_of_text_and_search(tmp_path: Path) -> None:
    (tmp_path / "base.md").write_text(BASE, encoding="utf-8")
    join, commission, deposit, fines = load_entries(tmp_path)
    assert join.chip and join.chip_text == "" and join.see_also == ("Залог и условия аренды", "Нет такой темы")
    assert "chip" not in join.search_text and "see also" not in join.search_text
    assert "стать водителем" in join.search_text  # ordinary hidden comments stay search words
    assert (commission.chip_text, commission.en_chip_text) == ("Какая комиссия у парка?",
                                                               "What commission does the fleet take?")
    assert "chip" not in commission.en_body and not deposit.chip and fines.chip


def test_quick_replies_are_the_marked_entries_in_each_language(consultant: KnowledgeConsultant) -> None:
    assert consultant.quick_replies("ru") == ["Как подключиться к парку", "Какая комиссия у парка?", "Штрафы"]
    # An entry without English text is no chip for an English visitor: the answer would be in Russian.
    assert consultant.quick_replies("en") == ["How to join the fleet", "What commission does the fleet take?"]


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_each_chip_sent_as_a_question_is_answered_by_its_entry(consultant: KnowledgeConsultant, locale: str) -> None:
    topics = []
    for chip in consultant.quick_replies(locale):
        answer = consultant.consult(chip, (), locale)
        assert answer.confident, chip
        topics.append(answer.topics[0])
    expected = ["Как подключиться к парку", "Комиссия парка", "Штрафы"]
    assert topics == (expected if locale == "ru" else expected[:2])


def test_an_answer_offers_its_see_also_entries_in_the_answers_language(consultant: KnowledgeConsultant) -> None:
    answer = consultant.consult("Как подключиться к парку", ())
    assert answer.chips == ("Залог и условия аренды",)  # the missing one is skipped
    # In English only entries with English text are offered, worded in English.
    assert consultant.consult("How to join the fleet", (), "en").chips == ()
    # A miss offers nothing to click: the «not sure» answer already lists its suggestions.
    assert consultant.consult("Какая погода на Марсе?", ()).chips == ()


def test_a_see_also_naming_no_entry_is_reported_when_the_base_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "base.md").write_text(BASE, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ai.index"):
        KnowledgeConsultant(tmp_path)
    assert "Нет такой темы" in caplog.text


def test_the_shipped_base_has_top_questions_answered_in_both_languages() -> None:
    consultant = KnowledgeConsultant(Path(__file__).parent.parent / "knowledge")
    for locale in ("ru", "en"):
        chips = consultant.quick_replies(locale)
        assert 2 <= len(chips) <= MAX_QUICK_REPLIES
        for chip in chips:
            answer = consultant.consult(chip, (), locale)
            assert answer.confident and answer.chips, (locale, chip)
            assert all(related != chip for related in answer.chips)


# ---------------------------------------------------------------- over the widget API


async def test_start_and_state_carry_the_opening_chips_in_the_sessions_language(desk: Desk) -> None:
    consultant = desk.service.assistant.consultant
    for locale in ("ru", "en"):
        async with desk.http.post(f"{desk.base_url}/api/chat/start", json={"locale": locale}) as response:
            assert response.status == 201
            started = await response.json()
        assert started["chips"] == consultant.quick_replies(locale) and started["chips"]
        visitor = Visitor(desk.http, desk.base_url, started["session_id"], started["token"])
        assert (await visitor.state())["chips"] == started["chips"]
    assert consultant.quick_replies("en") != consultant.quick_replies("ru")
    assert "Как подключиться к парку" in consultant.quick_replies("ru")


async def test_a_chip_sent_is_stored_answered_and_the_answer_carries_related_chips(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start(locale="ru")
    chip = (await visitor.state())["chips"][0]
    sent = await visitor.send(chip, client_message_id="chip-1")
    assert sent["type"] == "user_message" and sent["client_message_id"] == "chip-1"
    stored = await ChatMessage.aio_get(ChatMessage.id == sent["id"])
    assert (stored.sender, stored.text) == (Sender.USER, chip)

    answer = await visitor.wait_for(lambda e: e["type"] == "ai_message")
    row = await ChatMessage.aio_get(ChatMessage.id == answer["id"])
    assert json.loads(row.meta)["topics"] == [chip]
    assert answer["chips"] and len(answer["chips"]) <= 3 and chip not in answer["chips"]
    assert json.loads(row.meta)["chips"] == answer["chips"]

    # A reload replays the stored events: the chips come with the same message again.
    replayed = await Visitor(desk.http, desk.base_url, visitor.session_id, visitor.token).poll(after=0)
    assert [e.get("chips") for e in replayed if e["id"] == answer["id"]] == [answer["chips"]]

    # A related chip is answered in turn, by the entry it names.
    await visitor.send(answer["chips"][0])
    second = await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > answer["id"])
    row = await ChatMessage.aio_get(ChatMessage.id == second["id"])
    assert json.loads(row.meta)["confident"] is True


async def test_an_english_visitor_gets_english_related_chips(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start(locale="en")
    chip = (await visitor.state())["chips"][0]
    await visitor.send(chip)
    answer = await visitor.wait_for(lambda e: e["type"] == "ai_message")
    assert answer["chips"]
    assert all(text.isascii() for text in answer["chips"]), answer["chips"]
