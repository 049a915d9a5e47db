"""The Chainlit handlers of ``app.py``, called directly inside a Chainlit context.

No browser and no socket: each test builds a ``ChainlitContext`` whose emitter
is a mock that records every event the app would send to the UI (steps,
stream starts, tokens, elements), then asserts on that record. The tiers are
the scripted OpenAI-compatible server of ``conftest.py``; the documents are
the repo's ``corpus/``.

``import chainlit`` writes ``.chainlit/`` and ``.files/`` under
``CHAINLIT_APP_ROOT`` (read once, at import), so the module fixture points it
at a temporary folder before importing chainlit and ``app.py``. ``app`` reads its
settings once, at import (``app.SETTINGS``), and keeps a process-wide
``app.RUNTIME`` (index, tiers): the ``runtime_env`` fixture points the settings at
the scripted server through ``RAG_*``, gives the module fresh ones of both, and
closes the tiers afterwards.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import re
import sys
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from unittest.mock import AsyncMock, Mock

import pytest
import pytest_asyncio
from tests.support.scripted_server import Script, ScriptedServer, reasoning_script
from tests.support.helpers import FACT, GROUNDED_OLLAMA, LLM_OLLAMA


ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"



@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """``app.py`` imported with ``CHAINLIT_APP_ROOT`` in a temporary folder (set before chainlit is imported)."""
    root = tmp_path_factory.mktemp("chainlit-root")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAINLIT_APP_ROOT", str(root))
        mp.chdir(root)
        with warnings.catch_warnings():  # third-party deprecations at import (traceloop's pydantic v1 configs)
            warnings.simplefilter("ignore", DeprecationWarning)
            chainlit_config = importlib.import_module("chainlit.config")
            importlib.import_module("chainlit")
        # No persistence here: these tests look at what is sent to the UI. (The browser tests run the
        # app with whatever data layer it registers.)
        data = importlib.import_module("chainlit.data")
        mp.setattr(data, "_data_layer", None)
        mp.setattr(data, "_data_layer_initialized", True)
        assert Path(chainlit_config.APP_ROOT).resolve() == root.resolve(), (
            "chainlit was imported before this module's fixture; its files would land elsewhere"
        )
        spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module
        spec.loader.exec_module(module)
        yield module
    sys.modules.pop("app", None)


@pytest_asyncio.fixture
async def runtime_env(app, scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ScriptedServer]:
    """Both tiers on the scripted server, the repo's corpus; fresh ``app.SETTINGS`` and ``app.RUNTIME``, closed afterwards."""
    monkeypatch.setenv("RAG_DOCS_DIR", str(CORPUS))
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_LLM_BASE_URL", scripted.base_url)
    reconfigure(app, monkeypatch)
    yield scripted
    await app.shutdown()


