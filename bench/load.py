"""Load: N concurrent chat sessions x M turns through the real Chainlit app, in Chromium.

usage: .venv/bin/python -m bench.load [--sessions 20] [--turns 5] [--delay 0.2]

Starts a scripted OpenAI-compatible backend (tests/scripted_server.py) whose
every answer takes --delay seconds, then ``chainlit run app.py`` against it, then
SESSIONS browser contexts in one Chromium. Each session uploads a Markdown file
with its own secret fact, then asks TURNS questions about it at the same time as
all the others. Checks, for every turn: no error message, the answer complete
(its metrics table arrived), attributed to its own session (it quotes its own
fact), and no session ever sees another's upload. Reports the app's added
latency: (send -> answer complete) minus the backend's scripted time, p50/p95.
Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rag.evaluation.qa import percentile
from tests.support.helpers import CHROMIUM, CHROMIUM_ARGS, running_app
from tests.support.scripted_server import Script, ScriptedServer

ROOT = Path(__file__).resolve().parents[1]

ASSISTANT = '.step[data-step-type="assistant_message"]'
ANSWER = "Tokens in / out"  # the metrics table closes every answer


async def session(browser, url: str, n: int, turns: int, tmp: Path, delay: float, timings: list[float], problems: list[str]) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(120_000)
    page = await context.new_page()
    fact = f"The locker code of team {n} is Q{n:03d}-Z{n * 7:03d}."
    notes = tmp / f"team-{n}-notes.md"
    notes.write_text(f"# Team {n} notes\n\n{fact}\n", encoding="utf-8")
    await page.goto(url)
    await expect(page.locator("#chat-settings-open-modal")).to_be_visible(timeout=120_000)
    await page.set_input_files("#upload-button-input", str(notes))
    await expect(page.get_by_text(notes.name).first).to_be_visible()
    await send(page, "/stats")
    await expect(page.locator(ASSISTANT).filter(has_text="Added")).to_have_count(1)
    for turn in range(turns):
        before = await page.locator(ASSISTANT).filter(has_text=ANSWER).count()
        await page.click("#chat-input")
        await page.keyboard.type(f"What is the locker code of team {n}?")
        started = time.perf_counter()  # typing is the user's time, not the app's
        await page.keyboard.press("Enter")
        answers = page.locator(ASSISTANT).filter(has_text=ANSWER)
        await expect(answers).to_have_count(before + 1)
        await page.wait_for_selector("#stop-button", state="detached")
        # the backend is called twice a turn here (SLM, then LLM), each taking `delay`
        timings.append((time.perf_counter() - started - 2 * delay) * 1000)
        text = await answers.last.inner_text()
        if f"Q{n:03d}-Z{n * 7:03d}" not in text:
            problems.append(f"session {n} turn {turn}: its own fact is missing from the answer")
        others = [m for m in range(100) if m != n and f"Q{m:03d}-Z{m * 7:03d}" in text]
        if others:
            problems.append(f"session {n} turn {turn}: cites other sessions' uploads {others}")
    page_text = await page.locator("body").inner_text()
    if "⚠️" in page_text or "could not" in page_text:
        problems.append(f"session {n}: an error message was shown")
    await context.close()


async def send(page, text: str) -> None:
    await page.click("#chat-input")
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def main_async(args: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=180_000)  # under load a turn takes far longer than Playwright's 5 s default

    backend = ScriptedServer(["phi-4-mini-instruct-generic-cpu", "gpt-oss-20b"]).start()
    # every SLM answer is short (it escalates), every LLM answer ungrounded: the extractive tier
    # answers from the session's own sources, so an answer shows whose upload it read
    backend.default = Script(["Zebra quantum marmalade."], delay=args.delay)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        settings = {"RAG_HISTORY_DB": "off", "RAG_SLM_BASE_URL": backend.base_url, "RAG_LLM_BASE_URL": backend.base_url}
        try:
            with running_app(tmp, startup_s=60, **settings) as (url, _):
                timings: list[float] = []
                problems: list[str] = []
                started = time.perf_counter()
                async with async_playwright() as p:
                    browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                    results = await asyncio.gather(
                        *(session(browser, url, n, args.turns, tmp, args.delay, timings, problems) for n in range(args.sessions)),
                        return_exceptions=True,
                    )
                    await browser.close()
                errors = [f"session {n}: {type(r).__name__}: {r}" for n, r in enumerate(results) if isinstance(r, BaseException)]
                wall = time.perf_counter() - started
        finally:
            backend.stop()
        log_text = (tmp / "chainlit.log").read_text(errors="replace")
    if "Traceback" in log_text:
        problems.append("the app logged a traceback")
    return {
        "sessions": args.sessions, "turns": args.turns, "backend_delay_s": args.delay,
        "turns_completed": len(timings), "errors": errors, "problems": problems,
        "added_latency_p50_ms": percentile(timings, 50) if timings else None,
        "added_latency_p95_ms": percentile(timings, 95) if timings else None,
        "added_latency_mean_ms": round(statistics.mean(timings), 1) if timings else None,
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each scripted backend answer takes")
    args = parser.parse_args()
    out = asyncio.run(main_async(args))
    print(f"{out['turns_completed']}/{args.sessions * args.turns} turns, {len(out['errors'])} errors, {len(out['problems'])} problems; "
          f"app-added latency p50 {out['added_latency_p50_ms']} ms, p95 {out['added_latency_p95_ms']} ms; {out['wall_s']} s")
    for line in out["errors"] + out["problems"]:
        print("  " + line)
    print(json.dumps(out))
    sys.exit(1 if out["errors"] or out["problems"] or out["turns_completed"] != args.sessions * args.turns else 0)


if __name__ == "__main__":
    main()
