"""One turn, as a stream of typed events: retrieve, answer on the SLM, check, escalate.

``Assistant.ask`` is an async generator that the CLI and the app both render:

    Retrieved   the hits and retrieval's confidence
    TierStart   a tier begins (with why, when it is not the first)
    Queued      the tier's request waits for the model (the embedded server's queue): how many are ahead
    Thinking    a reasoning model's thinking, as it streams (never part of an answer)
    Token       answer text from the tier that is answering
    TierEnd     a tier finished: its answer, thinking, metrics and error (partial text kept)
    Escalation  reasons fired; whether the LLM takes over or why it could not
    Done        the final answer, which tier gave it, sources, draft, each tier's thinking, metrics

An empty question gets only a ``Done`` (tier "none") that asks for one; no model
is called. A question over ``MAX_QUESTION_CHARS`` is cut to that, with a note.

The chain: SLM -> LLM when the policy escalates -> extractive when the LLM tier
is missing, fails, or its answer is ungrounded too. Nothing streamed is ever
taken back: an escalated turn keeps the SLM's text as the draft.

When the SLM is the embedded server, its ``Supervisor`` watches it: a server
that died between turns is restarted before the question is asked; one that
dies during the answer is reported as a crash (signal and log, never "nothing
answers"), restarted once, and asked again (a second ``TierStart`` for the
SLM). A server over its crash budget is skipped with the reason.

Thinking stays out of everything that reads the answer: the grounding check, the
draft the LLM refines, ``Done.answer`` (and so the history the caller sends
back). A tier that thinks until its token limit fails with reason ``budget``
(the SLM) or a note naming the setting (the LLM), and the next tier answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from rag.answer.escalation import Policy, assess, decide, support
from rag.answer.prompts import build_prompt, refine_prompt
from rag.documents.tokens import count_tokens
from rag.errors import ReasoningBudgetExhausted, TruncatedStream
from rag.search.followup import Turn
from rag.search.index import Index, Overlay
from rag.search.retrieval import Hit, SearchResult, resolve_followup, search
from rag.settings import Settings, default
from rag.tiers.base import Delta, Finished, Tier, TierName, Waiting
from rag.tiers.client import USE_CONFIG
from rag.tiers.discovery import Tiers
from rag.tiers.extractive import ExtractiveTier
from rag.tiers.metrics import Prices, TierMetrics, TurnMetrics
from rag.tiers.prompt import Evidence, Prompt, is_refusal

__all__ = [
    "Assistant",
    "Done",
    "Escalation",
    "Event",
    "Queued",
    "Retrieved",
    "TierEnd",
    "Thinking",
    "TierStart",
    "Token",
    "fit_history",
]


@dataclass(kw_only=True, frozen=True)
class Retrieved:
    result: SearchResult


@dataclass(kw_only=True, frozen=True)
class TierStart:
    tier: str
    model: str
    reason: str = ""


@dataclass(kw_only=True, frozen=True)
class Queued:
    """The tier's request waits its turn at the model (``rag.tiers.queue``); a new one each time ``ahead`` changes.

    ``ahead``: requests (other chats' turns, /demo passes) that must finish before this one is sent.
    Only before the tier's first token; a tier that did not wait yields none.
    """

    tier: str
    ahead: int


@dataclass(kw_only=True, frozen=True)
class Token:
    tier: str
    text: str


@dataclass(kw_only=True, frozen=True)
class Thinking:
    tier: str
    text: str


@dataclass(kw_only=True, frozen=True)
class TierEnd:
    tier: str
    text: str  # the answer only
    metrics: TierMetrics
    error: str | None = None
    reasoning: str = ""  # the tier's thinking
    note: str | None = None  # not an error, worth saying (e.g. the server refused reasoning_effort)
    budget: bool = False  # the error is a model that thought until its token limit
    crashed: bool = False  # the error is the embedded server's process dying (it is restarted)
    truncated: bool = False  # the error is a stream that ended without a finish_reason: ``text`` is cut


@dataclass(kw_only=True, frozen=True)
class Escalation:
    reasons: list[str]
    mode: str
    to: str  # "llm" or "extractive"
    skipped: str | None = None  # why the LLM tier could not take over


@dataclass(kw_only=True)
class Done:
    answer: str
    tier: str
    escalated: bool
    reasons: list[str]
    draft: str | None
    hits: list[Hit]
    covered: bool
    metrics: TurnMetrics
    notes: list[str] = field(default_factory=list)
    reasoning: dict[str, str] = field(default_factory=dict)  # model tier -> its thinking ("" when it did not think)
    # the notes that an event of this turn already said (a TierEnd's error, an Escalation's skip reason):
    # a renderer that showed those events shows only the other notes
    said: list[str] = field(default_factory=list)
    truncated: bool = False  # the answer is a stream the model did not finish (it ends with ``CUT_MARK``)

    @property
    def unsaid(self) -> list[str]:
        """The notes no event of the turn carried."""
        return [note for note in self.notes if note not in self.said]

    def to_json(self) -> dict[str, object]:
        return {
            "answer": self.answer,
            "tier": self.tier,
            "escalated": self.escalated,
            "escalation_reason": self.reasons,
            "draft": self.draft,
            "reasoning": self.reasoning,
            "covered": self.covered,
            "truncated": self.truncated,
            "notes": self.notes,
            "sources": [
                {"number": n, "source": h.source, "heading": h.heading, "score": round(h.score, 4), "origin": h.origin}
                for n, h in enumerate(self.hits, 1)
            ],
            "metrics": self.metrics.to_json(),
        }


Event = Retrieved | TierStart | Queued | Thinking | Token | TierEnd | Escalation | Done

# A question longer than this is cut (with a note): it is sent to both tiers, and a
# pasted document as a "question" would crowd out the sources and blow the prompt.
MAX_QUESTION_CHARS = 4000
# The end of an answer whose stream the model did not finish, when it stands (no tier took over).
CUT_MARK = {
    "en": "*(cut off: the model stopped before it finished; ask again)*",
    "tr": "*(yarıda kesildi: model yanıtı bitirmeden durdu; yeniden sorun)*",
}
ASK_FOR_A_QUESTION = {
    "en": "Please type a question about your documents.",
    "tr": "Lütfen belgelerinizle ilgili bir soru yazın.",
}


@dataclass(kw_only=True)
class AssistantConfig:
    """How a turn is answered; each default is the setting's (``rag.settings``), ``from_settings`` reads them all."""

    top_k: int = default("top_k")
    slm_sources: int = default("slm_sources")  # the small model reads only the best few passages
    language: str = default("language")
    min_coverage: float = default("min_coverage")
    policy: Policy = field(default_factory=Policy)
    mode: str = default("escalation_mode")
    history_tokens: int = default("history_tokens")
    llm_prices: Prices = field(default_factory=Prices)

    @classmethod
    def from_settings(cls, settings: Settings) -> AssistantConfig:
        """The answering part of ``settings``: top-k, sources for the SLM, language, coverage, the escalation
        policy and mode, the history budget, the LLM's prices."""
        return cls(
            top_k=settings.top_k,
            slm_sources=settings.slm_sources,
            language=settings.language,
            min_coverage=settings.min_coverage,
            policy=Policy(settings.escalate, settings.short_answer_chars, settings.min_support, tuple(settings.topic_keywords)),
            mode=settings.escalation_mode,
            history_tokens=settings.history_tokens,
            llm_prices=Prices(settings.llm_price_prompt, settings.llm_price_completion),
        )


class Assistant:
    """Answers questions over an index with a plan of tiers: the SLM, the LLM, the extractive tier.

    ``slm``, ``llm``: ``Tier``s (``rag.tiers.base``), either may be None (not reachable); ``llm_note`` says why
    the LLM is missing. ``extractive``: the tier that quotes the documents (``ExtractiveTier`` unless given).
    """

    def __init__(
        self,
        index: Index,
        config: AssistantConfig,
        slm: Tier | None = None,
        llm: Tier | None = None,
        llm_note: str = "",
        extractive: Tier | None = None,
    ) -> None:
        self.index = index
        self.config = config
        self.slm = slm
        self.llm = llm
        self.llm_note = llm_note or "the LLM tier is not configured (set RAG_LLM_BASE_URL)"
        self.extractive = extractive or ExtractiveTier()

    @classmethod
    def from_tiers(cls, index: Index, config: AssistantConfig, tiers: Tiers, llm: bool = True) -> Assistant:
        """An assistant over the tiers ``open_tiers`` opened (``llm=False``: without the LLM tier)."""
        return cls(index, config, tiers.slm, tiers.llm if llm else None, tiers.llm_note)

    def plan(self) -> list[tuple[TierName, Tier | None]]:
        """The tiers in the order a turn tries them; the first answer that holds stands."""
        return [(TierName.SLM, self.slm), (TierName.LLM, self.llm), (TierName.EXTRACTIVE, self.extractive)]

    async def ask(
        self,
        question: str,
        overlay: Overlay | None = None,
        history: Sequence[Turn] = (),
        escalate: str | None = None,
        mode: str | None = None,
        temperature: float | Mapping[str, float] | None = None,
        reasoning_effort: Mapping[str, str | None] | None = None,
    ) -> AsyncIterator[Event]:
        """One turn's events.

        ``temperature``: for both tiers, or per tier ("slm", "llm"); a tier not named
        uses its configured temperature. ``reasoning_effort``: per tier, overrides the
        configured effort (None: don't send).
        """
        temperatures = temperature if isinstance(temperature, Mapping) else {TierName.SLM: temperature, TierName.LLM: temperature}
        cfg = self.config
        efforts = dict(reasoning_effort or {})
        thoughts: dict[str, str] = {}
        started = time.perf_counter()
        policy = cfg.policy if escalate is None else dataclasses.replace(cfg.policy, escalate=escalate)
        mode = mode or cfg.mode
        turn = TurnMetrics(mode=mode, llm_prices=cfg.llm_prices)
        notes: list[str] = []
        said: list[str] = []  # notes whose substance an event already carried

        if not question.strip():  # nothing to search for or to ask a model: say what is needed
            lang = cfg.language if cfg.language in ASK_FOR_A_QUESTION else self.index.main_language
            answer = ASK_FOR_A_QUESTION.get(lang, ASK_FOR_A_QUESTION["en"])
            turn.answered_by = "none"
            turn.total_ms = (time.perf_counter() - started) * 1000
            yield Done(
                answer=answer, tier="none", escalated=False, reasons=[], draft=None, hits=[], covered=False, metrics=turn,
                notes=["the question is empty: no model was called"],
            )
            return
        if len(question) > MAX_QUESTION_CHARS:
            notes.append(f"the question was cut to its first {MAX_QUESTION_CHARS:,} characters (it had {len(question):,})")
            question = question[:MAX_QUESTION_CHARS]

        # CPU work runs in a worker thread, so other chats' turns and page loads are not held up meanwhile
        recent = await asyncio.to_thread(fit_history, history, cfg.history_tokens)  # tiktoken counts: once, not per prompt
        # a follow-up carries its subject from the turns before (rag.search.followup), read whatever the prompt's budget keeps
        followup = resolve_followup(self.index, question, history, cfg.language)
        result = await asyncio.to_thread(
            search, self.index, question, cfg.top_k, overlay, cfg.language, cfg.min_coverage, followup.carries,
        )
        turn.retrieval_ms = result.elapsed_ms
        yield Retrieved(result=result)
        lang = result.lang if cfg.language == "auto" else cfg.language
        prep_start = time.perf_counter()
        hits = result.hits
        covered = result.confidence.covered
        slm_prompt = build_prompt(question, hits[: cfg.slm_sources], lang, recent)
        full_prompt = build_prompt(question, hits, lang, recent)
        source_texts = [h.text for h in hits]
        turn.prep_ms = (time.perf_counter() - prep_start) * 1000

        draft: str | None = None
        reasons: list[str] = []
        final_text, final_tier = "", TierName.EXTRACTIVE
        slm_text, slm_failed, slm_truncated, slm_budget = "", True, False, False
        for name, tier in self.plan():
            if name is TierName.SLM:
                # 1. the SLM answers first (an embedded server that crashed is restarted and asked once more)
                if tier is not None:  # it may have died between turns, or another chat may be restarting it
                    if note := await tier.prepare():
                        notes.append(note)
                    if not (status := tier.status()).ok:
                        notes.append(f"no SLM tier is available: {status.note}")
                        tier = None
                else:
                    notes.append("no SLM tier is available")
                retry = ""
                while tier is not None:
                    end: TierEnd | None = None
                    events = _tier_events(tier, slm_prompt, temperatures.get(TierName.SLM), retry, efforts.get(TierName.SLM, USE_CONFIG))
                    async with aclosing(events):  # a stopped turn closes the stream now, giving back its place in the queue
                        async for event in events:
                            end = event if isinstance(event, TierEnd) else end
                            yield event
                    assert end is not None
                    slm_text, slm_failed, slm_truncated = end.text, end.error is not None, end.truncated
                    slm_budget = end.budget
                    turn.tiers.append(end.metrics)
                    thoughts[TierName.SLM] = end.reasoning
                    if end.error:
                        notes.append(f"SLM: {end.error}")
                        said.append(notes[-1])
                    if end.note:
                        notes.append(end.note)
                    if retry or not end.crashed:
                        break
                    if note := await tier.prepare():  # restart it (or wait for the restart) and ask again
                        notes.append(note)
                    if not tier.status().ok:
                        break
                    retry = "the embedded model server was restarted after a crash"
                outcome = await asyncio.to_thread(  # stemming and regexes over every passage: off the event loop
                    # the answer checks read the question as asked: a carried name no source holds must not make an
                    # answer that names it look asked for (the coverage judgement already read the resolved question)
                    assess, question, slm_text, source_texts, self.index.analyzer, lang, covered, is_refusal(slm_text),
                    slm_failed, slm_budget,
                )
                reasons = decide(policy, result.searched or question, outcome, forced=escalate == "always", lang=lang)
                if self.slm is None and policy.escalate != "never" and "error" not in reasons:
                    reasons.insert(0, "error")
                if not reasons:
                    final_text, final_tier = slm_text, TierName.SLM
                    break
                draft = slm_text or None
            elif name is TierName.LLM:
                # 2. the LLM takes over, if it is there
                if tier is None:
                    yield Escalation(reasons=reasons, mode=mode, to=TierName.EXTRACTIVE, skipped=self.llm_note)
                    notes.append(f"escalation needed ({', '.join(reasons)}) but skipped: {self.llm_note}")
                    said.append(notes[-1])
                    continue
                yield Escalation(reasons=reasons, mode=mode, to=TierName.LLM)
                prompt = refine_prompt(full_prompt, slm_text, lang) if (mode == "refine" and slm_text.strip()) else full_prompt
                end = None
                events = _tier_events(tier, prompt, temperatures.get(TierName.LLM), ", ".join(reasons), efforts.get(TierName.LLM, USE_CONFIG))
                async with aclosing(events):
                    async for event in events:
                        end = event if isinstance(event, TierEnd) else end
                        yield event
                assert end is not None
                turn.tiers.append(end.metrics)
                thoughts[TierName.LLM] = end.reasoning
                if end.note:
                    notes.append(end.note)
                if end.error:
                    notes.append(f"LLM: {end.error.rstrip('.')}; the extractive tier answers instead")
                    said.append(notes[-1])
                    continue
                refusal = is_refusal(end.text)
                checked = await asyncio.to_thread(support, end.text, source_texts, self.index.analyzer, lang)
                if bool(end.text.strip()) and (checked.score >= policy.min_support or (refusal and not covered)):
                    final_text, final_tier = end.text, TierName.LLM
                    break
                notes.append("the LLM's answer is not supported by the sources either; quoting the documents instead")
            else:
                # 3. the extractive tier: always there
                evidence = Evidence(
                    terms=result.terms, hits=hits, analyzer=self.index.analyzer,
                    stats=self.index.stats if overlay is None else overlay.view().stats, lang=lang, covered=covered,
                    terms_by_lang=result.terms_by_lang,
                    subject_by_lang=result.subject_terms,  # a follow-up's carried subject, at a lower weight
                    draft="" if slm_failed or "short" in reasons else slm_text,  # a complete SLM answer may lead, verified by a quote
                )
                end = None
                events = _tier_events(tier, dataclasses.replace(full_prompt, evidence=evidence), None, "quoting the documents")
                async with aclosing(events):
                    async for event in events:
                        end = event if isinstance(event, TierEnd) else end
                        yield event
                assert end is not None
                turn.tiers.append(end.metrics)
                final_text, final_tier = end.text, TierName.EXTRACTIVE
        turn.escalated = bool(reasons)
        turn.reasons = reasons
        turn.answered_by = final_tier
        turn.total_ms = (time.perf_counter() - started) * 1000
        truncated = final_tier == TierName.SLM and slm_truncated  # a cut answer that stands (escalation "never"): marked as cut
        if truncated:
            final_text = f"{final_text.rstrip()} …\n\n{CUT_MARK.get(lang, CUT_MARK['en'])}"
        yield Done(
            answer=final_text, tier=final_tier, escalated=bool(reasons), reasons=reasons, draft=draft, hits=hits,
            covered=covered, metrics=turn, notes=notes, reasoning=thoughts, said=said, truncated=truncated,
        )


async def _tier_events(tier: Tier, prompt: Prompt, temperature: float | None, reason: str = "", effort: object = USE_CONFIG) -> AsyncIterator[Event]:
    """One tier's events: its start, its place in the model's queue while it waits, its thinking and answer as
    they stream, its end (answer, thinking, metrics, error).

    A stream cut short (``TruncatedStream``) ends with its partial text and ``TierEnd.truncated``: a failure,
    which the policy escalates. A failure the tier reports as its server's crash (``Finished.crashed``: the
    embedded server's process died) carries the tier's words for it (signal, log) and ``TierEnd.crashed``.
    """
    yield TierStart(tier=tier.name, model=tier.model, reason=reason)
    finished: Finished | None = None
    stream = tier.stream(prompt, temperature=temperature, reasoning_effort=effort)
    async with aclosing(stream):  # closed at once when the turn is stopped: the request and its queue place end
        async for event in stream:
            if isinstance(event, Waiting):
                yield Queued(tier=tier.name, ahead=event.ahead)
            elif isinstance(event, Delta):
                text = Token(tier=tier.name, text=event.text) if event.kind == "answer" else Thinking(tier=tier.name, text=event.text)
                yield text
            else:
                finished = event
    assert finished is not None
    error = finished.error
    yield TierEnd(
        tier=tier.name, text=finished.text, metrics=finished.metrics,
        error=finished.message or (str(error) if error else None), reasoning=finished.reasoning, note=finished.note,
        budget=isinstance(error, ReasoningBudgetExhausted), crashed=finished.crashed, truncated=isinstance(error, TruncatedStream),
    )


def fit_history(history: Sequence[Turn], budget: int) -> list[Turn]:
    """The most recent turns that fit in ``budget`` tokens (tiktoken's count of question and answer), oldest first.

    An over-long history is cut oldest first; a single turn over the budget is left out with all before it.
    """
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        size = sum(count_tokens([turn.question, turn.answer]))
        if used + size > budget:
            break
        kept.append(turn)
        used += size
    return list(reversed(kept))

