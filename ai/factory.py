"""Building the configured consultant."""

from __future__ import annotations

from ai.base import AISettings, Consultant
from ai.knowledge import KnowledgeConsultant
from ai.openai_backend import OpenAIConsultant


def build_consultant(settings: AISettings) -> Consultant:
    """The consultant for `settings.backend`.

    The knowledge consultant is always built: it is the openai backend's grounding source and
    its fallback whenever the endpoint misbehaves. Raises ValueError on an unusable config,
    so a typo in config.toml stops the service at start-up rather than on the first visitor.
    """
    knowledge = KnowledgeConsultant(settings.knowledge_path, settings.threshold)
    if settings.backend == "knowledge":
        return knowledge
    if settings.backend == "openai":
        return OpenAIConsultant(settings, knowledge)
    raise ValueError(f"unknown [ai] backend {settings.backend!r}; expected 'knowledge' or 'openai'")
