"""What a tier is: the ``Tier`` protocol every tier kind implements, the tier names, a tier's status, and the
events its stream yields.

Three kinds implement it: ``ServerTier`` (any OpenAI-compatible server: Foundry Local, Ollama, vLLM,
llama.cpp's ``llama-server``), ``EmbeddedTier`` (the packaged model on our own llama.cpp server, which it
owns and restarts; both in ``rag.tiers.server``) and ``ExtractiveTier`` (quotes the passages;
``rag.tiers.extractive``). ``rag.tiers.discovery`` finds and opens them; ``rag.answer.pipeline`` runs a plan
of them for each question.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from rag.tiers.reasoning import ANSWER

if TYPE_CHECKING:
    from rag.errors import BackendError
    from rag.tiers.metrics import TierMetrics
    from rag.tiers.prompt import Prompt

__all__ = ["Delta", "Finished", "Tier", "TierName", "TierStatus", "Waiting"]

class TierName(StrEnum):
    """The tiers of a turn, in the order they are tried; a ``str``, so ``TierName.SLM == "slm"``."""

    SLM = "slm"  # the small model: answers first
    LLM = "llm"  # the bigger model: takes over when the SLM's answer does not hold
    EXTRACTIVE = "extractive"  # quotes the documents: always there


@dataclass(kw_only=True, frozen=True)
class TierStatus:
    """Whether a tier is usable now, and in words why not (``note``) or how it runs (``origin``, ``note``).

    ``origin``: "configured" (a base URL setting), "foundry" (Foundry Local found), "embedded" (ours), "".
    """

    tier: TierName | str
    ok: bool
    base_url: str = ""
    model: str = ""
    origin: str = ""
    note: str = ""
    state: str = "unavailable"  # the word for a tier that is not ok: "unavailable", or "down" (crashed past its budget)

    def line(self) -> str:
        """One line for the welcome screen and ``rag status``: ``SLM: model at URL (origin; note)``."""
        if self.ok:
            detail = f"; {self.note}" if self.note else ""
            return f"{self.tier.upper()}: {self.model} at {self.base_url} ({self.origin}{detail})"
        return f"{self.tier.upper()}: {self.state}: {self.note}"


@dataclass(kw_only=True, frozen=True)
class Delta:
    """Streamed text: part of the answer, or (``kind`` "reasoning") the model's thinking, never part of it."""

    text: str
    kind: str = ANSWER


@dataclass(kw_only=True, frozen=True)
class Waiting:
    """The request waits in the tier's queue; sent once ``ahead`` requests have finished (a new one each time it moves)."""

    ahead: int


@dataclass(kw_only=True)
class Finished:
    """The end of a tier's stream: the answer (without the thinking), the metrics, and the error if it failed.

    ``message``: the error in words for the user when the tier knows better than ``str(error)`` (e.g. the
    embedded server's crash, with its signal and log); ``crashed``: the failure is the embedded server's
    process dying, and ``prepare()`` restarts it.
    """

    text: str
    metrics: TierMetrics
    error: BackendError | None = None
    finish_reason: str | None = None
    reasoning: str = ""
    note: str | None = None  # worth telling the user, but not an error (e.g. reasoning_effort was dropped)
    message: str | None = None
    crashed: bool = False


class Tier(Protocol):
    """A tier that answers a ``Prompt``.

    ``name``: which tier it is; ``model``: the model it runs (its served id; "extractive" for the extractive tier).
    ``status()``: usable now, or why not (cheap: no I/O). ``prepare()``: make it usable if it can be (restart a
    crashed embedded server; blocking work runs off the event loop) and return a note for the user, or None.
    ``stream(prompt, ...)`` (``max_tokens``, ``temperature``: None for the tier's own; ``reasoning_effort``):
    ``Waiting`` while queued, ``Delta`` as text streams, then exactly one ``Finished``
    (failures are a ``Finished`` with ``error``, never an exception). ``aclose()``: release its connections
    and processes.
    """

    name: TierName
    model: str

    def status(self) -> TierStatus: ...

    async def prepare(self) -> str | None: ...

    def stream(
        self, prompt: Prompt, *, max_tokens: int | None = None, temperature: float | None = None, reasoning_effort: object = None,
    ) -> AsyncIterator[Waiting | Delta | Finished]: ...

    async def aclose(self) -> None: ...
