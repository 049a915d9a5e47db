"""The second stage: BM25's best candidates, re-scored by the kind of answer the question wants.

BM25 ranks passages by shared words; it cannot tell that "how much disk space
…?" wants a passage with a quantity in it, or that "my agent keeps ignoring
its tools, what should I check?" wants a troubleshooting section rather than
the introduction that shares its words, or that "What is Foundry Local?" wants
the section *titled* so among fifty that mention Foundry Local. Three
answer-type cues, each a multiplicative boost of ``BOOST`` on the BM25 score of
the first ``DEPTH`` candidates (so they reorder near-ties and never lift a weak
match over a strong one):

- a *quantity* question (how much/many/long, what percentage, minimum, kaç, ne
  kadar, yüzde, en az, …) favours passages holding a number with a unit
  (16GB, 50 %, 200 ms, 4 cores, 3.8B);
- a *problem* question (fix, error, keeps, doesn't work, çalışmıyor, …)
  favours passages under a troubleshooting heading (Troubleshooting, Common
  issues, FAQ, Sorun Giderme, Hata, Çözüm, …);
- a *definition* question (what is / what are / explain … ; … nedir) favours
  passages whose own heading is made only of the question's words ("What is
  Foundry Local?" under the question "What is Foundry Local?"). Words are
  compared by their first five letters, which joins the inflections of both
  English and Turkish well enough for a heading.

``BOOST`` was chosen on the dev set and both peer sets together
(docs/retrieval.md): evidence@1 rose from 60 to 65 and evidence@5 from 76 to
78 of 83 questions, the same for boosts from 0.25 to 0.5; no single question
was tuned for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from rag.documents.chunking import TRAIL_SEPARATOR
from rag.search.analysis import ALL_QUESTION_WORDS, ALL_STOPWORDS, fold, is_stopword, words

__all__ = ["BOOST", "DEPTH", "is_definition_question", "is_problem_question", "is_quantity_question", "rerank", "topic_words"]

BOOST = 0.25
DEPTH = 20

_QUANTITY_QUESTION = re.compile(
    r"\b(how (much|many|long|big|large|fast|old)|what (fraction|percentage|percent|size)|minimum|maximum|at least|at most"
    r"|kaç|ne kadar|yüzde|en az|en fazla|ne büyüklükte)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\d+(?:[.,]\d+)?\s?(?:%|percent|yüzde|[kmgt]i?b\b|ghz|mhz|ms\b|sec|seconds?|saniye|minutes?|dakika|hours?|saat"
    r"|days?|gün|tokens?|tops|w\b|watts?|x\b|cores?|çekirdek|bits?\b|b\b|k\b)",
    re.IGNORECASE,
)
_PROBLEM_QUESTION = re.compile(
    r"(\bfix|\bfail|\berror|\bbroken|doesn'?t work|does not work|not working|\bkeeps?\b|won'?t|can'?t|cannot|\bcrash|\bwrong\b"
    r"|\bproblem|mıyor\b|miyor\b|muyor\b|müyor\b|\bhata|\bsorun|\bdüzel|olmuyor)",
    re.IGNORECASE,
)
_DEFINITION_QUESTION = re.compile(r"^\s*(what(?:'s| is| are)|define|explain)\b|\b(nedir|ne demek|nelerdir)\b", re.IGNORECASE)
_DEFINITION_WORDS = frozenset({"what", "define", "explain", "nedir", "demek", "nelerdir"})
_TOPIC_PREFIX = 5
_NOT_TOPIC = ALL_STOPWORDS | ALL_QUESTION_WORDS | _DEFINITION_WORDS
_TROUBLESHOOTING = re.compile(r"(troubleshoot|problem|issue|error|\bfix|faq|pitfall|sorun|hata|çözüm|giderme|sık sorulan)", re.IGNORECASE)


class Passage(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def trail(self) -> str: ...


P = TypeVar("P", bound=Passage)


def is_quantity_question(question: str) -> bool:
    return bool(_QUANTITY_QUESTION.search(question))


def is_problem_question(question: str) -> bool:
    return bool(_PROBLEM_QUESTION.search(question))


def is_definition_question(question: str) -> bool:
    return bool(_DEFINITION_QUESTION.search(question))


def topic_words(text: str) -> set[str]:
    """The content words of ``text`` cut to five letters (stopwords and question words out)."""
    return {
        w[:_TOPIC_PREFIX] for w in words(fold(text, "en"))
        if not is_stopword(w, _NOT_TOPIC)
    }


def rerank(question: str, candidates: Sequence[tuple[float, P]]) -> list[tuple[float, P]]:
    """``(BM25 score, passage)`` pairs, best first -> re-scored and re-sorted (the first ``DEPTH`` only).

    >>> class P:
    ...     def __init__(self, text, trail): self.text, self.trail = text, trail
    >>> ranked = rerank("How much RAM is needed?", [(1.0, P("RAM matters.", "Intro")), (0.9, P("At least 16 GB of RAM.", "Requirements"))])
    >>> [p.text for _, p in ranked]
    ['At least 16 GB of RAM.', 'RAM matters.']
    """
    quantity = is_quantity_question(question)
    problem = is_problem_question(question)
    topic = topic_words(question) if is_definition_question(question) else set()
    if not (quantity or problem or topic):
        return list(candidates)
    head = []
    for score, passage in candidates[:DEPTH]:
        boost = 1.0
        if quantity and _QUANTITY.search(passage.text):
            boost += BOOST
        if problem and _TROUBLESHOOTING.search(passage.trail):
            boost += BOOST
        if topic and (heading := topic_words(passage.trail.rsplit(TRAIL_SEPARATOR, 1)[-1])) and heading <= topic:
            boost += BOOST
        head.append((score * boost, passage))
    head.sort(key=lambda pair: -pair[0])
    return head + list(candidates[DEPTH:])
