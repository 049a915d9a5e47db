"""The evaluation feature: metrics, calibration, the question file, the judge, the run, the report, ``rag eval``.

The metrics are pure functions, checked on small hand-made rows whose expected
values are worked out by hand below (each metric has a row that moves it).
``run_eval`` runs end to end over a tiny two-language docs folder (``en/`` and
``tr/``) with both tiers pointed at the scripted server, so which answers are
grounded, refused or escalated is known in advance. ``rag eval`` runs as a
real ``python -m rag`` subprocess with a clean environment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.evaluation.judge import JUDGE_INSTRUCTIONS, parse_scores
from rag.evaluation.qa import (
    AnswerRow,
    QAItem,
    RetrievalRow,
    answer_metrics,
    best_threshold,
    has_phrase,
    is_correct,
    load_qa,
    percentile,
    retrieval_metrics,
)
from rag.evaluation.report import markdown_summary, write_report
from rag.evaluation.run import docs_for, run_eval
from rag.settings import Settings, load_settings
from rag.tiers.prompt import NOT_COVERED
from tests.support.helpers import CHROMIUM, chromium, clean_env, rag
from tests.support.scripted_server import Script, ScriptedServer

SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"

# ---------------------------------------------------------------- retrieval metrics

F, T = False, True


def retrieval_rows() -> list[RetrievalRow]:
    """Four answerable questions (two languages, two kinds) and one unanswerable one.

    Sources and gold files are paths relative to the docs folder of the question's language.

    ====  ====  =====  ===================  ====================  =========
    id    lang  kind   first evidence rank  first gold-file rank  in top 5?
    ====  ====  =====  ===================  ====================  =========
    q1    en    fact   1                    1                     yes
    q2    en    howto  2                    1                     yes
    q3    tr    fact   none                 5                     no
    q4    tr    howto  4                    5                     yes
    ====  ====  =====  ===================  ====================  =========
    """
    return [
        RetrievalRow("q1", "en", "fact", ["a.md", "x.md", "y.md", "z.md", "w.md"], [T, F, F, F, F], ["a.md"]),
        RetrievalRow("q2", "en", "howto", ["docs/b.md", "x.md", "y.md", "z.md", "w.md"], [F, T, F, F, F], ["docs/b.md"]),
        RetrievalRow("q3", "tr", "fact", ["x.md", "y.md", "z.md", "w.md", "c.md", "v.md"], [F, F, F, F, F, F], ["c.md"]),
        RetrievalRow("q4", "tr", "howto", ["x.md", "y.md", "z.md", "w.md", "d.md"], [F, F, F, T, F], ["d.md"]),
        # unanswerable (no gold): ignored by retrieval_metrics, although it "hits" at rank 1
        RetrievalRow("u1", "de", "unanswerable", ["a.md"], [T], []),
    ]


def test_retrieval_metrics_overall_by_hand() -> None:
    overall = retrieval_metrics(retrieval_rows())["overall"]
    assert overall["n"] == 4
    assert overall["evidence@1"] == pytest.approx(1 / 4)  # q1
    assert overall["evidence@3"] == pytest.approx(2 / 4)  # q1, q2
    assert overall["evidence@5"] == pytest.approx(3 / 4)  # q1, q2, q4
    assert overall["file_hit@1"] == pytest.approx(2 / 4)  # q1, q2
    assert overall["file_hit@3"] == pytest.approx(2 / 4)
    assert overall["file_hit@5"] == pytest.approx(4 / 4)  # q3 and q4 at rank 5
    assert overall["mrr"] == pytest.approx((1 + 1 / 2 + 0 + 1 / 4) / 4, abs=1e-3)


def test_retrieval_metrics_per_language_and_kind() -> None:
    m = retrieval_metrics(retrieval_rows())
    assert set(m["by_lang"]) == {"en", "tr"}  # the unanswerable "de" row made no group
    en, tr = m["by_lang"]["en"], m["by_lang"]["tr"]
    assert (en["n"], en["evidence@1"], en["evidence@3"], en["evidence@5"]) == (2, 0.5, 1.0, 1.0)
    assert (en["file_hit@1"], en["file_hit@5"]) == (1.0, 1.0)
    assert en["mrr"] == pytest.approx((1 + 1 / 2) / 2)
    assert (tr["n"], tr["evidence@1"], tr["evidence@3"], tr["evidence@5"]) == (2, 0.0, 0.0, 0.5)
    assert (tr["file_hit@1"], tr["file_hit@3"], tr["file_hit@5"]) == (0.0, 0.0, 1.0)
    assert tr["mrr"] == pytest.approx((0 + 1 / 4) / 2, abs=1e-3)

    assert set(m["by_kind"]) == {"fact", "howto"}  # no "unanswerable" kind
    fact, howto = m["by_kind"]["fact"], m["by_kind"]["howto"]
    assert (fact["n"], fact["evidence@1"], fact["evidence@3"], fact["evidence@5"]) == (2, 0.5, 0.5, 0.5)
    assert fact["mrr"] == pytest.approx((1 + 0) / 2)
    assert (howto["n"], howto["evidence@1"], howto["evidence@3"], howto["evidence@5"]) == (2, 0.0, 0.5, 1.0)
    assert howto["mrr"] == pytest.approx((1 / 2 + 1 / 4) / 2, abs=1e-3)


def test_retrieval_failures_list_the_questions_without_evidence_in_the_top_5() -> None:
    failures = retrieval_metrics(retrieval_rows())["failures"]
    assert failures == [{
        "id": "q3", "lang": "tr", "gold": ["c.md"],
        "retrieved": ["x.md", "y.md", "z.md", "w.md", "c.md"],  # the top 5 only
    }]


def test_reciprocal_rank_counts_evidence_below_the_top_5() -> None:
    row = RetrievalRow("q", "en", "fact", [f"{n}.md" for n in range(6)], [F, F, F, F, F, T], ["5.md"])
    assert row.reciprocal_rank == pytest.approx(1 / 6)
    assert not row.evidence_at(5) and row.evidence_at(6)
    assert not row.file_hit(5) and row.file_hit(6)
    assert retrieval_metrics([row])["failures"][0]["id"] == "q"


def test_retrieval_metrics_of_only_unanswerable_rows_are_zero() -> None:
    m = retrieval_metrics([retrieval_rows()[-1]])
    assert m["overall"] == {"n": 0, "file_hit@1": 0.0, "evidence@1": 0.0, "file_hit@3": 0.0, "evidence@3": 0.0,
                            "file_hit@5": 0.0, "evidence@5": 0.0, "mrr": 0.0}
    assert m["by_lang"] == {} and m["by_kind"] == {} and m["failures"] == []


def test_file_hit_is_an_exact_path_match_not_endswith() -> None:
    """Gold paths are relative to the docs folder: ``embeddings.md`` is not ``understand-embeddings.md``,
    nor ``en/embeddings.md``; the same path spelled with ``./`` or backslashes is the same file."""
    def hit(source: str, gold: str) -> bool:
        return RetrievalRow("q", "en", "fact", [source], [F], [gold]).file_hit(1)

    assert not hit("understand-embeddings.md", "embeddings.md")
    assert not hit("docs/understand-embeddings.md", "embeddings.md")
    assert not hit("en/embeddings.md", "embeddings.md")
    assert not hit("embeddings.md", "docs/embeddings.md")
    assert hit("embeddings.md", "embeddings.md")
    assert hit("Module01/intro.md", "Module01/intro.md")
    assert hit("./Module01/intro.md", "Module01/intro.md")
    assert hit("Module01\\intro.md", "Module01/intro.md")


def test_has_phrase_ignores_case_and_whitespace() -> None:
    assert has_phrase("It listens on\n  PORT   5273 by default.", ["port 5273"])
    assert not has_phrase("It listens on port 5274.", ["port 5273"])
    assert not has_phrase("anything at all", ["", "   "])  # blank phrases never match


# ---------------------------------------------------------------- answer metrics


def tier(name: str, ttft: float | None, generation: float | None, total: float, prompt: int, completion: int) -> dict[str, object]:
    return {"tier": name, "model": name, "ttft_ms": ttft, "generation_ms": generation, "total_ms": total,
            "prompt_tokens": prompt, "completion_tokens": completion}


def row(id: str, lang: str, answerable: bool, tier_: str, answer: str, supported: bool, refused: bool, escalated: bool,
        reasons: list[str], tiers: list[dict[str, object]], cost: float, llm_only: float, judge=None, phrase: bool = False) -> AnswerRow:
    """An ``AnswerRow`` whose ``correct`` is decided as ``run_eval`` decides it (``is_correct``)."""
    return AnswerRow(id, lang, answerable, tier_, answer, is_correct(answerable, refused, phrase, judge), supported, refused,
                     escalated, reasons, tiers, cost, llm_only, judge, phrase=phrase)


def answer_rows() -> list[AnswerRow]:
    """Four answerable and two unanswerable questions.

    ttft_ms on the SLM, over five rows in this order: 50, 10, 40, 20, 30 (sorted 10..50).
    """
    judge_a = {"coherence": 4, "factuality": 5, "brevity": 3, "reason": "ok"}
    judge_b = {"coherence": 2, "factuality": 4, "brevity": 5, "reason": "meh"}
    return [
        # a1: the SLM answered with an answer phrase: correct, supported
        row("a1", "en", True, "slm", "5273 [Source 1]", True, False, False, [],
            [tier("slm", 50, 500, 550, 100, 10)], 0.001, 0.01, judge_a, phrase=True),
        # a2: escalated (short), the LLM answered without an answer phrase, but the judge gave factuality 4: correct
        row("a2", "en", True, "llm", "...", True, False, True, ["short"],
            [tier("slm", 10, 100, 110, 100, 5), tier("llm", 200, 800, 1000, 300, 40)], 0.004, 0.02, judge_b),
        # a3: escalated (short, ungrounded), the extractive tier refused although answerable
        row("a3", "tr", True, "extractive", NOT_COVERED["tr"], False, True, True, ["short", "ungrounded"],
            [tier("slm", 40, 300, 340, 90, 7), tier("extractive", 3.0, None, 1.0, 0, 12)], 0.0005, 0.015),
        # a4: the SLM answered, supported by the sources (a quote of the wrong passage) but wrong
        row("a4", "tr", True, "slm", "made up", True, False, False, [],
            [tier("slm", 20, 200, 220, 80, 3)], 0.0003, 0.012),
        # a5: unanswerable, correctly refused by the extractive tier
        row("a5", "en", False, "extractive", NOT_COVERED["en"], False, True, True, ["low_confidence"],
            [tier("extractive", 1.0, None, 3.0, 0, 6)], 0.0, 0.01),
        # a6: unanswerable, the SLM answered anyway (its supported and phrase flags must not count)
        row("a6", "en", False, "slm", "invented", True, False, False, [],
            [tier("slm", 30, 400, 430, 70, 4)], 0.0002, 0.008, phrase=True),
    ]


def test_is_correct_is_an_answer_phrase_or_a_factual_judgement_never_a_refusal() -> None:
    assert is_correct(True, False, True)
    assert not is_correct(True, False, False)  # supported or not, no answer phrase and no judge: not correct
    assert is_correct(True, False, False, {"factuality": 4})
    assert not is_correct(True, False, False, {"factuality": 3})
    assert not is_correct(True, True, True, {"factuality": 5})  # a refusal never is
    assert not is_correct(False, False, True, {"factuality": 5})  # nor an answer to an unanswerable question


def test_answer_metrics_correct_supported_and_refused_overall_and_per_tier() -> None:
    m = answer_metrics(answer_rows())
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (6, 4, 2)
    assert m["correct"] == {"n": 2, "of": 4, "rate": 0.5}  # a1 (phrase), a2 (judge); a6 is unanswerable
    assert m["supported"] == {"n": 3, "of": 4, "rate": 0.75}  # a1, a2, a4: supported is not correct
    assert m["refused"] == {"unanswerable": {"of": 2, "refused": 1, "answered_anyway": 1}, "answerable": 1}  # a5 / a6; a3
    assert m["with_answer_phrase"] == 1 and m["judged"] == 2
    assert m["per_tier"] == {
        "slm": {  # a1, a4 answerable; a6 unanswerable, answered anyway
            "answered": 3, "correct": {"n": 1, "of": 2, "rate": 0.5}, "supported": {"n": 2, "of": 2, "rate": 1.0},
            "refused": {"unanswerable": {"of": 1, "refused": 0, "answered_anyway": 1}, "answerable": 0},
        },
        "llm": {
            "answered": 1, "correct": {"n": 1, "of": 1, "rate": 1.0}, "supported": {"n": 1, "of": 1, "rate": 1.0},
            "refused": {"unanswerable": {"of": 0, "refused": 0, "answered_anyway": 0}, "answerable": 0},
        },
        "extractive": {  # a3 refused wrongly, a5 refused rightly
            "answered": 2, "correct": {"n": 0, "of": 1, "rate": 0.0}, "supported": {"n": 0, "of": 1, "rate": 0.0},
            "refused": {"unanswerable": {"of": 1, "refused": 1, "answered_anyway": 0}, "answerable": 1},
        },
    }
    assert m["escalation_rate"] == 0.5  # a2, a3, a5 of six
    assert m["escalation_reasons"] == {"short": 2, "ungrounded": 1, "low_confidence": 1}


def test_answer_metrics_latency_percentiles_per_tier() -> None:
    latency = answer_metrics(answer_rows())["latency_ms"]
    assert set(latency) == {"slm", "llm", "extractive"}
    slm = latency["slm"]
    # five values, nearest rank: p50 -> index round(0.5 * 4) = 2, p95 -> index round(0.95 * 4) = 4
    assert (slm["ttft_ms_p50"], slm["ttft_ms_p95"]) == (30.0, 50.0)
    assert (slm["generation_ms_p50"], slm["generation_ms_p95"]) == (300.0, 500.0)
    assert (slm["total_ms_p50"], slm["total_ms_p95"]) == (340.0, 550.0)
    assert latency["llm"] == {"ttft_ms_p50": 200.0, "ttft_ms_p95": 200.0, "generation_ms_p50": 800.0,
                              "generation_ms_p95": 800.0, "total_ms_p50": 1000.0, "total_ms_p95": 1000.0}
    ext = latency["extractive"]
    # two values [1.0, 3.0]: p50 -> index round(0.5) = 0, p95 -> index round(0.95) = 1
    assert (ext["total_ms_p50"], ext["total_ms_p95"]) == (1.0, 3.0)
    assert (ext["ttft_ms_p50"], ext["ttft_ms_p95"]) == (1.0, 3.0)
    assert ext["generation_ms_p50"] is None and ext["generation_ms_p95"] is None  # no values at all


def test_answer_metrics_tokens_cost_and_rubric() -> None:
    m = answer_metrics(answer_rows())
    assert m["prompt_tokens"] == 100 + 100 + 300 + 90 + 0 + 80 + 0 + 70
    assert m["completion_tokens"] == 10 + 5 + 40 + 7 + 12 + 3 + 6 + 4
    assert m["cost"] == pytest.approx(0.001 + 0.004 + 0.0005 + 0.0003 + 0.0 + 0.0002)
    assert m["llm_only_cost"] == pytest.approx(0.01 + 0.02 + 0.015 + 0.012 + 0.01 + 0.008)
    assert m["saving"] == pytest.approx(0.075 - 0.006)
    assert m["rubric"] == {"coherence": 3.0, "factuality": 4.5, "brevity": 4.0, "n": 2}  # a1 and a2 were judged


def test_answer_metrics_without_rows_or_judge() -> None:
    empty = answer_metrics([])
    assert empty["correct"] == {"n": 0, "of": 0, "rate": None} and empty["escalation_rate"] == 0.0 and empty["latency_ms"] == {}
    assert empty["per_tier"]["slm"]["correct"] == {"n": 0, "of": 0, "rate": None} and empty["per_tier"]["slm"]["answered"] == 0
    unjudged = answer_metrics([r for r in answer_rows() if r.judge is None])
    assert unjudged["rubric"] is None
    assert unjudged["latency_ms"].keys() == {"slm", "extractive"}  # no row used the LLM tier


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == 5.0
    assert percentile(values, 100) == 5.0
    twenty = [float(v) for v in range(1, 21)]
    assert percentile(twenty, 95) == 19.0  # index round(0.95 * 19) = 18
    assert percentile(twenty, 50) == 11.0  # index round(9.5) = 10 (round half to even)
    assert percentile([1.26], 50) == 1.3  # rounded to one decimal
    assert percentile([], 50) is None


# ---------------------------------------------------------------- calibration


def test_best_threshold_separable() -> None:
    scores = [(0.6, True), (0.7, True), (0.8, True), (0.1, False), (0.2, False), (0.3, False)]
    cut = best_threshold(scores)
    assert cut.value == pytest.approx(0.45)
    assert cut.accuracy == 1.0
    assert (cut.positives_kept, cut.negatives_rejected) == (3, 3)
    assert cut.scores == scores


def test_best_threshold_with_overlap_maximizes_balanced_accuracy() -> None:
    # positives 0.5 0.7 0.8 0.9, negatives 0.1 0.2 0.6:
    #   cut 0.35 keeps 4/4, rejects 2/3: balanced 0.833 (plain accuracy 6/7, widest gap 0.3)
    #   cut 0.65 keeps 3/4, rejects 3/3: balanced 0.875 (plain accuracy 6/7 too)
    scores = [(0.5, True), (0.7, True), (0.8, True), (0.9, True), (0.1, False), (0.2, False), (0.6, False)]
    cut = best_threshold(scores)
    assert cut.value == pytest.approx(0.65)
    assert cut.accuracy == 0.875
    assert (cut.positives_kept, cut.negatives_rejected) == (3, 3)


def test_best_threshold_ties_take_the_widest_gap() -> None:
    # cut 0.2 and cut 0.75 both reach 0.75 balanced accuracy; 0.6..0.9 is wider than 0.1..0.3
    cut = best_threshold([(0.3, True), (0.9, True), (0.1, False), (0.6, False)])
    assert cut.value == pytest.approx(0.75)
    assert cut.accuracy == 0.75
    assert (cut.positives_kept, cut.negatives_rejected) == (1, 2)


def test_best_threshold_lower_is_positive() -> None:
    scores = [(0.1, True), (0.2, True), (0.3, True), (0.6, False), (0.7, False), (0.8, False)]
    cut = best_threshold(scores, higher_is_positive=False)
    assert cut.value == pytest.approx(0.45)
    assert cut.accuracy == 1.0
    assert (cut.positives_kept, cut.negatives_rejected) == (3, 3)
    assert best_threshold(scores).accuracy == 0.5  # the wrong direction separates nothing


@pytest.mark.parametrize("scores", [[(0.5, True), (0.7, True)], [(0.1, False)], []])
def test_best_threshold_needs_both_classes(scores: list[tuple[float, bool]]) -> None:
    with pytest.raises(ConfigError, match="both kinds"):
        best_threshold(scores)


# ---------------------------------------------------------------- the question file


def test_load_qa_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "e1", "lang": "en", "question": "What port?", "gold": ["foundry.md"], "answer_phrases": ["5273"], "kind": "howto", "extra": 1}\n'
        "\n"
        '{"id": "u1", "question": "Bike tyres?"}\n',
        encoding="utf-8",
    )
    items = load_qa(path)
    assert [i.id for i in items] == ["e1", "u1"]
    assert items[0].gold == ["foundry.md"] and items[0].answer_phrases == ["5273"] and items[0].kind == "howto"
    assert items[0].answerable
    assert (items[1].lang, items[1].kind, items[1].gold, items[1].answerable) == ("en", "fact", [], False)


@pytest.mark.parametrize("bad", ['{"id": "x", "question": ', '{"id": "x", "lang": "en"}', '["not", "an", "object"]'])
def test_load_qa_bad_line_names_file_and_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "a", "question": "Q?"}\n\n' + bad + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_qa(path)
    message = str(info.value)
    assert f"{path}:3:" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_load_qa_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="has no questions"):
        load_qa(path)


def test_load_qa_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the question file"):
        load_qa(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------- the judge's reply


def test_parse_scores_clean_json() -> None:
    assert parse_scores('{"coherence": 4, "factuality": 5, "brevity": 3, "reason": "fine"}') == {
        "coherence": 4, "factuality": 5, "brevity": 3, "reason": "fine"}


def test_parse_scores_json_inside_chatter() -> None:
    reply = 'Sure! {not json} Here you go: {"coherence": "4", "factuality": 4.6,\n "brevity": 2, "reason": "a  bit   long"} Hope it helps.'
    assert parse_scores(reply) == {"coherence": 4, "factuality": 5, "brevity": 2, "reason": "a bit long"}


def test_parse_scores_skips_objects_without_scores() -> None:
    reply = '{"note": "thinking"} then {"coherence": 3, "factuality": 3, "brevity": 3}'
    assert parse_scores(reply) == {"coherence": 3, "factuality": 3, "brevity": 3, "reason": ""}


def test_parse_scores_clamps_to_1_to_5() -> None:
    assert parse_scores('{"coherence": 9, "factuality": 0, "brevity": -3, "reason": "x"}') == {
        "coherence": 5, "factuality": 1, "brevity": 1, "reason": "x"}


@pytest.mark.parametrize("reply", ["", "OK", "coherence 4, factuality 5", '{"coherence": 4, "factuality": 5}', '{"coherence": "high", "factuality": 5, "brevity": 3}'])
def test_parse_scores_without_scores_is_none(reply: str) -> None:
    assert parse_scores(reply) is None


# ---------------------------------------------------------------- run_eval end to end

DOCS = {
    "en/foundry.md": "# Foundry Local\n\nFoundry Local listens on port 5273 by default. Start the service with the foundry service start command.\n",
    "en/quantization.md": "# Quantization\n\nQuantization stores model weights as four-bit integers to save memory.\n",
    "en/olive.md": "# Olive\n\nOlive optimizes models with passes such as pruning and graph fusion.\n",
    "en/hardware.md": "# Hardware\n\nThe Jetson Orin board we tested has sixteen gigabytes of memory.\n",
    "en/lighthouse.md": "# Lighthouse\n\nThe harbour lighthouse was painted cobalt blue in 1987.\n",
    "en/escalation.md": "# Escalation\n\nThe assistant escalates to the larger model when the answer is shorter than six hundred characters.\n",
    "tr/kurulum.md": "# Kurulum\n\nFoundry Local kurulumu için winget komutunu çalıştırın.\n",
    "tr/istanbul.md": "# Test\n\nServis İstanbul ofisinde sınandı ve çalışıyor.\n",
    "tr/kedi.md": "# Kedi\n\nOfis kedisinin adı Pamuk ve her sabah dokuzda beslenir.\n",
    "tr/bellek.md": "# Bellek\n\nJetson Orin kartında on altı gigabayt bellek bulunur.\n",
    "tr/kuantizasyon.md": "# Kuantizasyon\n\nKuantizasyon model ağırlıklarını dört bitlik tamsayılar olarak saklar.\n",
    "tr/feribot.md": "# Feribot\n\nFeribot Kadıköy iskelesinden her saat başı kalkar.\n",
}

QA = [
    QAItem(id="en-1", lang="en", question="What port does Foundry Local listen on?", gold=["foundry.md"], answer_phrases=["port 5273"]),
    QAItem(id="en-2", lang="en", question="What colour was the harbour lighthouse painted?", gold=["lighthouse.md"], answer_phrases=["cobalt blue"]),
    QAItem(
        id="en-3", lang="en", question="Which passes does Olive use to optimize models?", gold=["olive.md"], answer_phrases=["pruning and graph fusion"], kind="howto"
    ),
    QAItem(id="tr-1", lang="tr", question="Ofis kedisinin adı nedir?", gold=["kedi.md"], answer_phrases=["Pamuk"]),
    QAItem(id="tr-2", lang="tr", question="Feribot hangi iskeleden kalkar?", gold=["feribot.md"], answer_phrases=["Kadıköy iskelesinden"]),
    QAItem(id="un-1", lang="en", question="How do I patch a punctured inner tube on a road bike?", kind="unanswerable"),
]

GROUNDED = {
    "en-1": "Foundry Local listens on port 5273 by default. [Source 1]",
    "en-2": "The harbour lighthouse was painted cobalt blue in 1987. [Source 1]",
    "en-3": "Olive optimizes models with passes such as pruning and graph fusion. [Source 1]",
    "tr-1": "Ofis kedisinin adı Pamuk. [Source 1]",
    "tr-2": "Feribot Kadıköy iskelesinden her saat başı kalkar. [Source 1]",
}
SUPPORTED_EN_1 = "Foundry Local listens by default. [Source 1]"
INVENTED = "Zebras juggle purple volcanoes during thunderstorms near Saturn."
JUDGE_REPLY = '{"coherence": 4, "factuality": 5, "brevity": 3, "reason": "ok"}'


@pytest.fixture
def eval_docs(tmp_path: Path, write_files) -> Path:
    return write_files(tmp_path / "docs", DOCS)


def settings_for(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer | None, llm: bool = True, **env: str) -> Settings:
    if server is not None:
        monkeypatch.setenv("RAG_SLM_BASE_URL", server.base_url)
        if llm:
            monkeypatch.setenv("RAG_LLM_BASE_URL", server.base_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


class Progress:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, str]] = []

    def __call__(self, done: int, total: int, label: str) -> None:
        self.calls.append((done, total, label.strip()))


def rows_by_id(report: dict) -> dict[str, dict]:
    return {row["id"]: row for row in report["answer_rows"]}


def test_docs_for_picks_the_language_folder(eval_docs: Path) -> None:
    assert docs_for(eval_docs, "en") == eval_docs / "en"
    assert docs_for(eval_docs, "tr") == eval_docs / "tr"
    assert docs_for(eval_docs, "de") == eval_docs  # no de/ folder: the root


@pytest.mark.asyncio
async def test_run_eval_retrieval_only(monkeypatch: pytest.MonkeyPatch, eval_docs: Path) -> None:
    settings = settings_for(monkeypatch, None)
    progress = Progress()
    report = await run_eval(settings, QA, eval_docs, calibrate=True, progress=progress)
    assert report["questions"] == 6 and report["docs"] == str(eval_docs)
    assert "answers" not in report and "answer_rows" not in report
    r = report["retrieval"]
    assert r["overall"]["n"] == 5  # the unanswerable question is not scored
    for k in (1, 3, 5):
        assert r["overall"][f"evidence@{k}"] == 1.0
        assert r["overall"][f"file_hit@{k}"] == 1.0
    assert r["overall"]["mrr"] == 1.0
    assert {lang: b["n"] for lang, b in r["by_lang"].items()} == {"en": 3, "tr": 2}
    assert {kind: b["n"] for kind, b in r["by_kind"].items()} == {"fact": 4, "howto": 1}
    assert r["failures"] == []
    assert progress.calls == [(n, 6, "retrieval") for n in range(1, 7)]
    # one index per language folder, cached under RAG_CACHE_DIR
    assert any(settings.cache_dir.iterdir())
    cov = report["calibration"]["RAG_MIN_COVERAGE"]
    assert cov["balanced_accuracy"] == 1.0
    assert (cov["answerable_kept"], cov["unanswerable_flagged"]) == (5, 1)
    assert 0 < cov["value"] < 1
    assert "RAG_MIN_SUPPORT" not in report["calibration"]
    assert report["notes"] == []


@pytest.mark.asyncio
async def test_run_eval_retrieval_finds_a_wrong_file_as_a_failure(monkeypatch: pytest.MonkeyPatch, eval_docs: Path) -> None:
    # the phrase is not in the corpus: no evidence anywhere, so the question is a failure and scores 0
    qa = [QAItem(id="x", lang="en", question="What colour was the harbour lighthouse painted?", gold=["olive.md"], answer_phrases=["scarlet"])]
    report = await run_eval(settings_for(monkeypatch, None), qa, eval_docs, progress=Progress())
    overall = report["retrieval"]["overall"]
    assert overall["evidence@5"] == 0.0 and overall["mrr"] == 0.0
    assert overall["file_hit@1"] == 0.0  # the lighthouse passage ranks first, not olive.md
    failure = report["retrieval"]["failures"][0]
    assert failure["id"] == "x" and failure["retrieved"][0] == "lighthouse.md"


@pytest.mark.asyncio
async def test_run_eval_answers_with_judge_and_calibration(monkeypatch: pytest.MonkeyPatch, scripted: ScriptedServer, eval_docs: Path) -> None:
    """RAG_ESCALATE=never: the SLM's answer always stands, so the LLM model only judges."""
    slm_answers = {
        "en-1": GROUNDED["en-1"],
        "en-2": INVENTED,  # ungrounded
        "en-3": GROUNDED["en-3"],
        "tr-1": GROUNDED["tr-1"],
        "tr-2": NOT_COVERED["tr"],  # a refusal of an answerable question
        "un-1": "Glue a rubber patch over the hole and pump the tyre up again.",  # a wrong answer
    }
    for item in QA:
        scripted.enqueue(SLM, Script([slm_answers[item.id]]))
        scripted.enqueue(LLM, Script([JUDGE_REPLY]))
    settings = settings_for(monkeypatch, scripted, RAG_ESCALATE="never")
    progress = Progress()
    report = await run_eval(settings, QA, eval_docs, answers=True, judge=True, calibrate=True, progress=progress)

    a = report["answers"]
    assert (a["questions"], a["answerable"], a["unanswerable"]) == (6, 5, 1)
    # the judge gave every answer factuality 5: correct is every answerable one that is not a refusal (en-2 too)
    assert a["correct"] == {"n": 4, "of": 5, "rate": 0.8} and a["judged"] == 6
    assert a["supported"] == {"n": 3, "of": 5, "rate": 0.6}  # en-2 is invented, tr-2 a refusal
    assert a["refused"] == {"unanswerable": {"of": 1, "refused": 0, "answered_anyway": 1}, "answerable": 1}
    assert a["per_tier"]["slm"]["answered"] == 6 and a["per_tier"]["slm"]["correct"] == a["correct"]
    assert a["with_answer_phrase"] == 3
    assert a["per_tier"]["llm"]["answered"] == 0 and a["per_tier"]["extractive"]["answered"] == 0
    assert a["escalation_rate"] == 0.0 and a["escalation_reasons"] == {}
    assert a["rubric"] == {"coherence": 4.0, "factuality": 5.0, "brevity": 3.0, "n": 6}
    assert a["prompt_tokens"] == 6 * 42  # the scripted server's usage; judge calls are not answer tokens
    assert set(a["latency_ms"]) == {"slm"}

    rows = rows_by_id(report)
    assert {i: r["correct"] for i, r in rows.items()} == {"en-1": True, "en-2": True, "en-3": True, "tr-1": True, "tr-2": False, "un-1": False}
    assert {i: r["supported"] for i, r in rows.items()} == {"en-1": True, "en-2": False, "en-3": True, "tr-1": True, "tr-2": False, "un-1": False}
    assert {i: r["phrase"] for i, r in rows.items()} == {"en-1": True, "en-2": False, "en-3": True, "tr-1": True, "tr-2": False, "un-1": False}
    assert rows["tr-2"]["refused"] and not rows["un-1"]["refused"]
    assert all(r["tier"] == "slm" and r["answer"] == slm_answers[i] for i, r in rows.items())
    assert all(r["judge"] == {"coherence": 4, "factuality": 5, "brevity": 3, "reason": "ok"} for r in rows.values())

    judged = [r for r in scripted.requests if r["model"] == LLM]
    assert len(judged) == 6
    assert judged[0]["body"]["messages"][0]["content"] == JUDGE_INSTRUCTIONS
    assert slm_answers["en-1"] in judged[0]["body"]["messages"][-1]["content"]
    assert len([r for r in scripted.requests if r["model"] == SLM]) == 6

    cal = report["calibration"]
    assert cal["RAG_MIN_COVERAGE"]["balanced_accuracy"] == 1.0
    sup = cal["RAG_MIN_SUPPORT"]  # the drafts were mixed: with an answer phrase en-1, en-3, tr-1; without en-2, tr-2
    assert sup["balanced_accuracy"] == 1.0 and (sup["correct_kept"], sup["wrong_escalated"]) == (3, 2)
    assert progress.calls[-1] == (6, 6, "answers")
    assert [c for c in progress.calls if c[2] == "answers"] == [(n, 6, "answers") for n in range(1, 7)]
    assert f"SLM: {SLM} at {scripted.base_url} (configured)" in report["notes"]
    assert not any("rubric skipped" in n or "RAG_MIN_SUPPORT" in n for n in report["notes"])


