"""Chats at once on the embedded model: every one completes, in turn, and is told where it waits.

usage: .venv/bin/python -m bench.chats [--chats 4] [--json-out FILE]

Opens the tiers as the app does with nothing configured (``rag.tiers.discovery.open_tiers``:
the embedded llama-cpp-python server with the packaged model, warmed up, its
one-slot queue in front), indexes the repo's ``corpus/``, and asks CHATS
different questions through ``Assistant.ask`` at the same moment, escalation
off, so each answer is the SLM's own. The server serves one request at a time:
the chats' requests wait in the queue in arrival order (each told how many are
ahead), and none may be cut off. Per chat: the positions it was told, its
queue wait, TTFT (from when its request was sent, after the wait) and the
turn's total (question to answer, the wait included). Prints p50/p95 (nearest
rank) and one JSON object on the last line; exits 1 when a chat failed or its
answer was cut (no finish_reason).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.answer.pipeline import Assistant, AssistantConfig, Done, Queued, TierEnd
from rag.evaluation.qa import percentile
from rag.search.index import open_index
from rag.settings import load_settings
from rag.tiers.discovery import open_tiers

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "What port does Ollama listen on?",
    "How does escalation work?",
    "Which document formats are supported?",
    "What does every turn show about its cost?",
    "What port does Foundry Local listen on?",
    "Yükseltme nasıl çalışır?",
]


@dataclass
class Chat:
    question: str
    told: list[int] = field(default_factory=list)  # the "N ahead" it was told, in order
    queue_ms: float = 0.0
    ttft_ms: float | None = None
    total_ms: float = 0.0
    chars: int = 0
    error: str | None = None
    truncated: bool = False


async def one_chat(assistant: Assistant, question: str, start: asyncio.Event) -> Chat:
    chat = Chat(question)
    await start.wait()
    began = time.perf_counter()
    slm: TierEnd | None = None
    async for event in assistant.ask(question, escalate="never"):
        if isinstance(event, Queued):
            chat.told.append(event.ahead)
        elif isinstance(event, TierEnd) and event.tier == "slm":
            slm = event
        elif isinstance(event, Done):
            chat.total_ms = (time.perf_counter() - began) * 1000
    if slm is None:
        chat.error = "the SLM tier did not answer"
        return chat
    chat.queue_ms, chat.ttft_ms, chat.chars = slm.metrics.queue_ms, slm.metrics.ttft_ms, len(slm.text)
    chat.error, chat.truncated = slm.error, slm.truncated
    return chat


async def run(chats: int) -> dict:
    settings = load_settings()
    if settings.slm_base_url or settings.foundry_local_endpoint:
        raise SystemExit("error: this measures the embedded server: unset RAG_SLM_BASE_URL and FOUNDRY_LOCAL_ENDPOINT")
    index, _ = await asyncio.to_thread(open_index, ROOT / "corpus", settings.cache_dir)
    tiers = await open_tiers(settings)
    try:
        if tiers.embedded is None or tiers.slm is None:
            raise SystemExit(f"error: the embedded server did not start: {'; '.join(tiers.lines())}")
        assistant = Assistant.from_tiers(index, AssistantConfig.from_settings(settings), tiers, llm=False)
        start = asyncio.Event()
        tasks = [asyncio.create_task(one_chat(assistant, QUESTIONS[n % len(QUESTIONS)], start)) for n in range(chats)]
        await asyncio.sleep(0.1)
        began = time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        model, warm = tiers.slm.config.model, tiers.lines()[0]
    finally:
        await tiers.aclose()
    waits, ttfts, totals = [c.queue_ms for c in results], [c.ttft_ms for c in results], [c.total_ms for c in results]
    return {
        "chats": chats, "model": model, "threads": os.cpu_count(), "status": warm,
        "completed": sum(c.error is None for c in results), "truncated": sum(c.truncated for c in results),
        "queue_ms_p50": percentile(waits, 50), "queue_ms_p95": percentile(waits, 95),
        "ttft_ms_p50": percentile(ttfts, 50), "ttft_ms_p95": percentile(ttfts, 95),
        "total_ms_p50": percentile(totals, 50), "total_ms_p95": percentile(totals, 95),
        "wall_s": round(wall, 1),
        "per_chat": [
            {"question": c.question, "told_ahead": c.told, "queue_ms": round(c.queue_ms, 1), "ttft_ms": None if c.ttft_ms is None else round(c.ttft_ms, 1),
             "total_ms": round(c.total_ms, 1), "chars": c.chars, "error": c.error, "truncated": c.truncated}
            for c in results
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=4, help="chats asking at the same moment")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.chats))
    print(f"{result['model']} ({result['status']})")
    for n, c in enumerate(result["per_chat"], 1):
        state = "cut off" if c["truncated"] else "failed: " + c["error"] if c["error"] else "complete"
        told = ", ".join(str(a) for a in c["told_ahead"]) or "-"
        print(f"chat {n}: told ahead {told:8} queue {c['queue_ms']:8.1f} ms  TTFT {c['ttft_ms'] or 0:7.1f} ms  "
              f"total {c['total_ms']:8.1f} ms  {c['chars']:4} chars  {state}")
    print(f"{result['chats']} chats at once: {result['completed']} completed, {result['truncated']} cut off, wall {result['wall_s']} s")
    for name in ("queue", "ttft", "total"):
        label = {"queue": "queue wait", "ttft": "TTFT (from the request)", "total": "total per chat"}[name]
        print(f"{label:24} p50 {result[f'{name}_ms_p50']} ms, p95 {result[f'{name}_ms_p95']} ms")
    if args.json_out:
        args.json_out.write_text(json.dumps(result))
    print(json.dumps(result, ensure_ascii=False))
    if result["completed"] < result["chats"] or result["truncated"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
