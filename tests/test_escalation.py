"""The escalation policy (``assess``, ``decide``), lexical support (``support``) and ``is_refusal``.

Two halves. ``decide`` on hand-made outcomes: each reason fires on its own, at
its boundary, and ``escalate="never"`` silences them all. Then pinned drafts of
each kind of ``bench/policy.py``'s calibration set, on passages copied from the
workshop corpus (``../shared/corpora/edgeai-workshop``), measured by ``assess``
with the real analyzer and decided with the shipped ``Policy()``: the right
sentence stands, and each wrong kind escalates for its own reason.
"""

from __future__ import annotations

import pytest

from rag.answer.escalation import (
    REASONS,
    Outcome,
    Policy,
    answer_language,
    assess,
    decide,
    is_cut_off,
    support,
    unsupported_facts,
    wants_explanation,
)
from rag.search.analysis import Analyzer
from rag.settings import Settings
from rag.tiers.prompt import NOT_COVERED, is_refusal

GOOD = "Foundry Local listens on port 5273 by default [Source 1]."


def outcome(answer: str = GOOD, covered: bool = True, support: float = 1.0, refusal: bool = False, failed: bool = False,
            unsupported: tuple[str, ...] = (), new_words: int | None = None) -> Outcome:
    return Outcome(answer, covered, support, refusal, failed, unsupported=unsupported, new_words=new_words)


def test_a_short_cited_grounded_answer_stands() -> None:
    """The issue's example: 41 characters, complete. Under the workshop's 600 it was escalated."""
    assert decide(Policy(), "What port?", outcome()) == []
    assert decide(Policy(), "What port does Ollama listen on?", outcome("Ollama listens on port 11434 [Source 1].", new_words=1)) == []
    assert decide(Policy(short_chars=600), "What port?", outcome()) == ["short"]


def test_the_shipped_settings_turn_the_length_rule_off() -> None:
    assert Settings().short_answer_chars == 0 and Policy().short_chars == 0
    assert Settings().min_support == Policy().min_support == 0.5


def test_user_reason_when_forced_or_always() -> None:
    assert decide(Policy(), "q", outcome(), forced=True) == ["user"]
    assert decide(Policy(escalate="always"), "q", outcome()) == ["user"]


def test_user_reason_survives_an_empty_enabled_set() -> None:
    assert decide(Policy(escalate="always", enabled=frozenset()), "q", outcome(failed=True)) == ["user"]


def test_error_reason_and_no_short_for_a_failed_answer() -> None:
    assert decide(Policy(), "q", outcome(answer="", failed=True)) == ["error"]
    assert decide(Policy(), "q", outcome(answer="Foundry Local listens on", failed=True)) == ["error", "uncited"]


def test_short_chars_boundary_when_a_user_sets_it() -> None:
    policy = Policy(short_chars=600)
    cited = " [Source 1]."
    assert decide(policy, "q", outcome(answer="x" * (599 - len(cited)) + cited)) == ["short"]
    assert decide(policy, "q", outcome(answer="x" * (600 - len(cited)) + cited)) == []
    # surrounding whitespace does not count
    assert decide(policy, "q", outcome(answer="  " + "x" * (599 - len(cited)) + cited + "\n\n")) == ["short"]


@pytest.mark.parametrize(
    ("answer", "cut"),
    [
        ("Foundry Local listens on port", True),  # several words, no closing mark
        ("The MCP host accomplishes this by creating one", True),
        ("Foundry Local listens on", True),  # ends with a function word
        ("```\nwinget upgrade --id", True),  # an unclosed code block
        ("Foundry Local listens on port 5273 [Source 1", True),  # cut inside its citation
        ("Foundry Local listens on port 5273 [Source 1]", False),  # a citation closes it
        ("Foundry Local listens on port 5273.", False),
        ("5273", False),  # a phrase, not a sentence
        ("Python 3.12+", False),
        ("```\nwinget upgrade --id Microsoft.FoundryLocal\n```", False),
        ("", False),
    ],
)
def test_is_cut_off(answer: str, cut: bool) -> None:
    assert is_cut_off(answer) is cut


