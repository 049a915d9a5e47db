"""The answering pipeline end to end: ``Assistant.ask`` against the scripted server.

Real retrieval over the small docs folder, real ``TierClient``s streaming from a
real SSE server on 127.0.0.1, and the event stream checked as the CLI and the
app see it: which tier answered, why it escalated, what was kept, what it cost.

Reasoning models (the last section): for each wire shape, the answer is clean,
the thinking arrives as ``Thinking`` events and in ``Done.reasoning``, the
metrics split thinking from answer, nothing the model thought reaches the
grounding check, the draft or the history, and a tier that thinks until its
token limit hands over to the next one with the reason said.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from rag.answer.escalation import Policy
from rag.answer.pipeline import CUT_MARK, Assistant, AssistantConfig, Done, Escalation, Event, Queued, Retrieved, Thinking, TierEnd, TierStart, Token
from rag.search.followup import Turn
from rag.search.index import Index
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.metrics import Prices, SessionStats
from rag.tiers.prompt import NOT_COVERED
from rag.tiers.queue import FairQueue
from rag.web.charts import metrics_table
from tests.support.scripted_server import SHAPES, Script, ScriptedServer, chunked, reasoning_script
from tests.support.tiers import served

SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
SLM_PRICES = Prices(prompt=0.0001, completion=0.0004)
LLM_PRICES = Prices(prompt=0.0015, completion=0.006)

Q_PORT = "What port does Foundry Local listen on?"
GROUNDED = ["Foundry Local listens ", "on port 5273 ", "by default. [Source 1]"]
GROUNDED_TEXT = "".join(GROUNDED)
LLM_GROUNDED = ["Foundry Local listens on port 5273 by default; ", "start the service with the foundry service start command. [Source 1]"]
LLM_GROUNDED_TEXT = "".join(LLM_GROUNDED)
INVENTED = ["Zebras juggle purple volcanoes ", "during thunderstorms near Saturn."]


@pytest_asyncio.fixture
async def make_client(scripted: ScriptedServer) -> AsyncIterator[Callable[..., TierClient]]:
    """``make_client("slm"|"llm", **TierConfig fields)`` -> a client of the scripted server (closed afterwards)."""
    made: list[TierClient] = []

    def make(tier: str, **kw) -> TierClient:
        model = kw.pop("model", SLM if tier == "slm" else LLM)
        prices = kw.pop("prices", SLM_PRICES if tier == "slm" else LLM_PRICES)
        client = TierClient(TierConfig(tier=tier, base_url=kw.pop("base_url", scripted.base_url), model=model, prices=prices, timeout=kw.pop("timeout", 5.0), **kw))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def assistant(index: Index, slm: TierClient | None, llm: TierClient | None, llm_note: str = "", **kw) -> Assistant:
    policy = kw.pop("policy", Policy(short_chars=20))
    return Assistant(index, AssistantConfig(policy=policy, llm_prices=LLM_PRICES, **kw), served(slm), served(llm), llm_note)


async def turn(a: Assistant, question: str, **kw) -> tuple[list[Event], Done]:
    events = [e async for e in a.ask(question, **kw)]
    done = events[-1]
    assert isinstance(done, Done)
    assert sum(isinstance(e, Done) for e in events) == 1
    return events, done


def tokens(events: list[Event], tier: str) -> str:
    return "".join(e.text for e in events if isinstance(e, Token) and e.tier == tier)


def requests_for(server: ScriptedServer, model: str) -> list[dict]:
    return [r for r in server.requests if r["model"] == model]


def last_user_message(request: dict) -> str:
    return [m for m in request["body"]["messages"] if m["role"] == "user"][-1]["content"]


# (a) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_grounded_slm_answer_stands(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Retrieved", "TierStart", "Token", "Token", "Token", "TierEnd", "Done"]
    assert isinstance(events[0], Retrieved) and events[0].result.hits[0].source == "foundry.md"
    assert events[1] == TierStart(tier="slm", model=SLM)
    assert all(e.tier == "slm" for e in events if isinstance(e, Token))
    assert tokens(events, "slm") == GROUNDED_TEXT
    end = events[-2]
    assert isinstance(end, TierEnd) and end.tier == "slm" and end.text == GROUNDED_TEXT and end.error is None
    assert done.tier == "slm" and done.answer == GROUNDED_TEXT
    assert done.escalated is False and done.reasons == [] and done.draft is None
    assert done.covered is True
    assert done.hits[0].source == "foundry.md"
    assert requests_for(scripted, LLM) == []


# (b) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_short_answer_escalates_and_the_llm_refines_the_draft(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["5273 ", "[Source 1]."]))  # cited, so only the 20-character rule fires
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT)
    escalation = next(e for e in events if isinstance(e, Escalation))
    assert escalation.reasons == ["short"] and escalation.to == "llm" and escalation.mode == "refine" and escalation.skipped is None
    starts = [e for e in events if isinstance(e, TierStart)]
    assert [(s.tier, s.model) for s in starts] == [("slm", SLM), ("llm", LLM)]
    assert starts[1].reason == "short"
    # order: the SLM's tokens, its end, the escalation, then the LLM's tokens
    idx = {type(e).__name__ + getattr(e, "tier", ""): i for i, e in enumerate(events)}
    assert idx["TierEndslm"] < events.index(escalation) < idx["TierStartllm"] < idx["Tokenllm"] < idx["TierEndllm"]
    assert tokens(events, "slm") == "5273 [Source 1]."
    assert tokens(events, "llm") == LLM_GROUNDED_TEXT
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
    assert done.escalated and done.reasons == ["short"]
    assert done.draft == "5273 [Source 1]."
    message = last_user_message(requests_for(scripted, LLM)[0])
    assert "5273 [Source 1]." in message and "Draft answer" in message
    assert done.metrics.mode == "refine" and done.metrics.answered_by == "llm"


@pytest.mark.asyncio
async def test_regenerate_mode_does_not_show_the_draft(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["It is ", "5273."]))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT, mode="regenerate")
    assert next(e for e in events if isinstance(e, Escalation)).mode == "regenerate"
    assert done.tier == "llm" and done.draft == "It is 5273."
    message = last_user_message(requests_for(scripted, LLM)[0])
    assert "It is 5273." not in message and "Draft answer" not in message
    assert "Question: " + Q_PORT in message


@pytest.mark.asyncio
async def test_the_slm_reads_the_best_few_passages_and_the_llm_all(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    a = assistant(small_index, make_client("slm"), make_client("llm"), slm_sources=1)
    events, _ = await turn(a, "Which models and memory does Foundry Local quantization use?", escalate="always")
    hits = events[0].result.hits
    assert len(hits) >= 2
    slm_message = last_user_message(requests_for(scripted, SLM)[0])
    llm_message = last_user_message(requests_for(scripted, LLM)[0])
    assert f"Source 1 ({hits[0].source}" in slm_message and "Source 2 (" not in slm_message
    for n, hit in enumerate(hits, 1):
        assert f"Source {n} ({hit.source} › {hit.heading}):" in llm_message


# (c) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_escalate_always_gives_reason_user(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    _, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT, escalate="always")
    assert done.reasons == ["user"]
    assert done.tier == "llm" and done.draft == GROUNDED_TEXT


@pytest.mark.asyncio
async def test_policy_always_from_the_config_gives_reason_user(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    a = assistant(small_index, make_client("slm"), make_client("llm"), policy=Policy(escalate="always", short_chars=20))
    _, done = await turn(a, Q_PORT)
    assert done.reasons == ["user"] and done.tier == "llm"


@pytest.mark.asyncio
async def test_escalate_never_keeps_a_short_slm_answer(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["5273"]))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT, escalate="never")
    assert done.tier == "slm" and done.answer == "5273"
    assert done.escalated is False and done.reasons == []
    assert not any(isinstance(e, Escalation) for e in events)
    assert requests_for(scripted, LLM) == []


# (d) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_missing_llm_falls_back_to_cited_quotes(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["5273 [Source 1]."]))
    note = "the LLM tier is not configured (set RAG_LLM_BASE_URL)"
    events, done = await turn(assistant(small_index, make_client("slm"), None, llm_note=note), Q_PORT)
    escalation = next(e for e in events if isinstance(e, Escalation))
    assert escalation.to == "extractive" and escalation.skipped == note and escalation.reasons == ["short"]
    assert done.tier == "extractive" and done.escalated and done.draft == "5273 [Source 1]."
    assert any("skipped" in n and note in n for n in done.notes)
    # the skip was said by the Escalation event: a renderer that showed it does not repeat it under the answer
    assert [n for n in done.notes if "skipped" in n] == done.said and done.unsaid == []
    assert tokens(events, "extractive") == done.answer
    assert done.answer.startswith("From the documents:")
    assert "> Foundry Local listens on port 5273 by default. [Source 1]" in done.answer
    assert "**5273**" not in done.answer  # a draft the policy found too short does not lead
    assert done.hits[0].source == "foundry.md"
    ext = [e for e in events if isinstance(e, TierEnd) and e.tier == "extractive"]
    assert len(ext) == 1 and ext[0].metrics.completion_tokens > 0 and ext[0].metrics.estimated


@pytest.mark.asyncio
async def test_without_an_llm_a_short_slm_answer_leads_the_quote_that_verifies_it(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    """The fresh-machine case: the tiny model answers "5273." without citing; no LLM tier; the quote verifies it."""
    scripted.enqueue(SLM, Script(["5273."]))
    events, done = await turn(assistant(small_index, make_client("slm"), None, policy=Policy()), Q_PORT)
    assert done.reasons == ["uncited"] and done.tier == "extractive" and done.draft == "5273."
    assert done.answer == (
        "**5273** — “Foundry Local listens on port 5273 by default.” [Source 1]\n\n"
        "*The small model's answer, verified: the quoted source says it word for word.*"
    )
    assert tokens(events, "extractive") == done.answer


@pytest.mark.asyncio
async def test_a_wrong_short_slm_answer_does_not_lead_the_quote(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["5274."]))  # in no source
    _, done = await turn(assistant(small_index, make_client("slm"), None, policy=Policy()), Q_PORT)
    assert done.reasons == ["uncited", "invented", "ungrounded"] and done.tier == "extractive"
    assert done.answer == "From the documents:\n\n> Foundry Local listens on port 5273 by default. [Source 1]"


# (e) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ungrounded_llm_answer_falls_back_to_quotes(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["5273"]))
    scripted.enqueue(LLM, Script(INVENTED))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT)
    assert tokens(events, "llm") == "".join(INVENTED)  # streamed, never taken back ...
    assert done.tier == "extractive"  # ... but not the final answer
    assert "[Source 1]" in done.answer and "Zebras" not in done.answer
    assert any("not supported" in n for n in done.notes)
    assert [t.tier for t in done.metrics.tiers] == ["slm", "llm", "extractive"]


# (f) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slm_stream_dying_keeps_the_draft_and_the_next_turn_works(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local ", "listens ", "on port 5273."], die_after=2))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    a = assistant(small_index, make_client("slm"), make_client("llm"))
    events, done = await turn(a, Q_PORT)
    slm_end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "slm")
    assert slm_end.error and scripted.base_url in slm_end.error
    assert slm_end.text == "Foundry Local listens "
    assert done.draft == "Foundry Local listens "
    assert "error" in done.reasons and "short" not in done.reasons
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
    assert any(n.startswith("SLM: ") for n in done.notes)
    assert done.metrics.tiers[0].error

    scripted.enqueue(SLM, Script(GROUNDED))
    _, second = await turn(a, Q_PORT)
    assert second.tier == "slm" and second.answer == GROUNDED_TEXT and second.notes == []


@pytest.mark.asyncio
@pytest.mark.parametrize("cut_after", [2, 3], ids=["mid-answer", "after-every-chunk"])
async def test_a_cut_slm_stream_is_a_failure_that_escalates_with_its_partial_text_kept(
    scripted: ScriptedServer, make_client, small_index: Index, cut_after: int,
) -> None:
    """Cut after every chunk, the SLM's text is a grounded, cited answer that would stand: only the
    missing finish_reason says it was cut, and that alone must escalate it."""
    scripted.enqueue(SLM, Script(GROUNDED, cut_after=cut_after))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT)
    partial = "".join(GROUNDED[:cut_after])
    slm_end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "slm")
    assert slm_end.truncated and not slm_end.crashed and slm_end.text == partial
    assert "no finish_reason" in slm_end.error and "the answer is cut" in slm_end.error
    assert tokens(events, "slm") == partial  # what the user saw stays
    escalation = next(e for e in events if isinstance(e, Escalation))
    assert "error" in escalation.reasons and escalation.to == "llm"
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT and done.escalated
    assert done.draft == partial
    assert f"SLM: {slm_end.error}" in done.notes and f"SLM: {slm_end.error}" in done.said  # the app showed it with the TierEnd


@pytest.mark.asyncio
async def test_a_turn_stopped_while_queued_gives_its_place_back_at_once(scripted: ScriptedServer, small_index: Index) -> None:
    """Stop (the task cancelled, as Chainlit's Stop does) while queued: the line moves up, the next turn answers."""
    scripted.enqueue(SLM, Script(GROUNDED, chunk_delay=0.3), Script(GROUNDED))
    queue = FairQueue()
    slm = TierClient(TierConfig(tier="slm", base_url=scripted.base_url, model=SLM, timeout=5.0), queue=queue)
    a = assistant(small_index, slm, None)
    try:
        first = asyncio.create_task(turn(a, Q_PORT))
        await asyncio.sleep(0.1)
        stopped = asyncio.create_task(turn(a, Q_PORT))
        await asyncio.sleep(0.1)
        assert queue.waiting == 1
        stopped.cancel()
        await asyncio.gather(stopped, return_exceptions=True)
        assert queue.waiting == 0  # at once, not when a garbage collector gets to it
        _, third = await turn(a, Q_PORT)
        _, done = await first
    finally:
        await slm.aclose()
    assert done.answer == GROUNDED_TEXT and third.answer == GROUNDED_TEXT


@pytest.mark.asyncio
async def test_a_cut_answer_that_stands_is_marked_as_cut(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    """With escalation off, no tier takes over: the partial answer stays, but it never reads as a finished one."""
    scripted.enqueue(SLM, Script(GROUNDED, cut_after=2))
    _, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT, escalate="never")
    assert done.tier == "slm" and done.truncated
    assert done.answer.startswith("".join(GROUNDED[:2]).rstrip()) and done.answer.endswith(CUT_MARK["en"])
    assert done.to_json()["truncated"] is True
    assert requests_for(scripted, LLM) == []


@pytest.mark.asyncio
async def test_a_turn_queued_behind_another_is_told_its_place_and_its_wait_is_in_the_metrics(
    scripted: ScriptedServer, small_index: Index,
) -> None:
    """Two chats on one SLM with a one-slot queue (the embedded server's): the second turn waits, says so, then answers."""
    scripted.enqueue(SLM, Script(GROUNDED, chunk_delay=0.2), Script(GROUNDED, chunk_delay=0.05))
    slm = TierClient(TierConfig(tier="slm", base_url=scripted.base_url, model=SLM, timeout=5.0), queue=FairQueue())
    a = assistant(small_index, slm, None)

    async def later() -> tuple[list[Event], Done]:
        await asyncio.sleep(0.2)
        return await turn(a, Q_PORT)

    try:
        (first, first_done), (second, second_done) = await asyncio.gather(turn(a, Q_PORT), later())
    finally:
        await slm.aclose()
    assert not any(isinstance(e, Queued) for e in first)
    queued = [e for e in second if isinstance(e, Queued)]
    assert queued == [Queued(tier="slm", ahead=1)]
    kinds = [type(e).__name__ for e in second]
    assert kinds.index("TierStart") < kinds.index("Queued") < kinds.index("Token")  # after its start, before its first token
    for done in (first_done, second_done):
        assert done.tier == "slm" and done.answer == GROUNDED_TEXT
    waited = second_done.metrics.tiers[0]
    assert first_done.metrics.tiers[0].queue_ms == 0 and waited.queue_ms > 200
    assert waited.ttft_ms < 200  # from when its request was sent, after the wait
    assert second_done.metrics.total_ms > waited.queue_ms  # the turn's own total includes the wait
    assert f"**Queue wait** {waited.queue_ms:,.0f} ms" in metrics_table(second_done.metrics)
    assert "Queue wait" not in metrics_table(first_done.metrics)


# (g) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_both_tiers_failing_gives_the_extractive_answer(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(status=500), Script(status=500))
    scripted.enqueue(LLM, Script(status=500), Script(status=500))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT)
    ends = {e.tier: e for e in events if isinstance(e, TierEnd)}
    assert "500" in ends["slm"].error and "500" in ends["llm"].error
    assert done.tier == "extractive"
    assert "[Source 1]" in done.answer and "5273" in done.answer
    assert done.reasons[0] == "error"
    assert any(n.startswith("SLM: ") and "500" in n for n in done.notes)
    assert any(n.startswith("LLM: ") and "500" in n for n in done.notes)
    assert done.draft is None  # nothing was streamed