@pytest.mark.asyncio
async def test_run_eval_answers_escalate_to_the_llm_and_the_extractive_tier(monkeypatch: pytest.MonkeyPatch, scripted: ScriptedServer, eval_docs: Path) -> None:
    """Automatic escalation with the shipped policy: requests go SLM, then the LLM where the policy fires, in question order."""
    scripted.enqueue(SLM, Script([SUPPORTED_EN_1]))  # stands: supported and cited, but without the answer phrase
    scripted.enqueue(SLM, Script([INVENTED]))  # uncited, a name no source has, ungrounded ->
    scripted.enqueue(LLM, Script([GROUNDED["en-2"]]))  # the LLM answers
    scripted.enqueue(SLM, Script([INVENTED]))  # the same ->
    scripted.enqueue(LLM, Script([INVENTED]))  # the LLM's answer is ungrounded too -> extractive
    scripted.enqueue(SLM, Script([GROUNDED["tr-1"]]))  # stands
    scripted.enqueue(SLM, Script([NOT_COVERED["tr"]]))  # refusal although covered ->
    scripted.enqueue(LLM, Script([GROUNDED["tr-2"]]))  # the LLM answers
    scripted.enqueue(SLM, Script([NOT_COVERED["en"]]))  # low confidence ->
    scripted.enqueue(LLM, Script([NOT_COVERED["en"]]))  # the LLM refuses too: correct
    settings = settings_for(monkeypatch, scripted)
    report = await run_eval(settings, QA, eval_docs, answers=True, progress=Progress())

    rows = rows_by_id(report)
    invented = ["uncited", "invented", "ungrounded"]
    assert {i: (r["tier"], r["escalated"], r["reasons"]) for i, r in rows.items()} == {
        "en-1": ("slm", False, []),
        "en-2": ("llm", True, invented),
        "en-3": ("extractive", True, invented),
        "tr-1": ("slm", False, []),
        "tr-2": ("llm", True, ["refusal"]),
        "un-1": ("llm", True, ["low_confidence"]),
    }
    a = report["answers"]
    nobody_refused = {"unanswerable": {"of": 0, "refused": 0, "answered_anyway": 0}, "answerable": 0}
    assert a["per_tier"] == {
        # en-1 is supported by the sources and cited, but holds no answer phrase: supported, not correct
        "slm": {"answered": 2, "correct": {"n": 1, "of": 2, "rate": 0.5}, "supported": {"n": 2, "of": 2, "rate": 1.0}, "refused": nobody_refused},
        "llm": {"answered": 3, "correct": {"n": 2, "of": 2, "rate": 1.0}, "supported": {"n": 2, "of": 2, "rate": 1.0},
                "refused": {"unanswerable": {"of": 1, "refused": 1, "answered_anyway": 0}, "answerable": 0}},
        "extractive": {"answered": 1, "correct": {"n": 1, "of": 1, "rate": 1.0}, "supported": {"n": 1, "of": 1, "rate": 1.0}, "refused": nobody_refused},
    }
    assert a["correct"] == {"n": 4, "of": 5, "rate": 0.8} and a["supported"] == {"n": 5, "of": 5, "rate": 1.0}
    assert a["with_answer_phrase"] == 4 and a["judged"] == 0
    assert (rows["en-1"]["correct"], rows["en-1"]["supported"], rows["en-1"]["phrase"]) == (False, True, False) and rows["en-1"]["support"] >= 0.9
    assert "pruning and graph fusion" in rows["en-3"]["answer"]  # it quotes olive.md
    assert (rows["en-3"]["draft"], rows["en-1"]["draft"]) == (INVENTED, None)  # the escalated SLM answer is kept
    assert a["refused"] == {"unanswerable": {"of": 1, "refused": 1, "answered_anyway": 0}, "answerable": 0}
    assert a["escalation_rate"] == pytest.approx(4 / 6, abs=1e-3)
    assert a["escalation_reasons"] == {"uncited": 2, "invented": 2, "ungrounded": 2, "refusal": 1, "low_confidence": 1}
    assert set(a["latency_ms"]) == {"slm", "llm", "extractive"}
    assert a["rubric"] is None
    assert 0 < a["cost"] < a["llm_only_cost"] and a["saving"] == pytest.approx(a["llm_only_cost"] - a["cost"], abs=2e-6)
    assert [r["model"] for r in scripted.requests] == [SLM, SLM, LLM, SLM, LLM, SLM, SLM, LLM, SLM, LLM]


