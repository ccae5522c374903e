"""AI consultant for the ILPO-TAXI support widget.

Answers people who want to drive for the fleet, from a Markdown knowledge base (offline BM25,
the default) or through an OpenAI-compatible model grounded in that base, and tells the chat
service when to offer a live manager.
"""

from ai.base import DEFAULT_THRESHOLD, AIAnswer, AISettings, AnswerStream, Consultant, Turn
from ai.factory import build_consultant
from ai.handoff import HandoffAdvice, HandoffAdvisor, wants_human
from ai.knowledge import KnowledgeBase, KnowledgeConsultant, KnowledgeIndex, Match
from ai.openai_backend import OpenAIConsultant
from ai.texts import HANDOFF_BUTTON_EN, HANDOFF_BUTTON_RU

__all__ = [
    "DEFAULT_THRESHOLD",
    "HANDOFF_BUTTON_EN",
    "HANDOFF_BUTTON_RU",
    "AIAnswer",
    "AISettings",
    "AnswerStream",
    "Consultant",
    "HandoffAdvice",
    "HandoffAdvisor",
    "KnowledgeBase",
    "KnowledgeConsultant",
    "KnowledgeIndex",
    "Match",
    "OpenAIConsultant",
    "Turn",
    "build_consultant",
    "wants_human",
]
