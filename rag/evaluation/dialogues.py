"""Two-turn dialogues: scoring a follow-up's retrieval with and without its history.

The format (docs/evaluation.md; the developers' set is ``../shared/eval/followups_dev.jsonl``):
``id``, ``lang``, ``kind``, ``turns`` (turn 1 with its ``question`` and ``answer``,
the last turn with its ``question``), ``gold`` and ``answer_phrases`` of the last
turn, and ``standalone``: the last turn rewritten by hand to need no history.

Each dialogue's last question is searched three ways:

- ``bare``: alone, as a history-blind search would;
- ``history``: with the earlier turns (``rag.search.followup.resolve``), as the app does;
- ``standalone``: the hand rewrite, the upper bound of any query rewriting.

``topic_switches`` makes the opposite test from a QA set: each question after an
unrelated first turn, which a good resolver must search as it searches it alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from rag.errors import ConfigError
from rag.evaluation.qa import QAItem, has_phrase
from rag.search.followup import Turn
from rag.search.retrieval import SearchResult

__all__ = ["MODES", "Dialogue", "DialogueTurn", "load_dialogues", "score_dialogues", "topic_switches"]

MODES = ("bare", "history", "standalone")


class DialogueTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: str
    answer: str = ""


class Dialogue(BaseModel):
    """One line of a dialogues file."""

    model_config = ConfigDict(extra="ignore")

    id: str
    lang: str = "en"
    kind: str = "followup"
    turns: list[DialogueTurn]
    gold: list[str] = []
    answer_phrases: list[str]
    standalone: str = ""

    @property
    def history(self) -> list[Turn]:
        return [Turn(t.question, t.answer) for t in self.turns[:-1]]

    @property
    def question(self) -> str:
        return self.turns[-1].question


def load_dialogues(path: Path) -> list[Dialogue]:
    """Parse a JSON Lines dialogues file; a bad line fails with its number and what is wrong (``ConfigError``)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"Cannot read the dialogues file {path}: {err.strerror or err}. Pass --dialogues FILE.") from err
    items: list[Dialogue] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = Dialogue.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as err:
            raise ConfigError(f"{path}:{number}: not a valid dialogue ({str(err).splitlines()[0]}); see docs/evaluation.md.") from err
        if len(item.turns) < 2:
            raise ConfigError(f"{path}:{number}: a dialogue needs at least two turns (the last one is scored).")
        items.append(item)
    if not items:
        raise ConfigError(f"{path} has no dialogues: one JSON object per line, see docs/evaluation.md.")
    return items


def topic_switches(qa: Sequence[QAItem]) -> list[Dialogue]:
    """Each answerable question after an unrelated first turn: the nearest later question of its language
    (cyclically) with other gold files, answered by its first answer phrase (as ``../shared/tools/topic_switch.py``)."""
    out: list[Dialogue] = []
    for lang in sorted({q.lang for q in qa}):
        answerable = [q for q in qa if q.lang == lang and q.gold]
        for i, item in enumerate(answerable):
            other = next((o for o in answerable[i + 1 :] + answerable[:i] if not set(o.gold) & set(item.gold)), None)
            if other is None:
                continue
            out.append(Dialogue(
                id=f"switch-{item.id}", lang=lang, kind="topic-switch",
                turns=[DialogueTurn(question=other.question, answer=other.answer_phrases[0] if other.answer_phrases else ""),
                       DialogueTurn(question=item.question)],
                gold=item.gold, answer_phrases=item.answer_phrases, standalone=item.question,
            ))
    return out


@dataclass(frozen=True, kw_only=True)
class _Row:
    lang: str
    kind: str
    hit1: dict[str, bool] = field(default_factory=dict)  # mode -> evidence@1
    hitk: dict[str, bool] = field(default_factory=dict)  # mode -> evidence@k


def score_dialogues(
    dialogues: Sequence[Dialogue], search_in: Callable[..., SearchResult], k: int = 5,
) -> dict[str, object]:
    """evidence@1 and evidence@k of each dialogue's last question, per mode, per language and per kind.

    ``search_in(dialogue, question, history)`` resolves ``question`` against
    ``history`` (empty for ``bare`` and ``standalone``) and runs the search for that
    dialogue's language, as the app does (``rag.search.retrieval.resolve_followup``). Returns
    ``{"k": k, "n": ..., "by_lang": {lang: {mode: {"evidence@1": .., "evidence@k": ..}}},
    "by_kind": {...}, "overall": {...}}``; shares in 0..1, rounded to 3 places.
    """
    rows: list[_Row] = []
    for d in dialogues:
        row = _Row(lang=d.lang, kind=d.kind)
        for mode in MODES:
            question = d.standalone if mode == "standalone" else d.question
            if mode == "standalone" and not question:
                continue
            result = search_in(d, question, d.history if mode == "history" else [])
            texts = [h.text for h in result.hits[:k]]
            row.hit1[mode] = bool(texts) and has_phrase(texts[0], d.answer_phrases)
            row.hitk[mode] = any(has_phrase(t, d.answer_phrases) for t in texts)
        rows.append(row)

    def block(subset: list[_Row]) -> dict[str, object]:
        out: dict[str, object] = {"n": len(subset)}
        for mode in MODES:
            scored = [r for r in subset if mode in r.hitk]
            if scored:
                out[mode] = {
                    "evidence@1": round(sum(r.hit1[mode] for r in scored) / len(scored), 3),
                    f"evidence@{k}": round(sum(r.hitk[mode] for r in scored) / len(scored), 3),
                }
        return out

    return {
        "k": k,
        "n": len(rows),
        "overall": block(rows),
        "by_lang": {lang: block([r for r in rows if r.lang == lang]) for lang in sorted({r.lang for r in rows})},
        "by_kind": {kind: block([r for r in rows if r.kind == kind]) for kind in sorted({r.kind for r in rows})},
    }
