"""Visitor-facing texts of the consultant; the words live in the catalogs (locales/), keyed by the Russian."""

from __future__ import annotations

from collections.abc import Sequence

from core.i18n import N_, language, translate

# The widget shows a button with exactly this caption; the texts point the visitor at it.
HANDOFF_BUTTON = N_("👤 Связаться с живым менеджером")
HANDOFF_BUTTON_RU = translate("ru", HANDOFF_BUTTON)
HANDOFF_BUTTON_EN = translate("en", HANDOFF_BUTTON)


def is_english(locale: str) -> bool:
    return language(locale) == "en"


def handoff_button(locale: str) -> str:
    return translate(locale, HANDOFF_BUTTON)


def greeting(locale: str) -> str:
    return translate(
        locale,
        N_("Здравствуйте! 👋 Я ИИ-консультант таксопарка **ILPO-TAXI**. Помогу разобраться, "
           "как начать работать водителем:\n\n"
           "- какие нужны документы и требования к водителю;\n"
           "- работа на своём автомобиле или аренда машины парка;\n"
           "- комиссия парка, выплаты и самозанятость;\n"
           "- график, агрегаторы, медосмотр и путевой лист.\n\n"
           "Задайте вопрос — или нажмите **«{button}»**, если хотите поговорить с человеком."),
        button=handoff_button(locale),
    )


def thanks(locale: str) -> str:
    return translate(locale, N_("Пожалуйста! Если появятся ещё вопросы — пишите сюда. 🚕"))


def not_sure(locale: str, suggestions: Sequence[str] = ()) -> str:
    text = translate(
        locale,
        N_("Извините, я не уверен, что правильно понял вопрос, и не хочу ввести вас в заблуждение. 🤔\n\n"
           "Попробуйте переформулировать или нажмите **«{button}»** — менеджер ответит здесь же, в чате."),
        button=handoff_button(locale),
    )
    if suggestions:
        heading = translate(locale, N_("Возможно, вас интересует:"))
        text += f"\n\n{heading}\n" + "\n".join(f"- {topic}" for topic in suggestions)
    return text


def russian_only_note() -> str:
    """Put before a Russian answer to an English question: the entry has no English text yet."""
    return translate(
        "en",
        N_("Этот ответ пока есть только на русском — вот он ниже. Для помощи на английском нажмите "
           "**«{button}»**, и менеджер ответит в этом чате."),
        button=HANDOFF_BUTTON_EN,
    )


def extractive_summary(locale: str, latest_question: str, topics: Sequence[str]) -> str:
    question = " ".join(latest_question.split())
    if len(question) > 200:
        question = question[:199].rstrip() + "…"
    found = ", ".join(topics) if topics else translate(locale, N_("не определены"))
    return translate(locale, N_("Посетитель спрашивает: «{question}»\nТемы: {topics}"), question=question,
                     topics=found)
