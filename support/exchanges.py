"""The visitor's last exchanges with the AI (question → answer), for the manager's new-chat notification."""

from __future__ import annotations

from collections.abc import Iterable

from models import ChatMessage, Sender
from support.contracts import Exchange

# Rows read per exchange wanted: a question may come in several messages before the AI answers.
_ROWS_PER_EXCHANGE = 4


def pair_exchanges(turns: Iterable[tuple[str, str]], count: int) -> tuple[Exchange, ...]:
    """(sender, text) in order → the last `count` exchanges; a visitor's messages in a row are one question."""
    exchanges: list[Exchange] = []
    question: list[str] = []
    for sender, text in turns:
        if sender == Sender.USER:
            question.append(text)
        elif sender == Sender.AI:
            exchanges.append(Exchange("\n".join(question) or None, text))
            question = []
    if question:  # asked last and never answered by the AI (the handoff came first)
        exchanges.append(Exchange("\n".join(question), None))
    return tuple(exchanges[-count:]) if count > 0 else ()


async def recent_exchanges(support_chat_id: int, count: int) -> tuple[Exchange, ...]:
    rows = await ChatMessage.select(ChatMessage.sender, ChatMessage.text).where(
        (ChatMessage.support_chat == support_chat_id) & ChatMessage.sender.in_((Sender.USER, Sender.AI))
    ).order_by(ChatMessage.id.desc()).limit(count * _ROWS_PER_EXCHANGE).aio_execute()
    turns = [(row.sender, row.text) for row in reversed(rows)]
    # The oldest rows read may be the tail of an answered question: start at the first question.
    while turns and turns[0][0] == Sender.AI and len(turns) == count * _ROWS_PER_EXCHANGE:
        turns.pop(0)
    return pair_exchanges(turns, count)
