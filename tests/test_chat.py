"""The chat layer's pure half (``rag.web.chat``): turns and measurements read from a chat's messages.

The messages are what Chainlit keeps for a chat: ``cl.Message`` objects in a live
chat (metadata a dict), step dicts from the database in a resumed one (metadata
JSON text on SQLite). Only final answers count; notes, drafts, upload receipts
and a stopped answer have no answer metadata. The app-level behaviour (an edit
drops the later turns from what the model receives) is in ``test_app.py``.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from rag.web.chat import ANSWER, answer_metadata, metadata_of, source_text, turn_metrics, turns
from rag.documents.chunking import Chunk
from rag.tiers.metrics import Prices, TierMetrics, TurnMetrics
from rag.answer.pipeline import Done
from rag.search.followup import Turn
from rag.search.retrieval import Hit


def done(answer: str, hits: list[Hit] = (), metrics: TurnMetrics | None = None) -> Done:
    return Done(answer=answer, tier="slm", escalated=False, reasons=[], draft=None, hits=list(hits), covered=True,
                metrics=metrics or TurnMetrics())


def hit(source: str = "notes.md", page: int | None = None, origin: str = "docs") -> Hit:
    chunk = Chunk(source=source, title="Notes", heading=("Notes", "Ports"), text="Ollama listens on port 11434.", page=page, ordinal=0, tokens=8)
    return Hit(rank=1, score=3.14159, chunk=chunk, origin=origin)


def message(content: str, metadata: dict | None = None) -> SimpleNamespace:
    """What a ``cl.Message`` looks like to the chat layer."""
    return SimpleNamespace(content=content, metadata=metadata)


def test_the_turns_are_the_final_answers_and_nothing_else() -> None:
    chat = [
        message("📎 Added `notes.md` to this chat: 1 passages in 5 ms.", {"rag": "upload", "source": "notes.md"}),
        message("What port?"),  # the user's message
        message("⤴ Escalated to the LLM tier (refine): `uncited`."),
        message("**SLM draft**\n\nPort 11434."),
        message("Port 11434 [Source 1].\n\n---\n🔵 LLM · sources: Source 1\n\n| Tier | ...", answer_metadata("What port?", done("Port 11434 [Source 1]."))),
        message("And the host?"),
        message("word0 word1\n\n*(stopped)*"),  # stopped: no metadata
        message("And the host, please?"),
        message("127.0.0.1 [Source 1].\n\n---\n🟢 SLM", answer_metadata("And the host, please?", done("127.0.0.1 [Source 1]."))),
    ]
    assert turns(chat) == [Turn("What port?", "Port 11434 [Source 1]."), Turn("And the host, please?", "127.0.0.1 [Source 1].")]


def test_step_dicts_from_the_database_give_the_same_turns() -> None:
    """A resumed chat's messages are step dicts; SQLite hands their metadata back as JSON text."""
    meta = answer_metadata("What port?", done("Port 11434.", [hit()]))
    steps = [
        {"id": "u1", "type": "user_message", "output": "What port?", "metadata": "{}"},
        {"id": "a1", "type": "assistant_message", "output": "Port 11434.\n\n---\n🟢 SLM", "metadata": json.dumps(meta)},
        {"id": "a2", "type": "assistant_message", "output": "a note", "metadata": "not json"},
        {"id": "a3", "type": "assistant_message", "output": "a note", "metadata": None},
    ]
    assert turns(steps) == [Turn("What port?", "Port 11434.")]
    assert metadata_of(steps[1])["sources"][0]["source"] == "notes.md"
    assert metadata_of(steps[2]) == metadata_of(steps[3]) == {}


def test_answer_metadata_holds_the_plain_answer_tier_and_sources() -> None:
    meta = answer_metadata("What port?", done("Port 11434 [Source 1].", [hit(page=4, origin="upload")]))
    assert meta["rag"] == ANSWER and meta["question"] == "What port?" and meta["answer"] == "Port 11434 [Source 1]." and meta["tier"] == "slm"
    assert meta["sources"] == [{"number": 1, "source": "notes.md", "heading": "Notes › Ports", "page": 4, "score": 3.1416,
                                "origin": "upload", "text": "Ollama listens on port 11434."}]
    json.dumps(meta)  # it is stored as JSON


@pytest.mark.parametrize(("page", "origin", "first_lines"), [
    (None, "docs", "notes.md › Notes › Ports\nscore 3.14"),
    (4, "upload", "notes.md › Notes › Ports (page 4)\nscore 3.14 · uploaded to this chat"),
])
def test_a_source_element_says_where_the_passage_is_from(page, origin, first_lines) -> None:
    (source,) = answer_metadata("q", done("a", [hit(page=page, origin=origin)]))["sources"]
    assert source_text(source) == first_lines + "\n\nOllama listens on port 11434."


def test_the_measurements_come_back_from_the_metadata() -> None:
    metrics = TurnMetrics(
        prep_ms=1.5, retrieval_ms=2.5, total_ms=900.0, escalated=True, reasons=["uncited"], mode="refine", answered_by="llm",
        llm_prices=Prices(0.0015, 0.006),
        tiers=[TierMetrics("slm", model="phi", ttft_ms=80.0, total_ms=300.0, prompt_tokens=500, completion_tokens=40, cost=0.0001),
               TierMetrics("llm", model="gpt", ttft_ms=None, total_ms=600.0, prompt_tokens=600, completion_tokens=90, cost=0.0014)],
    )
    meta = json.loads(json.dumps(answer_metadata("q", done("a", metrics=metrics))))  # as stored and read back
    (back,) = turn_metrics([message("a", meta)])
    assert back == metrics
    assert back.cost == metrics.cost and back.llm_only_cost() == metrics.llm_only_cost()


def test_measurements_of_an_older_or_newer_version_still_load() -> None:
    """Fields a stored answer lacks keep their defaults; fields this version does not know are passed over."""
    meta = {"rag": ANSWER, "question": "q", "answer": "a",
            "metrics": {"total_ms": 5.0, "someday": 1, "tiers": [{"tier": "slm", "total_ms": 5.0, "future_ms": 2}]}}
    (back,) = turn_metrics([message("a", meta), message("a", {"rag": ANSWER, "metrics": "broken"})])
    assert back.total_ms == 5.0 and back.tiers == [TierMetrics("slm", total_ms=5.0)] and back.llm_prices == Prices()
