"""The app's own latency under load: N chat sessions at once, over Chainlit's socket, no browser.

usage: .venv/bin/python bench/sessions.py [--sessions 20] [--turns 5] [--json-out FILE]

Starts a scripted OpenAI-compatible backend (tests/scripted_server.py) that
answers instantly, then ``chainlit run app.py`` against it (both tiers, the
repo's corpus/, history off), then SESSIONS python-socketio clients that speak
Chainlit's protocol the way its web page does (connect with a session id,
``connection_successful``, ``client_message``; a turn ends at ``task_end``).
All sessions send their TURNS questions at the same time. Since the backend
costs nothing, the time from sending a question to its ``task_end`` is the
app's added latency per turn: retrieval, prompts, checks, rendering and
waiting for the event loop. Also measured: how long ``GET /project/settings``
(what every page load asks first) takes while the turns run, which shows a
blocked event loop. Prints p50/p95 and one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scripted_server import Script, ScriptedServer  # noqa: E402

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 1)


async def one_session(url: str, turns: int, latencies: list[float], errors: list[str], start: asyncio.Event) -> None:
    client = socketio.AsyncClient(reconnection=False)
    ended = asyncio.Queue()

    @client.on("task_end")
    async def _task_end(*_args) -> None:
        await ended.put(time.perf_counter())

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
    await asyncio.wait_for(ended.get(), 120)  # the chat start has run
    await start.wait()
    try:
        for n in range(turns):
            message = {
                "id": str(uuid.uuid4()), "threadId": None, "name": "User", "type": "user_message",
                "output": QUESTIONS[n % len(QUESTIONS)], "createdAt": datetime.now(timezone.utc).isoformat(),
            }
            sent = time.perf_counter()
            await client.emit("client_message", {"message": message, "fileReferences": None})
            done = await asyncio.wait_for(ended.get(), 300)
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
        "turn_ms_p50": pct(latencies, 50), "turn_ms_p95": pct(latencies, 95), "turn_ms_max": round(max(latencies), 1),
        "page_load_ms_p50": pct(loads, 50) if loads else None, "page_load_ms_p95": pct(loads, 95) if loads else None,
        "wall_s": round(wall, 1), "turns_per_s": round(len(latencies) / wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    backend = ScriptedServer(["phi-4-mini-instruct-generic-cpu", "gpt-oss-20b"]).start()
    backend.default = Script([ANSWER])
    tmp = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "CHAINLIT_"))}
    env.update(RAG_CACHE_DIR=str(tmp / "cache"), RAG_DOCS_DIR=str(ROOT / "corpus"), RAG_HISTORY_DB="off",
               RAG_SLM_BASE_URL=backend.base_url, RAG_LLM_BASE_URL=backend.base_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "chainlit.log").open("wb")
    app = subprocess.Popen([sys.executable, "-m", "chainlit", "run", str(ROOT / "app.py"), "--headless", "--port", str(port), "--host", "127.0.0.1"],
                           cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if app.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the app did not start; see {tmp / 'chainlit.log'}")
            time.sleep(0.3)
        httpx.get(f"{url}/project/settings", params={"language": "en-US"}, timeout=180)  # build the runtime first
        result = asyncio.run(run(url, args.sessions, args.turns))
    finally:
        app.terminate()
        app.wait(timeout=20)
        log.close()
        backend.stop()
    print(f"{result['sessions']} sessions x {result['turns']} turns: {result['completed']} completed, {len(result['errors'])} errors")
    print(f"turn (send -> task_end, backend instant): p50 {result['turn_ms_p50']} ms, p95 {result['turn_ms_p95']} ms, max {result['turn_ms_max']} ms")
    print(f"page load (/project/settings) during the turns: p50 {result['page_load_ms_p50']} ms, p95 {result['page_load_ms_p95']} ms")
    if args.json_out:
        args.json_out.write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