@pytest.mark.parametrize(
    ("question", "explain"),
    [
        ("How do I upgrade Foundry Local on Windows?", True),
        ("Why does the router pick the same model?", True),
        ("Simple reflex agent vs model-based agent: what's the difference?", True),
        ("Ajan aracı neden çağırmıyor?", True),
        ("Foundry Local nasıl yükseltilir?", True),
        ("How many TOPS does the stick give you?", False),
        ("How much memory does it need?", False),
        ("What port does Ollama listen on?", False),
        ("Jetson Orin Nano kaç TOPS veriyor?", False),
    ],
)
def test_wants_explanation(question: str, explain: bool) -> None:
    assert wants_explanation(question) is explain


def test_short_means_too_short_for_this_question() -> None:
    policy = Policy()
    assert decide(policy, "What port does Ollama listen on?", outcome("", new_words=0)) == ["short"]  # empty
    assert decide(policy, "What port does Ollama listen on?", outcome("11434 [Source 1].", new_words=1)) == []  # one new word is an answer
    # a bare "yes" adds nothing; a how-to question wants three words of its own
    assert decide(policy, "How do I upgrade Foundry Local?", outcome("Yes [Source 1].", new_words=0)) == ["short"]
    assert decide(policy, "How do I upgrade Foundry Local?", outcome("Use winget [Source 1].", new_words=2)) == ["short"]
    assert decide(policy, "How do I upgrade Foundry Local?", outcome("Run winget upgrade Microsoft.FoundryLocal [Source 1].", new_words=4)) == []
    assert decide(Policy(explain_words=5), "How do I upgrade Foundry Local?", outcome("Run winget upgrade Microsoft.FoundryLocal [Source 1].", new_words=4)) == ["short"]


def test_low_confidence_reason() -> None:
    assert decide(Policy(), "q", outcome(covered=False)) == ["low_confidence"]


def test_refusal_only_when_retrieval_was_confident() -> None:
    refusal = NOT_COVERED["en"]
    assert decide(Policy(), "q", outcome(answer=refusal, refusal=True, covered=True, support=0.0)) == ["refusal"]
    # not covered: the refusal is right; only low confidence fires (no "short", "uncited" or "ungrounded" for a refusal)
    assert decide(Policy(), "q", outcome(answer=refusal, refusal=True, covered=False, support=0.0)) == ["low_confidence"]


def test_uncited_reason() -> None:
    assert decide(Policy(), "What port?", outcome("Foundry Local listens on port 5273.")) == ["uncited"]
    assert decide(Policy(), "What port?", outcome("Foundry Local listens on port 5273 (Source 2).")) == []
    assert decide(Policy(), "What port?", outcome("Foundry Local listens on port 5273 [Sources 1, 2].")) == []


def test_invented_reason() -> None:
    assert decide(Policy(), "What port?", outcome(unsupported=("5274",))) == ["invented"]


def test_ungrounded_below_min_support() -> None:
    policy = Policy(min_support=0.5)
    assert decide(policy, "q", outcome(support=0.49)) == ["ungrounded"]
    assert decide(policy, "q", outcome(support=0.5)) == []
    assert decide(Policy(min_support=0.8), "q", outcome(support=0.7)) == ["ungrounded"]


def test_language_reason() -> None:
    turkish = "Foundry Local varsayılan olarak 5273 numaralı bağlantı noktasını dinler [Source 1]."
    assert decide(Policy(), "What port does Foundry Local listen on?", outcome(turkish), lang="en") == ["language"]
    assert decide(Policy(), "Foundry Local hangi portu dinler?", outcome(turkish), lang="tr") == []
    assert decide(Policy(), "Foundry Local hangi portu dinler?", outcome(GOOD), lang="tr") == ["language"]


