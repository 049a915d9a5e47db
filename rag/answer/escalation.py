"""The escalation policy: after the SLM's answer, should the LLM tier take over?

Pure: ``assess`` measures the answer against the question and the sources
(``Outcome``), ``decide`` turns the measures into the reasons that fire (none:
the SLM's answer stands). Each reason can be switched off (``Policy.enabled``):

================== =====================================================================
``user``           forced: ``--escalate always`` or the UI's setting
``error``          the SLM failed (down, timeout, HTTP error, broken stream)
``budget``         the SLM thought until its token limit and wrote no answer
``short``          too short *for this question*: empty, cut off mid-sentence, or adding
                   too few words of its own (a bare "yes" to a how-to question); and, when
                   ``short_chars`` is set, under that many characters (the workshop's 600)
``low_confidence`` retrieval says the documents probably don't cover it
``refusal``        the SLM says it can't answer although retrieval was confident
``language``       the answer is written in another language than the question
``uncited``        the answer cites no source, so the user cannot check it
``invented``       the answer has a number or a name that no source (nor the question) has
``ungrounded``     too few of the answer's content words are in the sources
``topic``          the question names one of the configured keywords
================== =====================================================================

Why these: the policy was calibrated on simulated drafts of known quality
(``bench/policy.py``: the right sentence, and seven kinds of wrong one). Length
alone says little about an answer about documents: "Ollama listens on port
11434 [Source 1]." is 41 characters and complete, while a 600-character answer
can be a fluent invention. A changed number or name in an otherwise copied
sentence keeps nearly all its words supported, which ``invented`` catches and
``ungrounded`` cannot.

``support`` measures grounding per sentence: the share of a sentence's content
terms (same analysis as retrieval) that occur in the sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.search.analysis import Analyzer, fold, fold_accents, is_stopword, words
from rag.search.stopwords import STOPWORDS
from rag.settings import default
from rag.tiers.prompt import CITATION_RE

__all__ = ["Outcome", "Policy", "Support", "assess", "decide", "support", "unsupported_facts"]

REASONS = (
    "user", "error", "budget", "short", "low_confidence", "refusal", "language", "uncited", "invented", "ungrounded", "topic",
)

# A question that asks how, why, or for a comparison wants an explanation: an answer must add
# at least this many content words of its own (a factual question: one, "11434").
EXPLAIN_WORDS = 3
# An answer of at least this many words that ends without a full stop, a citation or a closing
# mark was cut off (a phrase like "Python 3.12+" or "port 11434" has fewer).
CUT_WORDS = 4


@dataclass(frozen=True)
class Policy:
    escalate: str = default("escalate")  # auto | always | never
    short_chars: int = default("short_answer_chars")  # 0: off; the workshop's 600 makes every answer under 600 characters "short"
    min_support: float = default("min_support")
    topics: tuple[str, ...] = ()
    enabled: frozenset[str] = frozenset(REASONS)
    explain_words: int = EXPLAIN_WORDS
    cut_words: int = CUT_WORDS


@dataclass(frozen=True)
class Support:
    score: float  # 0..1, sentence supports weighted by their number of terms
    sentences: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What the SLM produced, as the policy sees it (``assess`` fills in the measures)."""

    answer: str
    covered: bool  # retrieval's confidence signal
    support: float
    refusal: bool
    failed: bool = False
    budget: bool = False  # the failure was a reasoning model thinking until max_tokens (reason "budget", not "error")
    unsupported: tuple[str, ...] = ()  # numbers and names of the answer that no source or the question has
    new_words: int | None = None  # content terms of the answer that the question does not have (None: not measured)


_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")
_CITED_RE = re.compile(r"\bSources?\s+\d+", re.IGNORECASE)


def support(answer: str, source_texts: Sequence[str], analyzer: Analyzer, lang: str) -> Support:
    """Lexical support of ``answer`` by the sources, per sentence and overall."""
    vocabulary: set[str] = set()
    for text in source_texts:
        vocabulary.update(analyzer.content_terms(text, lang))
    scored: list[tuple[str, float]] = []
    weighted = total = 0.0
    for sentence in _SENTENCE_RE.split(CITATION_RE.sub(" ", answer)):
        terms = set(analyzer.content_terms(sentence, lang))
        if not terms:
            continue
        share = len(terms & vocabulary) / len(terms)
        scored.append((sentence.strip(), share))
        weighted += share * len(terms)
        total += len(terms)
    return Support(weighted / total if total else 0.0, scored)


# ---------------------------------------------------------------- numbers and names

