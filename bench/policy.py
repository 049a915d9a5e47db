"""Calibrate the escalation policy on simulated SLM drafts of known quality.

usage: .venv/bin/python -m bench.policy [--qa FILE] [--docs-root DIR] [--json] [--show KIND] [--short-chars N] [--sweep]

For every answerable question of ../shared/eval/dev_qa.jsonl, the real retrieval
runs (the shipped settings), and drafts are built from what the SLM would have
read (its ``RAG_SLM_SOURCES`` best passages). The *gold unit* is the sentence,
list item, table row or code block of those passages that holds an answer
phrase (``rag.tiers.extractive.units``); a question whose passages hold none is a
retrieval miss, not a policy question, and is left out (counted).

Kinds (each built by a rule, never by hand for a question):

==============  ====  ===================================================================
good            good  the gold unit, lightly rephrased (a lead-in, markup dropped, a table
                      row as "cell: cell"), with its ``[Source N]``
hallucination   bad   the gold unit with one number changed (to a near value no source has)
                      or one name swapped for another name of the corpus that no source has
other_file      bad   the sentence of a non-gold file that retrieval did not return, sharing the
                      most question words: an on-topic answer from elsewhere, cited as Source 1
refusal         bad   "the documents don't cover this", in one of three wordings, although
                      they do
fragment        bad   the gold unit cut after about half of its words
empty           bad   nothing
wrong_language  bad   the matching sentence of the same document in the other language
                      (``en/`` <-> ``tr/``), with the citation
uncited_long    bad   the gold unit and three fluent general sentences, no citation
bare            bad   "Yes." with a citation, to a question that asks how, why or to compare
good_phrase     good  the answer phrase alone, cited: a terse right answer (reported, not in
                      the targets; a phrase may rightly be too short for a how or two-part question)
other_passage   bad   the sentence of a non-gold passage the SLM read that shares the most
                      question words, cited: grounded and wrong (reported, not in the targets:
                      every word is in the sources, so only a judge can tell it from the right one)
==============  ====  ===================================================================

It prints, per kind, how many drafts escalate and how often each reason fires,
then the targets (good <= 10 %, bad >= 90 %, each bad kind >= 80 %) and the
cost of the cascade against sending every question to the LLM tier, from the
per-tier prices (``RAG_*_PRICE_*``), with prompt and answer tokens counted by
tiktoken: the SLM reads its prompt and writes the draft; an escalated question
also sends the LLM its prompt (with the draft, in refine mode) and gets an
answer as long as the good draft; LLM-only sends the LLM its prompt and gets
that answer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag.answer.escalation import REASONS, Outcome, Policy, assess, decide, wants_explanation
from rag.answer.pipeline import AssistantConfig
from rag.answer.prompts import build_prompt, refine_prompt
from rag.documents.tokens import count_tokens
from rag.evaluation.qa import QAItem, has_phrase, load_qa
from rag.evaluation.run import docs_for
from rag.search.analysis import fold, fold_accents
from rag.search.index import Index, IndexConfig, open_index
from rag.search.retrieval import Hit, search
from rag.settings import Settings, load_settings
from rag.tiers.extractive import Unit, units
from rag.tiers.metrics import Prices
from rag.tiers.prompt import NOT_COVERED, is_refusal

ROOT = Path(__file__).resolve().parents[1]

SHARED = ROOT.parent / "shared"
GOOD_KINDS = ("good",)
BAD_KINDS = ("hallucination", "other_file", "refusal", "fragment", "empty", "wrong_language", "uncited_long", "bare")
# Reported, not in the targets: a grounded wrong answer (a sentence of a passage the SLM read, from a
# non-gold file) holds only supported words, cited; telling it from the right one takes a judge.
# Also reported, not in the targets: the answer phrase alone with its citation, the terse answer
# of a capable model ("58.38 (excellent mathematical reasoning) [Source 1].").
HARD_KINDS = ("other_passage",)
EXTRA_GOOD_KINDS = ("good_phrase",)
KINDS = GOOD_KINDS + EXTRA_GOOD_KINDS + BAD_KINDS + HARD_KINDS

LEADS = {
    "en": ["", "According to the documents, ", "In short: "],
    "tr": ["", "Belgelere göre ", "Kısacası: "],
}
REFUSALS = {
    "en": [NOT_COVERED["en"], "I couldn't find this in the sources.", "The sources do not mention this."],
    "tr": [NOT_COVERED["tr"], "Kaynaklarda bu konuda bilgi bulamadım.", "Bu konuda bilgi yok."],
}
FILLER = {
    "en": (
        " This is an important point to keep in mind when you plan your own setup."
        " In practice, the exact behaviour can depend on your hardware, your operating system and the version you install."
        " If anything is unclear, it is worth testing the steps on a small example first and reading the release notes."
    ),
    "tr": (
        " Bu, kendi kurulumunuzu planlarken akılda tutulması gereken önemli bir noktadır."
        " Uygulamada davranış, donanımınıza, işletim sisteminize ve kurduğunuz sürüme göre değişebilir."
        " Emin olmadığınız bir şey varsa, adımları önce küçük bir örnek üzerinde denemek ve sürüm notlarını okumak iyi olur."
    ),
}
BARE = {"en": "Yes.", "tr": "Evet."}
_TOKEN_RE = re.compile(r"(?<![\w.\-/])[^\W\d_][\w]*(?![\w\-/])")
_NUMBER_RE = re.compile(r"(?<![\w.])\d+(?![\w])")
_CODE_MARKS_RE = re.compile(r"[=(){}\[\]<>;]")


@dataclass(frozen=True)
class Draft:
    id: str
    lang: str
    kind: str
    question: str
    draft: str
    note: str = ""


@dataclass
class Row:
    draft: Draft
    outcome: Outcome
    lang: str
    slm_prompt: int
    llm_prompt: int
    llm_refine_prompt: int
    answer_tokens: int  # the good draft's length: what the LLM is assumed to write
    reasons: list[str] = dataclasses.field(default_factory=list)

    @property
    def measures(self) -> str:
        o = self.outcome
        return f"support={o.support:.2f} new_words={o.new_words} unsupported={list(o.unsupported)}"


def _stable(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


def _plain(unit: Unit) -> str:
    """A unit as an answer sentence: no list marker or emphasis; a row as "cell: cell"; code fenced."""
    if unit.kind == "code":
        return f"```\n{unit.text}\n```"
    if unit.kind == "row":
        cells = [c.strip() for c in unit.text.strip().strip("|").split("|") if c.strip()]
        return (cells[0] + ": " + ", ".join(cells[1:])) if len(cells) > 1 else " ".join(cells)
    text = re.sub(r"^(?:[-*+]|\d{1,3}[.)])\s+", "", unit.text).replace("**", "")
    return text


def _cite(text: str, n: int) -> str:
    if text.endswith("```"):
        return f"{text}\n[Source {n}]"
    body = text.rstrip()
    end = body[-1] if body and body[-1] in ".!?" else "."
    return f"{body.rstrip('.!?')} [Source {n}]{end}"


def _rephrase(text: str, lang: str, key: str) -> str:
    lead = LEADS[lang][_stable(key) % len(LEADS[lang])]
    if not lead or text.startswith("```"):
        return text
    first = text.split()[0] if text.split() else ""
    if first.istitle() and first.lower() in ("the", "a", "an", "this", "it", "these", "bu", "bir"):
        text = text[0].lower() + text[1:]
    return lead + text


def gold_unit(item: QAItem, hits: list[Hit]) -> tuple[int, Unit] | None:
    """The first unit of the SLM's passages that holds an answer phrase: (source number, unit)."""
    for n, hit in enumerate(hits, 1):
        for unit in units(hit.text):
            if has_phrase(unit.text, item.answer_phrases):
                return n, unit
    return None


