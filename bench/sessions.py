"""The app's own latency under load: N chat sessions at once, over Chainlit's socket, no browser.

usage: .venv/bin/python -m bench.sessions [--sessions 20] [--turns 5] [--app-root DIR] [--json-out FILE]

Starts a scripted OpenAI-compatible backend (tests/scripted_server.py) that
answers instantly, then ``chainlit run app.py`` against it (both tiers, the
repo's corpus/, history off), then SESSIONS python-socketio clients that speak
Chainlit's protocol the way its web page does (connect with a session id,
``connection_successful``, ``client_message``; a turn ends at the ``task_end`` of
the task that starts after its question: a connection sends a ``task_end`` of its
own before the chat start's task, which must not end the first turn).
All sessions send their TURNS questions at the same time. Since the backend
costs nothing, the time from sending a question to its ``task_end`` is the
app's added latency per turn: retrieval, prompts, checks, rendering and
waiting for the event loop. Also measured: how long ``GET /project/settings``
(what every page load asks first) takes while the turns run, which shows a
blocked event loop. Prints p50/p95 and one JSON object on the last line.

``--app-root DIR`` runs the app of another checkout (a worktree of an older
commit) with this client, for before/after figures measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import socketio

from rag.evaluation.qa import percentile
from tests.support.helpers import running_app
from tests.support.scripted_server import Script, ScriptedServer

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "What port does Ollama listen on?",
    "How does escalation work?",
    "Which document formats are supported?",
    "What does every turn show about its cost?",
    "Yükseltme nasıl çalışır?",
]
# Long enough (and cited) that the policy lets the SLM's answer stand: one model call per turn.
ANSWER = (
    "Ollama listens on port 11434 [Source 1]. Set the SLM tier to it with RAG_SLM_BASE_URL=http://127.0.0.1:11434/v1 "
    "and RAG_SLM_MODEL=phi4-mini [Source 1]. The assistant talks to any server that speaks the OpenAI chat completions API."
)


async def one_session(url: str, turns: int, latencies: list[float], errors: list[str], start: asyncio.Event) -> None:
    client = socketio.AsyncClient(reconnection=False)
    tasks: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    @client.on("task_start")
    async def _task_start(*_args) -> None:
        await tasks.put(("start", time.perf_counter()))

    @client.on("task_end")
    async def _task_end(*_args) -> None:
        await tasks.put(("end", time.perf_counter()))

    async def task_done(timeout: float) -> float:
        """When the next task (a handler's run) that starts from now has ended: a connection emits a
        task_end of its own before on_chat_start's task, so an end without its start is not counted."""
        started = False
        while True:
            kind, at = await asyncio.wait_for(tasks.get(), timeout)
            if kind == "start":
                started = True
            elif started:
                return at

    @client.on("new_message")
    async def _message(step) -> None:
        if isinstance(step, dict) and step.get("author") == "Error":
            errors.append(str(step.get("output"))[:200])

    session_id = str(uuid.uuid4())
    await client.connect(
        url, socketio_path="/ws/socket.io", transports=["websocket"], wait_timeout=60,
        auth={"clientType": "webapp", "sessionId": session_id, "threadId": None, "userEnv": "{}", "chatProfile": "Grounded Assistant"},
    )
    await client.emit("connection_successful")
    await task_done(120)  # the chat start has run
    await start.wait()
    try:
        for n in range(turns):
            message = {
                "id": str(uuid.uuid4()), "threadId": None, "name": "User", "type": "user_message",
                "output": QUESTIONS[n % len(QUESTIONS)], "createdAt": datetime.now(UTC).isoformat(),
            }
            while not tasks.empty():  # nothing of an earlier task counts for this turn
                tasks.get_nowait()
            sent = time.perf_counter()
            await client.emit("client_message", {"message": message, "fileReferences": None})
            done = await task_done(300)
            latencies.append((done - sent) * 1000)
    finally:
        await client.disconnect()


async def page_loads(url: str, stop: asyncio.Event, samples: list[float]) -> None:
    async with httpx.AsyncClient(timeout=120) as http:
        while not stop.is_set():
            started = time.perf_counter()
            await http.get(f"{url}/project/settings", params={"language": "en-US"})
            samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.2)


async def run(url: str, sessions: int, turns: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    start = asyncio.Event()
    stop = asyncio.Event()
    loads: list[float] = []
    clients = [asyncio.create_task(one_session(url, turns, latencies, errors, start)) for _ in range(sessions)]
    await asyncio.sleep(2)
    loader = asyncio.create_task(page_loads(url, stop, loads))
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*clients)
    wall = time.perf_counter() - began
    stop.set()
    await loader
    return {
        "sessions": sessions, "turns": turns, "completed": len(latencies), "errors": errors[:5],
        "turn_ms_p50": percentile(latencies, 50), "turn_ms_p95": percentile(latencies, 95), "turn_ms_max": round(max(latencies), 1),
        "page_load_ms_p50": percentile(loads, 50) if loads else None, "page_load_ms_p95": percentile(loads, 95) if loads else None,
        "wall_s": round(wall, 1), "turns_per_s": round(len(latencies) / wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--app-root", type=Path, default=ROOT, help="checkout whose app runs (default: this one)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    backend = ScriptedServer(["phi-4-mini-instruct-generic-cpu", "gpt-oss-20b"]).start()
    backend.default = Script([ANSWER])
    tmp = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    try:
        with running_app(
            tmp, startup_s=120, root=args.app_root.resolve(), RAG_HISTORY_DB="off", RAG_SLM_BASE_URL=backend.base_url, RAG_LLM_BASE_URL=backend.base_url
        ) as (url, _):
            httpx.get(f"{url}/project/settings", params={"language": "en-US"}, timeout=180)  # build the runtime first
            result = asyncio.run(run(url, args.sessions, args.turns))
    finally:
        backend.stop()
    print(f"{result['sessions']} sessions x {result['turns']} turns: {result['completed']} completed, {len(result['errors'])} errors")
    print(f"turn (send -> task_end, backend instant): p50 {result['turn_ms_p50']} ms, p95 {result['turn_ms_p95']} ms, max {result['turn_ms_max']} ms")
    print(f"page load (/project/settings) during the turns: p50 {result['page_load_ms_p50']} ms, p95 {result['page_load_ms_p95']} ms")
    if args.json_out:
        args.json_out.write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
