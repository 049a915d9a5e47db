"""The escalation policy: after the SLM's answer, should the LLM tier take over?

Pure: it sees the question, the answer, retrieval's confidence and the answer's
lexical support, and returns the reasons that fired (none: the SLM's answer
stands). Each reason can be switched off by its setting:

=============== =========================================================
``user``        forced: ``--escalate always`` or the UI's setting
``error``       the SLM failed (down, timeout, HTTP error, broken stream)
``budget``      the SLM thought until its token limit and wrote no answer
``short``       the answer has fewer than ``short_chars`` characters
``low_confidence`` retrieval says the documents probably don't cover it
``refusal``     the SLM says it can't answer although retrieval was confident
``ungrounded``  too few of the answer's content words are in the sources
``topic``       the question names one of the configured keywords
=============== =========================================================

``support`` measures grounding per sentence: the share of a sentence's content
terms (same analysis as retrieval) that occur in the sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.analysis import Analyzer, fold

__all__ = ["Outcome", "Policy", "Support", "decide", "support"]

REASONS = ("user", "error", "budget", "short", "low_confidence", "refusal", "ungrounded", "topic")


@dataclass(frozen=True)
class Policy:
    escalate: str = "auto"  # auto | always | never
    short_chars: int = 600
    min_support: float = 0.5
    topics: tuple[str, ...] = ()
    enabled: frozenset[str] = frozenset(REASONS)


@dataclass(frozen=True)
class Support:
    score: float  # 0..1, sentence supports weighted by their number of terms
    sentences: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What the SLM produced, as the policy sees it."""

    answer: str
    covered: bool  # retrieval's confidence signal
    support: float
    refusal: bool
    failed: bool = False
    budget: bool = False  # the failure was a reasoning model thinking until max_tokens (reason "budget", not "error")


_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")
_CITATION_RE = re.compile(r"\[?\bSources?\s+\d+(?:\s*,\s*\d+)*\]?", re.IGNORECASE)


def support(answer: str, source_texts: Sequence[str], analyzer: Analyzer, lang: str) -> Support:
    """Lexical support of ``answer`` by the sources, per sentence and overall."""
    vocabulary: set[str] = set()
    for text in source_texts:
        vocabulary.update(analyzer.content_terms(text, lang))
    scored: list[tuple[str, float]] = []
    weighted = total = 0.0
    for sentence in _SENTENCE_RE.split(_CITATION_RE.sub(" ", answer)):
        terms = set(analyzer.content_terms(sentence, lang))
        if not terms:
            continue
        share = len(terms & vocabulary) / len(terms)
        scored.append((sentence.strip(), share))
        weighted += share * len(terms)
        total += len(terms)
    return Support(weighted / total if total else 0.0, scored)


def decide(policy: Policy, question: str, outcome: Outcome, forced: bool = False, lang: str = "en") -> list[str]:
    """The reasons to escalate, in the order above; empty when the answer stands."""
    if policy.escalate == "never":
        return []
    reasons: list[str] = []
    if forced or policy.escalate == "always":
        reasons.append("user")
    if outcome.failed:
        reasons.append("budget" if outcome.budget else "error")
    answer = outcome.answer.strip()
    if len(answer) < policy.short_chars and not outcome.failed:
        reasons.append("short")
    if not outcome.covered:
        reasons.append("low_confidence")
    if outcome.refusal and outcome.covered:
        reasons.append("refusal")
    if answer and not outcome.refusal and outcome.support < policy.min_support:
        reasons.append("ungrounded")
    if policy.topics:
        folded = fold(question, lang)
        if any(fold(t, lang) in folded for t in policy.topics):
            reasons.append("topic")
    return [r for r in reasons if r in policy.enabled or r == "user"]
