"""The escalation policy (``decide``), lexical support (``support``) and ``is_refusal``.

Pure functions: each reason is fired on its own, at its boundary, and switched
off by ``escalate="never"``; support is per sentence and ignores citations.
"""

from __future__ import annotations

import pytest

from rag.analysis import Analyzer
from rag.escalation import REASONS, Outcome, Policy, decide, support
from rag.prompts import NOT_COVERED, is_refusal

GOOD = "Foundry Local listens on port 5273 by default. " * 20  # long, grounded, no refusal


def outcome(answer: str = GOOD, covered: bool = True, support: float = 1.0, refusal: bool = False, failed: bool = False) -> Outcome:
    return Outcome(answer, covered, support, refusal, failed)


def test_a_good_answer_stands() -> None:
    assert len(GOOD.strip()) >= 600
    assert decide(Policy(), "What port?", outcome()) == []


def test_user_reason_when_forced_or_always() -> None:
    assert decide(Policy(), "q", outcome(), forced=True) == ["user"]
    assert decide(Policy(escalate="always"), "q", outcome()) == ["user"]


def test_user_reason_survives_an_empty_enabled_set() -> None:
    assert decide(Policy(escalate="always", enabled=frozenset()), "q", outcome(failed=True)) == ["user"]


def test_error_reason_and_no_short_for_a_failed_answer() -> None:
    reasons = decide(Policy(), "q", outcome(answer="", failed=True))
    assert reasons == ["error"]


def test_short_threshold_boundary() -> None:
    policy = Policy(short_chars=600)
    assert decide(policy, "q", outcome(answer="x" * 599)) == ["short"]
    assert decide(policy, "q", outcome(answer="x" * 600)) == []
    # surrounding whitespace does not count
    assert decide(policy, "q", outcome(answer="  " + "x" * 599 + "\n\n")) == ["short"]


def test_low_confidence_reason() -> None:
    assert decide(Policy(), "q", outcome(covered=False)) == ["low_confidence"]


def test_refusal_only_when_retrieval_was_confident() -> None:
    refusal = "The documents don't cover this. " * 30
    assert decide(Policy(), "q", outcome(answer=refusal, refusal=True, covered=True, support=0.0)) == ["refusal"]
    # not covered: the refusal is right; only low confidence fires (and no "ungrounded" for a refusal)
    assert decide(Policy(), "q", outcome(answer=refusal, refusal=True, covered=False, support=0.0)) == ["low_confidence"]


def test_ungrounded_below_min_support() -> None:
    policy = Policy(min_support=0.5)
    assert decide(policy, "q", outcome(support=0.49)) == ["ungrounded"]
    assert decide(policy, "q", outcome(support=0.5)) == []
    assert decide(Policy(min_support=0.8), "q", outcome(support=0.7)) == ["ungrounded"]


def test_topic_keyword_is_case_insensitive() -> None:
    policy = Policy(topics=("Legal", "contract"))
    assert decide(policy, "Is this LEGAL advice?", outcome()) == ["topic"]
    assert decide(policy, "Who signs the Contract?", outcome()) == ["topic"]
    assert decide(policy, "What port does it use?", outcome()) == []


def test_topic_keyword_uses_turkish_case_folding() -> None:
    policy = Policy(topics=("İSTANBUL",))
    assert decide(policy, "istanbul ofisi nerede?", outcome(), lang="tr") == ["topic"]
    # Turkish: dotless I lowercases to ı, so ISPARTA is not "isparta"
    assert decide(Policy(topics=("ISPARTA",)), "ısparta nerede?", outcome(), lang="tr") == ["topic"]
    assert decide(Policy(topics=("ISPARTA",)), "isparta nerede?", outcome(), lang="tr") == []


def test_reasons_come_in_the_documented_order() -> None:
    everything = outcome(answer="no", covered=False, support=0.0, refusal=False)
    reasons = decide(Policy(topics=("port",)), "which port?", everything, forced=True)
    assert reasons == ["user", "short", "low_confidence", "ungrounded", "topic"]
    assert reasons == [r for r in REASONS if r in reasons]


def test_never_returns_nothing_even_when_everything_fires() -> None:
    everything = outcome(answer="no", covered=True, support=0.0, refusal=True, failed=True)
    policy = Policy(escalate="never", topics=("port",))
    assert decide(policy, "which port?", everything, forced=True) == []
    # the same outcome under "auto" does escalate, so "never" is what silenced it
    assert decide(Policy(topics=("port",)), "which port?", everything) != []


def test_disabled_reasons_are_dropped() -> None:
    policy = Policy(enabled=frozenset({"error", "low_confidence"}))
    assert decide(policy, "q", outcome(answer="no", covered=False, support=0.0)) == ["low_confidence"]


SOURCES = [
    "Foundry Local listens on port 5273 by default. Start the service with the foundry service start command.",
    "Quantization stores model weights as four-bit integers to save memory.",
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_support_of_a_copied_sentence_is_one(analyzer: Analyzer) -> None:
    result = support("Quantization stores model weights as four-bit integers to save memory.", SOURCES, analyzer, "en")
    assert result.score == pytest.approx(1.0)
    assert len(result.sentences) == 1


def test_support_of_an_invented_sentence_is_low(analyzer: Analyzer) -> None:
    result = support("Zebras juggle purple volcanoes during thunderstorms.", SOURCES, analyzer, "en")
    assert result.score < 0.2


def test_support_is_weighted_over_sentences(analyzer: Analyzer) -> None:
    mixed = "Foundry Local listens on port 5273. Zebras juggle purple volcanoes during thunderstorms."
    result = support(mixed, SOURCES, analyzer, "en")
    assert [round(s, 2) for _, s in result.sentences][0] == 1.0
    assert result.sentences[1][1] < 0.2
    assert 0.2 < result.score < 0.9


def test_support_ignores_citations(analyzer: Analyzer) -> None:
    cited = "Foundry Local listens on port 5273 [Source 1]. It stores weights as four-bit integers [Sources 1, 2]."
    result = support(cited, SOURCES, analyzer, "en")
    assert result.score == pytest.approx(1.0)
    assert not any("Source" in sentence for sentence, _ in result.sentences)


def test_support_of_empty_answer_is_zero(analyzer: Analyzer) -> None:
    assert support("", SOURCES, analyzer, "en").score == 0.0
    assert support("[Source 1]", SOURCES, analyzer, "en").score == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        NOT_COVERED["en"],
        "I don't know.",
        "The sources do not mention the price.",
        "I cannot answer that from the documents.",
        NOT_COVERED["tr"],
        "Bilmiyorum.",
        "Bu konuda bilgi bulunmuyor.",
    ],
)
def test_is_refusal_on_refusals(answer: str) -> None:
    assert is_refusal(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Foundry Local listens on port 5273 by default [Source 1].",
        "Foundry Local kurulumu için winget komutunu çalıştırın [Source 1].",
        "",
    ],
)
def test_is_refusal_on_normal_answers(answer: str) -> None:
    assert not is_refusal(answer)
