"""The offline knowledge consultant on the shipped sample base, hand-off detection, knowledge loading."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ai import (
    HANDOFF_BUTTON_EN,
    HANDOFF_BUTTON_RU,
    AIAnswer,
    AISettings,
    AnswerStream,
    Consultant,
    HandoffAdvisor,
    KnowledgeConsultant,
    Turn,
    build_consultant,
    texts,
    wants_human,
)
from ai.excerpt import decide, is_yes_no, split_passages
from ai.knowledge import KnowledgeBase, load_entries, parse_markdown, strip_greeting

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"

# Worded unlike the headings, in other word forms; the expected entry is the heading.
PARAPHRASES = [
    ("какие бумаги нужны чтобы устроиться", "Какие документы нужны"),
    ("сколько берёте процентов", "Комиссия парка"),
    ("можно ли взять машину в аренду", "Аренда автомобиля"),
    ("как часто платите", "Как часто выплаты"),
    ("я самозанятый, подойдет?", "Самозанятость"),
    ("что надо для подключения к вашему парку", "Как подключиться к парку"),
    ("хочу устроиться водителем, какие шаги", "Как подключиться к парку"),
    ("какой пакет документов требуется", "Какие документы нужны"),
    ("какой минимальный возраст для водителя", "Требования к водителю"),
    ("возьмете без стажа?", "Требования к водителю"),
    ("сколько лет стажа нужно", "Требования к водителю"),
    ("я из Казахстана, мои права подойдут?", "Водителям с иностранными правами"),
    ("работаете с водителями из Таджикистана?", "Водителям с иностранными правами"),
    ("как долго ждать подключения", "Сколько времени занимает подключение"),
    ("через сколько можно выйти на линию", "Сколько времени занимает подключение"),
    ("сколько процентов забирает таксопарк", "Комиссия парка"),
    ("выплаты каждый день или раз в неделю?", "Как часто выплаты"),
    ("деньги выводятся сразу?", "Как часто выплаты"),
    ("какой доход в месяц у водителя", "Сколько можно заработать"),
    ("сколько реально зарабатывать в такси", "Сколько можно заработать"),
    ("как работает НПД", "Самозанятость"),
    ("можно работать без самозанятости", "Самозанятость"),
    ("что даете за приглашение друга", "Бонус за приглашённого друга"),
    ("подходит ли моя машина для работы в такси", "Требования к своему автомобилю"),
    ("хочу работать на личном авто", "Требования к своему автомобилю"),
    ("подойдет ли kia rio 2015 года", "Требования к своему автомобилю"),
    ("сколько стоит арендовать автомобиль", "Аренда автомобиля"),
    ("у меня нет машины, что делать", "Аренда автомобиля"),
    ("нужно ли вносить депозит за машину", "Залог и условия аренды"),
    ("минимальный срок аренды", "Залог и условия аренды"),
    ("машина в рассрочку или выкуп есть?", "Аренда с выкупом"),
    ("нужна ли оклейка на моей машине", "Брендирование автомобиля"),
    ("как оформить разрешение на такси", "Разрешение на такси"),
    ("можно совмещать с основной работой?", "График работы"),
    ("есть ли ночные смены", "График работы"),
    ("работаете с Яндекс Такси?", "С какими агрегаторами работаем"),
    ("есть ли DiDi", "С какими агрегаторами работаем"),
    ("надо ли покупать ОСАГО самому", "Страховка и ОСАГО"),
    ("кто оплачивает страховку", "Страховка и ОСАГО"),
    ("нужно ли проходить медкомиссию перед выходом на линию", "Медосмотр перед сменой"),
    ("где взять путевой лист", "Техосмотр и путевой лист"),
    ("где получить путевку", "Техосмотр и путевой лист"),
    ("что делать если разбил машину", "Что делать при ДТП"),
    ("если мне придет штраф, кто платит", "Штрафы"),
    ("где вы находитесь", "Контакты: адрес офиса и телефон"),
    ("как с вами связаться по телефону", "Контакты: адрес офиса и телефон"),
    ("поддержка работает ночью?", "Служба поддержки"),
    ("do you work with uber", "С какими агрегаторами работаем"),
    ("is there a deposit for the rental car", "Залог и условия аренды"),
    ("Добрый день! Сколько стоит аренда?", "Аренда автомобиля"),
]

OFF_TOPIC = [
    "какая погода в Париже",
    "рецепт борща",
    "как испечь торт",
    "кто президент США",
    "расскажи анекдот",
    "посоветуй книгу",
    "как выучить английский язык",
    "сколько стоит билет в кино",
    "какой фильм посмотреть вечером",
    "сколько калорий в банане",
    "where is the Eiffel tower",
]

ASKS_FOR_HUMAN = [
    "позовите оператора",
    "хочу поговорить с человеком",
    "живой менеджер",
    "соедините с сотрудником",
    "can I talk to a human",
    "Оператор!",
    "дайте живого человека пожалуйста",
    "переключите на менеджера",
    "можно с менеджером связаться?",
    "мне нужен оператор",
    "хочу общаться с живым человеком, а не с ботом",
    "не хочу с ботом, дайте специалиста",
    "👤 Связаться с живым менеджером",
    "connect me to an operator",
    "I want to speak with a real person",
    "live agent please",
    "напишите менеджеру",
    "дайте поговорить с живым",
    "позовите кого-нибудь живого",
    "менеджера позовите",
    "надоел бот",
    "I need a human",
]

ORDINARY = [
    "сколько стоит аренда",
    "какие документы нужны",
    "сколько человек работает в вашем парке",
    "менеджер сказал, что залог можно внести частями",
    "можно ли работать без опыта",
    "какая комиссия у парка",
    "how much is the rent",
    "привет",
    "я сам себе менеджер, работаю по свободному графику",
    "менеджер перезвонит?",
    "хочу работать водителем",
    "можно ли поговорить о зарплате",
    "how many people work at the fleet",
    "I want to become a driver",
    "с живым интересом читаю ваши условия",
]


@pytest.fixture(scope="module")
def consultant() -> KnowledgeConsultant:
    return KnowledgeConsultant(KNOWLEDGE)


@pytest.mark.parametrize(("question", "topic"), PARAPHRASES)
async def test_paraphrased_question_gets_its_entry(consultant: KnowledgeConsultant, question: str, topic: str) -> None:
    answer = await consultant.answer(question, [])
    assert answer.confident, f"{question!r}: not confident, {consultant.retrieve(question)}"
    assert answer.topics == (topic,), f"{question!r}: {consultant.retrieve(question)}"
    # The whole entry is behind «Подробнее» unless the answering sentences are all of it.
    assert answer.more == "" or (answer.more.startswith("**") and len(answer.text) < len(answer.more))


def test_enough_paraphrases_cover_the_sample_base() -> None:
    assert len(PARAPHRASES) >= 25
    assert len({topic for _, topic in PARAPHRASES}) >= 20


@pytest.mark.parametrize("question", OFF_TOPIC)
async def test_off_topic_question_is_an_honest_not_sure(consultant: KnowledgeConsultant, question: str) -> None:
    answer = await consultant.answer(question, [])
    assert not answer.confident, consultant.retrieve(question)
    assert answer.topics == ()
    # In the question's language: "where is the Eiffel tower" gets English even in a Russian widget.
    english = question.isascii()
    assert (HANDOFF_BUTTON_EN if english else HANDOFF_BUTTON_RU) in answer.text
    assert ("not sure" if english else "не уверен") in answer.text


async def test_not_sure_follows_the_locale_when_the_question_has_no_words(consultant: KnowledgeConsultant) -> None:
    answer = await consultant.answer("???", [], locale="en")
    assert not answer.confident
    assert HANDOFF_BUTTON_EN in answer.text
    assert "not sure" in answer.text


async def test_not_sure_suggests_close_topics_when_there_are_some(consultant: KnowledgeConsultant) -> None:
    answer = await consultant.answer("сколько стоит билет в кино", [])
    assert not answer.confident
    assert "Возможно, вас интересует" in answer.text


@pytest.mark.parametrize("greeting", ["привет", "Здравствуйте!", "добрый день", "Привет, бот!"])
async def test_greeting_gets_a_friendly_confident_reply(consultant: KnowledgeConsultant, greeting: str) -> None:
    answer = await consultant.answer(greeting, [])
    assert answer.confident
    assert answer.topics == ()
    assert "ILPO-TAXI" in answer.text
    assert "документы" in answer.text  # says what it can help with


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_greeting_in_english_for_an_english_greeting(consultant: KnowledgeConsultant, locale: str) -> None:
    for greeting in ("hi", "Hello there"):
        answer = await consultant.answer(greeting, [], locale=locale)
        assert answer.confident
        assert answer.text.startswith("Hello")


async def test_greeting_followed_by_a_question_answers_the_question(consultant: KnowledgeConsultant) -> None:
    answer = await consultant.answer("Привет! Какие документы нужны?", [])
    assert answer.topics == ("Какие документы нужны",)


async def test_thanks_gets_a_polite_reply(consultant: KnowledgeConsultant) -> None:
    answer = await consultant.answer("спасибо большое!", [])
    assert answer.confident
    assert answer.text.startswith("Пожалуйста")


async def test_follow_up_takes_its_subject_from_the_previous_question(consultant: KnowledgeConsultant) -> None:
    history = [
        Turn("user", "у меня нет своей машины"),
        Turn("assistant", "**Аренда автомобиля**\n\n..."),
    ]
    answer = await consultant.answer("а залог какой?", history)
    assert answer.topics == ("Залог и условия аренды",)
    answer = await consultant.answer("а сколько стоит?", history)
    assert answer.topics == ("Аренда автомобиля",)


async def test_previous_question_never_makes_an_off_topic_one_confident(consultant: KnowledgeConsultant) -> None:
    history = [Turn("user", "сколько стоит аренда"), Turn("assistant", "...")]
    answer = await consultant.answer("какая погода в Париже", history)
    assert not answer.confident


async def test_stream_yields_the_whole_answer_as_one_piece(consultant: KnowledgeConsultant) -> None:
    stream = consultant.stream("как часто платите", [])
    assert isinstance(stream, AnswerStream)
    pieces = [piece async for piece in stream]
    answer = await consultant.answer("как часто платите", [])
    assert pieces == [answer.text]
    assert stream.result == answer


async def test_summary_names_the_latest_question_and_topics(consultant: KnowledgeConsultant) -> None:
    history = [
        Turn("user", "привет"),
        Turn("assistant", "Здравствуйте!"),
        Turn("user", "можно ли взять машину в аренду"),
        Turn("assistant", "..."),
        Turn("user", "какой залог?"),
    ]
    summary = await consultant.summarize(history)
    assert summary is not None
    lines = summary.splitlines()
    assert len(lines) == 2
    assert "какой залог?" in lines[0]
    assert "Аренда автомобиля" in lines[1] and "Залог и условия аренды" in lines[1]
    assert await consultant.summarize([]) is None
    assert await consultant.summarize([Turn("assistant", "Здравствуйте!")]) is None
    english = await consultant.summarize(history, locale="en")
    assert english is not None and english.startswith("Visitor asks")


@pytest.mark.parametrize("text", ASKS_FOR_HUMAN)
def test_wants_human(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_question_does_not_want_human(text: str) -> None:
    assert not wants_human(text)


def test_handoff_advisor() -> None:
    advisor = HandoffAdvisor()
    assert advisor.should_offer([True], "позовите оператора")
    assert advisor.advise([True], "позовите оператора").reason == "asked"
    assert not advisor.should_offer([False], "рецепт борща")
    assert advisor.should_offer([True, False, False], "рецепт борща")
    assert advisor.advise([False, False], "").reason == "not_answered"
    assert not advisor.should_offer([False, True], "")
    assert not advisor.should_offer([False, False, True], "сколько стоит аренда")
    assert not advisor.should_offer([], "")
    assert HandoffAdvisor(misses_in_a_row=1).should_offer([False], "")
    assert HandoffAdvisor().should_offer([False, False], "")
    with pytest.raises(ValueError):
        HandoffAdvisor(misses_in_a_row=0)


def test_sample_base_is_marked_and_sized() -> None:
    files = sorted(KNOWLEDGE.glob("*.md"))
    assert files
    for file in files:
        preface = file.read_text(encoding="utf-8").split("\n## ", 1)[0]
        assert "SAMPLE" in preface and "ОБРАЗЕЦ" in preface, file
    entries = load_entries(KNOWLEDGE)
    assert 15 <= len(entries) <= 25
    assert len({e.topic for e in entries}) == len(entries)
    for entry in entries:
        assert "<!--" not in entry.body
        # support/markdown.py renders CommonMark without tables: a table would reach visitors as pipes.
        assert not any(line.lstrip().startswith("|") for line in entry.body.splitlines()), entry.topic
        assert len(entry.body.splitlines()) >= 2, entry.topic


def test_parse_markdown_entries() -> None:
    text = """# Title

