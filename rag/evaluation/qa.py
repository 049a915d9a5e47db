"""Evaluation on a question set: retrieval metrics, answer metrics, calibration.

Pure functions over plain records; ``rag.evaluation.run`` runs the index and the
pipeline to produce them, ``rag.evaluation.report`` writes them out.

Definitions (the dev set's README): for a question with gold files,
``evidence@k`` is 1 when any of the top-k passages contains any answer phrase
(case- and whitespace-insensitive), ``file_hit@k`` when any of them comes from a
gold file (the same path relative to the docs folder, exactly: ``embeddings.md``
is not ``understand-embeddings.md``); ``mrr`` is the mean of 1/rank of the first
passage with evidence (0 when none in the retrieved list).

Answers, three separate questions:

- **correct** (the headline): an answerable question whose answer holds an
  answer phrase, or, when a judge scored it, got factuality >= 4; a refusal is
  never correct. Quoting the sources is not enough: a quote of the wrong
  passage is supported and wrong.
- **supported** by the sources: the answer's content words are in the passages
  it was given (lexical support >= ``RAG_MIN_SUPPORT``), refusals aside.
- **refused**: unanswerable questions refused or answered anyway; answerable
  questions refused (a wrong refusal).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from rag.errors import ConfigError
from rag.tiers.base import TierName

__all__ = [
    "AnswerRow",
    "QAItem",
    "RetrievalRow",
    "answer_metrics",
    "best_threshold",
    "coverage_metrics",
    "has_phrase",
    "is_correct",
    "load_qa",
    "norm",
    "percentile",
    "retrieval_metrics",
]

KS = (1, 3, 5)


class QAItem(BaseModel):
    """One line of a QA file (the format of ../shared/eval/dev_qa.jsonl)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    lang: str = "en"
    question: str
    gold: list[str] = []
    answer_phrases: list[str] = []
    kind: str = "fact"

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_qa(path: Path) -> list[QAItem]:
    """Parse a JSON Lines QA file; a bad line fails with its number and what is wrong."""
    items: list[QAItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"Cannot read the question file {path}: {err.strerror or err}. Pass --qa FILE.") from err
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(QAItem.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as err:
            raise ConfigError(f"{path}:{number}: not a valid question ({str(err).splitlines()[0]}); see docs/evaluation.md for the format.") from err
    if not items:
        raise ConfigError(f"{path} has no questions: one JSON object per line, see docs/evaluation.md.")
    return items


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def has_phrase(text: str, phrases: Iterable[str]) -> bool:
    t = norm(text)
    return any(norm(p) in t for p in phrases if p.strip())


@dataclass
class RetrievalRow:
    id: str
    lang: str
    kind: str
    sources: list[str]  # retrieved, in rank order
    evidence: list[bool]  # per retrieved passage: holds an answer phrase
    gold: list[str]
    covered: bool = True  # retrieval's judgement: the documents cover the question
    reason: str = ""  # why not, when not

    def file_hit(self, k: int) -> bool:
        """A top-``k`` passage comes from a gold file: the same relative path, exactly (not ``endswith``)."""
        gold = {_path(g) for g in self.gold}
        return any(_path(s) in gold for s in self.sources[:k])

    def evidence_at(self, k: int) -> bool:
        return any(self.evidence[:k])

    @property
    def reciprocal_rank(self) -> float:
        for rank, ok in enumerate(self.evidence, 1):
            if ok:
                return 1.0 / rank
        return 0.0


def _path(path: str) -> str:
    """A relative path as one spelling: forward slashes, no leading ``./``."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _retrieval_block(rows: Sequence[RetrievalRow]) -> dict[str, float | int]:
    n = len(rows)
    out: dict[str, float | int] = {"n": n}
    for k in KS:
        out[f"file_hit@{k}"] = round(sum(r.file_hit(k) for r in rows) / n, 3) if n else 0.0
        out[f"evidence@{k}"] = round(sum(r.evidence_at(k) for r in rows) / n, 3) if n else 0.0
    out["mrr"] = round(sum(r.reciprocal_rank for r in rows) / n, 3) if n else 0.0
    return out


def coverage_metrics(rows: Sequence[RetrievalRow]) -> dict[str, object]:
    """How well retrieval's "the documents don't cover this" judgement separates the two kinds of question.

    ``unanswerable_flagged``: unanswerable questions judged not covered (the right call);
    ``answerable_flagged``: answerable ones judged not covered (a wrong refusal waiting to happen).
    """
    answerable = [r for r in rows if r.gold]
    unanswerable = [r for r in rows if not r.gold]
    return {
        "unanswerable": len(unanswerable),
        "unanswerable_flagged": sum(not r.covered for r in unanswerable),
        "answerable": len(answerable),
        "answerable_flagged": sum(not r.covered for r in answerable),
        "missed": [{"id": r.id, "lang": r.lang} for r in unanswerable if r.covered],
        "wrongly_flagged": [{"id": r.id, "lang": r.lang, "reason": r.reason} for r in answerable if not r.covered],
    }


def retrieval_metrics(rows: Sequence[RetrievalRow]) -> dict[str, object]:
    """Overall, per language and per kind (answerable questions only), and the coverage judgement (all)."""
    judged = list(rows)
    rows = [r for r in rows if r.gold]
    langs = sorted({r.lang for r in rows})
    kinds = sorted({r.kind for r in rows})
    return {
        "coverage": coverage_metrics(judged),
        "overall": _retrieval_block(rows),
        "by_lang": {lang: _retrieval_block([r for r in rows if r.lang == lang]) for lang in langs},
        "by_kind": {kind: _retrieval_block([r for r in rows if r.kind == kind]) for kind in kinds},
        "failures": [
            {"id": r.id, "lang": r.lang, "gold": r.gold, "retrieved": r.sources[:5]}
            for r in rows if not r.evidence_at(5)
        ],
    }


CORRECT_FACTUALITY = 4  # the judge's factuality (1-5) that counts an answer as correct


@dataclass
class AnswerRow:
    id: str
    lang: str
    answerable: bool
    tier: str
    answer: str
    correct: bool  # answerable, not refused, and an answer phrase (or the judge's factuality >= 4)
    supported: bool  # not refused, and lexical support from the sources >= the threshold
    refused: bool  # says the documents don't cover it
    escalated: bool
    reasons: list[str]
    tiers: list[dict[str, object]]  # per-tier metrics as JSON
    cost: float
    llm_only_cost: float
    judge: dict[str, object] | None = None
    support: float = 0.0
    phrase: bool = False  # holds an answer phrase
    draft: str | None = None  # the escalated SLM's answer, kept as the draft


def is_correct(answerable: bool, refused: bool, phrase: bool, judge: dict[str, object] | None = None) -> bool:
    """The headline: an answer phrase, or the judge's factuality >= 4 when it scored the answer; never a refusal."""
    if not answerable or refused:
        return False
    return phrase or (judge is not None and float(judge.get("factuality", 0)) >= CORRECT_FACTUALITY)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    index = min(len(vals) - 1, max(0, int(round(q / 100 * (len(vals) - 1)))))
    return round(float(vals[index]), 1)


def _share(n: int, of: int) -> dict[str, object]:
    return {"n": n, "of": of, "rate": round(n / of, 3) if of else None}


def _answer_block(rows: Sequence[AnswerRow]) -> dict[str, object]:
    """correct, supported (over answerable questions) and refused, for a set of rows."""
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    refused_unanswerable = sum(r.refused for r in unanswerable)
    return {
        "answered": len(rows),
        "correct": _share(sum(r.correct for r in answerable), len(answerable)),
        "supported": _share(sum(r.supported for r in answerable), len(answerable)),
        "refused": {
            "unanswerable": {"of": len(unanswerable), "refused": refused_unanswerable, "answered_anyway": len(unanswerable) - refused_unanswerable},
            "answerable": sum(r.refused for r in answerable),  # wrong refusals
        },
    }


def answer_metrics(rows: Sequence[AnswerRow]) -> dict[str, object]:
    """Answers: correct, supported and refused overall and per answering tier, then escalation, latency, tokens, cost, rubric."""
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    per_tier = {tier: _answer_block([r for r in rows if r.tier == tier]) for tier in (TierName.SLM, TierName.LLM, TierName.EXTRACTIVE)}
    latency: dict[str, dict[str, float | None]] = {}
    for tier in (TierName.SLM, TierName.LLM, TierName.EXTRACTIVE):
        metrics = [t for r in rows for t in r.tiers if t.get("tier") == tier]
        if not metrics:
            continue
        latency[tier] = {
            f"{name}_{q}": percentile([float(m[name]) for m in metrics if m.get(name) is not None], int(q[1:]))
            for name in ("ttft_ms", "generation_ms", "total_ms")
            for q in ("p50", "p95")
        }
    reasons: dict[str, int] = {}
    for r in rows:
        for reason in r.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
    cost = sum(r.cost for r in rows)
    llm_only = sum(r.llm_only_cost for r in rows)
    judged = [r.judge for r in rows if r.judge]
    rubric = None
    if judged:
        rubric = {
            key: round(sum(float(j[key]) for j in judged) / len(judged), 2)
            for key in ("coherence", "factuality", "brevity")
        }
        rubric["n"] = len(judged)
    overall = _answer_block(rows)
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": overall["correct"],
        "supported": overall["supported"],
        "refused": overall["refused"],
        "with_answer_phrase": sum(r.phrase for r in answerable),
        "judged": sum(r.judge is not None for r in rows),
        "per_tier": per_tier,
        "escalation_rate": round(sum(r.escalated for r in rows) / len(rows), 3) if rows else 0.0,
        "escalation_reasons": reasons,
        "latency_ms": latency,
        "prompt_tokens": sum(int(t.get("prompt_tokens", 0)) for r in rows for t in r.tiers),
        "completion_tokens": sum(int(t.get("completion_tokens", 0)) for r in rows for t in r.tiers),
        "cost": round(cost, 6),
        "llm_only_cost": round(llm_only, 6),
        "saving": round(llm_only - cost, 6),
        "rubric": rubric,
    }