# (h) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unanswerable_question_without_llm_says_not_covered(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["Zebras enjoy juggling ", "volcanoes every Tuesday afternoon."]))
    _, done = await turn(assistant(small_index, make_client("slm"), None), "Which zebra breeds enjoy juggling volcanoes?")
    assert done.covered is False
    assert "low_confidence" in done.reasons
    assert done.tier == "extractive"
    assert done.answer == NOT_COVERED["en"]


@pytest.mark.asyncio
async def test_llm_refusal_on_an_uncovered_question_is_accepted(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["Zebras juggle."]))
    scripted.enqueue(LLM, Script([NOT_COVERED["en"]]))
    _, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), "Which zebra breeds enjoy juggling volcanoes?")
    assert done.covered is False
    assert done.tier == "llm" and done.answer == NOT_COVERED["en"]


# (i) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_turkish_question_gets_a_turkish_prompt(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local kurulumu için winget komutunu çalıştırın. [Source 1]"]))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), "Foundry Local kurulumu için hangi komut çalıştırılır?")
    assert events[0].result.lang == "tr"
    system = requests_for(scripted, SLM)[0]["body"]["messages"][0]
    assert system["role"] == "system"
    assert "Yalnızca aşağıdaki kaynakları kullan" in system["content"]
    assert NOT_COVERED["tr"] in system["content"]
    assert "Use only the sources" not in system["content"]
    assert done.tier == "slm"


