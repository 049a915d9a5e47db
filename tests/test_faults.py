"""Backend faults: each ends with a clear message, and the next turn works.

Against the scripted OpenAI-compatible server on 127.0.0.1, a port nothing
listens on, and a socket whose accept queue is full (a connect that never
completes). Each test runs a turn that hits the fault, checks what the user is
told (which tier, what happened, what to do) and what was kept, then runs the
next turn and checks it is an ordinary one.

Already covered elsewhere, and not repeated here (see /tmp/reliability.md):
the SLM stream dying mid-answer (``test_pipeline.py::
test_slm_stream_dying_keeps_the_draft_and_the_next_turn_works``), the error
classification of HTTP 500/429, read timeouts, dead ports and malformed SSE at
the client level (``test_client.py``), both tiers failing with HTTP 500
(``test_pipeline.py::test_both_tiers_failing_gives_the_extractive_answer``), a
dead SLM URL's start-up status (``test_backends.py::
test_open_tiers_with_a_dead_slm_url_reports_it``).

Last, the index under concurrent searches and overlay changes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio

from rag.answer.escalation import Policy
from rag.answer.pipeline import Assistant, AssistantConfig, Done, Escalation, Event, TierEnd, TierStart, Token
from rag.search.index import Index
from rag.search.retrieval import search
from rag.settings import load_settings
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.discovery import open_tiers
from tests.support.helpers import free_port
from tests.support.scripted_server import Script, ScriptedServer
from tests.support.tiers import served

SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
Q_PORT = "What port does Foundry Local listen on?"
GROUNDED = ["Foundry Local listens ", "on port 5273 ", "by default. [Source 1]"]
GROUNDED_TEXT = "".join(GROUNDED)
LLM_GROUNDED = ["Foundry Local listens on port 5273 by default; ", "start the service with the foundry service start command. [Source 1]"]
LLM_GROUNDED_TEXT = "".join(LLM_GROUNDED)
QUOTE = "> Foundry Local listens on port 5273 by default. [Source 1]"


def dead_url() -> str:
    """A base URL on a port that nothing listens on (bound, then released)."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
def blackhole_url() -> Iterator[str]:
    """A base URL whose TCP connect never completes: a listener with a full accept queue.

    Linux drops further SYNs when the backlog (here 0 + 1) is full, so the client's
    connect waits until its connect timeout.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for s in fillers:
            s.close()
        server.close()


@pytest_asyncio.fixture
async def make_client(scripted: ScriptedServer) -> AsyncIterator[Callable[..., TierClient]]:
    """``make_client("slm"|"llm", base_url=..., timeout=..., model=...)``, closed afterwards."""
    made: list[TierClient] = []

    def make(tier: str, **kw) -> TierClient:
        model = kw.pop("model", SLM if tier == "slm" else LLM)
        client = TierClient(TierConfig(tier=tier, base_url=kw.pop("base_url", scripted.base_url), model=model, timeout=kw.pop("timeout", 5.0), **kw))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def assistant(index: Index, slm: TierClient | None, llm: TierClient | None, llm_note: str = "") -> Assistant:
    return Assistant(index, AssistantConfig(policy=Policy(short_chars=20)), served(slm), served(llm), llm_note)


async def turn(a: Assistant, question: str = Q_PORT, **kw) -> tuple[list[Event], Done]:
    events = [e async for e in a.ask(question, **kw)]
    assert isinstance(events[-1], Done) and sum(isinstance(e, Done) for e in events) == 1
    return events, events[-1]


def tier_end(events: list[Event], tier: str) -> TierEnd:
    return next(e for e in events if isinstance(e, TierEnd) and e.tier == tier)


async def assert_next_turn_works(a: Assistant, scripted: ScriptedServer) -> None:
    """The following turn is an ordinary one: the SLM's grounded answer stands, with no notes."""
    scripted.enqueue(SLM, Script(GROUNDED))
    _, done = await turn(a)
    assert (done.tier, done.answer, done.escalated, done.notes) == ("slm", GROUNDED_TEXT, False, [])


# ---------------------------------------------------------------- the SLM


@pytest.mark.asyncio
async def test_slm_down_at_start_up_answers_extractively_every_turn(scripted: ScriptedServer, small_index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    url = dead_url()
    monkeypatch.setenv("RAG_SLM_BASE_URL", url)
    monkeypatch.setenv("RAG_SLM_TIMEOUT", "2")
    settings = load_settings()
    tiers = await open_tiers(settings, start_embedded=False)
    try:
        status = next(s for s in tiers.statuses if s.tier == "slm")
        assert tiers.slm is None and not status.ok
        assert status.line().startswith("SLM: unavailable: Nothing answers at " + url)
        a = Assistant.from_tiers(small_index, AssistantConfig.from_settings(settings), tiers)
        for _ in range(2):  # every turn, not only the first
            events, done = await turn(a)
            assert not any(isinstance(e, TierStart) and e.tier == "slm" for e in events)
            assert done.tier == "extractive" and QUOTE in done.answer
            assert "no SLM tier is available" in done.notes and done.reasons[0] == "error"
            escalation = next(e for e in events if isinstance(e, Escalation))
            assert escalation.to == "extractive" and "RAG_LLM_BASE_URL" in (escalation.skipped or "")
        assert scripted.requests == []
    finally:
        await tiers.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "says"), [(500, "failed with HTTP 500"), (429, "rate-limiting requests (HTTP 429)")], ids=["http-500", "http-429"])