@pytest.mark.asyncio
async def test_run_eval_judge_without_an_llm_tier_skips_the_rubric(monkeypatch: pytest.MonkeyPatch, scripted: ScriptedServer, eval_docs: Path) -> None:
    scripted.enqueue(SLM, Script([GROUNDED["en-1"]]), Script([GROUNDED["tr-1"]]))
    settings = settings_for(monkeypatch, scripted, llm=False, RAG_ESCALATE="never")
    qa = [QA[0], QA[3]]
    report = await run_eval(settings, qa, eval_docs, answers=True, judge=True, progress=Progress())
    a = report["answers"]
    assert a["rubric"] is None and a["judged"] == 0
    assert a["correct"] == {"n": 2, "of": 2, "rate": 1.0}
    assert all(row["judge"] is None for row in report["answer_rows"])
    skipped = [n for n in report["notes"] if n.startswith("rubric skipped")]
    assert len(skipped) == 1 and "RAG_LLM_BASE_URL" in skipped[0]
    assert [r["model"] for r in scripted.requests] == [SLM, SLM]
    assert "calibration" not in report


@pytest.mark.asyncio
async def test_run_eval_calibration_needs_unanswerable_questions(monkeypatch: pytest.MonkeyPatch, eval_docs: Path) -> None:
    """Without unanswerable questions the threshold can't be calibrated: a note, and the report is still made."""
    report = await run_eval(settings_for(monkeypatch, None), QA[:2], eval_docs, calibrate=True, progress=Progress())
    assert report["calibration"] == {}
    assert any("RAG_MIN_COVERAGE not calibrated" in n for n in report["notes"])
    assert report["retrieval"]["overall"]["n"] == 2