def _name_pool(index: Index) -> list[str]:
    """Proper nouns of the corpus, most frequent first: words written capitalized three times or more, and more
    than twice as often capitalized as in lower case (so "Ollama" of ``ollama serve`` is one, "Model" is not)."""
    upper: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for chunk in index.chunks:
        for token in _TOKEN_RE.findall(chunk.text):
            (upper if token[0].isupper() else lower)[token if token[0].isupper() else token.lower()] += 1
    return [name for name, c in upper.most_common() if c >= 3 and len(name) >= 3 and c > 2 * lower[name.lower()]]


def hallucinate(text: str, sources: str, question: str, pool: list[str], key: str) -> tuple[str, str] | None:
    """``text`` with one number or one proper noun changed to one that neither ``sources`` nor the question has."""
    known = sources + "\n" + question
    known_numbers = set(re.findall(r"\d+", known))
    folded = fold_accents(fold(known, "en"))
    proper = set(pool)
    numbers = [m for m in _NUMBER_RE.finditer(text) if "Source" not in text[max(0, m.start() - 8) : m.start()]]
    names = [m for m in _TOKEN_RE.finditer(text) if m.group() in proper]
    options = []
    for m in numbers:
        value = int(m.group())
        for new in (value + 1, value + 2, value * 2 + 1, max(0, value - 1)):
            candidate = str(new).zfill(len(m.group()))
            if candidate != m.group() and candidate not in known_numbers:
                options.append(("number", m, candidate))
                break
    for m in names:
        for name in sorted(pool, key=lambda p: _stable(key + p)):
            if name != m.group() and fold_accents(fold(name, "en")) not in folded:
                options.append(("name", m, name))
                break
    if not options:
        return None
    what, m, new = options[_stable(key) % len(options)]
    return text[: m.start()] + new + text[m.end() :], f"{what} {m.group()} -> {new}"