_LIST_MARKER_RE = re.compile(r"^\s*(?:[-*+>]|\d{1,3}[.)])\s+", re.M)
_THOUSANDS_RE = re.compile(r"(?<=\d)[,.](?=\d{3}(?:[,.]\d{3})*(?![\d.,]))")
_DECIMAL_COMMA_RE = re.compile(r"(?<=\d),(?=\d)")
# A number as written: digits with decimals, versions and exponents ("3.8", "0.5.13", "1e-5", "5.0e-06").
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)*(?:[eE]-?\d+)?")
# A word and what stands before it on its line: a capital after a sentence's end, a line's
# start (list marker, quote, emphasis, table cell) or a dash starts a sentence, not a name.
_WORD_RE = re.compile(r"[^\W_]+")
_OPENS_SENTENCE_RE = re.compile(r"(?:^\s*(?:[-*+>]|\d{1,3}[.)])?|[.!?:;—–|]|\s-)[\s*_`>\"'“‘(\[#]*$")


def _numbers(text: str) -> set[str]:
    """The numbers of ``text`` as written, list markers and citations aside; thousands separators dropped
    (1,000 and 1.000 are 1000) and a decimal comma read as a point (Turkish 3,8 is 3.8).

    >>> sorted(_numbers("1. Up to 4 TOPS, 1,000 ms or 3,8 GB; lr 1e-5 [Source 2]"))
    ['1000', '1e-5', '3.8', '4']
    """
    text = _LIST_MARKER_RE.sub(" ", CITATION_RE.sub(" ", text))
    text = _DECIMAL_COMMA_RE.sub(".", _THOUSANDS_RE.sub("", text))
    return {n.rstrip(".") for n in _NUMBER_RE.findall(text)}


def _names(text: str, lang: str) -> set[str]:
    """Folded words ``text`` writes like names: capitalized inside a sentence, or mixing case ("vLLM", "PyTorch")."""
    found: set[str] = set()
    for line in CITATION_RE.sub(" ", text).split("\n"):
        for m in _WORD_RE.finditer(line):
            word = m.group()
            if not word[0].isalpha():
                continue  # a number ("30B") is checked as one
            inner_capital = any(ch.isupper() for ch in word[1:]) and not word.isupper() or (word.isupper() and len(word) > 1)
            capital_inside = word[0].isupper() and not _OPENS_SENTENCE_RE.search(line[: m.start()])
            if not (inner_capital or capital_inside):
                continue
            folded = fold_accents(fold(word, lang))
            if not is_stopword(folded):
                found.add(folded)
    return found


def _vocabulary(texts: Sequence[str], lang: str) -> set[str]:
    out: set[str] = set()
    for text in texts:
        out.update(w if w.isascii() else fold_accents(w) for w in words(fold(text, lang)))
    return out


def unsupported_facts(answer: str, source_texts: Sequence[str], question: str, lang: str) -> tuple[str, ...]:
    """Numbers and names of ``answer`` that neither a source nor the question has, sorted.

    An invented figure or name in an otherwise copied sentence ("listens on port 11435")
    keeps nearly all of its words supported; this is what catches it. Numbers are compared
    as written (``_numbers``: "4 TOPS" and "4TOPS" agree, "1e-5" is not "5.0e-06"), names as
    folded words; in Turkish a name may carry a suffix without an apostrophe ("Jetsonda").
    """
    numbers = _numbers(answer)
    names = _names(answer, lang)
    if not numbers and not names:
        return ()
    known_numbers: set[str] = set()
    for text in (*source_texts, question):
        known_numbers |= _numbers(text)
    vocabulary = _vocabulary([*source_texts, question], lang)
    missing = sorted(numbers - known_numbers, key=lambda n: (len(n), n))
    for name in sorted(names - vocabulary):
        if lang == "tr" and any(name.startswith(w) and len(w) >= max(4, len(name) - 4) for w in vocabulary):
            continue
        missing.append(name)
    return tuple(missing)


# ---------------------------------------------------------------- the measures and the decision

_REPLY_WORDS = frozenset("yes no yeah yep nope ok okay sure true false correct right evet hayır tamam doğru yanlış".split())


def assess(
    question: str,
    answer: str,
    source_texts: Sequence[str],
    analyzer: Analyzer,
    lang: str,
    covered: bool,
    refusal: bool,
    failed: bool = False,
    budget: bool = False,
) -> Outcome:
    """Measure the SLM's ``answer`` to ``question`` (in ``lang``) against the sources it was given."""
    text = answer.strip()
    score = support(text, source_texts, analyzer, lang).score if text else 0.0
    unsupported = unsupported_facts(text, source_texts, question, lang) if text and not refusal else ()
    asked = set(analyzer.content_terms(question, lang))
    said = {t for t in analyzer.content_terms(CITATION_RE.sub(" ", text), lang) if t not in _REPLY_WORDS}
    return Outcome(answer, covered, score, refusal, failed, budget, unsupported, len(said - asked))