# ---------------------------------------------------------------- the report


def full_report(docs: str = "/data/docs <en & tr>") -> dict:
    rows = answer_rows()
    return {
        "questions": 6,
        "docs": docs,
        "retrieval": retrieval_metrics(retrieval_rows()),
        "notes": ["LLM: unavailable: a note"],
        "answers": answer_metrics(rows),
        "answer_rows": [row.__dict__ for row in rows],
        "calibration": {"RAG_MIN_COVERAGE": {"value": 0.45, "balanced_accuracy": 1.0, "answerable_kept": 4, "unanswerable_flagged": 2}},
        "seconds": 1.5,
    }


def inline_plotly_once(page: str) -> None:
    assert page.count("plotly.js v") == 1  # the library's banner: inline, once
    assert page.count("window.PlotlyConfig") == 1
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from elsewhere (no cdn.plot.ly)
    assert len(page) > 1_000_000  # the minified library itself


def test_write_report_with_answers(tmp_path: Path) -> None:
    report = full_report()
    json_path, html_path = write_report(report, tmp_path / "out" / "nested")
    assert (json_path, html_path) == (tmp_path / "out" / "nested" / "report.json", tmp_path / "out" / "nested" / "report.html")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert {"retrieval", "answers", "answer_rows", "calibration", "notes"} <= data.keys()
    assert data["retrieval"]["overall"]["n"] == 4
    # the keys, overall and per tier
    answers = data["answers"]
    assert {"correct", "supported", "refused"} <= answers.keys()
    assert all({"correct", "supported", "refused"} <= answers["per_tier"][t].keys() for t in ("slm", "llm", "extractive"))
    assert answers["correct"] == {"n": 2, "of": 4, "rate": 0.5}
    assert data == json.loads(json.dumps(report))
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html><html") and page.endswith("</body></html>")
    inline_plotly_once(page)
    # answers per tier, retrieval, latency, tokens, cost, escalation reasons
    assert page.count('class="plotly-graph-div"') == 6
    titles = ("Answers per answering tier: 2 of 4 correct", "Retrieval: evidence@k by language", "Latency per tier (ms)",
              "Tokens per tier", "Simulated cost (USD)", "Escalation reasons")
    assert all(title in page for title in titles)
    assert [page.index(t) for t in titles] == sorted(page.index(t) for t in titles)  # the answers lead
    assert "/data/docs &lt;en &amp; tr&gt;" in page and "<en & tr>" not in page  # escaped
    # the page leads with correct, before any other figure
    lead = "<h2>Correct: 2/4 (50%) answerable questions · supported by the sources: 3/4 (75%) · unanswerable: 1/2 refused, 1 answered anyway</h2>"
    assert lead in page and page.index(lead) < page.index("## Answers") < page.index("## Retrieval")