@pytest.mark.parametrize(
    ("answer", "lang"),
    [
        ("Foundry Local listens on port 5273 by default [Source 1].", "en"),
        ("The office is in Beşiktaş, İstanbul, and it is open [Source 1].", "en"),  # a Turkish name in an English sentence
        ("It is in the office. If in doubt, ask [Source 1].", "en"),  # "It" is not Turkish "ıt"
        ("NPU (HTP): CNN iş yükleri, kuantize edilmiş modeller ve güç hassas uygulamalar için en iyisi [Source 2].", "tr"),
        ("İşletim Sistemi: Windows 11 (22H2 veya daha yeni) [Source 1].", "tr"),
        ("5273 [Source 1].", None),  # a phrase says nothing about its language
        ("`foundry service set --port 58123`", None),
    ],
)
def test_answer_language(answer: str, lang: str | None) -> None:
    assert answer_language(answer) == lang


def test_topic_keyword_is_case_insensitive() -> None:
    policy = Policy(topics=("Legal", "contract"))
    assert decide(policy, "Is this LEGAL advice?", outcome()) == ["topic"]
    assert decide(policy, "Who signs the Contract?", outcome()) == ["topic"]
    assert decide(policy, "What port does it use?", outcome()) == []


def test_topic_keyword_uses_turkish_case_folding() -> None:
    policy = Policy(topics=("İSTANBUL",))
    cited = outcome("İstanbul ofisi Beşiktaş'tadır [Source 1].")
    assert decide(policy, "istanbul ofisi nerede?", cited, lang="tr") == ["topic"]
    # Turkish: dotless I lowercases to ı, so ISPARTA is not "isparta"
    assert decide(Policy(topics=("ISPARTA",)), "ısparta nerede?", cited, lang="tr") == ["topic"]
    assert decide(Policy(topics=("ISPARTA",)), "isparta nerede?", cited, lang="tr") == []


def test_reasons_come_in_the_documented_order() -> None:
    everything = outcome(answer="It is no", covered=False, support=0.0, unsupported=("saturn",), new_words=0)
    reasons = decide(Policy(topics=("port",)), "which port?", everything, forced=True)
    assert reasons == ["user", "short", "low_confidence", "uncited", "invented", "ungrounded", "topic"]
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


# ---------------------------------------------------------------- support and unsupported facts

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
    ("answer", "missing"),
    [
        ("Foundry Local listens on port 5273 by default [Source 1].", ()),
        ("Foundry Local listens on port 5274 by default [Source 1].", ("5274",)),  # one digit changed
        ("Ollama listens on port 5273 by default [Source 1].", ()),  # the first word of a sentence is not taken for a name...
        ("By default Ollama listens on port 5273 [Source 1].", ("ollama",)),  # ... inside one it is
        ("Foundry Local listens on port 5,273 [Source 2].", ()),  # a thousands separator
        ("1. Start the service with `foundry service start` [Source 1].", ()),  # a list number, a citation number
        ("The model runs under PyTorch [Source 1].", ("pytorch",)),  # mixed case
        ("What port? Foundry Local listens on port 5273 [Source 1].", ()),
        ("- Install it, then:\n1. Start the service with `foundry service start` [Source 1].", ()),  # list items start sentences
        ("**Note:** Start the service first [Source 1].", ()),
    ],
)
def test_unsupported_facts(answer: str, missing: tuple[str, ...]) -> None:
    assert unsupported_facts(answer, SOURCES, "What port does Foundry Local listen on?", "en") == missing


def test_unsupported_facts_allow_what_the_question_names() -> None:
    answer = "Module 04 fixes go on a branch named fix/<module>-<description> [Source 1]."
    sources = ["Branch naming: `fix/<module>-<description>` - For bug fixes"]
    assert unsupported_facts(answer, sources, "I fix a bug in Module 04. What should my branch be called?", "en") == ()
    assert unsupported_facts(answer, sources, "What should my branch be called?", "en") == ("04",)


def test_unsupported_facts_accept_a_turkish_suffix_on_a_name() -> None:
    sources = ["NVIDIA Jetson Orin Nano 67 TOPS'a kadar performans sunar."]
    assert unsupported_facts("Performans için NVIDIA Jetsonda 67 TOPS var [Source 1].", sources, "Kaç TOPS?", "tr") == ()
    assert unsupported_facts("Performans için NVIDIA Hailoda 67 TOPS var [Source 1].", sources, "Kaç TOPS?", "tr") == ("hailoda",)