def _best_sentence(item: QAItem, passages: list[tuple[int, str, str]], index: Index, key: str) -> tuple[str, int] | None:
    """The sentence or list item of ``passages`` ((source number, text, language)) sharing most question words, no answer phrase."""
    q_terms = set(index.analyzer.content_terms(item.question, item.lang))
    best: tuple[int, int, str, int] | None = None
    for n, text, lang in passages:
        for unit in units(text):
            if unit.kind not in ("prose", "item") or has_phrase(unit.text, item.answer_phrases) or len(unit.text) < 30:
                continue
            if len(_CODE_MARKS_RE.findall(unit.text)) > 2:
                continue  # a line of code a chunk cut from its fence, not a sentence a model would say
            shared = len(q_terms & set(index.analyzer.content_terms(unit.text, lang)))
            rank = (shared, -_stable(key + unit.text) % 1000)
            if best is None or rank > best[:2]:
                best = (*rank, _plain(unit), n)
    return None if best is None else (best[2], best[3])


def other_file_sentence(item: QAItem, all_hits: list[Hit], index: Index, key: str) -> tuple[str, str] | None:
    """The sentence of a non-gold file that retrieval did not return, sharing most question words, cited as Source 1.

    What a model answering from elsewhere (its training, another document) says: on topic, fluent, not in the sources.
    """
    retrieved = {h.source for h in all_hits}
    chunks = [(1, c.text, lang) for c, lang in zip(index.chunks, index.langs) if c.source not in retrieved and c.source not in item.gold]
    found = _best_sentence(item, chunks, index, key)
    return None if found is None else (_cite(found[0], 1), "from a file retrieval did not return")


def other_passage_sentence(item: QAItem, slm_hits: list[Hit], index: Index, key: str) -> tuple[str, str] | None:
    """The sentence of a non-gold passage the SLM read that shares most question words, with its citation (grounded, wrong)."""
    passages = [(n, h.text, h.lang) for n, h in enumerate(slm_hits, 1) if h.source not in item.gold]
    found = _best_sentence(item, passages, index, key)
    return None if found is None else (_cite(found[0], found[1]), "from a non-gold passage the SLM read")


def twin_sentence(item: QAItem, n: int, gold: Unit, hit: Hit, docs_root: Path) -> tuple[str, str] | None:
    """The unit of the same file in the other language folder that shares most numbers and names with ``gold``."""
    other = "tr" if item.lang == "en" else "en"
    twin = docs_root / other / hit.source
    if not twin.is_file():
        return None
    marks = set(re.findall(r"\d+|[A-Za-z][\w-]*[A-Z0-9][\w-]*|`[^`]+`", gold.text))
    best: tuple[int, str] | None = None
    for unit in units(twin.read_text(encoding="utf-8")):
        if unit.kind == "code":
            continue
        shared = len(marks & set(re.findall(r"\d+|[A-Za-z][\w-]*[A-Z0-9][\w-]*|`[^`]+`", unit.text)))
        if len(unit.text) > 20 and (best is None or shared > best[0]):
            best = (shared, _plain(unit))
    if best is None:
        return None
    return _cite(best[1], n), f"from {other}/{hit.source}"