def test_write_report_retrieval_only_has_one_figure(tmp_path: Path) -> None:
    report = {"questions": 5, "docs": "docs", "retrieval": retrieval_metrics(retrieval_rows()), "notes": [], "seconds": 0.2}
    json_path, html_path = write_report(report, tmp_path)
    assert "answers" not in json.loads(json_path.read_text(encoding="utf-8"))
    page = html_path.read_text(encoding="utf-8")
    inline_plotly_once(page)
    assert page.count('class="plotly-graph-div"') == 1
    assert "Latency per tier" not in page


def test_markdown_summary() -> None:
    text = markdown_summary(full_report())
    lines = text.splitlines()
    # the answers lead, and correct leads the answers
    assert lines[:3] == [
        "## Answers",
        "",
        "**Correct: 2/4 (50%) answerable questions · supported by the sources: 3/4 (75%) · unanswerable: 1/2 refused, 1 answered anyway**",
    ]
    assert lines.index("## Answers") < lines.index("## Retrieval")
    header = "| tier | answered | correct | supported | unanswerable refused | unanswerable answered anyway | answerable refused | TTFT p50/p95 ms | total p50/p95 ms |"
    assert header in lines
    assert "| all | 6 | 2/4 (50%) | 3/4 (75%) | 1/2 | 1 | 1 | — | — |" in lines
    assert "| slm | 3 | 1/2 (50%) | 2/2 (100%) | 0/1 | 1 | 0 | 30.0/50.0 | 340.0/550.0 |" in lines
    assert "| extractive | 2 | 0/1 (0%) | 0/1 (0%) | 1/1 | 0 | 1 | 1.0/3.0 | 1.0/3.0 |" in lines
    assert any("judge's factuality >= 4 (2 judged)" in line for line in lines)
    assert "| scope | n | evidence@1 | evidence@3 | evidence@5 | file-hit@5 | MRR |" in lines
    assert "| overall | 4 | 0.25 | 0.5 | 0.75 | 1.0 | 0.438 |" in lines
    assert "| lang tr | 2 | 0.0 | 0.0 | 0.5 | 1.0 | 0.125 |" in lines
    assert "| kind howto | 2 | 0.0 | 0.5 | 1.0 | 1.0 | 0.375 |" in lines
    assert "Not found in the top 5 (1): q3" in lines
    assert "Rubric (1–5, n=2): coherence 3.0, factuality 4.5, brevity 4.0" in lines
    assert "- `RAG_MIN_COVERAGE=0.45` (balanced accuracy 1.0)" in lines
    assert "> LLM: unavailable: a note" in lines