_HOW_RE = re.compile(
    r"\b(how (?!(much|many|long|big|large|fast|old|often|far)\b)|why|explain|describe|compare|difference|differ|versus|vs\.?"
    r"|steps?|what should i do|what do i do)\b"
    r"|\b(nasıl|neden|niçin|niye|açıkla|karşılaştır|fark|adım)",
    re.IGNORECASE,
)
_COMPLETE_END_RE = re.compile(r"([.!?…:;)\]}\"'`»”’|*]|```)\s*$")


def wants_explanation(question: str) -> bool:
    """Does the question ask how, why or for a comparison (not a single fact)?"""
    return bool(_HOW_RE.search(question))


def is_cut_off(answer: str, cut_words: int = CUT_WORDS) -> bool:
    """Does the answer stop mid-sentence: an unclosed code block, or ``cut_words`` words or more (or a
    function word at the end) without a closing mark (a full stop, a citation, a bracket, a quote)?"""
    text = answer.strip()
    if not text:
        return False
    if text.count("```") % 2:
        return True
    if _COMPLETE_END_RE.search(text):
        return False
    tail = words(fold(text, "en"))
    return len(tail) >= cut_words or bool(tail) and is_stopword(tail[-1])


_TURKISH_LETTERS_RE = re.compile(r"[ğşıçöüĞŞİÇÖÜ]")
# Endings that only Turkish words have among the two languages (plural, possessive, case, tense).
_TURKISH_ENDING_RE = re.compile(r"(lar|ler|ları|leri|ların|lerin|dır|dir|dur|dür|tır|tir|yor|ıyor|iyor|mak|mek|ması|mesi|nda|nde|ından|inden|ıyla|iyle)$")
_NOT_LANGUAGE_EVIDENCE = frozenset("a s t d m o y ll re ve i".split())


def answer_language(answer: str) -> str | None:
    """The language the answer's own words are in ("en", "tr"), or None when they don't say.

    Evidence per word, code and citations left out: a function word of either language, and
    for Turkish also a Turkish letter or a Turkish ending ("kuantize edilmiş modeller"). The
    answer is in a language when that language has at least two pieces of evidence and more
    than twice the other's: a Turkish name in an English sentence does not make it Turkish.
    """
    prose = CITATION_RE.sub(" ", re.sub(r"```.*?```|`[^`]*`|\]\([^)]*\)", " ", answer, flags=re.S))
    en = tr = 0
    for word in words(fold(prose, "en")):  # English case folding: "It" must not become Turkish "ıt"
        if word in _NOT_LANGUAGE_EVIDENCE or word.isdigit():
            continue
        if word in STOPWORDS["tr"] or _TURKISH_LETTERS_RE.search(word) or len(word) > 4 and _TURKISH_ENDING_RE.search(word):
            tr += 1
        elif word in STOPWORDS["en"]:
            en += 1
    if en >= 2 and en > 2 * tr:
        return "en"
    if tr >= 2 and tr > 2 * en:
        return "tr"
    return None


def decide(policy: Policy, question: str, outcome: Outcome, forced: bool = False, lang: str = "en") -> list[str]:
    """The reasons to escalate, in the order of ``REASONS``; empty when the answer stands."""
    if policy.escalate == "never":
        return []
    reasons: list[str] = []
    if forced or policy.escalate == "always":
        reasons.append("user")
    if outcome.failed:
        reasons.append("budget" if outcome.budget else "error")
    answer = outcome.answer.strip()
    if not outcome.failed and _too_short(policy, question, outcome, answer):
        reasons.append("short")
    if not outcome.covered:
        reasons.append("low_confidence")
    if outcome.refusal and outcome.covered:
        reasons.append("refusal")
    if answer and not outcome.refusal:
        written_in = answer_language(answer)
        if written_in is not None and written_in != lang:
            reasons.append("language")
        if not _CITED_RE.search(answer):
            reasons.append("uncited")
        if outcome.unsupported:
            reasons.append("invented")
        if outcome.support < policy.min_support:
            reasons.append("ungrounded")
    if policy.topics:
        folded = fold(question, lang)
        if any(fold(t, lang) in folded for t in policy.topics):
            reasons.append("topic")
    return [r for r in reasons if r in policy.enabled or r == "user"]


def _too_short(policy: Policy, question: str, outcome: Outcome, answer: str) -> bool:
    if policy.short_chars and len(answer) < policy.short_chars:
        return True
    if not answer:
        return True
    if outcome.refusal:
        return False  # a refusal is judged as one ("refusal", "low_confidence"), not by its length
    if is_cut_off(answer, policy.cut_words):
        return True
    if outcome.new_words is not None:
        return outcome.new_words < (policy.explain_words if wants_explanation(question) else 1)
    return False
