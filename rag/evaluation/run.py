"""Runs an evaluation: retrieval for every question, then (optionally) answers and the rubric.

The I/O side of ``rag.evaluation.qa``: it opens one index per language folder,
runs ``search`` and ``Assistant.ask`` (temperature 0), asks the judge, and
collects the rows that ``rag.evaluation.qa`` turns into metrics: each answer is
*correct* (an answer phrase, or the judge's factuality >= 4), *supported* (its
words are in the passages, ``RAG_MIN_SUPPORT``) and *refused* or not, apart.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.answer.escalation import support
from rag.answer.pipeline import Assistant, AssistantConfig, Done
from rag.evaluation.judge import judge_answer
from rag.evaluation.qa import AnswerRow, QAItem, RetrievalRow, answer_metrics, best_threshold, has_phrase, is_correct, retrieval_metrics
from rag.search.index import Index, IndexConfig, open_index
from rag.search.retrieval import search
from rag.settings import Settings
from rag.tiers.base import TierName
from rag.tiers.discovery import Tiers, open_tiers
from rag.tiers.prompt import NOT_COVERED, is_refusal

__all__ = ["docs_for", "run_eval"]


def docs_for(root: Path, lang: str) -> Path:
    """A question in ``lang`` is asked against ``root/lang`` when that folder exists, else ``root``."""
    sub = root / lang
    return sub if sub.is_dir() else root


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def run_eval(
    settings: Settings,
    qa: Sequence[QAItem],
    docs: Path,
    answers: bool = False,
    judge: bool = False,
    calibrate: bool = False,
    progress: Callable[[int, int, str], None] = _progress,
    tiers: Tiers | None = None,
) -> dict[str, object]:
    """The report of one run (see ``rag.evaluation.report``). ``tiers``: the answering tiers to use (and close);
    None opens them from ``settings``."""
    started = time.perf_counter()
    indexes: dict[Path, Index] = {}

    def index_for(lang: str) -> Index:
        folder = docs_for(docs, lang)
        if folder not in indexes:
            indexes[folder], _ = open_index(folder, settings.cache_dir, IndexConfig.from_settings(settings))
        return indexes[folder]

    retrieval_rows: list[RetrievalRow] = []
    confidences: list[tuple[float, bool]] = []
    for n, item in enumerate(qa, 1):
        result = search(index_for(item.lang), item.question, 10, language=settings.language, min_coverage=settings.min_coverage)
        retrieval_rows.append(RetrievalRow(
            item.id, item.lang, item.kind, [h.source for h in result.hits],
            [has_phrase(h.text, item.answer_phrases) for h in result.hits], item.gold,
            result.confidence.covered, result.confidence.reason,
        ))
        confidences.append((result.confidence.coverage, item.answerable))
        progress(n, len(qa), "retrieval")
    report: dict[str, object] = {"questions": len(qa), "docs": str(docs), "retrieval": retrieval_metrics(retrieval_rows), "notes": []}
    notes: list[str] = report["notes"]

    answer_rows: list[AnswerRow] = []
    drafts: list[tuple[float, bool]] = []
    if answers:
        tiers = tiers if tiers is not None else await open_tiers(settings)
        try:
            notes.extend(s.line() for s in tiers.statuses)
            judge_client = tiers.llm.client if judge and tiers.llm is not None else None
            if judge and judge_client is None:
                notes.append(f"rubric skipped: no judge is reachable ({tiers.llm_note or 'set RAG_LLM_BASE_URL'})")
            for n, item in enumerate(qa, 1):
                index = index_for(item.lang)
                assistant = Assistant.from_tiers(index, AssistantConfig.from_settings(settings), tiers)
                done: Done | None = None
                async for event in assistant.ask(item.question, temperature=0.0):
                    if isinstance(event, Done):
                        done = event
                assert done is not None
                lang = item.lang if item.lang in NOT_COVERED else "en"
                refused = is_refusal(done.answer) or NOT_COVERED[lang].lower() in done.answer.lower()
                score = support(done.answer, [h.text for h in done.hits], index.analyzer, lang).score if done.answer.strip() else 0.0
                phrase = item.answerable and has_phrase(done.answer, item.answer_phrases)
                supported = not refused and bool(done.answer.strip()) and score >= settings.min_support
                if done.draft is not None or done.tier == TierName.SLM:
                    slm_text = done.draft if done.draft is not None else done.answer
                    if item.answerable and slm_text.strip():
                        drafts.append((support(slm_text, [h.text for h in done.hits], index.analyzer, lang).score, has_phrase(slm_text, item.answer_phrases)))
                scores = await judge_answer(judge_client, item.question, done.hits, done.answer) if judge_client else None
                answer_rows.append(AnswerRow(
                    item.id, item.lang, item.answerable, done.tier, done.answer,
                    is_correct(item.answerable, refused, phrase, scores), supported, refused, done.escalated,
                    done.reasons, [t.to_json() for t in done.metrics.tiers], done.metrics.cost,
                    done.metrics.llm_only_cost(), scores, round(score, 3), phrase, done.draft,
                ))
                progress(n, len(qa), "answers  ")
        finally:
            await tiers.aclose()
        report["answers"] = answer_metrics(answer_rows)
        report["answer_rows"] = [row.__dict__ for row in answer_rows]
    if calibrate:
        calibration: dict[str, object] = {}
        if any(a for _, a in confidences) and not all(a for _, a in confidences):
            cut = best_threshold(confidences)
            calibration["RAG_MIN_COVERAGE"] = {"value": cut.value, "balanced_accuracy": cut.accuracy,
                                               "answerable_kept": cut.positives_kept, "unanswerable_flagged": cut.negatives_rejected}
        else:  # noted, not raised: the answers and the report above are still worth writing
            notes.append("RAG_MIN_COVERAGE not calibrated: the set needs both answerable and unanswerable questions")
        if drafts and any(g for _, g in drafts) and not all(g for _, g in drafts):
            cut = best_threshold(drafts)
            calibration["RAG_MIN_SUPPORT"] = {"value": cut.value, "balanced_accuracy": cut.accuracy,
                                              "correct_kept": cut.positives_kept, "wrong_escalated": cut.negatives_rejected}
        elif answers:
            notes.append("RAG_MIN_SUPPORT not calibrated: the SLM drafts were all correct or all wrong")
        report["calibration"] = calibration
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
