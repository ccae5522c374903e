"""The OpenAI-compatible backend against a local fake Chat Completions server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ai import AISettings, KnowledgeConsultant, OpenAIConsultant, Turn, build_consultant
from ai.openai_backend import NO_ANSWER
from tests.fakes import PIECES, FakeOpenAI

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
RENT_QUESTION = "можно ли взять машину в аренду"


@pytest.fixture
def knowledge() -> KnowledgeConsultant:
    return KnowledgeConsultant(KNOWLEDGE)


def make(base_url: str, knowledge: KnowledgeConsultant, timeout: float = 2.0) -> OpenAIConsultant:
    settings = AISettings(
        backend="openai",
        knowledge_path=KNOWLEDGE,
        base_url=base_url,
        model="test-model",
        api_key="test-key",
        timeout_seconds=timeout,
    )
    return OpenAIConsultant(settings, knowledge)


async def test_stream_yields_pieces_as_they_arrive(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    stream = make(url, knowledge).stream(RENT_QUESTION, [])
    first = await asyncio.wait_for(anext(stream), 3)
    assert first == PIECES[0]
    server.first_piece_taken.set()
    rest = [piece async for piece in stream]
    assert [first, *rest] == PIECES
    assert stream.result is not None
    assert stream.result.text == "".join(PIECES)
    assert stream.result.confident
    assert "Аренда автомобиля" in stream.result.topics


async def test_request_is_grounded_in_the_retrieved_entries(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    server.first_piece_taken.set()
    history = [Turn("user", "привет"), Turn("assistant", "Здравствуйте! Чем помочь?")]
    answer = await make(url, knowledge).answer(RENT_QUESTION, history)
    assert answer.text == "".join(PIECES)

    [body] = server.requests
    assert server.headers[0]["Authorization"] == "Bearer test-key"
    assert body["model"] == "test-model"
    assert body["stream"] is True
    messages = body["messages"]
    system = messages[0]
    assert system["role"] == "system"
    assert "ILPO-TAXI" in system["content"]
    assert NO_ANSWER in system["content"]
    rent = next(e for e in knowledge.knowledge.index.entries if e.topic == "Аренда автомобиля")
    assert "### Аренда автомобиля" in system["content"]
    assert rent.body in system["content"]
    assert "Бонус за приглашённого друга" not in system["content"]  # only what was retrieved
    assert messages[1:] == [
        {"role": "user", "content": "привет"},
        {"role": "assistant", "content": "Здравствуйте! Чем помочь?"},
        {"role": "user", "content": RENT_QUESTION},
    ]


async def test_question_already_in_history_is_not_sent_twice(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    server.first_piece_taken.set()
    await make(url, knowledge).answer(RENT_QUESTION, [Turn("user", RENT_QUESTION)])
    assert [m["role"] for m in server.requests[0]["messages"]] == ["system", "user"]


async def test_english_locale_gets_the_english_prompt(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    server.first_piece_taken.set()
    await make(url, knowledge).answer("how much is the car rental", [], locale="en")
    system = server.requests[0]["messages"][0]["content"]
    assert "answer in English" in system
    assert "### Аренда автомобиля" in system


@pytest.mark.parametrize("mode", ["500", "slow", "malformed"])
async def test_failure_before_any_piece_falls_back_to_the_knowledge_answer(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = fake_openai
    server.mode = mode
    consultant = make(url, knowledge, timeout=0.3)
    expected = await knowledge.answer(RENT_QUESTION, [])
    with caplog.at_level(logging.WARNING, logger="ai.openai_backend"):
        stream = consultant.stream(RENT_QUESTION, [])
        pieces = [piece async for piece in stream]
        answer = await consultant.answer(RENT_QUESTION, [])
    assert pieces == [expected.text]
    assert stream.result == expected
    assert answer == expected
    assert "answering from the knowledge base" in caplog.text
    assert "test-key" not in caplog.text


@pytest.mark.parametrize("mode", ["stall_midway", "malformed_midway"])
async def test_failure_midway_keeps_what_was_said(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = fake_openai
    server.mode = mode
    server.first_piece_taken.set()
    with caplog.at_level(logging.WARNING, logger="ai.openai_backend"):
        stream = make(url, knowledge, timeout=0.3).stream(RENT_QUESTION, [])
        pieces = [piece async for piece in stream]
    assert pieces == PIECES[:2]
    assert stream.result is not None
    assert stream.result.text == "".join(PIECES[:2])
    assert "mid-answer" in caplog.text


async def test_no_answer_marker_becomes_an_honest_not_sure(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    server.mode = "no_answer"
    answer = await make(url, knowledge).answer("какая погода в Париже", [])
    assert not answer.confident
    assert answer.topics == ()
    assert "NO_" not in answer.text
    assert "👤 Связаться с живым менеджером" in answer.text


async def test_non_streaming_reply_is_accepted(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    server.mode = "json"
    answer = await make(url, knowledge).answer(RENT_QUESTION, [])
    assert answer.text == "Целиком."
    assert answer.confident


async def test_greeting_needs_no_model_call(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    answer = await make(url, knowledge).answer("Здравствуйте!", [])
    assert answer.confident
    assert "ILPO-TAXI" in answer.text
    assert server.requests == []


async def test_abandoned_stream_closes_cleanly(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant
) -> None:
    server, url = fake_openai
    stream = make(url, knowledge).stream(RENT_QUESTION, [])
    assert await anext(stream) == PIECES[0]
    await stream.aclose()
    server.first_piece_taken.set()


async def test_summary_is_two_lines(fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant) -> None:
    server, url = fake_openai
    history = [Turn("user", RENT_QUESTION), Turn("assistant", "Да, от 1 900 ₽."), Turn("user", "а залог?")]
    summary = await make(url, knowledge).summarize(history)
    assert summary == "Хочет арендовать машину эконом-класса.\nСпрашивает про залог."
    body = server.requests[0]
    assert body["stream"] is False
    assert "а залог?" in body["messages"][1]["content"]
    assert await make(url, knowledge).summarize([]) is None


@pytest.mark.parametrize("mode", ["500", "slow"])
async def test_summary_is_none_on_failure(
    fake_openai: tuple[FakeOpenAI, str], knowledge: KnowledgeConsultant, mode: str
) -> None:
    server, url = fake_openai
    server.mode = mode
    assert await make(url, knowledge, timeout=0.3).summarize([Turn("user", RENT_QUESTION)]) is None


async def test_unreachable_endpoint_falls_back(knowledge: KnowledgeConsultant) -> None:
    consultant = make("http://127.0.0.1:9/v1", knowledge, timeout=0.5)
    answer = await consultant.answer(RENT_QUESTION, [])
    assert answer == await knowledge.answer(RENT_QUESTION, [])


def test_build_consultant_for_openai() -> None:
    settings = AISettings(
        backend="openai", knowledge_path=KNOWLEDGE, base_url="http://x/v1/chat/completions/", model="m"
    )
    consultant = build_consultant(settings)
    assert isinstance(consultant, OpenAIConsultant)
    assert consultant.url == "http://x/v1/chat/completions"
    assert build_consultant(AISettings(backend="openai", base_url="http://x/v1", model="m")).url == (  # type: ignore[union-attr]
        "http://x/v1/chat/completions"
    )
    with pytest.raises(ValueError, match="model"):
        build_consultant(AISettings(backend="openai", knowledge_path=KNOWLEDGE, base_url="http://x/v1"))
