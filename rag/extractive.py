"""The extractive tier: the documents' own sentences, cited. Needs no model.

From the retrieved passages it picks the units (sentences of prose, whole list
items, whole table rows) that hold most of the question's idf mass, scored with
the same analysis as retrieval, and quotes them in reading order with their
``[Source N]`` citation. It is never confidently wrong: when retrieval says the
documents don't cover the question, it says so instead of quoting weak passages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.analysis import Analyzer
from rag.bm25 import Stats
from rag.prompts import NOT_COVERED
from rag.retrieval import Hit

__all__ = ["Extract", "extract_answer", "units"]

_INTRO = {"en": "From the documents:", "tr": "Belgelerden:"}
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+(?=[\"'(\[*_`]?[A-ZÇĞİÖŞÜ0-9])")
_ROW_RE = re.compile(r"^\s*(\||[-*+]\s|\d{1,3}[.)]\s)")
_SEPARATOR_ROW_RE = re.compile(r"^\s*\|?\s*:?-{3,}")


@dataclass(frozen=True)
class Extract:
    text: str
    quoted: list[tuple[int, str]]  # (source number, unit)
    covered: bool


def units(text: str) -> list[str]:
    """Quotable units of a passage: sentences, list items, table rows and code blocks, whole."""
    return [text for _, text in _units(text)]


def _units(text: str) -> list[tuple[str, str]]:
    """(kind, text) units in reading order; kind is "prose", "row" or "code"."""
    out: list[tuple[str, str]] = []
    prose: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if prose:
            out.extend(("prose", s.strip()) for s in _SENTENCE_RE.split(" ".join(prose)) if len(s.strip()) > 2)
            prose.clear()

    for line in text.split("\n"):
        if _FENCE_RE.match(line):
            if code is None:
                flush()
                code = []
            else:
                if any(c.strip() for c in code):
                    out.append(("code", "\n".join(code).strip("\n")))
                code = None
            continue
        if code is not None:
            code.append(line)
        elif not line.strip():
            flush()
        elif line.lstrip().startswith("#") or _SEPARATOR_ROW_RE.match(line):
            flush()
        elif _ROW_RE.match(line):
            flush()
            out.append(("row", line.strip()))
        else:
            prose.append(line.strip())
    flush()
    if code:  # a code block the chunk cut before its closing fence
        out.append(("code", "\n".join(code).strip("\n")))
    return out


def _quote(kind: str, unit: str, n: int) -> str:
    if kind == "code":
        return f"```\n{unit}\n```\n[Source {n}]"
    return f"> {unit} [Source {n}]"


def extract_answer(
    question_terms: Sequence[str],
    hits: Sequence[Hit],
    analyzer: Analyzer,
    stats: Stats,
    lang: str,
    covered: bool,
    max_units: int = 3,
    max_hits: int = 3,
) -> Extract:
    """The best ``max_units`` units of the top ``max_hits`` passages, cited.

    A chosen sentence that ends with a colon ("Upgrade:", "run this:") brings the
    unit after it (the command, the list item), since that is what it introduces.
    """
    lang = lang if lang in _INTRO else "en"
    if not covered or not hits:
        return Extract(NOT_COVERED[lang], [], False)
    wanted = set(question_terms)
    weight = {t: max(stats.idf(t), 0.01) for t in wanted}
    per_hit = [_units(hit.text) for hit in hits[:max_hits]]
    candidates: list[tuple[float, int, int]] = []  # (score, hit index, unit index)
    for h, hit_units in enumerate(per_hit):
        for u, (_, unit) in enumerate(hit_units):
            found = set(analyzer.terms(unit, lang)) & wanted
            if found:
                # earlier sources are preferred: retrieval ranked them higher
                candidates.append((sum(weight[t] for t in found) / (1 + 0.25 * h), h, u))
    if not candidates:
        return Extract(NOT_COVERED[lang], [], False)
    candidates.sort(key=lambda c: -c[0])
    best = candidates[0][0]
    chosen: set[tuple[int, int]] = set()
    for score, h, u in candidates[:max_units]:
        if score < 0.5 * best:
            break
        chosen.add((h, u))
        if per_hit[h][u][1].endswith(":") and u + 1 < len(per_hit[h]):
            chosen.add((h, u + 1))
    ordered = sorted(chosen)
    quoted = [(h + 1, per_hit[h][u][1]) for h, u in ordered]
    lines = [_INTRO[lang], ""] + [_quote(per_hit[h][u][0], per_hit[h][u][1], h + 1) for h, u in ordered]
    return Extract("\n".join(lines), quoted, True)