async def test_slm_http_error_is_reported_and_the_next_turn_works(
    status: int, says: str, scripted: ScriptedServer, make_client, small_index: Index
) -> None:
    scripted.enqueue(SLM, Script(status=status), Script(status=status))  # the SDK retries once
    a = assistant(small_index, make_client("slm"), None, llm_note="the LLM tier is not configured (set RAG_LLM_BASE_URL)")
    events, done = await turn(a)
    end = tier_end(events, "slm")
    assert end.error and says in end.error and scripted.base_url in end.error
    assert any(n.startswith("SLM: ") and says in n for n in done.notes)
    assert done.tier == "extractive" and QUOTE in done.answer and done.reasons[0] == "error"
    assert len(scripted.requests) == 2
    await assert_next_turn_works(a, scripted)


@pytest.mark.asyncio
async def test_slm_connect_timeout_escalates_and_the_next_turn_works(scripted: ScriptedServer, make_client, small_index: Index, blackhole_url: str) -> None:
    a = assistant(small_index, make_client("slm", base_url=blackhole_url, timeout=0.3), make_client("llm"))
    for _ in range(2):  # the SLM stays unreachable: each turn still ends, answered by the LLM
        scripted.enqueue(LLM, Script(LLM_GROUNDED))
        started = time.perf_counter()
        events, done = await turn(a)
        assert time.perf_counter() - started < 4  # 0.3 s connect timeout, one retry: not the 5 s default
        end = tier_end(events, "slm")
        assert end.error and "did not answer within 0.3 s" in end.error and blackhole_url in end.error
        assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
        assert done.reasons[:1] == ["error"] and done.draft is None
    # the SLM comes back (here: a client of the live server): an ordinary turn
    await assert_next_turn_works(assistant(small_index, make_client("slm"), make_client("llm")), scripted)