# ---------------------------------------------------------------- pinned drafts of each kind (bench/policy.py)

NCS2 = (
    "#### Intel Neural Compute Stick 2\n\nUSB plug-and-play neural network accelerator:\n\n- **Intel Movidius Myriad X VPU**\n\n"
    "- **Up to 4 TOPS** of performance\n\n- **USB 3.0 interface** for easy integration\n\n"
    "- **Best for**: Rapid prototyping and adding AI capabilities to existing systems"
)
MCP = (
    "### MCP Architecture Overview\n\nMCP follows a **client-server architecture** where an MCP host (an AI application like "
    "Claude Code or Claude Desktop) establishes connections to one or more MCP servers. The MCP host accomplishes this by "
    "creating one MCP client for each MCP server."
)
JETSON = (
    "## 1. NVIDIA Jetson Orin Nano ile EdgeAI\n\nNVIDIA Jetson Orin Nano, erişilebilir uç yapay zeka bilişiminde bir dönüm "
    "noktasıdır ve kredi kartı boyutunda kompakt bir form faktöründe 67 TOPS'a kadar yapay zeka performansı sunar. Bu güçlü "
    "uç yapay zeka platformu, hobi sahipleri, öğrenciler ve profesyonel geliştiriciler için üretken yapay zeka geliştirmeyi demokratikleştirir."
)
WINGET = "### Upgrade\n\nTo upgrade Foundry Local on Windows, run:\n\n```\nwinget upgrade --id Microsoft.FoundryLocal\n```"

Q_NCS2 = "How many TOPS does Intel's Neural Compute Stick 2 give you, and how does it connect to a machine?"
Q_MCP = "If an MCP host such as Claude Desktop is hooked up to three servers, how many MCP clients does it create?"
Q_JETSON = "Jetson Orin Nano kaç TOPS yapay zeka performansı veriyor ve fiyatı ne kadar?"
Q_WINGET = "How do I upgrade Foundry Local to the newest release on Windows?"
FILLER = (
    " This is an important point to keep in mind when you plan your own setup. In practice, the exact behaviour can depend on"
    " your hardware, your operating system and the version you install."
)