> preface that is not an entry

## First topic ##
Line one.
<!-- keywords: hidden words -->

```
## not a heading inside code
```

## Empty

## Second
Body **two**.
### Subsection stays in the body
more
"""
    entries = parse_markdown(text, Path("x.md"))
    assert [e.topic for e in entries] == ["First topic", "Second"]
    assert "hidden" not in entries[0].body
    assert "hidden words" in entries[0].search_text
    assert "## not a heading inside code" in entries[0].body
    assert "### Subsection stays in the body" in entries[1].body


def test_hidden_keywords_are_searchable(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "## Парковка\nСтавьте машину во дворе.\n<!-- ключевые слова: стоянка -->\n\n## Мойка\nМойка бесплатно.\n",
        encoding="utf-8",
    )
    consultant = KnowledgeConsultant(tmp_path)
    answer = consultant.consult("где стоянка")
    assert answer.topics == ("Парковка",)
    assert "стоянка" not in answer.text


def test_reloads_when_a_file_changes(tmp_path: Path) -> None:
    file = tmp_path / "faq.md"
    file.write_text("## Мойка\nМойка машин бесплатно для водителей парка.\n", encoding="utf-8")
    consultant = KnowledgeConsultant(tmp_path, check_interval=0)
    assert consultant.consult("где помыть машину").confident is False
    assert consultant.consult("мойка").topics == ("Мойка",)

    file.write_text("## Мойка\nМойка машин бесплатно.\n\n## Шиномонтаж\nШиномонтаж за счёт парка.\n", encoding="utf-8")
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # coarse-mtime filesystems
    assert consultant.consult("шиномонтаж").topics == ("Шиномонтаж",)

    (tmp_path / "more.md").write_text("## Парковка\nСтавьте машину во дворе офиса.\n", encoding="utf-8")
    assert consultant.consult("где парковка").topics == ("Парковка",)


def test_check_interval_avoids_restat_on_every_question(tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text("## Мойка\nМойка бесплатно.\n", encoding="utf-8")
    base = KnowledgeBase(tmp_path, check_interval=3600)
    (tmp_path / "more.md").write_text("## Парковка\nВо дворе.\n", encoding="utf-8")
    assert [e.topic for e in base.index.entries] == ["Мойка"]


async def test_missing_knowledge_directory_answers_not_sure(tmp_path: Path) -> None:
    consultant = KnowledgeConsultant(tmp_path / "nowhere")
    answer = await consultant.answer("сколько стоит аренда", [])
    assert answer == AIAnswer(text=answer.text, confident=False, topics=())
    assert (await consultant.answer("привет", [])).confident


def test_strip_greeting() -> None:
    assert strip_greeting("Добрый день! Привет, какие документы?") == "какие документы?"
    assert strip_greeting("hello, how much") == "how much"
    assert strip_greeting("приветливый менеджер") == "приветливый менеджер"
    assert strip_greeting("добрый водитель") == "добрый водитель"


def test_build_consultant() -> None:
    consultant = build_consultant(AISettings(knowledge_path=KNOWLEDGE))
    assert isinstance(consultant, KnowledgeConsultant)
    assert isinstance(consultant, Consultant)
    assert consultant.threshold == AISettings().threshold
    with pytest.raises(ValueError, match="base_url"):
        build_consultant(AISettings(backend="openai", knowledge_path=KNOWLEDGE))


# ---- short answers, yes/no leads, «Подробнее», English (issue 9) ----

YES_NO = [
    ("Нужна ли своя машина?", "Нет, можно взять в аренду"),
    ("Мне 19 лет, возьмёте?", "Нет, **с 21 года**"),
    ("Мне 25 лет, возьмёте?", "Да, **с 21 года**"),
    ("стаж 2 года, возьмёте?", "Нет, водительский стаж нужен **от 3 лет**"),
    ("без опыта работы в такси можно?", "Да, опыт работы в такси **не обязателен**"),
    ("есть ли абонентская плата", "Нет, комиссия парка"),
    ("можно работать без самозанятости", "Нет, без статуса самозанятого или ИП"),
    ("обязательно быть самозанятым?", "Да, без статуса самозанятого или ИП"),
    ("нужна ли медицинская справка", "Нет, медицинская справка при подключении не нужна"),
    ("поддержка работает ночью?", "Да, поддержка водителей работает **круглосуточно"),
    ("у меня солярис 2014 года, подойдет?", "Да, "),
    ("работаете с Яндекс Такси?", "Да, мы официальный партнёр"),
]


@pytest.mark.parametrize(("question", "start"), YES_NO)
async def test_yes_no_question_leads_with_yes_or_no(consultant: KnowledgeConsultant, question: str, start: str) -> None:
    answer = await consultant.answer(question, [])
    assert answer.confident
    assert answer.text.startswith(start), answer.text


async def test_no_lead_when_the_entry_hedges_or_the_question_is_open(consultant: KnowledgeConsultant) -> None:
    hedged = await consultant.answer("нужна ли справка о несудимости", [])
    assert hedged.topics == ("Какие документы нужны",)
    assert hedged.text.startswith("Справка о несудимости запрашивается только")
    for question in ("с какого возраста берёте водителей", "выплаты каждый день или раз в неделю?"):
        answer = await consultant.answer(question, [])
        assert not answer.text.startswith(("Да,", "Нет,")), answer.text


SHORT = [
    ("с какого возраста берёте водителей", "21 года", "Смартфон"),
    ("сколько стоит аренда", "1 900 ₽", "Техническое обслуживание"),
    ("какой залог за машину", "15 000 ₽", "выезд за пределы региона"),
    ("где находится ваш офис", "ул. Примерная", "Почта"),
    ("сколько часов в день можно работать", "12 часов", "6/1"),
    ("какой налог у самозанятого", "4%", "ИП"),
]


@pytest.mark.parametrize(("question", "fact", "elsewhere"), SHORT)
async def test_short_answer_is_the_sentences_that_answer(
    consultant: KnowledgeConsultant, question: str, fact: str, elsewhere: str
) -> None:
    answer = await consultant.answer(question, [])
    assert fact in answer.text
    assert elsewhere not in answer.text  # the rest of the entry waits behind «Подробнее»
    assert elsewhere in answer.more
    assert len(answer.text) <= 400
    assert not answer.text.startswith(f"**{answer.topics[0]}**")  # no heading: straight to the answer


async def test_more_is_the_whole_entry_and_whole_entry_mode_is_kept(consultant: KnowledgeConsultant) -> None:
    answer = await consultant.answer("сколько стоит аренда", [])
    entry = next(e for e in load_entries(KNOWLEDGE) if e.topic == "Аренда автомобиля")
    assert answer.more == f"**{entry.topic}**\n\n{entry.body}"
    assert consultant.entry("Аренда автомобиля") == answer.more
    assert consultant.entry("Нет такой темы") is None
    whole = KnowledgeConsultant(KNOWLEDGE, short_answers=False).consult("сколько стоит аренда")
    assert whole.text == answer.more and whole.more == ""


def test_a_one_sentence_entry_needs_no_more(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("## Мойка\nМойка машин для водителей парка бесплатна.\n", encoding="utf-8")
    answer = KnowledgeConsultant(tmp_path).consult("мойка для водителей есть?")
    assert answer.text == "Да, мойка машин для водителей парка бесплатна."
    assert answer.more == ""


def test_passages_keep_lists_with_their_lead_in() -> None:
    body = (
        "Первое предложение. Второе, в г. Москва.\n\nНужны:\n\n- паспорт;\n- права.\n"
        "- Отдельный пункт. И ещё одно.\n\n1. Шаг один.\n2. Шаг два.\n"
    )
    passages = split_passages(body)
    assert [p.markdown for p in passages] == [
        "Первое предложение.", "Второе, в г. Москва.", "Нужны:\n\n- паспорт;\n- права.",
        "Отдельный пункт.", "И ещё одно.", "1. Шаг один.\n2. Шаг два.",
    ]
    assert passages[2].clauses == ("Нужны:", "паспорт;", "права.")


def test_yes_no_detection_and_decision() -> None:
    assert is_yes_no("Нужна ли своя машина?") and is_yes_no("Мне 19 лет, возьмёте?") and is_yes_no("Do I need a car?")
    assert not is_yes_no("сколько стоит аренда?") and not is_yes_no("каждый день или раз в неделю?")
    assert not is_yes_no("what documents do I need")
    assert decide("мне 19 лет", "С 21 года.") is False and decide("мне 30 лет", "С 21 года.") is True
    assert decide("нужна ли машина", "Машина не обязательна.") is False
    assert decide("без опыта можно?", "Опыт не обязателен.") is True
    assert decide("нужна ли справка", "Справка нужна только для некоторых тарифов.") is None
    assert decide("у меня машина 2015 года", "Без ограничений.") is None  # a number nothing bounds


async def test_english_question_gets_the_english_entry(consultant: KnowledgeConsultant) -> None:
    for locale in ("ru", "en"):
        answer = await consultant.answer("Do I need my own car?", [], locale=locale)
        assert answer.text.startswith("No, you can rent one of the fleet's cars"), answer.text
        assert answer.topics == ("Требования к своему автомобилю",)
        assert answer.more.startswith("**Requirements for your own car**")
    rent = await consultant.answer("how much is the car rental", [])
    assert "1,900 ₽" in rent.text and not _has_cyrillic(rent.text)
    age = await consultant.answer("I am 19 years old, can I join?", [])
    assert age.text.startswith("No, **from 21 years old**")


async def test_english_question_without_english_text_gets_a_note_and_the_manager(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("## Залог\nЗалог — 15 000 ₽. Его возвращают через 14 дней.\n", encoding="utf-8")
    consultant = KnowledgeConsultant(tmp_path)
    answer = await consultant.answer("is there a deposit?", [])
    assert answer.confident
    note, _, russian = answer.text.partition("\n\n")
    assert "only available in Russian" in note and HANDOFF_BUTTON_EN in note
    assert russian.startswith("Да, залог — 15 000 ₽.")  # the Russian text leads in Russian
    shipped = KnowledgeConsultant(KNOWLEDGE)
    fines = await shipped.answer("who pays the fines", [])
    assert fines.topics == ("Штрафы",) and "only available in Russian" in fines.text


async def test_russian_question_in_an_english_widget_gets_russian(consultant: KnowledgeConsultant) -> None:
    answer = await consultant.answer("сколько стоит аренда", [], locale="en")
    assert "1 900 ₽" in answer.text and "only available" not in answer.text


def test_the_consultant_has_one_name_everywhere() -> None:
    root = KNOWLEDGE.parent
    offenders = []
    for folder in ("ai", "support", "widget", "bot", "knowledge", "sandbox"):
        for file in (root / folder).rglob("*"):
            if file.suffix in {".py", ".js", ".html", ".md", ".css"} and file.is_file():
                text = file.read_text(encoding="utf-8", errors="replace")
                if re.search(r"\b(AI|АИ|ИИ)[ -]консультант|AI-консультант", text.replace("ИИ-консультант", "")):
                    offenders.append(str(file.relative_to(root)))
    assert offenders == []
    assert "ИИ-консультант" in texts.greeting("ru")


def _has_cyrillic(text: str) -> bool:
    return re.search("[а-яё]", text, re.IGNORECASE) is not None


async def test_the_widget_event_carries_the_whole_entry_behind_more(consultant: KnowledgeConsultant) -> None:
    import datetime
    import json

    from models import ChatMessage, Sender
    from support.events import message_event

    answer = await consultant.answer("Нужна ли своя машина?", [])
    message = ChatMessage(id=7, sender=Sender.AI, text=answer.text, created_at=datetime.datetime(2025, 1, 1),
                          meta=json.dumps({"confident": True, "topics": list(answer.topics), "more": answer.more}))
    event = message_event(message)
    assert event["html"].startswith("<p>Нет, можно взять в аренду")
    assert "<strong>Требования к своему автомобилю</strong>" in event["more_html"]
    assert "Эконом" in event["more_html"] and "Эконом" not in event["html"]
    from widget.pages import source_text

    widget_js = source_text("widget.js")
    assert "more: 'Подробнее'" in widget_js and "ev.more_html" in widget_js