def fragment(text: str) -> str:
    """About the first half of ``text``'s words, without its end (what a token limit leaves)."""
    tokens = text.replace("\n", " ").split()
    if len(tokens) < 3:
        return ""
    cut = max(2, min(len(tokens) - 1, round(len(tokens) * 0.55)))
    return " ".join(tokens[:cut]).rstrip(".!?")


def drafts_for(item: QAItem, hits: list[Hit], slm_hits: list[Hit], index: Index, docs_root: Path, pool: list[str]) -> list[Draft]:
    found = gold_unit(item, slm_hits)
    if found is None:
        return []
    n, unit = found
    lang = item.lang
    plain = _plain(unit)
    sources = "\n".join(h.text for h in hits)
    out = [Draft(item.id, lang, "good", item.question, _cite(_rephrase(plain, lang, item.id), n), f"{unit.kind} of Source {n}")]
    phrase = next((p for p in item.answer_phrases if p.lower() in unit.text.lower()), "")
    if phrase:
        out.append(Draft(item.id, lang, "good_phrase", item.question, _cite(phrase.strip(), n), "the answer phrase"))
    changed = hallucinate(plain, sources, item.question, pool, item.id)
    if changed is not None:
        out.append(Draft(item.id, lang, "hallucination", item.question, _cite(changed[0], n), changed[1]))
    other = other_file_sentence(item, hits, index, item.id)
    if other is not None:
        out.append(Draft(item.id, lang, "other_file", item.question, other[0], other[1]))
    wrong = other_passage_sentence(item, slm_hits, index, item.id)
    if wrong is not None:
        out.append(Draft(item.id, lang, "other_passage", item.question, wrong[0], wrong[1]))
    out.append(Draft(item.id, lang, "refusal", item.question, REFUSALS[lang][_stable(item.id) % 3]))
    cut = fragment(plain)
    if cut:
        out.append(Draft(item.id, lang, "fragment", item.question, cut))
    out.append(Draft(item.id, lang, "empty", item.question, ""))
    twin = twin_sentence(item, n, unit, slm_hits[n - 1], docs_root)
    if twin is not None:
        out.append(Draft(item.id, lang, "wrong_language", item.question, twin[0], twin[1]))
    out.append(Draft(item.id, lang, "uncited_long", item.question, plain.rstrip(".") + "." + FILLER[lang]))
    if wants_explanation(item.question):
        out.append(Draft(item.id, lang, "bare", item.question, f"{BARE[lang][:-1]} [Source {n}]."))
    return out


def run(settings: Settings, qa: list[QAItem], docs_root: Path, policy: Policy) -> tuple[list[Row], dict[str, int]]:
    config = AssistantConfig.from_settings(settings)
    indexes: dict[Path, Index] = {}
    pools: dict[Path, list[str]] = {}
    rows: list[Row] = []
    skipped = Counter()
    for item in qa:
        if not item.answerable:
            continue
        folder = docs_for(docs_root, item.lang)
        if folder not in indexes:
            indexes[folder], _ = open_index(folder, settings.cache_dir, IndexConfig.from_settings(settings))
            pools[folder] = _name_pool(indexes[folder])
        index = indexes[folder]
        result = search(index, item.question, config.top_k, language=settings.language, min_coverage=settings.min_coverage)
        hits, slm_hits = result.hits, result.hits[: config.slm_sources]
        drafts = drafts_for(item, hits, slm_hits, index, docs_root, pools[folder])
        if not drafts:
            skipped["no answer phrase in the SLM's passages"] += 1
            continue
        made = Counter(d.kind for d in drafts)
        for kind in KINDS:
            if kind in KINDS and not made[kind] and not (kind == "bare" and not wants_explanation(item.question)):
                skipped[f"no {kind} draft"] += 1
        lang = result.lang
        texts = [h.text for h in hits]
        slm_prompt = build_prompt(item.question, slm_hits, lang)
        llm_prompt = build_prompt(item.question, hits, lang)
        good = next(d for d in drafts if d.kind == "good")
        answer_tokens = count_tokens([good.draft])[0]
        for d in drafts:
            outcome = assess(item.question, d.draft, texts, index.analyzer, lang, result.confidence.covered, is_refusal(d.draft))
            refine = refine_prompt(llm_prompt, d.draft, lang) if d.draft.strip() else llm_prompt
            rows.append(Row(d, outcome, lang, *_prompt_tokens(slm_prompt, llm_prompt, refine), answer_tokens))
    apply(rows, policy)
    return rows, dict(skipped)


