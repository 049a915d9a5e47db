"""A small scripted OpenAI-compatible server for deterministic backend tests.

A real HTTP server (Starlette under uvicorn, on 127.0.0.1 and a free port, in a
thread) that serves ``/v1/models``, ``/v1/chat/completions`` and
``/v1/completions`` as Server-Sent Events (or one JSON body when the request
says ``"stream": false``), from scripts the test enqueues:

    server.enqueue("gpt-oss-20b", Script(["Hello ", "world"]))
    server.enqueue("phi", Script(["partial "], die_after=1))   # the stream breaks
    server.enqueue("phi", Script(["a ", "b"], cut_after=1))     # [DONE] after 1 chunk, no finish_reason
    server.enqueue("phi", Script(status=500))                  # HTTP 500
    server.enqueue("phi", Script(["late"], delay=5))           # slow first byte

Reasoning models, in each wire shape real servers use (see the README's
"Reasoning models" for which server sends which):

    Script(["Port 5273."], reasoning=["The user ", "asks..."])                       # delta.reasoning_content
    Script(["Port 5273."], reasoning=["..."], reasoning_field="reasoning")           # delta.reasoning
    Script(["<|chan", "nel|>analysis<|message|>...", ...])                          # Harmony in the content
    Script(["<thi", "nk>...</think>", "Port 5273."])                                # <think> in the content
    Script([], reasoning=["..."], finish_reason="length")                           # thought until max_tokens
    Script(["..."], reasoning=["..."], reasoning_tokens=12)                         # usage.completion_tokens_details
    Script(["OK"], reject=("reasoning_effort",))                                    # HTTP 400 while the body has it

Content chunks are sent exactly as given, so a test puts chunk boundaries where
it wants them (``chunked(text, 3)`` cuts every 3 characters). A non-streaming
request gets the same script as one ``message`` (``content`` plus the reasoning
field). ``ScriptedServer(models, listing=...)`` answers ``/v1/models`` with a
recorded listing verbatim.

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


def chunked(text: str, size: int) -> list[str]:
    """``text`` cut every ``size`` characters (boundaries fall inside tags and Harmony tokens)."""
    return [text[i:i + size] for i in range(0, len(text), size)]


@dataclass
class Script:
    chunks: list[str] = field(default_factory=list)  # content deltas (or completion text), sent as given
    usage: bool = True  # send a usage chunk when asked for it
    status: int = 200
    die_after: int | None = None  # close the connection after this many chunks (reasoning + content), without [DONE]
    # end the stream cleanly after this many chunks, with [DONE] but no finish_reason and no usage: what
    # llama-cpp-python's server sends a running stream it interrupts for a waiting request (interrupt_requests)
    cut_after: int | None = None
    delay: float = 0.0  # seconds before the first byte
    chunk_delay: float = 0.0
    malformed: bool = False  # send a line that is not JSON
    prompt_tokens: int = 42
    # --- reasoning models
    reasoning: list[str] = field(default_factory=list)  # thinking deltas in a field, sent before the content
    reasoning_field: str = "reasoning_content"  # or "reasoning"; "both": the two names in one delta, as aliases
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens (None: not sent)
    finish_reason: str = "stop"  # "length": the model hit max_tokens
    completion_tokens: int | None = None  # usage.completion_tokens (default: words in reasoning + content)
    reject: tuple[str, ...] = ()  # request body keys answered with HTTP 400 (the script stays queued)


class ScriptedServer:
    def __init__(self, models: list[str], listing: dict | None = None) -> None:
        self.models = list(models)
        self.listing = listing  # a recorded /v1/models answer, served as it is
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
        if self.listing is not None:
            return JSONResponse(self.listing)
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"} for m in self.models]})

    @staticmethod
    def _usage(script: Script) -> dict:
        completion = script.completion_tokens
        if completion is None:
            completion = sum(len(c.split()) for c in script.reasoning + script.chunks)
        usage: dict = {"prompt_tokens": script.prompt_tokens, "completion_tokens": completion, "total_tokens": script.prompt_tokens + completion}
        if script.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": script.reasoning_tokens}
        return usage

    @staticmethod
    def _thinking(script: Script, text: str) -> dict:
        names = ("reasoning_content", "reasoning") if script.reasoning_field == "both" else (script.reasoning_field,)
        return {name: text for name in names}

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        model = body.get("model", "")
        self.requests.append({"model": model, "path": request.url.path, "body": body})
        queue = self.scripts.get(model)
        script = queue[0] if queue else self.default
        rejected = [key for key in script.reject if key in body]
        if rejected:  # a server that does not know the parameter: the script waits for a request without it
            return JSONResponse({"error": {"message": f"unrecognized request argument supplied: {rejected[0]}", "type": "invalid_request_error"}}, status_code=400)
        if queue:
            queue.popleft()
        if script.status != 200:
            if script.delay:
                await asyncio.sleep(script.delay)
            return JSONResponse({"error": {"message": f"scripted {script.status}", "type": "test"}}, status_code=script.status)
        chat = request.url.path.endswith("chat/completions")
        if not body.get("stream"):
            return await self._whole(script, model, chat)
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        deltas = [self._thinking(script, text) for text in script.reasoning] + [{"content": text} for text in script.chunks]

        async def events():
            if script.delay:
                await asyncio.sleep(script.delay)
            for i, delta in enumerate(deltas):
                if script.die_after is not None and i >= script.die_after:
                    raise ConnectionResetError("scripted death")
                if script.cut_after is not None and i >= script.cut_after:
                    yield "data: [DONE]\n\n"
                    return
                text = delta.get("content", "")
                choice = {"index": 0, "delta": delta, "finish_reason": None} if chat else {"index": 0, "text": text, "finish_reason": None}
                yield f"data: {json.dumps({'id': 'x', 'object': 'chunk', 'created': 0, 'model': model, 'choices': [choice]})}\n\n"
                if script.malformed and i == 0:
                    yield "data: {not json\n\n"
                if script.chunk_delay:
                    await asyncio.sleep(script.chunk_delay)
            if script.die_after is not None:
                raise ConnectionResetError("scripted death")
            if script.cut_after is not None:  # every chunk sent, still no finish_reason
                yield "data: [DONE]\n\n"
                return
            reason = script.finish_reason
            end = {"index": 0, "delta": {}, "finish_reason": reason} if chat else {"index": 0, "text": "", "finish_reason": reason}
            yield f"data: {json.dumps({'id': 'x', 'object': 'chunk', 'created': 0, 'model': model, 'choices': [end]})}\n\n"
            if want_usage and script.usage:
                yield f"data: {json.dumps({'id': 'x', 'object': 'chunk', 'created': 0, 'model': model, 'choices': [], 'usage': self._usage(script)})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _whole(self, script: Script, model: str, chat: bool) -> Response:
        """A non-streaming answer: the script as one message (chat) or one text (completion)."""
        if script.delay:
            await asyncio.sleep(script.delay)
        content = "".join(script.chunks)
        if chat:
            message = {"role": "assistant", "content": content}
            if script.reasoning:
                message.update(self._thinking(script, "".join(script.reasoning)))
            choice = {"index": 0, "message": message, "finish_reason": script.finish_reason}
        else:
            choice = {"index": 0, "text": content, "finish_reason": script.finish_reason}
        answer = {"id": "x", "object": "chat.completion" if chat else "text_completion", "created": 0, "model": model, "choices": [choice]}
        if script.usage:
            answer["usage"] = self._usage(script)
        return JSONResponse(answer)


# The five wire shapes of a reasoning model's answer (issue 10), with chunk boundaries in awkward
# places: inside <think> and </think>, inside Harmony tokens (the first cut is "<|chan" + "nel|>").
SHAPES = ("reasoning_content", "reasoning", "harmony", "think", "length")


def reasoning_script(shape: str, thinking: str, answer: str, **kw) -> Script:
    """A script that streams ``thinking`` then ``answer`` the way ``shape`` does (see ``SHAPES``).

    ``length``: the model thinks until ``max_tokens`` (``finish_reason: "length"``) and writes no answer.
    """
    if shape == "reasoning_content":  # llama.cpp --reasoning-format deepseek, vLLM before 0.11
        return Script(chunked(answer, 17), reasoning=chunked(thinking, 13), **kw)
    if shape == "reasoning":  # Ollama, LM Studio (gpt-oss), OpenRouter, vLLM 0.11+
        return Script(chunked(answer, 17), reasoning=chunked(thinking, 13), reasoning_field="reasoning", **kw)
    if shape == "harmony":  # gpt-oss behind a server that does not parse Harmony
        text = f"<|channel|>analysis<|message|>{thinking}<|end|><|start|>assistant<|channel|>final<|message|>{answer}<|return|>"
        return Script(chunked(text, 6), **kw)
    if shape == "think":  # Qwen3, DeepSeek-R1 distills, phi-4-mini-reasoning
        return Script(chunked(f"<think>\n{thinking}\n</think>\n\n{answer}", 4), **kw)
    if shape == "length":
        return Script([], reasoning=chunked(thinking, 13), finish_reason="length", **kw)
    raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")
