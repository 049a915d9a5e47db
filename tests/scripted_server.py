"""A small scripted OpenAI-compatible server for deterministic backend tests.

A real HTTP server (Starlette under uvicorn, on 127.0.0.1 and a free port, in a
thread) that serves ``/v1/models``, ``/v1/chat/completions`` and
``/v1/completions`` as Server-Sent Events, from scripts the test enqueues:

    server.enqueue("gpt-oss-20b", Script(["Hello ", "world"]))
    server.enqueue("phi", Script(["partial "], die_after=1))   # the stream breaks
    server.enqueue("phi", Script(status=500))                  # HTTP 500
    server.enqueue("phi", Script(["late"], delay=5))           # slow first byte

Every request is recorded in ``server.requests`` (model, path, body).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Script:
    chunks: list[str] = field(default_factory=list)
    usage: bool = True  # send a usage chunk when asked for it
    status: int = 200
    die_after: int | None = None  # close the connection after this many chunks, without [DONE]
    delay: float = 0.0  # seconds before the first byte
    chunk_delay: float = 0.0
    malformed: bool = False  # send a line that is not JSON
    prompt_tokens: int = 42


class ScriptedServer:
    def __init__(self, models: list[str]) -> None:
        self.models = list(models)
        self.scripts: dict[str, deque[Script]] = defaultdict(deque)
        self.requests: list[dict] = []
        self.default = Script(["OK"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = Starlette(routes=[
            Route("/v1/models", self._models),
            Route("/v1/chat/completions", self._complete, methods=["POST"]),
            Route("/v1/completions", self._complete, methods=["POST"]),
        ])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, model: str, *scripts: Script) -> None:
        self.scripts[model].extend(scripts)

    def start(self) -> ScriptedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"} for m in self.models]})

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        model = body.get("model", "")
        self.requests.append({"model": model, "path": request.url.path, "body": body})
        queue = self.scripts.get(model)
        script = queue.popleft() if queue else self.default
        if script.status != 200:
            if script.delay:
                await asyncio.sleep(script.delay)
            return JSONResponse({"error": {"message": f"scripted {script.status}", "type": "test"}}, status_code=script.status)
        chat = request.url.path.endswith("chat/completions")
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events():
            if script.delay:
                await asyncio.sleep(script.delay)
            for i, text in enumerate(script.chunks):
                if script.die_after is not None and i >= script.die_after:
                    raise ConnectionResetError("scripted death")
                choice = {"index": 0, "delta": {"content": text}, "finish_reason": None} if chat else {"index": 0, "text": text, "finish_reason": None}
                yield f"data: {json.dumps({'id': 'x', 'object': 'chunk', 'created': 0, 'model': model, 'choices': [choice]})}\n\n"
                if script.malformed and i == 0:
                    yield "data: {not json\n\n"
                if script.chunk_delay:
                    await asyncio.sleep(script.chunk_delay)
            if script.die_after is not None:
                raise ConnectionResetError("scripted death")
            end = {"index": 0, "delta": {}, "finish_reason": "stop"} if chat else {"index": 0, "text": "", "finish_reason": "stop"}
            yield f"data: {json.dumps({'id': 'x', 'object': 'chunk', 'created': 0, 'model': model, 'choices': [end]})}\n\n"
            if want_usage and script.usage:
                completion = sum(len(c.split()) for c in script.chunks)
                usage = {"prompt_tokens": script.prompt_tokens, "completion_tokens": completion, "total_tokens": script.prompt_tokens + completion}
                yield f"data: {json.dumps({'id': 'x', 'object': 'chunk', 'created': 0, 'model': model, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
