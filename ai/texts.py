"""Visitor-facing texts: Russian first, English when the visitor's locale is "en"."""

from __future__ import annotations

from collections.abc import Sequence

# The widget shows a button with exactly this caption; the texts point the visitor at it.
HANDOFF_BUTTON_RU = "👤 Связаться с живым менеджером"
HANDOFF_BUTTON_EN = "👤 Contact a live manager"


def is_english(locale: str) -> bool:
    return locale.lower().replace("_", "-").split("-")[0] == "en"


def handoff_button(locale: str) -> str:
    return HANDOFF_BUTTON_EN if is_english(locale) else HANDOFF_BUTTON_RU


def greeting(locale: str) -> str:
    if is_english(locale):
        return (
            "Hello! 👋 I'm the AI consultant of the **ILPO-TAXI** taxi fleet. I can help you start "
            "driving with us:\n\n"
            "- documents and driver requirements;\n"
            "- working on your own car or renting one of ours;\n"
            "- the fleet's commission, payouts and self-employment;\n"
            "- schedule, aggregators, medical check and waybills.\n\n"
            f"Ask your question — or press **«{HANDOFF_BUTTON_EN}»** to talk to a person."
        )
    return (
        "Здравствуйте! 👋 Я ИИ-консультант таксопарка **ILPO-TAXI**. Помогу разобраться, "
        "как начать работать водителем:\n\n"
        "- какие нужны документы и требования к водителю;\n"
        "- работа на своём автомобиле или аренда машины парка;\n"
        "- комиссия парка, выплаты и самозанятость;\n"
        "- график, агрегаторы, медосмотр и путевой лист.\n\n"
        f"Задайте вопрос — или нажмите **«{HANDOFF_BUTTON_RU}»**, если хотите поговорить с человеком."
    )


def thanks(locale: str) -> str:
    if is_english(locale):
        return "You're welcome! If you have more questions, just write here. 🚕"
    return "Пожалуйста! Если появятся ещё вопросы — пишите сюда. 🚕"


def not_sure(locale: str, suggestions: Sequence[str] = ()) -> str:
    if is_english(locale):
        text = (
            "Sorry, I'm not sure I understood the question correctly, and I'd rather not mislead you. 🤔\n\n"
            f"Try rephrasing it, or press **«{HANDOFF_BUTTON_EN}»** — a manager will reply right here."
        )
        heading = "Perhaps you are interested in:"
    else:
        text = (
            "Извините, я не уверен, что правильно понял вопрос, и не хочу ввести вас в заблуждение. 🤔\n\n"
            f"Попробуйте переформулировать или нажмите **«{HANDOFF_BUTTON_RU}»** — менеджер ответит "
            "здесь же, в чате."
        )
        heading = "Возможно, вас интересует:"
    if suggestions:
        text += f"\n\n{heading}\n" + "\n".join(f"- {topic}" for topic in suggestions)
    return text


def russian_only_note() -> str:
    """Put before a Russian answer to an English question: the entry has no English text yet."""
    return (
        "This answer is only available in Russian so far — here it is below. For help in English, press "
        f"**«{HANDOFF_BUTTON_EN}»** and a manager will reply in this chat."
    )


def extractive_summary(locale: str, latest_question: str, topics: Sequence[str]) -> str:
    question = " ".join(latest_question.split())
    if len(question) > 200:
        question = question[:199].rstrip() + "…"
    if is_english(locale):
        return f"Visitor asks: «{question}»\nTopics: {', '.join(topics) if topics else 'not determined'}"
    return f"Посетитель спрашивает: «{question}»\nТемы: {', '.join(topics) if topics else 'не определены'}"
