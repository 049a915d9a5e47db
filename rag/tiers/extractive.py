"""The extractive tier: the documents' own words, cited. Needs no model.

It is the answer whenever no model's answer can be trusted (on a fresh machine
with only the tiny embedded model, that is most turns), so it must read well:

- A passage is cut into *units* (``units``): sentences of prose, whole list
  items (with their continuation lines), table rows (each carrying its table's
  header row) and whole code blocks. Heading lines are never quoted.
- A unit is a candidate only when it shares the question's content words, as
  analyzed in the passage's own language (``terms_by_lang``: an English question
  over a Turkish page is matched with its Turkish terms). The opening paragraph
  of a section also counts its heading's words: "How escalation works" is what
  its first sentences are about.
- The best 1-3 units are quoted, the most relevant first. A unit after the best
  is taken when it is nearly as good and either stands in the same passage or
  adds a question word the chosen ones lack, so a weaker passage that only
  repeats one word ("supported" in an unrelated table row) is left out.
- Sentences and list items are quoted in a blockquote with ``[Source N]`` after
  them (neighbouring sentences of one passage as one quote); rows of one table
  become one small Markdown table with its header row, and code blocks stay
  whole, each with ``[Source N]`` below it, never inside a cell.
- One lead line in the question's language says where the words come from.
  When the small model's draft is a short phrase ("11434", a name, a command)
  that a quotable unit holds word for word, the answer leads with it, labelled
  as the small model's answer verified by the quote.

It is never confidently wrong: when retrieval says the documents don't cover the
question, or no unit shares its words, it says so instead of quoting.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from rag.documents.formats.canonical import closes_fence, is_delimiter_row, match_heading
from rag.documents.tokens import count_tokens
from rag.search.analysis import Analyzer
from rag.search.bm25 import Stats
from rag.search.followup import QUESTION_WEIGHT
from rag.search.retrieval import Hit
from rag.tiers.base import Delta, Finished, TierName, TierStatus
from rag.tiers.metrics import TierMetrics
from rag.tiers.prompt import CITATION_RE, NOT_COVERED, Prompt, is_refusal

__all__ = ["Extract", "ExtractiveTier", "Unit", "extract_answer", "short_phrase", "units", "word_pieces"]

_LEAD = {"en": "From the documents:", "tr": "Belgelerden:"}
_VERIFIED = {
    "en": "*The small model's answer, verified: the quoted source says it word for word.*",
    "tr": "*Küçük modelin yanıtı, doğrulandı: alıntılanan kaynak bunu aynen söylüyor.*",
}
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+(?=[\"'“(\[*_`]?[A-ZÇĞİÖŞÜ0-9])")
_ITEM_RE = re.compile(r"^(\s*)([-*+]|\d{1,3}[.)])\s+(.*)$")
_RULE_RE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")

# A second or third unit is quoted only when it scores at least this share of the best one.
RELATIVE_SCORE = 0.6
# The unit that verifies the small model's phrase must score at least this share of the best one:
# the verbatim phrase is the strong signal, relevance only has to rule out a unit about something else.
VERIFIER_SCORE = 0.5
# A later passage weighs less: retrieval ranked it lower (score / (1 + HIT_DISCOUNT * rank index)).
HIT_DISCOUNT = 0.25
# a subject term carried from an earlier question counts as much as it does in the search (rag.search.followup)
SUBJECT_WEIGHT = QUESTION_WEIGHT
# A sentence ending with a colon brings the list it introduces, up to this many items.
LIST_ITEMS = 5
# A draft longer than this is a sentence, not a phrase to verify.
MAX_PHRASE_WORDS = 8
MAX_PHRASE_CHARS = 80


@dataclass(frozen=True)
class Unit:
    """One quotable piece of a passage.

    ``kind``: "prose" (a sentence), "item" (a list item, marker kept), "row" (a table
    row; ``header`` holds its header and delimiter rows, "" when the passage starts
    inside a table) or "code" (``text`` without fences; ``header`` holds the info
    string, e.g. "bash"). ``paragraph`` numbers the blocks of the passage; ``lead``
    is the heading whose section this unit opens ("" when it opens none).
    """

    kind: str
    text: str
    paragraph: int
    header: str = ""
    lead: str = ""


@dataclass(frozen=True)
class Extract:
    text: str
    quoted: list[tuple[int, str]]  # (source number, unit text), in the order they are shown
    covered: bool
    verified: str = ""  # the small model's phrase the quote confirmed ("" when there was none)


def units(text: str) -> list[Unit]:
    """The quotable units of a passage, in reading order."""
    out: list[Unit] = []
    prose: list[str] = []
    item: list[str] | None = None  # the list item being read: its lines
    table: list[str] = []
    code: list[str] | None = None
    fence, info = "", ""
    paragraph = 0
    heading = ""  # the heading the next block opens, until a block has been read
    blank_before = False

    def close_block() -> None:
        nonlocal item, paragraph, heading
        lead = heading
        if prose:
            for sentence in _SENTENCE_RE.split(" ".join(prose)):
                if len(sentence.strip()) > 2:
                    out.append(Unit("prose", sentence.strip(), paragraph, lead=lead))
            prose.clear()
        elif item is not None:
            out.append(Unit("item", " ".join(item), paragraph, lead=lead))
            item = None
        elif table:
            header, rows = "", table
            if len(table) >= 2 and is_delimiter_row(table[1]):
                header, rows = table[0] + "\n" + table[1], table[2:]
            out.extend(Unit("row", row, paragraph, header, lead) for row in rows if not is_delimiter_row(row))
            table.clear()
        else:
            return
        paragraph += 1
        heading = ""

    for line in text.split("\n"):
        if code is not None:
            if closes_fence(line, fence):
                if any(c.strip() for c in code):
                    out.append(Unit("code", "\n".join(code).strip("\n"), paragraph, info, heading))
                    paragraph += 1
                    heading = ""
                code = None
            else:
                code.append(line)
            continue
        stripped = line.strip()
        opening = _FENCE_RE.match(line)
        if opening:
            close_block()
            code, fence, info = [], opening.group(1), opening.group(2)
            continue
        if not stripped:
            if prose or table:
                close_block()
            blank_before = True
            continue
        heading_match = match_heading(line)
        if heading_match:
            close_block()
            heading = heading_match[1]
            blank_before = False
            continue
        if _RULE_RE.match(line) and not table:
            close_block()
            continue
        if stripped.startswith("|"):
            if not table:
                close_block()
            table.append(stripped)
            blank_before = False
            continue
        if table:
            close_block()
        marker = _ITEM_RE.match(line)
        if marker:
            close_block()
            item = [f"{marker.group(2)} {marker.group(3).strip()}"]
        elif item is not None and (not blank_before or line.startswith(("  ", "\t"))):
            item.append(stripped)  # a continuation line of the item (indented, or lazy)
        else:
            if item is not None:
                close_block()
            prose.append(stripped)
        blank_before = False
    if code:  # a code block the chunk cut before its closing fence
        out.append(Unit("code", "\n".join(code).strip("\n"), paragraph, info, heading))
    close_block()
    return out


def short_phrase(draft: str) -> str:
    """The small model's draft as a phrase worth verifying, or "" when it is none.

    A phrase is a few words ("11434", "Python 3.12+", "`foundry service start`"),
    with citations, quotes, emphasis and the final full stop taken off; a
    sentence, a refusal or an empty draft is not one.

    >>> short_phrase("**11434**. [Source 1]")
    '11434'
    """
    text = CITATION_RE.sub(" ", draft)
    text = " ".join(text.replace("**", "").split()).strip()
    text = text.strip(" \"'“”‘’").rstrip(".;,").strip(" \"'“”‘’")
    if not text or is_refusal(text) or "\n" in text:
        return ""
    if len(text) > MAX_PHRASE_CHARS or len(text.split()) > MAX_PHRASE_WORDS:
        return ""
    return text


@dataclass(frozen=True)
class _Candidate:
    score: float
    hit: int  # index into the hits
    unit: int  # index into that hit's units
    terms: frozenset[str]  # the question terms it holds


def extract_answer(
    question_terms: Sequence[str],
    hits: Sequence[Hit],
    analyzer: Analyzer,
    stats: Stats,
    lang: str,
    covered: bool,
    max_units: int = 3,
    max_hits: int = 3,
    terms_by_lang: Mapping[str, Sequence[str]] | None = None,
    draft: str = "",
    subject_by_lang: Mapping[str, Sequence[str]] | None = None,
) -> Extract:
    """The best ``max_units`` units of the top ``max_hits`` passages, cited, for a question in ``lang``.

    ``question_terms`` are the question's terms in its own language (``SearchResult.terms``);
    ``terms_by_lang`` its terms per document language (``SearchResult.terms_by_lang``), used
    for each passage in the language it was analyzed in (``Hit.lang``). ``subject_by_lang``: the
    subject terms a follow-up carried from earlier questions (``SearchResult.subject_terms``),
    which count ``SUBJECT_WEIGHT`` of a question term: after "How do I install Ollama?", "and
    what port does it use?" wants the sentence with Ollama's port, not the one about installing
    it. ``draft`` is the small
    model's answer: a short phrase of it that a relevant unit holds word for word leads the
    answer. A chosen sentence that ends with a colon ("run this:") brings the unit after it,
    or the list it introduces (up to ``LIST_ITEMS`` items).
    """
    lang = lang if lang in _LEAD else "en"
    if not covered or not hits:
        return Extract(NOT_COVERED[lang], [], False)
    per_hit = [units(hit.text) for hit in hits[:max_hits]]
    candidates: list[_Candidate] = []
    for h, hit_units in enumerate(per_hit):
        hit_lang = hits[h].lang
        own = set((terms_by_lang or {}).get(hit_lang) or question_terms)
        subject = set((subject_by_lang or {}).get(hit_lang, ())) - own
        wanted = own | subject
        weight = {t: max(stats.idf(t), 0.01) * (SUBJECT_WEIGHT if t in subject else 1.0) for t in wanted}
        for u, unit in enumerate(hit_units):
            found = set(analyzer.content_terms(_plain(unit), hit_lang))
            if unit.lead:  # a section's opening paragraph is about its heading
                found.update(analyzer.content_terms(unit.lead, hit_lang))
            found &= wanted
            if found:
                score = sum(weight[t] for t in found) / (1 + HIT_DISCOUNT * h)
                candidates.append(_Candidate(score, h, u, frozenset(found)))
    if not candidates:
        return Extract(NOT_COVERED[lang], [], False)
    candidates.sort(key=lambda c: (-c.score, c.hit, c.unit))

    phrase = short_phrase(draft)
    verifier = None
    if phrase and not set(analyzer.content_terms(phrase, lang)) <= set(question_terms):  # "Ollama" to "What port does Ollama use?" says nothing
        verifier = _verifier(phrase, candidates, per_hit)
    chosen = [verifier] if verifier is not None else _choose(candidates, max_units)
    picked = [(c.hit, c.unit) for c in chosen]
    for h, u in list(picked):  # "To upgrade, run this:" brings what it introduces: the next unit, or the list
        hit_units = per_hit[h]
        if not hit_units[u].text.endswith(":"):
            continue
        follow = [u + 1] if u + 1 < len(hit_units) else []
        while follow and hit_units[follow[-1]].kind == "item" and len(follow) < LIST_ITEMS:
            nxt = follow[-1] + 1
            if nxt >= len(hit_units) or hit_units[nxt].kind != "item":
                break
            follow.append(nxt)
        at = picked.index((h, u)) + 1
        picked[at:at] = [(h, v) for v in follow if (h, v) not in picked]
    blocks = _blocks(picked, per_hit)
    quoted = [(h + 1, per_hit[h][u].text) for block in blocks for h, u in block]
    rendered = [_render(block, per_hit) for block in blocks]
    if verifier is None:
        return Extract("\n\n".join([_LEAD[lang]] + rendered), quoted, True)
    unit = per_hit[verifier.hit][verifier.unit]
    if unit.kind in ("prose", "item") and len(blocks) == 1:
        text = _strip_marker(unit.text) if unit.kind == "item" else unit.text
        parts = [f"**{phrase}** — “{text}” [Source {verifier.hit + 1}]"]
    else:  # a row, a code block, or a sentence with what its colon introduces
        parts = [f"**{phrase}** —", *rendered]
    return Extract("\n\n".join(parts + [_VERIFIED[lang]]), quoted, True, phrase)


def _choose(candidates: Sequence[_Candidate], max_units: int) -> list[_Candidate]:
    """The best candidate, then those nearly as good that continue it or add a question term.

    A candidate continues a chosen one when it is the next or previous unit of the
    same passage (the sentences of one paragraph read on); one that only repeats
    terms already held, from elsewhere, is left out.
    """
    best = candidates[0]
    chosen = [best]
    held = set(best.terms)
    for cand in candidates[1:]:
        if len(chosen) >= max_units or cand.score < RELATIVE_SCORE * best.score:
            break
        continues = any(c.hit == cand.hit and abs(c.unit - cand.unit) == 1 for c in chosen)
        if continues or not cand.terms <= held:
            chosen.append(cand)
            held |= cand.terms
    return chosen


def _verifier(phrase: str, candidates: Sequence[_Candidate], per_hit: Sequence[Sequence[Unit]]) -> _Candidate | None:
    """The most relevant candidate that holds ``phrase`` word for word (backticks and case aside).

    Only a candidate nearly as relevant as the best one can verify: "5273" in a sentence about
    Foundry Local's port does not confirm it as Ollama's port.
    """
    needle = _loose(phrase)
    if not needle:
        return None
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    for cand in candidates:  # best first
        if cand.score < VERIFIER_SCORE * candidates[0].score:
            break  # found only in a unit about something else: that verifies nothing
        if pattern.search(_loose(per_hit[cand.hit][cand.unit].text)):
            return cand
    return None


def _loose(text: str) -> str:
    """Text for a verbatim comparison: lower case, no backticks, emphasis or extra spaces."""
    return " ".join(text.replace("`", "").replace("**", "").lower().split())


def _plain(unit: Unit) -> str:
    return unit.text if unit.kind != "row" else unit.text.replace("|", " ")


def _strip_marker(text: str) -> str:
    m = _ITEM_RE.match(text)
    return m.group(3) if m else text


def _blocks(picked: Sequence[tuple[int, int]], per_hit: Sequence[Sequence[Unit]]) -> list[list[tuple[int, int]]]:
    """Picked units grouped for showing: sentences of one paragraph, rows of one table, or neighbouring
    items of one list become one block.

    Blocks keep the order of their first picked unit; inside a block, reading order.
    """
    blocks: list[list[tuple[int, int]]] = []

    def belongs(block: list[tuple[int, int]], h: int, u: int) -> bool:
        if block[0][0] != h:
            return False
        unit, first = per_hit[h][u], per_hit[h][block[0][1]]
        if unit.kind != first.kind:
            return False
        if unit.kind == "item":  # the next item of a list read so far
            return any(abs(v - u) == 1 for _, v in block)
        return unit.kind in ("prose", "row") and first.paragraph == unit.paragraph

    for h, u in picked:
        home = next((b for b in blocks if belongs(b, h, u)), None)
        if home is None:
            blocks.append([(h, u)])
        else:
            home.append((h, u))
            home.sort()
    return blocks


def _render(block: Sequence[tuple[int, int]], per_hit: Sequence[Sequence[Unit]]) -> str:
    h = block[0][0]
    first = per_hit[h][block[0][1]]
    cite = f"[Source {h + 1}]"
    if first.kind == "code":
        return f"```{first.header}\n{first.text}\n```\n{cite}"
    if first.kind == "row":
        rows = [per_hit[h][u].text for _, u in block]
        header = first.header or _blank_header(rows[0])
        return "\n".join([header, *rows]) + f"\n\n{cite}"
    if first.kind == "item":
        return "\n".join(f"> {per_hit[h][u].text}" for _, u in block) + f" {cite}"
    text = " ".join(per_hit[h][u].text for _, u in block)
    return f"> {text} {cite}"


def _blank_header(row: str) -> str:
    """A header for rows whose table header is not in the passage: empty cells, so the rows still render as a table."""
    cells = max(1, row.strip().strip("|").count("|") + 1)
    return "|" + " |" * cells + "\n|" + " --- |" * cells


class ExtractiveTier:
    """The tier that is always there: it answers with the passages' best sentences, cited (``extract_answer``).

    It reads the prompt's ``evidence`` (``rag.tiers.prompt.Evidence``), not its text; its figures are
    measured like a model's, with its tokens counted by tiktoken (``TierMetrics.estimated``).
    """

    name = TierName.EXTRACTIVE
    model = "extractive"

    def status(self) -> TierStatus:
        return TierStatus(tier=self.name, ok=True, model=self.model, origin="built in")

    async def prepare(self) -> str | None:
        return None

    async def stream(
        self, prompt: Prompt, *, max_tokens: int | None = None, temperature: float | None = None, reasoning_effort: object = None,
    ) -> AsyncIterator[Delta | Finished]:
        """The extract as word-sized deltas, then its ``Finished``. Raises ``ValueError`` for a prompt without evidence."""
        evidence = prompt.evidence
        if evidence is None:
            raise ValueError("the extractive tier needs the prompt's evidence (rag.tiers.prompt.Evidence)")
        started = time.perf_counter()
        extract = await asyncio.to_thread(  # stemming every passage's sentences: off the event loop
            functools.partial(
                extract_answer, evidence.terms, evidence.hits, evidence.analyzer, evidence.stats, evidence.lang,
                evidence.covered, terms_by_lang=evidence.terms_by_lang, subject_by_lang=evidence.subject_by_lang,
                draft=evidence.draft,
            )
        )
        first_at = time.perf_counter()
        for piece in word_pieces(extract.text):
            yield Delta(text=piece)
        metrics = TierMetrics(tier=self.name, model=self.model, ttft_ms=(first_at - started) * 1000)
        metrics.ttfa_ms = metrics.ttft_ms  # no thinking: the first token is the answer's
        metrics.total_ms = (time.perf_counter() - started) * 1000
        metrics.completion_tokens = (await asyncio.to_thread(count_tokens, [extract.text]))[0]
        metrics.estimated = True
        yield Finished(text=extract.text, metrics=metrics)

    async def aclose(self) -> None:
        return None


def word_pieces(text: str) -> list[str]:
    """Stream-sized pieces of a text (words with their trailing space)."""
    pieces, current = [], ""
    for ch in text:
        current += ch
        if ch in " \n":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces
