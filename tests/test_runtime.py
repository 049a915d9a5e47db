"""The app's runtime: built once in the background, a failure remembered with its reason for a while."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag.errors import DocsError
from rag.settings import load_settings
from rag.tiers.discovery import Tiers
from rag.web.runtime import Runtime


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def runtime_for(docs: Path, opener, clock: Clock | None = None) -> Runtime:
    return Runtime(load_settings(docs_dir=docs), owner=None, retry_after=60, open_tiers_fn=opener, clock=clock or Clock())


@pytest.mark.asyncio
async def test_the_build_runs_once_however_many_ask_for_it(small_docs: Path) -> None:
    opened = []

    async def opener(settings, owner=None):
        opened.append(owner)
        await asyncio.sleep(0.05)
        return Tiers()

    runtime = runtime_for(small_docs, opener)
    runtime.begin()
    runtime.begin()
    parts = await asyncio.gather(*(runtime.ready() for _ in range(5)))
    assert len(opened) == 1 and runtime.builds == 1
    assert all(p is parts[0] for p in parts) and parts[0].report.files == 6
    assert runtime.current() is parts[0]
    await runtime.close()


@pytest.mark.asyncio
async def test_a_page_load_waits_only_so_long(small_docs: Path) -> None:
    gate = asyncio.Event()

    async def opener(settings, owner=None):
        await gate.wait()  # a model server that takes its time
        return Tiers()

    runtime = runtime_for(small_docs, opener)
    with pytest.raises(TimeoutError):
        await runtime.ready(timeout=0.2)
    assert runtime.current() is None
    gate.set()
    assert (await runtime.ready(timeout=5)).tiers is not None  # the same build finished meanwhile
    assert runtime.builds == 1
    await runtime.close()


@pytest.mark.asyncio
async def test_a_failed_start_is_remembered_with_its_reason_then_retried(tmp_path: Path, write_files) -> None:
    """The docs folder is missing: every message in the next minute gets the reason at once (no rescan), then it tries again."""
    clock = Clock()
    docs = tmp_path / "docs"

    async def opener(settings, owner=None):
        return Tiers()

    runtime = runtime_for(docs, opener, clock)
    for _ in range(3):
        with pytest.raises(DocsError, match="does not exist: create it"):
            await runtime.ready()
    assert runtime.builds == 1 and "does not exist" in str(runtime.failure)
    write_files(docs, {"a.md": "# A\n\nThe folder exists now.\n"})
    clock.now += 30
    with pytest.raises(DocsError):  # still within the minute: the remembered reason, no new scan
        await runtime.ready()
    assert runtime.builds == 1
    clock.now += 31
    assert runtime.failure is None
    assert (await runtime.ready()).report.files == 1
    assert runtime.builds == 2
    await runtime.close()


@pytest.mark.asyncio
async def test_a_missing_docs_folder_is_a_failure_with_what_to_do(tmp_path: Path) -> None:
    async def opener(settings, owner=None):
        raise AssertionError("the tiers must not be opened without an index")

    runtime = runtime_for(tmp_path / "nowhere", opener)
    with pytest.raises(Exception, match="does not exist: create it"):
        await runtime.ready()


@pytest.mark.asyncio
async def test_close_cancels_a_build_in_flight_and_closes_the_tiers(small_docs: Path) -> None:
    closed = []

    class Closing(Tiers):
        async def aclose(self) -> None:
            closed.append(True)

    started = asyncio.Event()

    async def slow(settings, owner=None):
        started.set()
        await asyncio.sleep(30)
        return Closing()

    runtime = runtime_for(small_docs, slow)
    runtime.begin()
    await asyncio.wait_for(started.wait(), 10)
    await runtime.close()  # returns at once, the build is cancelled
    assert runtime.current() is None

    async def quick(settings, owner=None):
        return Closing()

    runtime = runtime_for(small_docs, quick)
    await runtime.ready()
    await runtime.close()
    assert closed == [True]