@pytest.mark.asyncio
async def test_slm_read_timeout_escalates_and_the_next_turn_works(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    # the headers come at once and the first chunk after 2 s: a stream that started is not retried
    scripted.enqueue(SLM, Script(["late"], delay=2))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    a = assistant(small_index, make_client("slm", timeout=0.4), make_client("llm"))
    started = time.perf_counter()
    events, done = await turn(a)
    assert time.perf_counter() - started < 1.9  # gave up before the server's 2 s delay
    end = tier_end(events, "slm")
    assert end.error and "did not answer within 0.4 s" in end.error
    assert done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT and "error" in done.reasons
    assert any(n.startswith("SLM: ") and "raise the timeout" in n for n in done.notes)
    assert len([r for r in scripted.requests if r["model"] == SLM]) == 1
    await assert_next_turn_works(a, scripted)


@pytest.mark.asyncio
async def test_malformed_sse_keeps_the_partial_answer_and_the_next_turn_works(scripted: ScriptedServer, make_client, small_index: Index) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local listens ", "on port 5273."], malformed=True))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    a = assistant(small_index, make_client("slm"), make_client("llm"))
    events, done = await turn(a)
    end = tier_end(events, "slm")
    assert end.text == "Foundry Local listens "  # what arrived before the bad line is kept
    assert end.error and "malformed stream" in end.error and scripted.base_url in end.error
    assert "".join(e.text for e in events if isinstance(e, Token) and e.tier == "slm") == "Foundry Local listens "
    assert done.draft == "Foundry Local listens " and done.tier == "llm" and done.answer == LLM_GROUNDED_TEXT
    assert len([r for r in scripted.requests if r["model"] == SLM]) == 1  # a broken stream is not retried
    await assert_next_turn_works(a, scripted)


# ---------------------------------------------------------------- the LLM, when escalation fires


@pytest.mark.asyncio
async def test_llm_down_when_escalation_fires_quotes_the_documents_and_the_next_turn_works(
    scripted: ScriptedServer, make_client, small_index: Index
) -> None:
    url = dead_url()
    a = assistant(small_index, make_client("slm"), make_client("llm", base_url=url, timeout=2.0, env_hint="RAG_LLM_BASE_URL"))
    scripted.enqueue(SLM, Script(["5273"]))  # short: escalates
    events, done = await turn(a)
    assert next(e for e in events if isinstance(e, Escalation)).to == "llm"
    end = tier_end(events, "llm")
    assert end.error and f"Nothing answers at {url}" in end.error and "RAG_LLM_BASE_URL" in end.error
    assert any(n.startswith("LLM: ") and "the extractive tier answers instead" in n for n in done.notes)
    assert done.tier == "extractive" and QUOTE in done.answer and done.draft == "5273"
    await assert_next_turn_works(a, scripted)


@pytest.mark.asyncio
async def test_llm_not_serving_the_model_at_start_up_skips_escalation_with_the_reason(
    scripted: ScriptedServer, small_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scripted, "models", [SLM, "gpt-oss-120b"])  # no gpt-oss-20b here
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_LLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_LLM_MODEL", "gpt-oss-20b")
    monkeypatch.setenv("RAG_SHORT_ANSWER_CHARS", "20")
    settings = load_settings()
    tiers = await open_tiers(settings, start_embedded=False)
    try:
        assert tiers.slm is not None and tiers.llm is None
        assert "does not serve 'gpt-oss-20b'" in tiers.llm_note and "gpt-oss-120b" in tiers.llm_note
        a = Assistant.from_tiers(small_index, AssistantConfig.from_settings(settings), tiers)
        scripted.enqueue(SLM, Script(["5273"]))
        events, done = await turn(a)
        escalation = next(e for e in events if isinstance(e, Escalation))
        assert escalation.to == "extractive" and escalation.skipped == tiers.llm_note
        assert done.tier == "extractive" and QUOTE in done.answer
        assert any("skipped" in n and "gpt-oss-20b" in n for n in done.notes)
        assert all(r["model"] != "gpt-oss-20b" for r in scripted.requests)
        await assert_next_turn_works(a, scripted)
    finally:
        await tiers.aclose()


@pytest.mark.asyncio
async def test_llm_stops_serving_the_model_mid_session_quotes_the_documents_and_the_next_turn_works(
    scripted: ScriptedServer, make_client, small_index: Index
) -> None:
    a = assistant(small_index, make_client("slm"), make_client("llm"))
    scripted.enqueue(SLM, Script(["5273"]))
    scripted.enqueue(LLM, Script(status=404))  # a 404 is not retried
    events, done = await turn(a)
    end = tier_end(events, "llm")
    assert end.error and "does not know the model 'gpt-oss-20b' (HTTP 404)" in end.error
    assert done.tier == "extractive" and QUOTE in done.answer
    # and when the model is back, escalation reaches it again
    scripted.enqueue(SLM, Script(["5273"]))
    scripted.enqueue(LLM, Script(LLM_GROUNDED))
    _, again = await turn(a)
    assert again.tier == "llm" and again.answer == LLM_GROUNDED_TEXT and again.notes == []
    await assert_next_turn_works(a, scripted)


# ---------------------------------------------------------------- concurrency


def test_concurrent_searches_and_overlay_changes_stay_consistent(small_index: Index) -> None:
    """8 threads search base + overlay while another adds and removes uploads for ~2 s."""
    uploads = {
        f"up{i}.md": f"# Upload {i}\n\nUpload {i} says the port of gadget{i} is {7000 + i}. Foundry Local notes, part {i}.\n".encode()
        for i in range(6)
    }
    # every chunk an upload can produce (chunking is deterministic), and the base's
    probe = small_index.new_overlay()
    upload_chunks = {c for name, data in uploads.items() for c in probe.add_bytes(name, data)}
    base_chunks = set(small_index.chunks)
    queries = [Q_PORT, "gadget3 port", "Foundry Local notes", "quantization memory", "upload says", "Jetson Orin memory"]
    overlay = small_index.new_overlay()
    stop = threading.Event()
    errors: list[BaseException] = []
    searches = [0] * 8
    changes = [0]

    def writer() -> None:
        names = list(uploads)
        i = 0
        try:
            while not stop.is_set():
                name = names[i % len(names)]
                if name in overlay.sources:
                    assert overlay.remove(name)
                else:
                    overlay.add_bytes(name, uploads[name])
                if i % 17 == 16:
                    overlay.clear()
                i += 1
            changes[0] = i
        except BaseException as err:  # reported below
            errors.append(err)

    def reader(n: int) -> None:
        try:
            while not stop.is_set():
                for q in queries:
                    result = search(small_index, q, k=5, overlay=overlay)
                    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
                    assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:]))
                    for hit in result.hits:
                        if hit.origin == "upload":
                            assert hit.chunk in upload_chunks and hit.source in uploads
                        else:
                            assert hit.origin == "docs" and hit.chunk in base_chunks
                    searches[n] += 1
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert changes[0] > 50 and all(s > 10 for s in searches)  # both sides really ran
    # afterwards the overlay is whole: what it lists is what it searches
    overlay.clear()
    overlay.add_bytes("up3.md", uploads["up3.md"])
    hit = search(small_index, "gadget3", overlay=overlay).hits[0]
    assert (hit.source, hit.origin) == ("up3.md", "upload")
