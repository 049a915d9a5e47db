"""What a turn cost: timings, tokens and price per tier, and the session's totals.

Pure records and arithmetic; the pipeline fills them in as the stream goes.
``tokens_per_s`` is *answer* tokens over the time from the first to the last
answer token (answer generation time): dividing all tokens by the whole latency,
as the workshop's script did, mixes prompt processing into the decode speed, and
counting a reasoning model's thinking tokens against answer time makes it look
several times faster than the answer appears.

The timeline of one streamed tier (milliseconds from the request)::

    request --ttft--> first token --thinking--> first answer token --generation--> last answer token ... total
                      (of anything)             (ttfa)

A model that does not think has ``thinking_ms == 0`` and ``ttfa_ms == ttft_ms``.
A request that first waited its turn in the server's queue (``rag.tiers.queue``: the
embedded server serves one at a time) has that wait in ``queue_ms``, before
"request": TTFT and total count from when the request was actually sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Prices", "SessionStats", "TierMetrics", "TurnMetrics"]


@dataclass(frozen=True)
class Prices:
    """USD per 1,000 tokens."""

    prompt: float = 0.0
    completion: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens / 1000 * self.prompt + completion_tokens / 1000 * self.completion


@dataclass
class TierMetrics:
    tier: str  # "slm", "llm" or "extractive"
    model: str = ""
    ttft_ms: float | None = None  # request sent -> first token of anything (thinking or answer), same streamed request
    generation_ms: float = 0.0  # first answer token -> last answer token
    total_ms: float = 0.0  # request sent -> stream closed
    prompt_tokens: int = 0
    completion_tokens: int = 0  # everything generated: thinking + answer (what a server bills)
    estimated: bool = False  # token counts from tiktoken, not from the server's usage
    cost: float = 0.0
    error: str | None = None
    ttfa_ms: float | None = None  # request sent -> first answer token (None: no answer)
    thinking_ms: float = 0.0  # first thinking token -> first answer token (or -> last thinking token without one)
    reasoning_tokens: int = 0  # of completion_tokens, the thinking
    reasoning_estimated: bool = False  # reasoning_tokens split off with tiktoken (the server sent no reasoning_tokens)
    queue_ms: float = 0.0  # waiting in the server's queue before the request was sent (not in ttft_ms or total_ms)

    @property
    def answer_tokens(self) -> int:
        return max(0, self.completion_tokens - self.reasoning_tokens)

    @property
    def tokens_per_s(self) -> float | None:
        """Answer tokens per second of answer generation (None: too few tokens or no timing)."""
        if self.answer_tokens <= 1 or self.generation_ms <= 0:
            return None
        # the first answer token arrives at ttfa; the rest are generated in generation_ms
        return (self.answer_tokens - 1) / (self.generation_ms / 1000)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["answer_tokens"] = self.answer_tokens
        data["tokens_per_s"] = None if self.tokens_per_s is None else round(self.tokens_per_s, 2)
        for key in ("ttft_ms", "ttfa_ms", "thinking_ms", "generation_ms", "total_ms", "queue_ms"):
            if data[key] is not None:
                data[key] = round(data[key], 1)
        data["cost"] = round(self.cost, 6)
        return data


@dataclass
class TurnMetrics:
    prep_ms: float = 0.0  # question -> query analyzed and prompt-ready, minus retrieval
    retrieval_ms: float = 0.0
    total_ms: float = 0.0
    tiers: list[TierMetrics] = field(default_factory=list)
    escalated: bool = False
    reasons: list[str] = field(default_factory=list)
    mode: str = ""
    answered_by: str = ""
    llm_prices: Prices = field(default_factory=Prices)

    @property
    def cost(self) -> float:
        return sum(t.cost for t in self.tiers)

    @property
    def prompt_tokens(self) -> int:
        return sum(t.prompt_tokens for t in self.tiers)

    @property
    def completion_tokens(self) -> int:
        return sum(t.completion_tokens for t in self.tiers)

    @property
    def reasoning_tokens(self) -> int:
        return sum(t.reasoning_tokens for t in self.tiers)

    def llm_only_cost(self) -> float:
        """What this turn would have cost with the LLM tier alone (same prompt, same answer length)."""
        model_tiers = [t for t in self.tiers if t.tier in ("slm", "llm")]
        if not model_tiers:
            return 0.0
        first = model_tiers[0]
        final = model_tiers[-1]
        return self.llm_prices.cost(first.prompt_tokens, final.completion_tokens)

    def to_json(self) -> dict[str, object]:
        return {
            "prep_ms": round(self.prep_ms, 1),
            "retrieval_ms": round(self.retrieval_ms, 1),
            "total_ms": round(self.total_ms, 1),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost": round(self.cost, 6),
            "escalated": self.escalated,
            "escalation_reasons": self.reasons,
            "mode": self.mode,
            "answered_by": self.answered_by,
            "tiers": [t.to_json() for t in self.tiers],
        }


@dataclass
class SessionStats:
    turns: list[TurnMetrics] = field(default_factory=list)

    def add(self, turn: TurnMetrics) -> None:
        self.turns.append(turn)

    @property
    def escalation_rate(self) -> float:
        return sum(t.escalated for t in self.turns) / len(self.turns) if self.turns else 0.0

    @property
    def cost(self) -> float:
        return sum(t.cost for t in self.turns)

    @property
    def llm_only_cost(self) -> float:
        return sum(t.llm_only_cost() for t in self.turns)

    @property
    def saving(self) -> float:
        """Estimated USD saved against sending every turn to the LLM tier."""
        return self.llm_only_cost - self.cost

    def to_json(self) -> dict[str, object]:
        return {
            "turns": len(self.turns),
            "escalation_rate": round(self.escalation_rate, 3),
            "cost": round(self.cost, 6),
            "llm_only_cost": round(self.llm_only_cost, 6),
            "saving": round(self.saving, 6),
            "prompt_tokens": sum(t.prompt_tokens for t in self.turns),
            "completion_tokens": sum(t.completion_tokens for t in self.turns),
        }