@pytest.mark.asyncio
async def test_turkish_refine_prompt_is_turkish(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["winget."]))
    scripted.enqueue(LLM, Script(["Foundry Local kurulumu için winget komutunu çalıştırın. [Source 1]"]))
    _, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), "Foundry Local kurulumu için hangi komut çalıştırılır?")
    assert done.tier == "llm"
    message = last_user_message(requests_for(scripted, LLM)[0])
    assert "Taslak yanıt" in message and "winget." in message


# (j) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_metrics_costs_and_session_saving(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    a = assistant(small_index, make_client("slm"), make_client("llm"))
    _, done = await turn(a, Q_PORT)
    m = done.metrics
    assert [t.tier for t in m.tiers] == ["slm"]
    slm = m.tiers[0]
    words = len(GROUNDED_TEXT.split())
    assert (slm.prompt_tokens, slm.completion_tokens, slm.estimated) == (42, words, False)
    assert slm.cost == pytest.approx(SLM_PRICES.cost(42, words))
    assert m.cost == pytest.approx(slm.cost)
    assert m.llm_only_cost() == pytest.approx(LLM_PRICES.cost(42, words))
    assert m.retrieval_ms > 0 and m.total_ms >= m.retrieval_ms
    assert slm.ttft_ms is not None and slm.total_ms <= m.total_ms
    assert m.answered_by == "slm" and m.escalated is False

    stats = SessionStats()
    stats.add(m)
    assert stats.saving > 0
    assert stats.saving == pytest.approx(LLM_PRICES.cost(42, words) - SLM_PRICES.cost(42, words))
    assert stats.escalation_rate == 0.0

    # an escalated turn costs both tiers and halves the session's saving rate
    scripted.enqueue(SLM, Script(["It is ", "5273."]))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    _, escalated = await turn(a, Q_PORT)
    assert [t.tier for t in escalated.metrics.tiers] == ["slm", "llm"]
    assert escalated.metrics.cost == pytest.approx(sum(t.cost for t in escalated.metrics.tiers))
    assert escalated.metrics.tiers[1].cost == pytest.approx(LLM_PRICES.cost(42, len(LLM_GROUNDED_TEXT.split())))
    stats.add(escalated.metrics)
    assert stats.escalation_rate == 0.5
    data = done.to_json()
    assert data["tier"] == "slm" and data["metrics"]["tiers"][0]["prompt_tokens"] == 42
    assert data["sources"][0] == {"number": 1, "source": "foundry.md", "heading": done.hits[0].heading, "score": round(done.hits[0].score, 4), "origin": "docs"}


