"""What every tier is given, and the shape of its answer: the ``Prompt`` (both profiles), how an answer cites a
passage (``[Source 1]``), and the sentence it says when the sources do not cover the question.

Built by ``rag.answer.prompts``; read by every tier (the model tiers send it, the extractive tier answers in
the same shape) and by the checks of ``rag.answer.escalation``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.search.analysis import Analyzer
from rag.search.bm25 import Stats
from rag.search.retrieval import Hit

__all__ = ["CITATION_RE", "NOT_COVERED", "Evidence", "Prompt", "is_refusal"]

NOT_COVERED = {
    "en": "The documents don't cover this.",
    "tr": "Belgeler bu konuyu kapsamıyor.",
}

# How an answer cites a passage: "[Source 1]", "Source 2", "[Sources 1, 3]", "Source 1 ve 2".
CITATION_RE = re.compile(r"\[?\bSources?\s+\d+(?:\s*(?:,|and|ve)\s*\d+)*\]?", re.IGNORECASE)

_REFUSAL_RE = re.compile(
    r"(don'?t|do not|does not|doesn'?t) (cover|contain|mention|say)|not (covered|mentioned|provided|in the (sources|documents))"
    r"|no information|cannot (answer|find)|can'?t (answer|find)|could( not|n'?t) (answer|find)|i don'?t know|unable to (answer|find)"
    r"|kapsamıyor|kapsamamaktadır|bilgi (yok|bulunmuyor|içermiyor|bulamadım)|yanıtlayamam|bilmiyorum|bulunmamaktadır",
    re.IGNORECASE,
)


@dataclass(kw_only=True, frozen=True)
class Evidence:
    """What the extractive tier quotes from: the passages and how the question was analysed (``SearchResult``).

    ``terms``: the question's terms in its own language; ``terms_by_lang``: per document language;
    ``subject_by_lang``: a follow-up's subject carried from earlier turns; ``stats``: the index's (or the chat's
    overlay's) BM25 statistics; ``draft``: a complete SLM answer that may lead when a passage holds it.
    """

    terms: Sequence[str]
    hits: Sequence[Hit]
    analyzer: Analyzer
    stats: Stats
    lang: str
    covered: bool
    terms_by_lang: Mapping[str, Sequence[str]] | None = None
    subject_by_lang: Mapping[str, Sequence[str]] | None = None
    draft: str = ""


@dataclass(kw_only=True, frozen=True)
class Prompt:
    """What a tier is asked: the chat profile (``messages``), the completion profile (``text``, ending at ``stop``),
    and for the extractive tier the ``evidence``."""

    messages: list[dict[str, str]]  # chat profile
    text: str  # completion profile
    stop: list[str]
    # The one-shot profile asks for a short factual phrase ("5273."); a base model
    # that goes on past that is rambling, so its answer budget is capped.
    completion_max_tokens: int = 48
    evidence: Evidence | None = None


def is_refusal(answer: str) -> bool:
    """Does the answer say the sources do not cover the question?"""
    return bool(_REFUSAL_RE.search(answer))
