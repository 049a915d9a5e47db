"""The command line: ``python -m rag index|search|ask|chat|eval|compare|bench|feedback|serve-local``.

Output contract (other tools depend on it): hits go to stdout, progress and
diagnostics to stderr; ``--json`` prints one JSON array per query; an expected
problem (missing folder, bad setting) is one line on stderr and exit code 1.
``ask`` exits 3 when it answered but a tier that should have been there failed
(see ``_failed_at_start``, and any tier's error during the turn).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from contextlib import aclosing
from pathlib import Path

import click

from rag.errors import RagError
from rag.search.index import Index, IndexConfig, IndexReport, open_index
from rag.search.retrieval import SearchResult, search
from rag.settings import Settings, load_settings
from rag.tiers.base import TierName

__all__ = ["cli", "main"]


def _settings(docs: Path | None) -> Settings:
    settings = load_settings()
    if docs is not None:
        settings = settings.model_copy(update={"docs_dir": docs})
    return settings


def _open(settings: Settings, no_cache: bool = False) -> tuple[Index, IndexReport]:
    cache = None if no_cache else settings.cache_dir
    index, report = open_index(settings.docs_dir, cache, IndexConfig.from_settings(settings))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    return index, report


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """A local-first grounded knowledge assistant."""


_docs_option = click.option(
    "--docs", type=click.Path(path_type=Path), default=None,
    help="Folder of documents (default: RAG_DOCS_DIR or ./corpus).",
)


@cli.command()
@_docs_option
@click.option("--no-cache", is_flag=True, help="Rebuild from the files, ignoring and not writing the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def index(docs: Path | None, no_cache: bool, as_json: bool) -> None:
    """Build or refresh the index of the docs folder and print counts."""
    settings = _settings(docs)
    _, report = _open(settings, no_cache)
    if as_json:
        click.echo(json.dumps({
            "files": report.files, "chunks": report.chunks, "processed": report.processed,
            "reused": report.reused, "removed": report.removed, "seconds": round(report.seconds, 3),
            "skipped": [{"source": s.source, "reason": s.reason} for s in report.skipped],
        }))
        return
    click.echo(
        f"{report.files} files, {report.chunks} chunks "
        f"({report.processed} processed, {report.reused} from cache, {report.removed} removed), "
        f"{len(report.skipped)} skipped, {report.seconds:.2f} s"
    )
    for skipped in report.skipped:
        click.echo(f"  skipped {skipped.source}: {skipped.reason}")


@cli.command(name="search")
@click.argument("query", required=False)
@_docs_option
@click.option("--k", "k", type=click.IntRange(1, 100), default=None, help="Number of hits (default: RAG_TOP_K, 5).")
@click.option(
    "--queries", type=click.File("r", encoding="utf-8"), default=None,
    help='File with one query per line: plain text, or a JSON object {"question": str, "history": '
    '[{"question": str, "answer": str}, ...]} (a follow-up, searched with its conversation); prints one result per line.',
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of hits (one line per query).")
def search_command(query: str | None, docs: Path | None, k: int | None, queries, as_json: bool) -> None:
    """Print the passages that best match QUERY.

    A --queries line that is not valid (bad JSON, no "question") is reported on
    stderr with its line number and printed as an empty result (``[]`` with
    --json), so every input line still has its output line; the exit code is 1
    when any line was bad.
    """
    from rag.search.retrieval import resolve_followup

    if (query is None) == (queries is None):
        raise click.UsageError('Give a QUERY or --queries FILE (one of the two), e.g. rag search "how do I start?"')
    settings = _settings(docs)
    k = k or settings.top_k
    index, _ = _open(settings)
    lines = [query] if query is not None else [line.rstrip("\n") for line in queries]
    bad = 0
    for number, line in enumerate(lines, 1):
        try:
            question, history = parse_query_line(line) if queries is not None else (line, [])
        except ValueError as err:
            bad += 1
            click.echo(f"error: --queries line {number}: {err}", err=True)
            click.echo("[]" if as_json else f"(line {number} skipped: {err})")
            continue
        if not question.strip():
            if as_json:
                click.echo("[]")
            else:
                click.echo("(empty query: nothing to search)")
            continue
        followup = resolve_followup(index, question, history, settings.language)
        result = search(index, question, k, language=settings.language, min_coverage=settings.min_coverage, context=followup.carries)
        if as_json:
            click.echo(json.dumps([h.to_json() for h in result.hits], ensure_ascii=False))
        else:
            _print_result(result)
    if bad:
        sys.exit(1)


def parse_query_line(line: str) -> tuple[str, list]:
    """One ``--queries`` line -> ``(question, history)``: plain text, or a JSON object with a history.

    Raises ``ValueError`` saying what is wrong (not JSON, no "question", a
    history entry without a question).
    """
    from rag.search.followup import Turn

    if not re.match(r'\s*\{\s*"', line):  # plain text, also one that starts with "{" ("{model} placeholders?")
        return line, []
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at column {err.colno}); write plain text or a JSON object") from None
    if not isinstance(data, dict) or not isinstance(data.get("question"), str):
        raise ValueError('a JSON line needs a "question" string, e.g. {"question": "and its port?", "history": []}')
    history = data.get("history", [])
    if not isinstance(history, list):
        raise ValueError('"history" must be a list of {"question": str, "answer": str}')
    turns = []
    for n, entry in enumerate(history, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("question"), str):
            raise ValueError(f'history entry {n} needs a "question" string')
        answer = entry.get("answer", "")
        turns.append(Turn(entry["question"], answer if isinstance(answer, str) else ""))
    return data["question"], turns


def _print_result(result: SearchResult) -> None:
    c = result.confidence
    verdict = "covered" if c.covered else "probably NOT covered by the documents"
    click.echo(
        f"{len(result.hits)} hits for {result.query!r} [{result.lang}] in {result.elapsed_ms:.1f} ms; "
        f"coverage {c.coverage:.2f}, margin {c.margin:.2f}: {verdict}"
    )
    for hit in result.hits:
        page = f" p.{hit.chunk.page}" if hit.chunk.page else ""
        click.echo(f"\n[{hit.rank}] {hit.score:.3f}  {hit.source}{page}  ({hit.heading})")
        snippet = " ".join(hit.text.split())
        click.echo("    " + (snippet[:400] + ("…" if len(snippet) > 400 else "")))


# ---------------------------------------------------------------- answering


def _run(coro):
    import asyncio

    return asyncio.run(coro)


@cli.command()
@click.argument("question")
@_docs_option
@click.option("--escalate", type=click.Choice(["auto", "always", "never"]), default=None, help="Escalation to the LLM tier (default: RAG_ESCALATE, auto).")
@click.option("--mode", type=click.Choice(["refine", "regenerate"]), default=None, help="How the LLM takes over (default: RAG_ESCALATION_MODE).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: answer, tier, escalated, sources, reasoning per tier, metrics.")
@click.option("--quiet", "-q", is_flag=True, help="Don't print a reasoning model's thinking (it goes to stderr otherwise).")
def ask(question: str, docs: Path | None, escalate: str | None, mode: str | None, as_json: bool, quiet: bool) -> None:
    """Answer QUESTION from the documents, streaming it to stdout (a model's thinking to stderr)."""
    from rag.answer.pipeline import Assistant, AssistantConfig
    from rag.tiers.discovery import open_tiers

    settings = _settings(docs)
    index, _ = _open(settings)

    async def go() -> int:
        tiers = await open_tiers(settings)
        try:
            for status in tiers.statuses:
                click.echo(status.line(), err=True)
            degraded = _failed_at_start(tiers.statuses, settings)
            assistant = Assistant.from_tiers(index, AssistantConfig.from_settings(settings), tiers)
            _, failed = await _answer_turn(assistant, question, (), escalate=escalate, mode=mode, as_json=as_json, quiet=quiet)
            return 3 if degraded or failed else 0
        finally:
            await tiers.aclose()

    code = _run(go())
    if code:
        sys.exit(code)


async def _answer_turn(assistant, question: str, history, escalate=None, mode=None, as_json=False, quiet=False):
    """Stream one turn to the terminal: answer text to stdout, thinking and notes to stderr; returns ``(done, failed)``.

    ``failed``: a tier failed during the turn (``rag ask`` exits 3). With ``as_json``, one JSON object
    (``Done.to_json``) instead of the text and the summary.
    """
    import time

    from rag.answer.pipeline import Done, Escalation, Retrieved, Thinking, TierEnd, TierStart, Token

    show_thinking = not (quiet or as_json)
    failed = False
    thinking_since: float | None = None  # a tier is thinking (shown on stderr) since then

    def end_thinking() -> None:
        nonlocal thinking_since
        if thinking_since is not None and show_thinking:
            click.echo(f"\n[thought for {time.perf_counter() - thinking_since:.1f} s]", err=True)
        thinking_since = None

    done = None
    turn = assistant.ask(question, history=history, escalate=escalate, mode=mode)
    async with aclosing(turn):  # Ctrl-C closes the streams at once
        async for event in turn:
            if isinstance(event, Retrieved) and event.result.carried and not as_json:
                click.echo(f"[{event.result.searched_note()}]", err=True)
            elif isinstance(event, Thinking):
                if thinking_since is None:
                    thinking_since = time.perf_counter()
                    if show_thinking:
                        click.echo(f"[{event.tier.upper()} thinking]", err=True)
                if show_thinking:
                    click.echo(event.text, nl=False, err=True)
            elif isinstance(event, Token):
                end_thinking()
                if not as_json:
                    click.echo(event.text, nl=False)
            elif isinstance(event, TierStart) and event.reason and not as_json:
                click.echo(f"\n[{event.tier.upper()} takes over: {event.reason}]", err=True)
            elif isinstance(event, Escalation) and event.skipped:
                click.echo(f"\n[escalation needed ({', '.join(event.reasons)}) but skipped: {event.skipped}]", err=True)
            elif isinstance(event, TierEnd):
                end_thinking()
                if event.error:
                    failed = True
                    click.echo(f"\n[{event.tier.upper()} failed: {event.error}]", err=True)
            elif isinstance(event, Done):
                done = event
    assert done is not None
    if as_json:
        click.echo(json.dumps(done.to_json(), ensure_ascii=False))
        return done, failed
    click.echo("")
    click.echo(f"\n-- answered by the {done.tier.upper()} tier" + (f" (escalated: {', '.join(done.reasons)})" if done.escalated else ""))
    for n, hit in enumerate(done.hits, 1):
        click.echo(f"[Source {n}] {hit.source} › {hit.heading} ({hit.score:.2f})")
    m = done.metrics
    thought = f" ({m.reasoning_tokens} thinking)" if m.reasoning_tokens else ""
    click.echo(
        f"retrieval {m.retrieval_ms:.1f} ms, prep {m.prep_ms:.1f} ms, total {m.total_ms:.0f} ms, "
        f"tokens {m.prompt_tokens} in / {m.completion_tokens} out{thought}, cost ${m.cost:.6f}", err=True,
    )
    for t in m.tiers:
        click.echo("  " + _tier_line(t), err=True)
    return done, failed


@cli.command()
@_docs_option
@click.option("--escalate", type=click.Choice(["auto", "always", "never"]), default=None, help="Escalation to the LLM tier (default: RAG_ESCALATE, auto).")
@click.option("--quiet", "-q", is_flag=True, help="Don't print a reasoning model's thinking (it goes to stderr otherwise).")
def chat(docs: Path | None, escalate: str | None, quiet: bool) -> None:
    """A terminal chat: each question is answered with the conversation so far (follow-ups keep their subject).

    Reads one question per line from the terminal (or a pipe); answers stream to
    stdout. ``/new`` starts a new conversation, ``/quit`` (or end of input) ends.
    The history is cut to RAG_HISTORY_TOKENS, oldest turns first, like the app's.
    """
    import asyncio

    from rag.answer.pipeline import Assistant, AssistantConfig
    from rag.search.followup import Turn
    from rag.tiers.discovery import open_tiers

    settings = _settings(docs)
    index, report = _open(settings)
    interactive = sys.stdin.isatty()

    async def go() -> int:
        tiers = await open_tiers(settings)
        history: list[Turn] = []
        try:
            for status in tiers.statuses:
                click.echo(status.line(), err=True)
            failed_any = _failed_at_start(tiers.statuses, settings)  # exit 3, as rag ask
            assistant = Assistant.from_tiers(index, AssistantConfig.from_settings(settings), tiers)
            click.echo(f"{report.files} files, {report.chunks} passages. Ask a question; /new starts over, /quit ends.", err=True)
            while True:
                if interactive:
                    click.echo("\n> ", nl=False, err=True)
                line = await asyncio.to_thread(sys.stdin.readline)  # the event loop (and the embedded server's queue) go on
                if not line:
                    break
                question = line.strip()
                if question in ("/quit", "/exit", "/q"):
                    break
                if question in ("/new", "/yeni"):
                    history.clear()
                    click.echo("[a new conversation]", err=True)
                    continue
                if not question:
                    continue
                done, failed = await _answer_turn(assistant, question, history, escalate=escalate, quiet=quiet)
                failed_any = failed_any or failed
                if done.tier != "none":
                    history.append(Turn(question, done.answer))
            return 3 if failed_any else 0
        finally:
            await tiers.aclose()

    code = _run(go())
    if code:
        sys.exit(code)


def _failed_at_start(statuses, settings: Settings) -> bool:
    """Whether a tier that should be there is not: the SLM always; the LLM when ``RAG_LLM_BASE_URL`` is set.

    An LLM tier that was never configured is a choice, not a failure (escalation is skipped with a note).
    """
    return any(not s.ok and (s.tier != TierName.LLM or settings.llm_base_url is not None) for s in statuses)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _tier_line(t) -> str:
    """One tier's timings and tokens, thinking apart: ``llm: ttft 80 ms, first answer 2400 ms, thinking 2300 ms, ...``."""
    tps = f"{t.tokens_per_s:.1f} answer tok/s" if t.tokens_per_s else "-"
    est = " (estimated)" if t.estimated else ""
    if not (t.reasoning_tokens or t.thinking_ms):
        return f"{t.tier}: ttft {_ms(t.ttft_ms)}, generation {t.generation_ms:.0f} ms, {tps}, {t.prompt_tokens}/{t.completion_tokens} tokens{est}"
    split = "≈" if t.reasoning_estimated else ""
    return (
        f"{t.tier}: ttft {_ms(t.ttft_ms)}, first answer token {_ms(t.ttfa_ms)}, thinking {t.thinking_ms:.0f} ms, "
        f"answer generation {t.generation_ms:.0f} ms, {tps}, {t.prompt_tokens}/{t.completion_tokens} tokens{est} "
        f"({split}{t.reasoning_tokens} thinking + {split}{t.answer_tokens} answer)"
    )


def _require_slm(tiers) -> None:
    if tiers.slm is None:
        from rag.errors import BackendUnavailable

        raise BackendUnavailable(tiers.status(TierName.SLM).note)


@cli.command()
@click.option(
    "--prompt", envvar="COMPARE_PROMPT", default="Explain in two sentences what an edge AI model is.", show_default=True,
    help="Prompt sent to both tiers (env COMPARE_PROMPT).",
)
def compare(prompt: str) -> None:
    """The workshop's model comparison: the same prompt on the SLM and LLM tiers; JSON."""
    from rag.tiers.base import Finished
    from rag.tiers.discovery import open_tiers
    from rag.tiers.prompt import Prompt

    settings = _settings(None)

    async def go() -> list[dict]:
        tiers = await open_tiers(settings)
        try:
            _require_slm(tiers)
            rows = []
            for client in (tiers.slm, tiers.llm):
                if client is None:
                    rows.append({"tier": TierName.LLM, "available": False, "note": tiers.llm_note})
                    continue
                p = Prompt(messages=[{"role": "user", "content": prompt}], text=f"Question: {prompt}\nAnswer:", stop=["\n\n"])
                finished = None
                async for event in client.stream(p):
                    if isinstance(event, Finished):
                        finished = event
                assert finished is not None
                row = {"tier": client.config.tier, "model": client.config.model, "available": True, **finished.metrics.to_json()}
                row["sample"] = finished.text[:300]  # the answer; the thinking is apart
                row["reasoning"] = finished.reasoning[:300]
                if finished.error is not None:
                    row["error"] = str(finished.error)
                rows.append(row)
                click.echo(f"{client.config.model}: " + _tier_line(finished.metrics), err=True)
            return rows
        finally:
            await tiers.aclose()

    click.echo(json.dumps(_run(go()), ensure_ascii=False))


@cli.command()
@click.option("--models", envvar="BENCH_MODELS", default="", help="Comma list of model ids on the SLM server (env BENCH_MODELS; default: the SLM's model).")
@click.option("--rounds", envvar="BENCH_ROUNDS", type=click.IntRange(1, 1000), default=3, show_default=True, help="Measured rounds per model (env BENCH_ROUNDS).")
@click.option(
    "--prompt", envvar="BENCH_PROMPT", default="List three benefits of running language models on the edge.", show_default=True,
    help="Prompt (env BENCH_PROMPT).",
)
@click.option(
    "--stream/--no-stream", envvar="BENCH_STREAM", default=True, show_default=True,
    help="Stream (needed for TTFT and tok/s); --no-stream times whole responses (env BENCH_STREAM).",
)
def bench(models: str, rounds: int, prompt: str, stream: bool) -> None:
    """The workshop's benchmark: a warm-up, then ROUNDS per model; p50/p95 latency, TTFT, first answer token, answer tok/s."""
    import statistics

    from rag.evaluation.qa import percentile
    from rag.tiers.base import Finished
    from rag.tiers.client import TierClient
    from rag.tiers.discovery import open_tiers
    from rag.tiers.prompt import Prompt

    settings = _settings(None)

    async def go() -> list[dict]:
        tiers = await open_tiers(settings)
        try:
            _require_slm(tiers)
            base = tiers.slm.config
            names = [m.strip() for m in models.split(",") if m.strip()] or [base.model]
            rows = []
            for name in names:
                client = TierClient(dataclasses.replace(base, model=name))
                p = Prompt(messages=[{"role": "user", "content": prompt}], text=f"Question: {prompt}\nAnswer:", stop=["\n\n"])
                samples = []
                try:
                    for i in range(rounds + 1):  # round 0 warms the model up
                        finished = None
                        if stream:
                            async for event in client.stream(p):
                                if isinstance(event, Finished):
                                    finished = event
                        else:
                            finished = await client.complete(p)
                        assert finished is not None
                        if finished.error:
                            raise finished.error
                        if i:
                            samples.append(finished.metrics)
                finally:
                    await client.aclose()

                tps = [m.tokens_per_s for m in samples if m.tokens_per_s]
                rows.append({
                    "model": name, "rounds": rounds, "stream": stream,
                    "latency_p50_ms": percentile([m.total_ms for m in samples], 50), "latency_p95_ms": percentile([m.total_ms for m in samples], 95),
                    "ttft_p50_ms": percentile([m.ttft_ms for m in samples], 50), "ttft_p95_ms": percentile([m.ttft_ms for m in samples], 95),
                    "ttfa_p50_ms": percentile([m.ttfa_ms for m in samples], 50), "ttfa_p95_ms": percentile([m.ttfa_ms for m in samples], 95),
                    "tokens_per_s_median": round(statistics.median(tps), 2) if tps else None,
                    "completion_tokens_median": statistics.median([m.completion_tokens for m in samples]),
                    "reasoning_tokens_median": statistics.median([m.reasoning_tokens for m in samples]),
                })
            return rows
        finally:
            await tiers.aclose()

    rows = _run(go())
    click.echo("model | latency p50/p95 ms | ttft p50/p95 ms | first answer token p50/p95 ms | answer tok/s", err=True)
    for r in rows:
        click.echo(
            f"{r['model']} | {r['latency_p50_ms']}/{r['latency_p95_ms']} | {r['ttft_p50_ms']}/{r['ttft_p95_ms']} "
            f"| {r['ttfa_p50_ms']}/{r['ttfa_p95_ms']} | {r['tokens_per_s_median']}", err=True,
        )
    click.echo(json.dumps(rows))


@cli.command(name="eval")
@click.option(
    "--qa", "qa_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Question set, JSON Lines (format: docs/evaluation.md; default: the developers' dev set, where it is beside the checkout).",
)
@_docs_option
@click.option("--answers", is_flag=True, help="Also run the answering pipeline on every question (temperature 0).")
@click.option("--judge", is_flag=True, help="Score each answer 1-5 (coherence, factuality, brevity) with the LLM tier.")
@click.option("--calibrate", is_flag=True, help="Find the thresholds that best separate the set; print the settings to use.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("eval-report"), show_default=True, help="Folder for report.json and report.html.")
@click.option(
    "--dialogues", "dialogues_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Two-turn dialogues, JSON Lines (format: docs/evaluation.md): score each follow-up's retrieval bare, "
    "with its history and as the standalone rewrite, and topic switches made from --qa; writes followups.json.",
)
def eval_command(qa_path: Path | None, docs: Path | None, answers: bool, judge: bool, calibrate: bool, out: Path, dialogues_path: Path | None) -> None:
    """Evaluate retrieval (and answers) on a question set; write report.json and report.html."""
    from rag.evaluation.qa import load_qa
    from rag.evaluation.report import markdown_summary, write_report
    from rag.evaluation.run import run_eval

    settings = _settings(docs)
    qa_path = qa_path or Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev_qa.jsonl"  # developers' checkout
    qa = load_qa(qa_path)
    if not settings.docs_dir.is_dir():
        from rag.errors import DocsError

        raise DocsError(f"The docs folder {settings.docs_dir} does not exist: pass --docs DIR (a folder, or one with en/ and tr/ inside).")
    if dialogues_path is not None:
        _eval_dialogues(settings, dialogues_path, qa, out)
        return
    report = _run(run_eval(settings, qa, settings.docs_dir, answers=answers or judge, judge=judge, calibrate=calibrate))
    json_path, html_path = write_report(report, out)
    click.echo(markdown_summary(report))
    click.echo(f"\nwrote {json_path} and {html_path}", err=True)


def _eval_dialogues(settings: Settings, path: Path, qa: list, out: Path) -> None:
    """``rag eval --dialogues``: follow-ups bare / with history / standalone, and topic switches, per language."""
    from rag.evaluation.dialogues import MODES, load_dialogues, score_dialogues, topic_switches
    from rag.evaluation.run import docs_for
    from rag.search.retrieval import resolve_followup

    dialogues = load_dialogues(path)
    indexes: dict[Path, Index] = {}

    def search_in(dialogue, question: str, history) -> SearchResult:
        folder = docs_for(settings.docs_dir, dialogue.lang)
        if folder not in indexes:
            indexes[folder] = _open(settings.model_copy(update={"docs_dir": folder}))[0]
        index = indexes[folder]
        carries = resolve_followup(index, question, history, settings.language).carries  # as the app resolves it
        return search(index, question, settings.top_k, language=settings.language, min_coverage=settings.min_coverage, context=carries)

    report = {
        "followups": score_dialogues(dialogues, search_in, settings.top_k),
        "topic_switches": score_dialogues(topic_switches(qa), search_in, settings.top_k),
    }
    k = settings.top_k
    for name, block in report.items():
        click.echo(f"\n{name} (evidence@1 / evidence@{k})\n\n| language | n | " + " | ".join(MODES) + " |\n|---|---|" + "---|" * len(MODES))
        for lang, row in [*block["by_lang"].items(), ("all", block["overall"])]:
            cells = [f"{row[m]['evidence@1']:.3f} / {row[m][f'evidence@{k}']:.3f}" if m in row else "-" for m in MODES]
            click.echo(f"| {lang} | {row['n']} | " + " | ".join(cells) + " |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "followups.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    click.echo(f"\nwrote {out / 'followups.json'}", err=True)


@cli.command(name="feedback")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per vote: time, user, thread, question, answer, tier, sources, value, comment.")
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
    help="Only votes given on or after this date (UTC), e.g. 2025-06-01.",
)
def feedback_command(as_json: bool, since) -> None:
    """Print the votes (thumbs, comments) given to the app's answers, one line per vote, oldest first.

    A line: time, user, question, answer, tier, sources, up/down, comment (tab-separated); the counts go to stderr.
    Read from the chat history (RAG_HISTORY_DB, default RAG_DATA_DIR/chat-history.db).
    """
    import sqlite3

    from rag.web.history import votes

    path = _settings(None).history_path()
    if path is None:
        raise click.ClickException("RAG_HISTORY_DB is off: there is no chat history to read votes from.")
    if not path.is_file():
        raise click.ClickException(f"there is no chat history at {path} (set RAG_DATA_DIR or RAG_HISTORY_DB to the app's).")
    try:
        found = votes(path, since)
    except sqlite3.Error as err:
        raise click.ClickException(f"the chat history at {path} cannot be read ({err}).") from err
    for vote in found:
        if as_json:
            click.echo(json.dumps(vote.to_json(), ensure_ascii=False))
            continue
        fields = [vote.time, vote.user, vote.question, vote.answer, vote.tier, "; ".join(vote.sources), "up" if vote.value else "down", vote.comment]
        click.echo("\t".join(" ".join(field.split()) for field in fields))
    up = sum(1 for vote in found if vote.value)
    click.echo(f"{len(found)} votes: {up} up, {len(found) - up} down", err=True)


@cli.command(name="serve-local")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port on 127.0.0.1 (default: RAG_EMBEDDED_PORT, or a free one).")
def serve_local(port: int | None) -> None:
    """Run the embedded llama.cpp server with the packaged model until Ctrl-C."""
    import time

    from rag.tiers.embedded import EMBEDDED_MODELS, EmbeddedServer, embedded_model_path

    settings = _settings(None)
    model = EMBEDDED_MODELS[settings.embedded_model]
    path = embedded_model_path(model.key, settings.cache_dir)
    server = EmbeddedServer(path, model.alias, port if port is not None else settings.embedded_port)
    click.echo(f"starting {model.alias} from {path} ...", err=True)
    url = server.start()
    click.echo(f"serving {model.alias} at {url} (OpenAI-compatible); Ctrl-C stops it", err=True)
    click.echo(url)
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main() -> None:
    """Entry point with the one error boundary: expected errors are one line, exit 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except RagError as err:
        if os.environ.get("RAG_RAISE_ERRORS"):
            raise
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