# (k) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_topic_keyword_escalates(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    grounded = ["Quantization stores model weights ", "as four-bit integers to save memory. [Source 1]"]
    scripted.enqueue(SLM, Script(grounded), Script(GROUNDED))
    scripted.enqueue(LLM, Script(["Quantization stores model weights as four-bit integers. [Source 1]"]))
    a = assistant(small_index, make_client("slm"), make_client("llm"), policy=Policy(short_chars=20, topics=("QUANTIZATION",)))
    _, done = await turn(a, "How does quantization save memory?")
    assert done.reasons == ["topic"] and done.tier == "llm"
    _, other = await turn(a, Q_PORT)  # no keyword: the SLM's answer stands
    assert other.reasons == [] and other.tier == "slm"


# (l) ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_history_within_budget_is_sent_as_prior_messages(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    history = [
        Turn("What is an old question about boards?", "An old answer about boards. " * 40),
        Turn("What does Olive do?", "Olive optimizes models with passes. [Source 1]"),
    ]
    a = assistant(small_index, make_client("slm"), make_client("llm"), history_tokens=60)
    await turn(a, Q_PORT, history=history)
    messages = requests_for(scripted, SLM)[0]["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "What does Olive do?"
    assert messages[2]["content"] == "Olive optimizes models with passes. [Source 1]"
    assert "old question" not in str(messages)  # over the budget: dropped
    assert messages[3]["content"].endswith("Question: " + Q_PORT)


@pytest.mark.asyncio
async def test_the_completion_profile_carries_the_conversation_too(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    """The embedded default (a base model on the completion profile) sees the earlier turns, within the budget."""
    scripted.enqueue(SLM, Script(GROUNDED))
    history = [
        Turn("What is an old question about boards?", "An old answer about boards. " * 40),
        Turn("What does Olive do?", "Olive optimizes models\nwith passes. [Source 1]"),
    ]
    a = assistant(small_index, make_client("slm", profile="completion"), make_client("llm"), history_tokens=60)
    await turn(a, Q_PORT, history=history)
    prompt = requests_for(scripted, SLM)[0]["body"]["prompt"]
    assert "Question: What does Olive do?\nAnswer: Olive optimizes models with passes.\n" in prompt  # one line, no citation
    assert "old question" not in prompt  # over the budget: dropped
    assert prompt.index("Context:", prompt.index("lighthouse")) < prompt.index("What does Olive do?") < prompt.rindex("Question: " + Q_PORT)
    assert prompt.endswith("Answer:")


@pytest.mark.asyncio
async def test_history_over_budget_is_left_out(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    a = assistant(small_index, make_client("slm"), make_client("llm"), history_tokens=0)
    await turn(a, Q_PORT, history=[Turn("What does Olive do?", "It optimizes models.")])
    messages = requests_for(scripted, SLM)[0]["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]


# and the rest -------------------------------------------------------------


@pytest.mark.asyncio
async def test_without_an_slm_the_llm_answers_with_reason_error(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    events, done = await turn(assistant(small_index, None, make_client("llm")), Q_PORT)
    assert not any(isinstance(e, TierStart) and e.tier == "slm" for e in events)
    assert done.reasons[0] == "error"
    assert done.tier == "llm" and done.draft is None
    assert "no SLM tier is available" in done.notes
    # refine mode without a draft sends the plain prompt
    assert "Draft answer" not in last_user_message(requests_for(scripted, LLM)[0])



# reasoning models -------------------------------------------------------------

LLM_THINKING = "The user asks for the port. Source 1 says Foundry Local listens on 5273 by default; cite it."
MARKUP = ("<|", "|>", "<think>", "</think>", "analysis")


def thinking(events: list[Event], tier: str) -> str:
    return "".join(e.text for e in events if isinstance(e, Thinking) and e.tier == tier)


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "length"])
async def test_each_shape_on_the_llm_gives_a_clean_answer_and_separate_thinking(
    scripted: ScriptedServer, make_client, small_index: Index, shape: str,
) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    scripted.enqueue(LLM, reasoning_script(shape, LLM_THINKING, LLM_GROUNDED_TEXT))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT, escalate="always")
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
    assert not any(m in done.answer for m in MARKUP)
    assert tokens(events, "llm") == LLM_GROUNDED_TEXT  # what was streamed as the answer
    assert thinking(events, "llm").strip() == LLM_THINKING and thinking(events, "slm") == ""
    # the thinking came first, then the answer
    first_thought = next(i for i, e in enumerate(events) if isinstance(e, Thinking))
    first_token = next(i for i, e in enumerate(events) if isinstance(e, Token) and e.tier == "llm")
    assert first_thought < first_token
    end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "llm")
    assert (end.text, end.reasoning, end.error, end.budget) == (LLM_GROUNDED_TEXT, LLM_THINKING, None, False)
    assert done.reasoning == {"slm": "", "llm": LLM_THINKING}
    assert done.to_json()["reasoning"] == {"slm": "", "llm": LLM_THINKING}
    llm = done.metrics.tiers[1]
    assert llm.tier == "llm" and llm.ttft_ms <= llm.ttfa_ms and llm.reasoning_tokens > 0
    assert done.metrics.reasoning_tokens == llm.reasoning_tokens
    assert not any("not supported" in n for n in done.notes)


@pytest.mark.asyncio
async def test_thinking_and_answer_time_are_split_in_the_metrics(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    scripted.enqueue(LLM, Script(LLM_GROUNDED, reasoning=["Source 1 ", "says ", "5273."], chunk_delay=0.03, reasoning_tokens=3,
                                 completion_tokens=3 + len(LLM_GROUNDED_TEXT.split())))
    _, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT, escalate="always")
    llm = done.metrics.tiers[1]
    assert llm.thinking_ms >= 3 * 30 * 0.8  # three thinking deltas, then the first answer delta
    assert llm.ttfa_ms >= llm.ttft_ms + llm.thinking_ms - 1
    assert llm.reasoning_tokens == 3 and llm.answer_tokens == len(LLM_GROUNDED_TEXT.split()) and not llm.reasoning_estimated
    assert llm.tokens_per_s == pytest.approx((llm.answer_tokens - 1) / (llm.generation_ms / 1000))
    data = done.to_json()["metrics"]["tiers"][1]
    assert data["ttft_ms"] <= data["ttfa_ms"] and data["reasoning_tokens"] == 3


@pytest.mark.asyncio
async def test_the_grounding_check_reads_the_answer_not_the_thinking(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    """Thinking full of words the sources don't have would sink the support score; it is not part of the answer."""
    wander = " ".join(INVENTED) * 4
    scripted.enqueue(SLM, Script(["5273"]))
    scripted.enqueue(LLM, reasoning_script("think", wander, LLM_GROUNDED_TEXT))
    _, done = await turn(assistant(small_index, make_client("slm"), make_client("llm")), Q_PORT)
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
    assert "Zebras" in done.reasoning["llm"]


@pytest.mark.asyncio
async def test_the_draft_and_the_history_carry_no_thinking(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    secret = "PRIVATE-THOUGHT: maybe the port is 9999, but Source 1 says 5273."
    scripted.enqueue(SLM, reasoning_script("harmony", secret, "It is 5273."))
    scripted.enqueue(LLM, reasoning_script("reasoning", secret, LLM_GROUNDED_TEXT))
    a = assistant(small_index, make_client("slm"), make_client("llm"))
    _, done = await turn(a, Q_PORT)
    assert done.draft == "It is 5273." and done.answer == LLM_GROUNDED_TEXT
    refine = last_user_message(requests_for(scripted, LLM)[0])
    assert "It is 5273." in refine and "PRIVATE-THOUGHT" not in refine
    # the next turn sends the answer back, as the app and the CLI keep it: no thinking in it
    scripted.enqueue(SLM, Script(GROUNDED))
    await turn(a, Q_PORT, history=[Turn(Q_PORT, done.answer)])
    assert "PRIVATE-THOUGHT" not in str(requests_for(scripted, SLM)[-1]["body"]["messages"])


@pytest.mark.asyncio
async def test_an_llm_that_thinks_until_its_limit_hands_over_with_the_budget_message(
    scripted: ScriptedServer, make_client, small_index: Index,
) -> None:
    scripted.enqueue(SLM, Script(["5273"]))
    scripted.enqueue(LLM, reasoning_script("length", LLM_THINKING, ""))
    events, done = await turn(assistant(small_index, make_client("slm"), make_client("llm", max_tokens=512, reasoning_effort="low")), Q_PORT)
    end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "llm")
    assert end.budget is True and end.text == "" and end.reasoning == LLM_THINKING
    assert done.tier == "extractive" and "[Source 1]" in done.answer
    budget = "gpt-oss-20b used all 512 tokens thinking and wrote no answer: raise RAG_LLM_MAX_TOKENS (now 512) or lower RAG_LLM_REASONING_EFFORT (now low)."
    assert f"LLM: {budget[:-1]}; the extractive tier answers instead" in done.notes
    assert not any("not supported" in n for n in done.notes)  # the old, wrong reason
    assert done.reasoning["llm"] == LLM_THINKING


@pytest.mark.asyncio
async def test_an_slm_that_thinks_until_its_limit_escalates_with_reason_budget(
    scripted: ScriptedServer, make_client, small_index: Index,
) -> None:
    scripted.enqueue(SLM, Script(chunked("<think>Hmm, which source? Maybe 1, maybe 2, let me compare them", 7), finish_reason="length"))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    events, done = await turn(assistant(small_index, make_client("slm", max_tokens=64), make_client("llm")), Q_PORT)
    escalation = next(e for e in events if isinstance(e, Escalation))
    assert escalation.reasons == ["budget"] and done.reasons == ["budget"]
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT and done.draft is None
    assert any(n.startswith("SLM: ") and "used all 64 tokens thinking" in n and "RAG_SLM_MAX_TOKENS" in n for n in done.notes)


@pytest.mark.asyncio
async def test_reasoning_effort_per_tier_and_a_refusal_note(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(GROUNDED))
    scripted.enqueue(LLM, Script(LLM_GROUNDED, reject=("reasoning_effort",)))
    a = assistant(small_index, make_client("slm"), make_client("llm", reasoning_effort="low"))
    _, done = await turn(a, Q_PORT, escalate="always", reasoning_effort={"llm": "high"})
    slm_body, llm_bodies = requests_for(scripted, SLM)[0]["body"], [r["body"] for r in requests_for(scripted, LLM)]
    assert "reasoning_effort" not in slm_body
    assert [b.get("reasoning_effort") for b in llm_bodies] == ["high", None]
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
    assert any("refused reasoning_effort='high' (HTTP 400)" in n for n in done.notes)
