"""The command line: ``python -m rag index|search``.

Output contract (other tools depend on it): hits go to stdout, progress and
diagnostics to stderr; ``--json`` prints one JSON array per query; an expected
problem (missing folder, bad setting) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from rag.errors import RagError
from rag.index import Index, IndexReport, open_index
from rag.retrieval import SearchResult, search
from rag.settings import Settings, load_settings

__all__ = ["cli", "main"]


def _settings(docs: Path | None) -> Settings:
    settings = load_settings()
    if docs is not None:
        settings = settings.model_copy(update={"docs_dir": docs})
    return settings


def _open(settings: Settings, no_cache: bool = False) -> tuple[Index, IndexReport]:
    cache = None if no_cache else settings.cache_dir
    index, report = open_index(settings.docs_dir, cache, settings.index_config())
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
@click.option("--queries", type=click.File("r", encoding="utf-8"), default=None, help="File with one query per line; prints one result per line.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of hits (one line per query).")
def search_command(query: str | None, docs: Path | None, k: int | None, queries, as_json: bool) -> None:
    """Print the passages that best match QUERY."""
    if (query is None) == (queries is None):
        raise click.UsageError('Give a QUERY or --queries FILE (one of the two), e.g. rag search "how do I start?"')
    settings = _settings(docs)
    k = k or settings.top_k
    index, _ = _open(settings)
    texts = [query] if query is not None else [line.rstrip("\n") for line in queries]
    for text in texts:
        if not text.strip():
            if as_json:
                click.echo("[]")
            else:
                click.echo("(empty query: nothing to search)")
            continue
        result = search(index, text, k, language=settings.language, min_coverage=settings.min_coverage)
        if as_json:
            click.echo(json.dumps([h.to_json() for h in result.hits], ensure_ascii=False))
        else:
            _print_result(result)


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