def apply(rows: list[Row], policy: Policy) -> None:
    """Decide every draft under ``policy`` (the measures are the policy's input, computed once)."""
    for r in rows:
        r.reasons = decide(policy, r.draft.question, r.outcome, lang=r.lang)


def rates(rows: list[Row]) -> tuple[float, float, float, str]:
    """(good escalated, bad escalated, weakest bad kind's rate, its name)."""
    good = [r for r in rows if r.draft.kind in GOOD_KINDS]
    bad = [r for r in rows if r.draft.kind in BAD_KINDS]
    per_kind = {k: [r for r in bad if r.draft.kind == k] for k in BAD_KINDS}
    worst = min((sum(bool(r.reasons) for r in v) / len(v), k) for k, v in per_kind.items() if v)
    return sum(bool(r.reasons) for r in good) / len(good), sum(bool(r.reasons) for r in bad) / len(bad), *worst


def sweep(rows: list[Row], base: Policy) -> list[str]:
    """Good and bad escalation rates as each threshold moves, the others at ``base``."""
    lines = ["| setting | value | good escalated | bad escalated | weakest bad kind |", "| --- | --- | --- | --- | --- |"]
    grid = {
        "min_support (RAG_MIN_SUPPORT)": ("min_support", [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
        "explain_words": ("explain_words", [1, 2, 3, 4, 5, 6]),
        "cut_words": ("cut_words", [2, 3, 4, 6, 8]),
        "short_chars (RAG_SHORT_ANSWER_CHARS)": ("short_chars", [0, 60, 120, 200, 600]),
    }
    for label, (name, values) in grid.items():
        for value in values:
            apply(rows, dataclasses.replace(base, **{name: value}))
            good, bad, worst, kind = rates(rows)
            mark = " (shipped)" if getattr(base, name) == value else ""
            lines.append(f"| {label} | {value}{mark} | {good:.1%} | {bad:.1%} | {kind} {worst:.0%} |")
    apply(rows, base)
    return lines


def _prompt_tokens(slm, llm, refine) -> tuple[int, int, int]:
    texts = ["\n".join(m["content"] for m in p.messages) for p in (slm, llm, refine)]
    a, b, c = count_tokens(texts)
    return a, b, c


def table(rows: list[Row]) -> tuple[list[str], dict[str, dict]]:
    shown = [r for r in REASONS if r not in ("user", "error", "budget", "topic")]
    lines = ["| kind | n | escalated | " + " | ".join(shown) + " |", "| --- | --- | --- | " + " | ".join("---" for _ in shown) + " |"]
    summary: dict[str, dict] = {}
    for kind in (*KINDS, "all bad"):
        sub = [r for r in rows if (r.draft.kind == kind if kind != "all bad" else r.draft.kind in BAD_KINDS)]
        if not sub:
            continue
        escalated = sum(bool(r.reasons) for r in sub)
        fired = Counter(reason for r in sub for reason in r.reasons)
        summary[kind] = {"n": len(sub), "escalated": escalated, "rate": escalated / len(sub), "reasons": dict(fired)}
        cells = [f"{fired[r]}" if fired[r] else "·" for r in shown]
        name = f"**{kind}**" if kind in ("good", "all bad") else kind
        lines.append(f"| {name} | {len(sub)} | {escalated} ({escalated / len(sub):.0%}) | " + " | ".join(cells) + " |")
    return lines, summary


def break_even(rows: list[Row], slm: Prices, llm: Prices) -> float:
    """The share of turns that may escalate before the cascade costs more than the LLM alone (per question, averaged)."""
    good = [r for r in rows if r.draft.kind == "good"]
    slm_cost = sum(slm.cost(r.slm_prompt, r.answer_tokens) for r in good)
    llm_refine = sum(llm.cost(r.llm_refine_prompt, r.answer_tokens) for r in good)
    llm_only = sum(llm.cost(r.llm_prompt, r.answer_tokens) for r in good)
    return (llm_only - slm_cost) / llm_refine


def costs(rows: list[Row], slm: Prices, llm: Prices, kinds: tuple[str, ...]) -> tuple[float, float]:
    """(cascade, LLM only) in USD over the drafts of ``kinds``."""
    cascade = only = 0.0
    for r in rows:
        if r.draft.kind not in kinds:
            continue
        draft_tokens = count_tokens([r.draft.draft])[0] if r.draft.draft else 0
        cascade += slm.cost(r.slm_prompt, draft_tokens)
        if r.reasons:
            cascade += llm.cost(r.llm_refine_prompt, r.answer_tokens)
        only += llm.cost(r.llm_prompt, r.answer_tokens)
    return cascade, only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=SHARED / "eval" / "dev_qa.jsonl", help="question set (JSON Lines)")
    parser.add_argument("--docs-root", type=Path, default=SHARED / "corpora" / "edgeai-workshop", help="docs folder (with en/ and tr/)")
    parser.add_argument("--short-chars", type=int, default=None, help="override RAG_SHORT_ANSWER_CHARS (e.g. 600, the workshop's)")
    parser.add_argument("--show", default="", help="print every draft of this kind with its reasons")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of the table")
    parser.add_argument("--sweep", action="store_true", help="also print the rates as each threshold moves")
    args = parser.parse_args()
    settings = load_settings()
    policy = AssistantConfig.from_settings(settings).policy
    if args.short_chars is not None:
        policy = dataclasses.replace(policy, short_chars=args.short_chars)
    rows, skipped = run(settings, load_qa(args.qa), args.docs_root, policy)
    lines, summary = table(rows)
    slm = Prices(settings.slm_price_prompt, settings.slm_price_completion)
    llm = Prices(settings.llm_price_prompt, settings.llm_price_completion)
    good_cost, good_only = costs(rows, slm, llm, GOOD_KINDS)
    all_cost, all_only = costs(rows, slm, llm, GOOD_KINDS + BAD_KINDS)
    sweep_lines = sweep(rows, policy) if args.sweep else []
    if args.show:
        for r in rows:
            if r.draft.kind == args.show:
                print(f"{r.draft.id} {r.reasons} {r.draft.note} {r.measures}\n  Q: {r.draft.question}\n  A: {r.draft.draft[:300]!r}")
    good = summary.get("good", {"rate": 0.0})
    bad = summary.get("all bad", {"rate": 0.0})
    worst = min((summary[k]["rate"], k) for k in BAD_KINDS if k in summary)
    verdict = good["rate"] <= 0.10 and bad["rate"] >= 0.90 and worst[0] >= 0.80
    result = {
        "policy": {"short_chars": policy.short_chars, "min_support": policy.min_support, "explain_words": policy.explain_words},
        "kinds": summary,
        "skipped": skipped,
        "targets_met": verdict,
        "cost": {
            "good_drafts": {"cascade": round(good_cost, 6), "llm_only": round(good_only, 6)},
            "all_drafts": {"cascade": round(all_cost, 6), "llm_only": round(all_only, 6)},
            "break_even_escalation_rate": round(break_even(rows, slm, llm), 3),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Policy: RAG_SHORT_ANSWER_CHARS={policy.short_chars}, RAG_MIN_SUPPORT={policy.min_support}, explain words={policy.explain_words}")
    print(f"Questions left out: {skipped or 'none'}\n")
    print("\n".join(lines))
    print(
        f"\ngood escalated {good['rate']:.1%} (target <= 10 %); bad escalated {bad['rate']:.1%} (target >= 90 %); "
        f"weakest bad kind {worst[1]} {worst[0]:.1%} (target >= 80 %): {'met' if verdict else 'NOT met'}"
    )
    print(
        f"cost, good drafts only (a capable SLM): cascade ${good_cost:.5f} vs LLM only ${good_only:.5f} "
        f"(saving {1 - good_cost / good_only:.0%})\n"
        f"cost, every draft of the set (1 good : {len(BAD_KINDS)} bad kinds): cascade ${all_cost:.5f} vs LLM only ${all_only:.5f} "
        f"(saving {1 - all_cost / all_only:.0%})"
    )
    print(f"break-even: the cascade costs less than the LLM alone while fewer than {break_even(rows, slm, llm):.0%} of turns escalate")
    if sweep_lines:
        print("\n" + "\n".join(sweep_lines))


if __name__ == "__main__":
    main()