def test_markdown_summary_retrieval_only() -> None:
    report = {"questions": 4, "docs": "d", "retrieval": retrieval_metrics(retrieval_rows()[:2]), "notes": []}
    text = markdown_summary(report)
    assert text.startswith("## Retrieval")
    assert "## Answers" not in text and "## Calibration" not in text and "Not found" not in text


# ---------------------------------------------------------------- rag eval




def write_qa(path: Path, items: list[QAItem]) -> Path:
    path.write_text("".join(item.model_dump_json() + "\n" for item in items), encoding="utf-8")
    return path


def test_cli_eval_writes_the_report(tmp_path: Path, eval_docs: Path) -> None:
    qa = write_qa(tmp_path / "qa.jsonl", QA)
    out = tmp_path / "out"
    proc = rag(["eval", "--qa", str(qa), "--docs", str(eval_docs), "--out", str(out), "--calibrate"], clean_env(tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## Retrieval")
    assert "| overall | 5 | 1.0 | 1.0 | 1.0 | 1.0 | 1.0 |" in proc.stdout.splitlines()
    assert "`RAG_MIN_COVERAGE=" in proc.stdout
    assert "## Answers" not in proc.stdout
    assert (out / "report.json").is_file() and (out / "report.html").is_file()
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["retrieval"]["overall"]["n"] == 5
    assert f"wrote {out / 'report.json'}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_eval_judge_runs_the_answers(scripted: ScriptedServer, tmp_path: Path, eval_docs: Path) -> None:
    """--judge implies --answers; the LLM model only judges (RAG_ESCALATE=never)."""
    scripted.enqueue(SLM, Script([GROUNDED["en-1"]]), Script([NOT_COVERED["en"]]))
    scripted.enqueue(LLM, Script([JUDGE_REPLY]), Script([JUDGE_REPLY]))
    qa = write_qa(tmp_path / "qa.jsonl", [QA[0], QA[5]])
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=scripted.base_url, RAG_ESCALATE="never")
    proc = rag(["eval", "--qa", str(qa), "--docs", str(eval_docs), "--out", str(tmp_path / "out"), "--judge"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## Answers\n\n**Correct: 1/1 (100%) answerable questions")
    assert "unanswerable: 1/1 refused, 0 answered anyway" in proc.stdout
    assert "Rubric (1–5, n=2): coherence 4.0, factuality 5.0, brevity 3.0" in proc.stdout
    assert [r["model"] for r in scripted.requests] == [SLM, LLM, SLM, LLM]
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["answers"]["correct"] == {"n": 1, "of": 1, "rate": 1.0} and data["answers"]["rubric"]["n"] == 2
    assert data["answers"]["refused"]["unanswerable"] == {"of": 1, "refused": 1, "answered_anyway": 0}


def test_cli_eval_missing_qa_file(tmp_path: Path, eval_docs: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    proc = rag(["eval", "--qa", str(missing), "--docs", str(eval_docs), "--out", str(tmp_path / "out")], clean_env(tmp_path), tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Cannot read the question file") and str(missing) in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_eval_bad_qa_line(tmp_path: Path, eval_docs: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(QA[0].model_dump_json() + "\n" + '{"id": "broken", "question": \n', encoding="utf-8")
    proc = rag(["eval", "--qa", str(qa), "--docs", str(eval_docs), "--out", str(tmp_path / "out")], clean_env(tmp_path), tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {qa}:2:")
    assert "Traceback" not in proc.stderr


def test_report_html_renders_offline_in_chromium(tmp_path: Path) -> None:
    """The report opens from disk with the network cut: every chart is drawn by the inlined plotly.js."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")

    _, html_path = write_report(full_report(), tmp_path / "out")
    shots = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 1600})
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html_path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
        assert page.locator(".js-plotly-plot").count() == 6
        assert page.evaluate("typeof window.Plotly") == "object"
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        page.screenshot(path=str(shots / "eval-report.png"), full_page=True)


def test_the_coverage_judgement_is_scored_on_both_kinds_of_question() -> None:
    from rag.evaluation.qa import RetrievalRow, coverage_metrics, retrieval_metrics

    rows = [
        RetrievalRow("a1", "en", "fact", ["x.md"], [True], ["x.md"], covered=True),
        RetrievalRow("a2", "en", "fact", ["x.md"], [False], ["x.md"], covered=False, reason="the documents never use 'broken'"),
        RetrievalRow("u1", "en", "unanswerable", ["x.md"], [False], [], covered=False),
        RetrievalRow("u2", "tr", "unanswerable", ["x.md"], [False], [], covered=True),
    ]
    cov = coverage_metrics(rows)
    assert (cov["unanswerable_flagged"], cov["unanswerable"], cov["answerable_flagged"], cov["answerable"]) == (1, 2, 1, 2)
    assert cov["missed"] == [{"id": "u2", "lang": "tr"}]
    assert cov["wrongly_flagged"] == [{"id": "a2", "lang": "en", "reason": "the documents never use 'broken'"}]
    assert retrieval_metrics(rows)["coverage"] == cov
    assert retrieval_metrics(rows)["overall"]["n"] == 2  # retrieval figures stay on answerable questions