@dataclass(frozen=True)
class Threshold:
    value: float
    accuracy: float  # balanced accuracy: mean of the two classes' recalls
    positives_kept: int
    negatives_rejected: int
    scores: list[tuple[float, bool]] = field(default_factory=list)


def best_threshold(scores: Sequence[tuple[float, bool]], higher_is_positive: bool = True) -> Threshold:
    """The cut that best separates positives from negatives (balanced accuracy).

    Candidates are midpoints between neighbouring distinct scores; among equally
    good cuts the midpoint of the widest gap is taken, which generalizes best.
    """
    pos = [s for s, p in scores if p]
    neg = [s for s, p in scores if not p]
    if not pos or not neg:
        raise ConfigError("Calibration needs both kinds of examples (answerable and unanswerable, or grounded and not).")
    values = sorted({s for s, _ in scores})
    candidates = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]
    best: tuple[float, float, float] | None = None  # (accuracy, gap, value)
    for i, cut in enumerate(candidates):
        kept = sum((s >= cut) if higher_is_positive else (s <= cut) for s in pos)
        rejected = sum((s < cut) if higher_is_positive else (s > cut) for s in neg)
        accuracy = (kept / len(pos) + rejected / len(neg)) / 2
        gap = (values[i] - values[i - 1]) if 0 < i < len(values) else 0.0
        key = (round(accuracy, 9), gap, cut)
        if best is None or key[:2] > best[:2]:
            best = key
    assert best is not None
    accuracy, _, value = best
    kept = sum((s >= value) if higher_is_positive else (s <= value) for s in pos)
    rejected = sum((s < value) if higher_is_positive else (s > value) for s in neg)
    return Threshold(round(value, 4), round(accuracy, 4), kept, rejected, list(scores))