def reconfigure(app, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a restart of the app does: read the settings once more, and a fresh runtime."""
    from rag.web.runtime import Runtime
    from rag.settings import load_settings

    settings = load_settings()
    monkeypatch.setattr(app, "SETTINGS", settings)
    monkeypatch.setattr(app, "RUNTIME", Runtime(settings))


@asynccontextmanager
async def cl_context(session_id: str | None = None, language: str = "en-US"):
    """A Chainlit context with a recording mock emitter (the pattern of chainlit's own tests)."""
    from chainlit.context import ChainlitContext, context_var
    from chainlit.emitter import BaseChainlitEmitter
    from chainlit.session import WebsocketSession

    session = Mock(spec=WebsocketSession)
    session.id = session_id or f"s-{uuid.uuid4()}"
    session.thread_id = f"t-{uuid.uuid4()}"
    session.user, session.user_env, session.chat_settings, session.files = None, {}, {}, {}
    session.chat_profile, session.client_type, session.language = None, "webapp", language
    session.to_clear = False  # True: the client asked for a new chat (then its disconnect ends the chat)
    session.persist_file = AsyncMock(side_effect=lambda **kw: {"id": f"f-{uuid.uuid4()}"})
    emitter = AsyncMock(spec=BaseChainlitEmitter)
    emitter.set_chat_settings = Mock()
    emitter.session = session
    token = context_var.set(ChainlitContext(session, emitter=emitter))
    try:
        yield emitter
    finally:
        context_var.reset(token)


# ------------------------------------------------------------------ reading the record


def calls(em, name: str) -> list:
    return [c for c in em.mock_calls if c[0] == name]


def messages(em) -> list[str]:
    """Final content of every assistant message, in the order they were first shown."""
    order: list[str] = []
    content: dict[str, str] = {}
    for name, args, kwargs in em.mock_calls:
        if name in ("stream_start", "send_step", "update_step"):
            step = args[0] if args else kwargs["step_dict"]
            if step.get("type") != "assistant_message":
                continue
            if step["id"] not in content:
                order.append(step["id"])
            content[step["id"]] = step.get("output") or ""
        elif name == "delete_step":
            step = args[0] if args else kwargs["step_dict"]
            if step["id"] in content:
                order.remove(step["id"])
                del content[step["id"]]
    return [content[i] for i in order]


def tool_steps(em, name: str) -> list[dict]:
    """The last emitted state of each non-message step called ``name``."""
    last: dict[str, dict] = {}
    for c in calls(em, "send_step") + calls(em, "update_step"):
        step = c[1][0]
        if step.get("name") == name and step.get("type") != "assistant_message":
            last[step["id"]] = step
    return list(last.values())


def streamed(em) -> str:
    """Everything streamed, in order: each stream's first token (in ``stream_start``) and the rest (``send_token``)."""
    parts = []
    for name, args, kwargs in em.mock_calls:
        if name == "stream_start":
            parts.append(args[0].get("output") or "")
        elif name == "send_token":
            parts.append(kwargs["token"] if "token" in kwargs else args[1])
    return "".join(parts)


def elements(em) -> list[dict]:
    return [c[1][0] for c in calls(em, "send_element")]


def persisted(em) -> dict[str, str]:
    """Name -> content of every element file the app persisted (``Source N`` texts, charts)."""
    session = em.session
    return {kw["name"]: kw.get("content") for _, _, kw in session.persist_file.mock_calls}


def one(items: list[str], prefix: str) -> str:
    found = [m for m in items if m.startswith(prefix)]
    assert len(found) == 1, f"expected one message starting {prefix!r}, got {items!r}"
    return found[0]


async def start_chat(app, language: str = "en-US", session_id: str | None = None):
    async with cl_context(session_id, language) as em:
        await app.on_chat_start()
    return em


async def ask(app, text: str, session_id: str, files: list[Path] = ()):
    """Send a user message (with ``files`` attached as Chainlit ``File`` elements, as the upload gives them)."""
    import chainlit as cl

    async with cl_context(session_id) as em:
        attached = [cl.File(name=p.name, path=str(p), mime="text/markdown") for p in files]
        await app.on_message(cl.Message(content=text, type="user_message", elements=attached))
    return em


# ------------------------------------------------------------------ tests


@pytest.mark.asyncio
async def test_chat_start_shows_the_tiers_and_the_corpus(app, runtime_env: ScriptedServer) -> None:
    em = await start_chat(app, session_id="start")
    assert messages(em) == []  # a message would hide the starters: the welcome is the profile's description
    (profile,) = await app.chat_profiles(None, "en-US")
    welcome = profile.markdown_description
    assert [s.label for s in profile.starters][0] == "How does escalation work?"
    assert welcome.startswith("**Ready:** 5 documents")
    # a blank line ends the tier list: otherwise Markdown folds the last sentence into the last bullet
    assert "(configured)\n\nAsk a question" in welcome
    assert f"SLM: {SLM} at {runtime_env.base_url} (configured)" in welcome
    assert f"LLM: {LLM} at {runtime_env.base_url} (configured)" in welcome
    em.set_chat_settings.assert_called_once()
    assert {"top_k", "escalate", "mode", "short_chars", "slm_temperature", "llm_temperature", "reasoning_effort", "show_draft"} <= set(
        em.set_chat_settings.call_args[0][0]
    )


@pytest.mark.asyncio
async def test_turkish_session_gets_a_turkish_welcome_and_starters(app, runtime_env: ScriptedServer) -> None:
    em = await start_chat(app, language="tr-TR", session_id="tr")
    assert messages(em) == []
    (profile,) = await app.chat_profiles(None, "tr-TR")
    welcome = profile.markdown_description
    assert welcome.startswith("**Hazır:** `") and "klasöründen 5 belge (27 bölüm)" in welcome and "`/stats`" in welcome
    assert "Yükseltme nasıl çalışır?" in [s.label for s in profile.starters]
    labels = [s.label for s in await app.starters(None, "tr-TR")]
    assert "Yükseltme nasıl çalışır?" in labels
    assert "How does escalation work?" in [s.label for s in await app.starters(None, "en-US")]


@pytest.mark.asyncio
async def test_a_normal_turn_streams_cites_and_measures(app, runtime_env: ScriptedServer) -> None:
    sid = "normal"
    await start_chat(app, session_id=sid)
    runtime_env.enqueue(SLM, Script(GROUNDED_OLLAMA))
    em = await ask(app, "What port does Ollama listen on?", sid)

    # the retrieval step: a tool step with the hits, emitted before any token
    (step,) = tool_steps(em, "Retrieval")
    assert step["type"] == "tool" and step["input"] == "What port does Ollama listen on?"
    assert "03-model-backends.md" in step["output"] and "covered" in step["output"]
    names = [c[0] for c in em.mock_calls]
    assert names.index("send_step") < names.index("stream_start")

    # the answer was streamed token by token (the first in stream_start, the rest as tokens)
    assert len(calls(em, "stream_start")) == 1
    assert len(calls(em, "send_token")) == len(GROUNDED_OLLAMA) - 1
    assert streamed(em) == "".join(GROUNDED_OLLAMA)

    # one final message: the answer, the SLM badge, the sources and the metrics table
    (final,) = messages(em)
    assert final.startswith("".join(GROUNDED_OLLAMA))
    assert "🟢 SLM" in final and "sources: Source 1, Source 2" in final
    assert "| Tier | TTFT | Generation | Total | Tokens in / out | Tokens/s | Cost |" in final
    assert "| SLM |" in final and "| LLM |" not in final

    # the elements: Source N side texts (the passage in their content), the latency chart, the action
    sent = elements(em)
    sources = [e for e in sent if e["name"].startswith("Source ")]
    assert [e["name"] for e in sources] == [f"Source {n}" for n in range(1, len(sources) + 1)]
    assert all(e["type"] == "text" and e["display"] == "side" for e in sources)
    assert [e["type"] for e in sent if e["name"] == "Latency"] == ["plotly"]
    message_id = calls(em, "stream_start")[0][1][0]["id"]
    assert all(e["forId"] == message_id for e in sent)
    contents = persisted(em)
    assert contents["Source 1"].startswith("03-model-backends.md › ")
    assert "Ollama listens on port 11434" in "".join(contents[e["name"]] for e in sources)
    actions = [c[1][1] for c in calls(em, "emit") if c[1][0] == "action"]
    assert [(a["name"], a["label"], a["forId"]) for a in actions] == [("session_stats", "Session stats", message_id)]

    # the SLM got the grounded chat prompt with numbered sources
    (request,) = runtime_env.requests
    assert request["model"] == SLM and request["body"]["stream"] is True
    assert "Source 1 (" in request["body"]["messages"][-1]["content"]


@pytest.mark.asyncio
async def test_an_uncited_slm_answer_escalates_and_keeps_the_draft(app, runtime_env: ScriptedServer) -> None:
    """The draft "Port 11434." is not too short for "What port…?" (issue 13), but it cites no source: the LLM refines it."""
    sid = "escalate"
    await start_chat(app, session_id=sid)
    runtime_env.enqueue(SLM, Script(["Port ", "11434."]))
    runtime_env.enqueue(LLM, Script([LLM_OLLAMA[:40], LLM_OLLAMA[40:]]))
    em = await ask(app, "What port does Ollama listen on?", sid)

    shown = messages(em)
    draft = one(shown, "**SLM draft**")
    assert "Port 11434." in draft
    note = one(shown, "⤴ Escalated to the LLM tier")
    assert "(refine)" in note and "`uncited` (the answer cited no source)" in note and "`short`" not in note
    final = shown[-1]
    assert final.startswith(LLM_OLLAMA) and "🔵 LLM" in final
    assert "| SLM |" in final and "| LLM |" in final
    assert shown.index(draft) < shown.index(note) < shown.index(final)
    # two streams: the SLM's draft, then the LLM's answer
    assert len(calls(em, "stream_start")) == 2
    assert streamed(em) == "Port 11434." + LLM_OLLAMA
    # the LLM refined the draft: it was in its prompt
    llm_request = next(r for r in runtime_env.requests if r["model"] == LLM)
    assert "Port 11434." in llm_request["body"]["messages"][-1]["content"]


@pytest.mark.asyncio
async def test_an_unsupported_llm_answer_is_labelled_as_the_llms_draft(app, runtime_env: ScriptedServer) -> None:
    sid = "two-drafts"
    await start_chat(app, session_id=sid)
    runtime_env.enqueue(SLM, Script(["Port 11434."]))
    runtime_env.enqueue(LLM, Script(["Bananas are yellow and grow on tall plants in warm countries."]))
    em = await ask(app, "What port does Ollama listen on?", sid)
    shown = messages(em)
    assert one(shown, "**SLM draft**") == "**SLM draft**\n\nPort 11434."
    assert one(shown, "**LLM draft**").endswith("Bananas are yellow and grow on tall plants in warm countries.")
    final = shown[-1]
    assert "📄 Extractive" in final and "not supported by the sources either" in final
    assert "11434" in final.split("---")[0]


@pytest.mark.asyncio
async def test_the_draft_is_folded_into_a_step_when_the_setting_hides_it(app, runtime_env: ScriptedServer) -> None:
    import chainlit as cl

    sid = "hidden-draft"
    await start_chat(app, session_id=sid)
    async with cl_context(sid):
        values = dict(cl.user_session.get("chat_settings_values"))
        await app.on_settings_update({**values, "show_draft": False})
    runtime_env.enqueue(SLM, Script(["Port 11434."]))
    runtime_env.enqueue(LLM, Script([LLM_OLLAMA]))
    em = await ask(app, "What port does Ollama listen on?", sid)
    # the streamed draft message is taken down and its text kept in a collapsed "SLM draft" step
    draft_id = calls(em, "stream_start")[0][1][0]["id"]
    assert [c[1][0]["id"] for c in calls(em, "delete_step")] == [draft_id]
    (step,) = tool_steps(em, "SLM draft")
    assert step["output"] == "Port 11434." and step["type"] == "llm"
    shown = messages(em)
    assert not [m for m in shown if "Port 11434." in m and "LLM" not in m]
    assert shown[-1].startswith(LLM_OLLAMA) and "🔵 LLM" in shown[-1]


@pytest.mark.asyncio
async def test_uploads_are_added_and_searched_in_their_chat_only(app, runtime_env: ScriptedServer, tmp_path: Path) -> None:
    sid = "uploads"
    await start_chat(app, session_id=sid)
    good = tmp_path / "secret-notes.md"
    good.write_text(f"# Secret notes\n\n{FACT} Nobody outside the team knows it.\n", encoding="utf-8")
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x90\x00binary")
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")

    em = await ask(app, "", sid, [bad, good, empty])
    shown = messages(em)
    assert len(shown) == 3, shown  # one message per file, and no answer to an empty question
    assert shown[0].startswith("`tool.exe` was not added: only ") and ".md" in shown[0]
    assert shown[1].startswith("📎 Added `secret-notes.md` to this chat: 1 passages in ")
    assert shown[2] == "`empty.md` was not added: empty file"
    assert not runtime_env.requests

    # the upload answers a question in this chat (the SLM repeats the fact, citing it)
    runtime_env.enqueue(SLM, Script([FACT + " [Source 1]"]))
    runtime_env.enqueue(LLM, Script([FACT + " [Source 1]"]))
    em = await ask(app, "What is the project codename?", sid)
    (step,) = tool_steps(em, "Retrieval")
    assert step["output"].startswith("1. `secret-notes.md` › Secret notes (score ") and ", uploaded)" in step["output"]
    contents = persisted(em)
    assert contents["Source 1"].startswith("secret-notes.md › Secret notes\n")
    assert "uploaded to this chat" in contents["Source 1"] and FACT in contents["Source 1"]
    assert FACT in messages(em)[-1]
    assert "Zephyr-Quokka-42" in runtime_env.requests[0]["body"]["messages"][-1]["content"]

    # another chat does not see it
    other = "uploads-other"
    await start_chat(app, session_id=other)
    runtime_env.requests.clear()
    em = await ask(app, "What is the project codename?", other)
    (step,) = tool_steps(em, "Retrieval")
    assert "secret-notes.md" not in step["output"] and "uploaded" not in step["output"]
    assert not any("secret-notes.md" in (c or "") for c in persisted(em).values())
    assert all("Zephyr" not in m["content"] for r in runtime_env.requests for m in r["body"]["messages"])


async def upload_cost_in_app(app, data: bytes) -> int:
    """What ``data`` costs in the app's upload budget (measured on an overlay of the app's index)."""
    from rag.search.budget import UploadBudget

    parts = await app.RUNTIME.ready()
    budget, overlay = UploadBudget(10**9), parts.index.new_overlay()
    overlay.add_bytes("probe.md", data, budget)
    return budget.used


@pytest.mark.asyncio
async def test_all_chats_share_one_upload_budget_and_an_ended_chat_gives_its_share_back(
    app, runtime_env: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag.search.budget import UploadBudget

    first, second = tmp_path / "first-notes.md", tmp_path / "second-notes.md"
    first.write_text(f"# First notes\n\n{FACT} " + "It was chosen in March. " * 30 + "\n", encoding="utf-8")
    second.write_text("# Second notes\n\nThe mascot is a purple walrus. " + "It was drawn in May. " * 30 + "\n", encoding="utf-8")
    await start_chat(app, session_id="budget-a")
    await start_chat(app, session_id="budget-b")
    cost = await upload_cost_in_app(app, first.read_bytes())
    monkeypatch.setattr(app, "UPLOADS", UploadBudget(cost + cost // 2))  # room for one of the two

    assert messages(await ask(app, "", "budget-a", [first]))[0].startswith("📎 Added `first-notes.md` to this chat")
    (refused,) = messages(await ask(app, "", "budget-b", [second]))
    assert refused.startswith("`second-notes.md` was not added: the uploads of all chats on this server together may hold ")
    assert "0 kB of it in this chat" in refused  # this chat holds nothing: the other chat filled it
    assert refused.endswith("Start a new chat (this chat's uploads are freed when it ends) or ask the admin to raise RAG_MAX_UPLOADS_MB.")

    async with cl_context("budget-a") as em:
        em.session.to_clear = True  # the first chat's user started a new chat: this one is over
        await app.on_chat_end()
    assert app.UPLOADS.used == 0
    assert messages(await ask(app, "", "budget-b", [second]))[0].startswith("📎 Added `second-notes.md` to this chat")


@pytest.mark.asyncio
async def test_the_same_file_at_the_chats_upload_limit_is_already_here_not_over_the_limit(
    app, runtime_env: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app, "UPLOAD_RULES", replace(app.UPLOAD_RULES, per_chat=1))
    notes, again, other = tmp_path / "notes.md", tmp_path / "notes-copy.md", tmp_path / "other.md"
    notes.write_text(f"# Notes\n\n{FACT}\n", encoding="utf-8")
    again.write_bytes(notes.read_bytes())
    other.write_text("# Other\n\nThe mascot is a purple walrus.\n", encoding="utf-8")
    await start_chat(app, session_id="limit")
    shown = messages(await ask(app, "", "limit", [notes, again, other]))
    assert shown[0].startswith("📎 Added `notes.md` to this chat")
    assert shown[1] == "`notes-copy.md` is already in this chat (as `notes.md`): not added again."
    assert shown[2] == "`other.md` was not added: this chat already has 1 documents (the limit). Start a new chat for more."


@pytest.mark.asyncio
async def test_stats_command_shows_the_session_so_far(app, runtime_env: ScriptedServer) -> None:
    sid = "stats"
    await start_chat(app, session_id=sid)
    em = await ask(app, "/stats", sid)
    assert messages(em) == ["No turns yet: ask a question first."]
    runtime_env.enqueue(SLM, Script(GROUNDED_OLLAMA))
    await ask(app, "What port does Ollama listen on?", sid)
    em = await ask(app, "/stats", sid)
    (shown,) = messages(em)
    assert shown.startswith("**This session so far**")
    assert [e["type"] for e in elements(em)] == ["plotly"]
    # the action button does the same
    import chainlit as cl

    async with cl_context(sid) as em:
        await app.on_stats_action(cl.Action(name="session_stats", payload={}))
    assert messages(em)[0].startswith("**This session so far**")


@pytest.mark.asyncio
async def test_a_failing_slm_without_llm_shows_the_error_and_quotes_the_documents(
    app, runtime_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_LLM_BASE_URL")
    reconfigure(app, monkeypatch)
    sid = "failure"
    await start_chat(app, session_id=sid)
    welcome = (await app.chat_profiles(None, "en-US"))[0].markdown_description
    assert "LLM: unavailable: the LLM tier is not configured (set RAG_LLM_BASE_URL)" in welcome

    runtime_env.enqueue(SLM, Script(status=500), Script(status=500))  # the SDK retries once
    em = await ask(app, "What port does Ollama listen on?", sid)
    assert [r["model"] for r in runtime_env.requests] == [SLM, SLM]
    shown = messages(em)
    error = one(shown, "⚠️ SLM:")
    assert "HTTP 500" in error and runtime_env.base_url in error
    note = one(shown, "⤴ Escalation needed:")
    assert "`error`" in note and "not configured" in note and "Quoting the documents instead" in note
    final = shown[-1]
    assert "📄 Extractive · the documents' own words" in final
    assert "11434" in final.split("---")[0]  # the extractive answer quotes the Ollama passage
    assert "| Extractive |" in final and "sources: Source 1" in final
    assert shown.index(error) < shown.index(note) < shown.index(final)

    # the next question works: the SLM is back
    runtime_env.requests.clear()
    runtime_env.enqueue(SLM, Script(GROUNDED_OLLAMA))
    em = await ask(app, "What port does Ollama listen on?", sid)
    (final,) = messages(em)
    assert final.startswith("".join(GROUNDED_OLLAMA)) and "🟢 SLM" in final
    # the history carries the previous (extractive) turn into the prompt
    assert len(runtime_env.requests[0]["body"]["messages"]) == 4


@pytest.mark.asyncio
async def test_stop_keeps_the_partial_answer(app, runtime_env: ScriptedServer) -> None:
    import asyncio

    import chainlit as cl

    sid = "stop"
    await start_chat(app, session_id=sid)
    runtime_env.enqueue(SLM, Script([f"word{i} " for i in range(50)], chunk_delay=0.05))
    async with cl_context(sid) as em:
        task = asyncio.create_task(app.on_message(cl.Message(content="What port does Ollama listen on?", type="user_message")))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if len(calls(em, "send_token")) >= 3:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (final,) = messages(em)
    assert final.startswith("word0 word1 word2 ") and final.endswith("*(stopped)*")
    assert "word49" not in final



# ------------------------------------------------------------------ reasoning models

THOUGHT = "PRIVATE-THOUGHT: the user asks for Ollama's port; the backends page says 11434, so cite it."


class RecordingDataLayer:
    """A data layer that keeps what Chainlit would save (steps by id); everything else is a no-op."""

    def __init__(self) -> None:
        self.steps: dict[str, dict] = {}

    async def create_step(self, step: dict) -> None:
        self.steps[step["id"]] = dict(step)

    async def update_step(self, step: dict) -> None:
        self.steps[step["id"]] = dict(step)

    async def delete_step(self, step_id: str) -> None:
        self.steps.pop(step_id, None)

    def __getattr__(self, name: str):
        async def nothing(*args, **kwargs) -> None:
            return None

        return nothing


@pytest.mark.asyncio
async def test_a_thinking_llm_shows_a_thinking_step_then_the_answer_and_saves_no_thinking(
    app, runtime_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chainlit.data

    saved = RecordingDataLayer()
    monkeypatch.setattr(chainlit.data, "_data_layer", saved)
    sid = "thinking"
    await start_chat(app, session_id=sid)
    runtime_env.enqueue(SLM, Script(["Port ", "11434."]))
    runtime_env.enqueue(LLM, reasoning_script("harmony", THOUGHT, LLM_OLLAMA))
    em = await ask(app, "What port does Ollama listen on?", sid)
    # Chainlit saves in background tasks: wait for them all, not for a time, before asserting what was not saved
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 30)

    # the Thinking step: opened while streaming, then closed (collapsed) with its duration as title
    record = [(name, args[0] if args else kwargs) for name, args, kwargs in em.mock_calls]
    start_at, started = next((i, a) for i, (n, a) in enumerate(record) if n == "stream_start" and a.get("name") == "Thinking")
    assert started["type"] == "llm" and started["defaultOpen"] is True and started["autoCollapse"] is True and started["start"]
    close_at, closed = next((i, a) for i, (n, a) in enumerate(record) if n == "update_step" and a.get("id") == started["id"])
    assert re.fullmatch(r"Thought for \d+\.\d s", closed["name"]), closed["name"]
    assert closed["end"] and closed["streaming"] is False and closed["output"].strip() == THOUGHT
    # then the answer, in a message below it, which never holds the thinking or the markup
    answer_at = next(i for i, (n, a) in enumerate(record) if n == "stream_start" and a.get("type") == "assistant_message"
                     and LLM_OLLAMA.startswith(a.get("output", "-")))
    assert start_at < close_at < answer_at
    shown = messages(em)
    final = shown[-1]
    assert final.startswith(LLM_OLLAMA) and "🔵 LLM" in final
    assert "PRIVATE-THOUGHT" not in final and "<|" not in final and "analysis" not in final.split("---")[0]
    assert all("PRIVATE-THOUGHT" not in m for m in shown)
    # thinking gets its own columns in the table and its own segment in the chart
    assert "| Tier | TTFT | First answer token | Thinking | Answer generation |" in final
    assert '"name":"thinking"' in persisted(em)["Latency"].replace(" ", "")

    # the saved chat: the answer, never the thinking (the step was only streamed to the UI)
    assert started["id"] not in saved.steps
    assert not any("PRIVATE-THOUGHT" in str(step.get("output")) for step in saved.steps.values())
    assert any(str(step.get("output", "")).startswith(LLM_OLLAMA) for step in saved.steps.values())

    # the history sent back next turn holds the answer only
    runtime_env.requests.clear()
    runtime_env.enqueue(SLM, Script(GROUNDED_OLLAMA))
    await ask(app, "And which port does Foundry Local use?", sid)
    assert "PRIVATE-THOUGHT" not in str(runtime_env.requests[0]["body"]["messages"])
    assert LLM_OLLAMA in str(runtime_env.requests[0]["body"]["messages"])


@pytest.mark.asyncio
async def test_the_llm_thinking_until_its_limit_is_said_and_the_documents_answer(app, runtime_env: ScriptedServer) -> None:
    sid = "budget"
    await start_chat(app, session_id=sid)
    runtime_env.enqueue(SLM, Script(["Port 11434."]))
    runtime_env.enqueue(LLM, reasoning_script("length", THOUGHT, ""))
    em = await ask(app, "What port does Ollama listen on?", sid)
    shown = messages(em)
    warning = one(shown, "⚠️ LLM:")
    assert "gpt-oss-20b used all 512 tokens thinking and wrote no answer: raise RAG_LLM_MAX_TOKENS" in warning
    final = shown[-1]
    assert "📄 Extractive" in final and "not supported by the sources either" not in final
    # the thinking was shown, and closed when the tier ended (no answer came to close it)
    (started,) = [c[1][0] for c in calls(em, "stream_start") if c[1][0]["name"] == "Thinking"]
    (closed,) = [c[1][0] for c in calls(em, "update_step") if c[1][0]["id"] == started["id"]]
    assert re.fullmatch(r"Thought for \d+\.\d s", closed["name"]) and closed["output"].strip() == THOUGHT


@pytest.mark.asyncio
async def test_the_reasoning_effort_setting_is_sent_to_the_llm(app, runtime_env: ScriptedServer) -> None:
    import chainlit as cl

    sid = "effort"
    em = await start_chat(app, session_id=sid)
    assert "reasoning_effort" in em.set_chat_settings.call_args[0][0]
    async with cl_context(sid):
        values = dict(cl.user_session.get("chat_settings_values"))
    assert values["reasoning_effort"] == "low"  # RAG_LLM_REASONING_EFFORT's default
    for choice, sent in (("high", "high"), ("server default", None)):
        async with cl_context(sid):
            await app.on_settings_update({**values, "reasoning_effort": choice, "escalate": "always"})
        runtime_env.requests.clear()
        await ask(app, "What port does Ollama listen on?", sid)
        bodies = [r["body"] for r in runtime_env.requests]
        assert [b.get("reasoning_effort") for b in bodies if b["model"] == LLM] == [sent]
        assert all("reasoning_effort" not in b for b in bodies if b["model"] == SLM)


# ------------------------------------------------------------------ each chat-settings control changes a turn


def test_controls_are_seeded_from_the_settings_and_span_what_they_allow(app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "37")
    monkeypatch.setenv("RAG_SLM_TEMPERATURE", "0.3")
    monkeypatch.setenv("RAG_LLM_TEMPERATURE", "1.7")
    monkeypatch.setenv("RAG_SHORT_ANSWER_CHARS", "4000")
    from rag.settings import load_settings

    controls = {c.id: c for c in app.chat_controls(load_settings())}
    assert (controls["top_k"].initial, controls["top_k"].min, controls["top_k"].max) == (37, 1, 50)
    assert (controls["slm_temperature"].initial, controls["slm_temperature"].max) == (0.3, 2)
    assert (controls["llm_temperature"].initial, controls["llm_temperature"].max) == (1.7, 2)
    assert (controls["short_chars"].initial, controls["short_chars"].min, controls["short_chars"].max) == (4000, 0, 5000)


async def turn_with(app, scripted: ScriptedServer, values: dict, slm_answer: list[str], sid: str):
    """Start a chat, apply chat-settings ``values`` as the settings panel does, ask one question."""
    em = await start_chat(app, session_id=sid)
    chosen = dict(zip(em.set_chat_settings.call_args[0][0], [None] * 99))  # the control ids the panel shows
    async with cl_context(sid):
        current = app.cl.user_session.get("chat_settings_values")
        assert set(values) <= set(current) | set(chosen)
        await app.on_settings_update({**current, **values})
    scripted.requests.clear()
    scripted.enqueue(SLM, Script(slm_answer))
    scripted.enqueue(LLM, Script([LLM_OLLAMA]))
    return await ask(app, "What port does Ollama listen on?", sid)


@pytest.mark.asyncio
@pytest.mark.parametrize("top_k", [1, 2])
async def test_the_top_k_control_sets_the_number_of_sources(app, runtime_env: ScriptedServer, top_k: int) -> None:
    em = await turn_with(app, runtime_env, {"top_k": top_k, "escalate": "always"}, GROUNDED_OLLAMA, f"k{top_k}")
    sources = [e for e in elements(em) if e["name"].startswith("Source ")]
    assert len(sources) == top_k
    llm_prompt = next(r for r in runtime_env.requests if r["model"] == LLM)["body"]["messages"][-1]["content"]
    assert f"Source {top_k} (" in llm_prompt and f"Source {top_k + 1} (" not in llm_prompt


@pytest.mark.asyncio
@pytest.mark.parametrize(("escalate", "llm_called"), [("always", True), ("never", False)])
async def test_the_escalation_control_decides_whether_the_llm_is_asked(app, runtime_env: ScriptedServer, escalate: str, llm_called: bool) -> None:
    await turn_with(app, runtime_env, {"escalate": escalate}, ["11434."], f"esc-{escalate}")  # a bare fragment
    assert any(r["model"] == LLM for r in runtime_env.requests) is llm_called


@pytest.mark.asyncio
@pytest.mark.parametrize(("mode", "draft_sent"), [("refine", True), ("regenerate", False)])
async def test_the_mode_control_decides_whether_the_llm_sees_the_draft(app, runtime_env: ScriptedServer, mode: str, draft_sent: bool) -> None:
    await turn_with(app, runtime_env, {"escalate": "always", "mode": mode}, GROUNDED_OLLAMA, f"mode-{mode}")
    llm_prompt = next(r for r in runtime_env.requests if r["model"] == LLM)["body"]["messages"][-1]["content"]
    assert ("Draft answer:" in llm_prompt) is draft_sent
    assert ("".join(GROUNDED_OLLAMA) in llm_prompt) is draft_sent


@pytest.mark.asyncio
async def test_the_short_answer_control_sets_the_threshold(app, runtime_env: ScriptedServer) -> None:
    answer = "".join(GROUNDED_OLLAMA)
    await turn_with(app, runtime_env, {"short_chars": len(answer) + 500}, GROUNDED_OLLAMA, "short-high")
    assert any(r["model"] == LLM for r in runtime_env.requests)  # "short" fired
    await turn_with(app, runtime_env, {"short_chars": 0}, GROUNDED_OLLAMA, "short-off")
    assert not any(r["model"] == LLM for r in runtime_env.requests)


@pytest.mark.asyncio
async def test_each_tier_gets_its_own_temperature_control(app, runtime_env: ScriptedServer) -> None:
    await turn_with(app, runtime_env, {"escalate": "always", "slm_temperature": 0.7, "llm_temperature": 1.3}, GROUNDED_OLLAMA, "temps")
    sent = {r["model"]: r["body"]["temperature"] for r in runtime_env.requests}
    assert sent == {SLM: 0.7, LLM: 1.3}


@pytest.mark.asyncio
async def test_the_llm_temperature_setting_takes_effect_without_touching_the_controls(app, runtime_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLM_TEMPERATURE", "0.9")
    monkeypatch.setenv("RAG_SLM_TEMPERATURE", "0.2")
    reconfigure(app, monkeypatch)
    await turn_with(app, runtime_env, {"escalate": "always"}, GROUNDED_OLLAMA, "temps-settings")
    sent = {r["model"]: r["body"]["temperature"] for r in runtime_env.requests}
    assert sent == {SLM: 0.2, LLM: 0.9}


@pytest.mark.asyncio
@pytest.mark.parametrize("show", [True, False])
async def test_the_show_draft_control_keeps_the_draft_as_a_message_or_folds_it(app, runtime_env: ScriptedServer, show: bool) -> None:
    em = await turn_with(app, runtime_env, {"escalate": "always", "show_draft": show}, GROUNDED_OLLAMA, f"draft-{show}")
    drafts = [m for m in messages(em) if m.startswith("**SLM draft**")]
    assert bool(drafts) is show
    folded = [c for c in calls(em, "send_step") if (c[1][0] if c[1] else c[2]["step_dict"]).get("name") == "SLM draft"]
    assert bool(folded) is not show


# ------------------------------------------------------------------ the conversation is Chainlit's chat context


@asynccontextmanager
async def socket_session(sid: str, user=None, thread_id: str | None = None):
    """A real ``WebsocketSession`` (its ``emit`` a recording mock), driven through Chainlit's own socket handlers.

    ``user``: the signed-in (persisted) user; ``thread_id``: the chat to resume, as when the browser opens it from the history.
    """
    from chainlit.chat_context import chat_contexts
    from chainlit.context import init_ws_context
    from chainlit.session import WebsocketSession, ws_sessions_id, ws_sessions_sid
    from chainlit.socket import connection_successful
    from chainlit.user_session import user_sessions

    session = WebsocketSession(
        id=sid, socket_id=f"socket-{sid}", emit=AsyncMock(), emit_call=AsyncMock(), user_env={}, client_type="webapp",
        user=user, thread_id=thread_id,
    )
    init_ws_context(session)
    await connection_successful(session.socket_id)  # as in a browser: on_chat_start as a task, or on_chat_resume
    if session.current_task is not None:
        await session.current_task
    try:
        yield session
    finally:
        ws_sessions_id.pop(sid, None)
        ws_sessions_sid.pop(session.socket_id, None)
        chat_contexts.pop(sid, None)
        user_sessions.pop(sid, None)  # what Chainlit drops with an expired session (the chat, its uploads)


def user_payload(text: str, message_id: str | None = None) -> dict:
    from chainlit.utils import utc_now

    step = {"id": message_id or str(uuid.uuid4()), "type": "user_message", "output": text, "name": "User", "createdAt": utc_now()}
    return {"message": step, "fileReferences": None}


def emitted_errors(session) -> list[str]:
    return [c.args[1].get("output", "") for c in session.emit.mock_calls
            if c.args and c.args[0] in ("new_message", "update_message") and c.args[1].get("isError")]


def history_in(request: dict) -> list[str]:
    """The earlier turns' texts in a chat request: the messages between the system prompt and the question."""
    return [m["content"] for m in request["body"]["messages"][1:-1]]


@pytest.mark.asyncio
async def test_an_edit_drops_the_later_turns_from_the_history_and_the_stats(app, runtime_env: ScriptedServer) -> None:
    """Editing question 2 of 3: Chainlit removes the answers after it, and the model's next prompts hold turn 1 only, then the new turn 2."""
    from chainlit.socket import edit_message, process_message

    async with socket_session("edit") as session:
        await app.on_settings_update({**app.cl.user_session.get("chat_settings_values"), "escalate": "never"})  # one request a turn
        asked = []
        for n in (1, 2, 3):
            payload = user_payload(f"Question {n}: what port does Ollama listen on?")
            asked.append(payload["message"])
            runtime_env.enqueue(SLM, Script([f"Answer {n}: Ollama listens on port 11434 [Source 1]."]))
            await process_message(session, payload)
        assert history_in(runtime_env.requests[-1]) == [
            asked[0]["output"], "Answer 1: Ollama listens on port 11434 [Source 1].",
            asked[1]["output"], "Answer 2: Ollama listens on port 11434 [Source 1].",
        ]

        runtime_env.requests.clear()
        runtime_env.enqueue(SLM, Script(["Answer 2b: Ollama listens on port 11434 [Source 1]."]))
        edited = {**asked[1], "output": "Question 2b: which port does Ollama use?"}
        await edit_message(session.socket_id, {"message": edited})
        (request,) = runtime_env.requests
        assert request["body"]["messages"][-1]["content"].endswith("Question 2b: which port does Ollama use?")
        assert history_in(request) == [asked[0]["output"], "Answer 1: Ollama listens on port 11434 [Source 1]."]

        runtime_env.requests.clear()
        runtime_env.enqueue(SLM, Script(["Answer 4: Ollama listens on port 11434 [Source 1]."]))
        await process_message(session, user_payload("Question 4: and the port again?"))
        assert history_in(runtime_env.requests[-1]) == [
            asked[0]["output"], "Answer 1: Ollama listens on port 11434 [Source 1].",
            "Question 2b: which port does Ollama use?", "Answer 2b: Ollama listens on port 11434 [Source 1].",
        ]

        session.emit.reset_mock()
        await process_message(session, user_payload("/stats"))
        (stats,) = [c.args[1]["output"] for c in session.emit.mock_calls if c.args and c.args[0] == "new_message"
                    and c.args[1].get("type") == "assistant_message"]
        assert stats.startswith("**This session so far**")
        assert "\n| 3 | " in stats  # turns 1, 2b and 4: the dropped 2 and 3 are not counted
        assert emitted_errors(session) == []


def upload_payload(session, text: str, path: Path) -> dict:
    """A user message carrying ``path``, as the browser sends it after uploading the file (``session.files``)."""
    file_id = str(uuid.uuid4())
    session.files[file_id] = {"id": file_id, "path": path, "name": path.name, "type": "text/markdown", "size": path.stat().st_size}
    return {**user_payload(text), "fileReferences": [{"id": file_id}]}


@pytest.mark.asyncio
async def test_a_reconnect_keeps_the_uploads_a_new_chat_or_an_expired_one_frees_them(
    app, runtime_env: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chainlit calls on_chat_end on every disconnect; only a new chat, or a session Chainlit dropped after its timeout, ends the chat."""
    from chainlit.config import config
    from chainlit.socket import clean_session, connection_successful, disconnect, restore_existing_session

    import rag.web.chat

    monkeypatch.setattr(config.project, "session_timeout", 1)  # seconds Chainlit keeps a disconnected session
    monkeypatch.setattr(rag.web.chat, "EXPIRY_MARGIN_S", 0.2)
    notes = tmp_path / "secret-notes.md"
    notes.write_text(f"# Secret notes\n\n{FACT}\n", encoding="utf-8")
    async with socket_session("reconnect") as session:
        await process_message_quietly(session, upload_payload(session, "", notes))
        held = app.UPLOADS.held(app.cl.user_session.get("chat").overlay._owner)
        assert held > 0

        await disconnect(session.socket_id)  # the Wi-Fi drops...
        assert restore_existing_session("socket-reconnect-2", session.id, AsyncMock(), AsyncMock(), {})  # ...and is back in time
        await connection_successful("socket-reconnect-2")
        await asyncio.sleep(1.5)  # past the timeout: the session came back, so nothing was freed
        assert app.UPLOADS.held(app.cl.user_session.get("chat").overlay._owner) == held
        runtime_env.enqueue(SLM, Script([f"{FACT} [Source 1]"]))
        await process_message_quietly(session, user_payload("What is the project codename?"))
        assert "secret-notes.md" in runtime_env.requests[-1]["body"]["messages"][-1]["content"]

        used = app.UPLOADS.used
        await clean_session(session.socket_id)  # "new chat"
        await disconnect(session.socket_id)
        assert app.UPLOADS.used == used - held  # freed at once

    async with socket_session("expires") as session:
        await process_message_quietly(session, upload_payload(session, "", notes))
        owner = app.cl.user_session.get("chat").overlay._owner
        assert app.UPLOADS.held(owner) > 0
        await disconnect(session.socket_id)  # and never comes back: Chainlit drops the session after its timeout
        for _ in range(50):
            await asyncio.sleep(0.1)
            if not app.UPLOADS.held(owner):
                break
        assert app.UPLOADS.held(owner) == 0


async def process_message_quietly(session, payload: dict) -> None:
    """Chainlit's handler for a user message; fails if the app's handler raised (Chainlit shows that as an error message)."""
    from chainlit.socket import process_message

    await process_message(session, payload)
    assert emitted_errors(session) == []


@pytest.mark.asyncio
async def test_an_edited_message_does_not_add_its_files_again(app, runtime_env: ScriptedServer, tmp_path: Path) -> None:
    from chainlit.socket import edit_message

    notes = tmp_path / "secret-notes.md"
    notes.write_text(f"# Secret notes\n\n{FACT}\n", encoding="utf-8")
    async with socket_session("edit-upload") as session:
        payload = upload_payload(session, "What is the project codename?", notes)
        runtime_env.enqueue(SLM, Script([f"{FACT} [Source 1]"]))
        await process_message_quietly(session, payload)
        session.emit.reset_mock()
        runtime_env.enqueue(SLM, Script([f"{FACT} [Source 1]"]))
        await edit_message(session.socket_id, {"message": {**payload["message"], "output": "What is the codename, please?"}})
        said = [c.args[1]["output"] for c in session.emit.mock_calls
                if c.args and c.args[0] == "new_message" and c.args[1].get("type") == "assistant_message"]
        assert said and not any("secret-notes.md" in text for text in said)  # neither "added" nor "already in this chat"
        assert "secret-notes.md" in runtime_env.requests[-1]["body"]["messages"][-1]["content"]
        assert emitted_errors(session) == []


@pytest.mark.asyncio
async def test_a_chat_queued_for_the_model_is_told_its_place_until_the_model_starts(app, runtime_env: ScriptedServer) -> None:
    """Two chats at once on an SLM with a one-slot queue (the embedded server's): the second shows where it waits."""
    from rag.tiers.queue import FairQueue

    await start_chat(app, session_id="queue-a")
    await start_chat(app, session_id="queue-b")
    parts = await app.RUNTIME.ready()
    parts.tiers.slm.client.queue = FairQueue()  # what rag.tiers.discovery gives the embedded server's client
    runtime_env.enqueue(SLM, Script(GROUNDED_OLLAMA, chunk_delay=0.2), Script(GROUNDED_OLLAMA))

    async def second():
        await asyncio.sleep(0.3)
        return await ask(app, "What port does Ollama listen on?", "queue-b")

    first_em, second_em = await asyncio.gather(ask(app, "What port does Ollama listen on?", "queue-a"), second())
    waiting = "⏳ Waiting for the model, 1 ahead…"
    shown = [c[1][0] for c in calls(second_em, "send_step") if c[1][0].get("output") == waiting]
    assert len(shown) == 1 and shown[0]["type"] == "assistant_message"
    deleted = [c[1][0]["id"] for c in calls(second_em, "delete_step")]
    assert shown[0]["id"] in deleted  # removed when the model started
    names = [c[0] for c in second_em.mock_calls]
    assert names.index("delete_step") < names.index("stream_start")  # before the answer streams
    (final,) = messages(second_em)
    assert final.startswith("".join(GROUNDED_OLLAMA)) and "**Queue wait**" in final
    assert not any(c[1][0].get("output") == waiting for c in calls(first_em, "send_step"))
    assert "**Queue wait**" not in messages(first_em)[0]


# ------------------------------------------------------------------ the history: resume, uploads kept with the chat


@pytest_asyncio.fixture
async def history_on(app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The app with a history in ``tmp_path``: Chainlit's data layer is ``rag.web.datalayer.SQLiteDataLayer`` on a real file."""
    import chainlit.data
    from chainlit.config import config

    from rag.web.datalayer import SQLiteDataLayer
    from rag.web.history import UploadStore, open_history

    path = tmp_path / "chat-history.db"
    open_history(path, 0)
    store = UploadStore(path)
    layer = SQLiteDataLayer(path, store)
    monkeypatch.setattr(chainlit.data, "_data_layer", layer)
    monkeypatch.setattr(app, "UPLOAD_STORE", store)
    monkeypatch.setattr(config.project, "session_timeout", 1)  # Chainlit drops a disconnected session after 1 s
    monkeypatch.setattr(importlib.import_module("rag.web.chat"), "EXPIRY_MARGIN_S", 0.1)
    yield layer
    await settled()
    await layer.close()


async def settled() -> None:
    """Wait for Chainlit's background saves (it persists in tasks it does not await)."""
    for _ in range(10):
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not pending:
            return
        await asyncio.wait(pending, timeout=5)


async def a_chat_with_an_upload(app, layer, scripted: ScriptedServer, notes: Path, user) -> tuple[str, list[str]]:
    """Alice's chat: escalation off in its settings, a file, two questions answered from it; then she closes the tab.

    Returns the thread id and the answers' step ids.
    """
    from chainlit.socket import change_settings, disconnect

    async with socket_session(f"first-{uuid.uuid4()}", user=user) as session:
        await change_settings(session.socket_id, {**app.cl.user_session.get("chat_settings_values"), "escalate": "never"})
        await process_message_quietly(session, upload_payload(session, "", notes))
        answers = []
        for question, answer in [("What is the project codename?", f"{FACT} [Source 1]"), ("Who knows it?", "Only this chat [Source 1].")]:
            scripted.enqueue(SLM, Script([answer]))
            await process_message_quietly(session, user_payload(question))
            answers.append(next(m.id for m in reversed(app.cl.chat_context.get()) if app.rag_chat.metadata_of(m).get("rag") == "answer"))
        thread_id = session.thread_id
        await disconnect(session.socket_id)  # Chainlit saves the chat's session (its settings) with the thread
    await settled()
    return thread_id, answers


def resumed_thread(session) -> dict:
    (thread,) = [c.args[1] for c in session.emit.mock_calls if c.args and c.args[0] == "resume_thread"]
    return thread


@pytest.mark.asyncio
async def test_a_resumed_chat_has_its_turns_settings_sources_and_upload(
    app, runtime_env: ScriptedServer, history_on, tmp_path: Path,
) -> None:
    import chainlit as cl
    from chainlit.types import Feedback

    notes = tmp_path / "secret-notes.md"
    notes.write_text(f"# Secret notes\n\n{FACT} Only this chat knows it.\n", encoding="utf-8")
    alice = await history_on.create_user(cl.User(identifier="alice"))
    before = app.UPLOADS.used
    thread_id, answers = await a_chat_with_an_upload(app, history_on, runtime_env, notes, alice)
    assert app.UPLOADS.used == before  # the closed chat expired: its upload was freed
    await history_on.upsert_feedback(Feedback(forId=answers[0], value=1, comment="right"))  # a thumb up, as the page sends it

    runtime_env.requests.clear()
    async with socket_session(f"resume-{uuid.uuid4()}", user=alice, thread_id=thread_id) as session:
        thread = resumed_thread(session)  # what the browser shows
        assert [s["output"].split("\n")[0] for s in thread["steps"] if s["type"] == "user_message"] == [
            "", "What is the project codename?", "Who knows it?"]
        assert not any(s["output"].startswith("⚠️") for s in thread["steps"])
        sources = [e for e in thread["elements"] if e["name"] == "Source 1"]
        assert sorted(e["forId"] for e in sources) == sorted(answers)
        assert {e["name"] for e in thread["elements"]} >= {"Source 1", "Source 2", "Latency"}
        for element in sources:  # served from this session's files, where the page fetches them
            assert element["url"] == f"/project/file/{element['chainlitKey']}?session_id={session.id}"
            assert FACT in Path(session.files[element["chainlitKey"]]["path"]).read_text(encoding="utf-8")
        controls = next(c.args[1] for c in session.emit.mock_calls if c.args and c.args[0] == "chat_settings")
        assert next(w for w in controls if w["id"] == "escalate")["initial"] == "never"
        assert app.UPLOADS.used > before  # the upload is back

        runtime_env.enqueue(SLM, Script([f"{FACT} [Source 1]"]))
        await process_message_quietly(session, user_payload("Say the codename once more?"))
        session.emit.reset_mock()
        await process_message_quietly(session, user_payload("/stats"))
        (stats,) = [c.args[1]["output"] for c in session.emit.mock_calls if c.args and c.args[0] == "new_message"
                    and c.args[1].get("type") == "assistant_message"]
        assert "\n| 3 | " in stats and stats.endswith("Votes on these answers: 👍 1 · 👎 0")
    (request,) = runtime_env.requests  # one tier: escalation is still off
    assert history_in(request) == ["What is the project codename?", f"{FACT} [Source 1]", "Who knows it?", "Only this chat [Source 1]."]
    assert "secret-notes.md" in request["body"]["messages"][-1]["content"]  # the upload is searched again


@pytest.mark.asyncio
async def test_a_resumed_chat_whose_upload_is_gone_says_so_and_goes_on(
    app, runtime_env: ScriptedServer, history_on, tmp_path: Path,
) -> None:
    import chainlit as cl

    notes = tmp_path / "secret-notes.md"
    notes.write_text(f"# Secret notes\n\n{FACT}\n", encoding="utf-8")
    alice = await history_on.create_user(cl.User(identifier="alice"))
    thread_id, _ = await a_chat_with_an_upload(app, history_on, runtime_env, notes, alice)
    assert history_on.uploads.delete(thread_id) == 1  # the stored file is gone (an older version kept none)

    runtime_env.requests.clear()
    async with socket_session(f"resume-{uuid.uuid4()}", user=alice, thread_id=thread_id) as session:
        note = resumed_thread(session)["steps"][-1]["output"]
        assert note.startswith("⚠️ `secret-notes.md` was uploaded to this chat, but the file is no longer stored: answers go on without it.")
        runtime_env.enqueue(SLM, Script(["Ollama listens on port 11434 [Source 1]."]))
        await process_message_quietly(session, user_payload("What port does Ollama listen on?"))
    (request,) = runtime_env.requests
    assert "secret-notes.md" not in request["body"]["messages"][-1]["content"]
    assert history_in(request)[0] == "What is the project codename?"  # the turns are still there


@pytest.mark.asyncio
async def test_another_user_cannot_resume_the_chat_and_deleting_it_deletes_its_upload(
    app, runtime_env: ScriptedServer, history_on, tmp_path: Path,
) -> None:
    import chainlit as cl
    from chainlit.types import Pagination, ThreadFilter

    notes = tmp_path / "secret-notes.md"
    notes.write_text(f"# Secret notes\n\n{FACT}\n", encoding="utf-8")
    alice = await history_on.create_user(cl.User(identifier="alice"))
    bob = await history_on.create_user(cl.User(identifier="bob"))
    thread_id, _ = await a_chat_with_an_upload(app, history_on, runtime_env, notes, alice)
    assert (await history_on.list_threads(Pagination(first=10), ThreadFilter(userId=bob.id))).data == []

    before = app.UPLOADS.used
    async with socket_session(f"bob-{uuid.uuid4()}", user=bob, thread_id=thread_id) as session:
        assert not [c for c in session.emit.mock_calls if c.args and c.args[0] == "resume_thread"]
        assert [c.args[1] for c in session.emit.mock_calls if c.args and c.args[0] == "resume_thread_error"] == ["Thread not found."]
        assert app.UPLOADS.used == before  # nothing of alice's was loaded for bob

    assert len(history_on.uploads.load(thread_id)) == 1
    await history_on.delete_thread(thread_id)  # the sidebar's delete
    assert history_on.uploads.load(thread_id) == [] and await history_on.get_thread(thread_id) is None