PINNED = [
    # (kind, question, language, sources, draft, reasons)
    ("good", Q_NCS2, "en", [NCS2], "Up to 4 TOPS of performance, over a USB 3.0 interface [Source 1].", []),
    ("good", Q_MCP, "en", [MCP], "According to the documents, the MCP host accomplishes this by creating one MCP client for each MCP server [Source 1].", []),
    ("good", Q_JETSON, "tr", [JETSON], "Kısacası: NVIDIA Jetson Orin Nano, kompakt bir form faktöründe 67 TOPS'a kadar yapay zeka performansı sunar [Source 1].", []),
    ("good", Q_WINGET, "en", [WINGET], "```\nwinget upgrade --id Microsoft.FoundryLocal\n```\n[Source 1]", []),
    ("hallucination", Q_NCS2, "en", [NCS2], "Up to 5 TOPS of performance, over a USB 3.0 interface [Source 1].", ["invented"]),
    ("hallucination", Q_MCP, "en", [MCP], "The MCP host accomplishes this by creating one Gemini client for each MCP server [Source 1].", ["invented"]),
    ("hallucination", Q_JETSON, "tr", [JETSON], "NVIDIA Jetson Orin Nano, 76 TOPS'a kadar yapay zeka performansı sunar [Source 1].", ["invented"]),
    ("hallucination", Q_WINGET, "en", [WINGET], "```\nwinget upgrade --id Qualcomm.FoundryLocal\n```\n[Source 1]", ["invented"]),
    (
        "other_file", Q_NCS2, "en", [NCS2],
        "Real-World Impact: Apple's Neural Engine processes 15.8 trillion operations per second locally [Source 1].",
        ["invented", "ungrounded"],
    ),
    (
        "other_file", Q_MCP, "en", [MCP],
        "You will build a lightweight model router and task planner, and outline the scaling path to Azure AI Foundry [Source 1].",
        ["invented", "ungrounded"],
    ),
    ("refusal", Q_NCS2, "en", [NCS2], "I couldn't find this in the sources.", ["refusal"]),
    ("refusal", Q_JETSON, "tr", [JETSON], "Kaynaklarda bu konuda bilgi bulamadım.", ["refusal"]),
    ("fragment", Q_MCP, "en", [MCP], "The MCP host accomplishes this by creating one", ["short", "uncited"]),
    ("fragment", Q_JETSON, "tr", [JETSON], "NVIDIA Jetson Orin Nano, erişilebilir uç yapay zeka bilişiminde bir dönüm noktasıdır ve kredi kartı", ["short", "uncited"]),
    ("empty", Q_MCP, "en", [MCP], "", ["short"]),
    ("wrong_language", Q_MCP, "en", [MCP], "MCP ana bilgisayarı bunu her MCP sunucusu için bir MCP istemcisi oluşturarak yapar [Source 1].", ["language", "ungrounded"]),
    (
        "wrong_language", Q_JETSON, "tr", [JETSON],
        "The NVIDIA Jetson Orin Nano delivers up to 67 TOPS of AI performance in a compact form factor [Source 1].",
        ["language", "invented"],  # "AI": the Turkish page says "yapay zeka"
    ),
    ("uncited_long", Q_MCP, "en", [MCP], "The MCP host accomplishes this by creating one MCP client for each MCP server." + FILLER, ["uncited", "ungrounded"]),
    ("bare", Q_WINGET, "en", [WINGET], "Yes [Source 1].", ["short", "ungrounded"]),
    ("bare", Q_NCS2, "en", [NCS2], "Yes [Source 1].", ["short", "ungrounded"]),
]


@pytest.mark.parametrize(("kind", "question", "lang", "sources", "draft", "reasons"), PINNED, ids=[f"{p[0]}-{i}" for i, p in enumerate(PINNED)])
def test_pinned_drafts_of_each_kind(analyzer: Analyzer, kind: str, question: str, lang: str, sources: list[str], draft: str, reasons: list[str]) -> None:
    measured = assess(question, draft, sources, analyzer, lang, covered=True, refusal=is_refusal(draft))
    assert decide(Policy(), question, measured, lang=lang) == reasons


def test_a_changed_number_keeps_the_words_supported_and_is_caught_as_invented(analyzer: Analyzer) -> None:
    right = assess(Q_NCS2, "Up to 4 TOPS of performance, over a USB 3.0 interface [Source 1].", [NCS2], analyzer, "en", True, False)
    wrong = assess(Q_NCS2, "Up to 5 TOPS of performance, over a USB 3.0 interface [Source 1].", [NCS2], analyzer, "en", True, False)
    assert right.support >= 0.5 and wrong.support >= 0.5  # lexical support cannot tell them apart
    assert (right.unsupported, wrong.unsupported) == ((), ("5",))


def test_assess_counts_the_answers_own_words(analyzer: Analyzer) -> None:
    measured = assess("What port does Foundry Local listen on?", "It listens on port 5273 [Source 1].", SOURCES, analyzer, "en", True, False)
    assert measured.new_words == 1  # 5273: the rest repeats the question
    assert assess("How?", "Yes, sure [Source 1].", SOURCES, analyzer, "en", True, False).new_words == 0


# ---------------------------------------------------------------- is_refusal


@pytest.mark.parametrize(
    "answer",
    [
        NOT_COVERED["en"],
        "I don't know.",
        "The sources do not mention the price.",
        "I cannot answer that from the documents.",
        "I couldn't find this in the sources.",
        NOT_COVERED["tr"],
        "Bilmiyorum.",
        "Bu konuda bilgi bulunmuyor.",
        "Kaynaklarda bu konuda bilgi bulamadım.",
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
