"""Errors the user may see, and what to do about them.

Our exception hierarchy:

* RagError                  every error meant to be shown to a person
  + ConfigError             a setting or argument is wrong (names the setting)
  + DocsError               the docs folder is missing, empty or unusable
  + LoadError               one file could not be read (the batch goes on)
  + BackendError            a model server failed (the message names its URL)
    - BackendUnavailable    nothing answers at the URL (connection refused, DNS)
    - BackendTimeout        the server did not answer in time
    - BackendStatusError    the server answered with an HTTP error (429, 500, ...)
    - ModelNotServed        the server does not serve the model (lists what it serves)
    - ReasoningBudgetExhausted  the model spent all its tokens thinking and wrote no answer
    - TruncatedStream       the stream ended before the model finished (no finish_reason): the answer is cut

Messages say what happened *and* the next step: which folder to create, which
setting to change. Entry points (the CLI, the app) catch ``RagError`` and show
``str(error)``; anything else is a bug and is allowed to raise.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendStatusError",
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "DocsError",
    "LoadError",
    "ModelNotServed",
    "RagError",
    "ReasoningBudgetExhausted",
    "TruncatedStream",
]


class RagError(Exception):
    """An error whose message is written for the user."""


class ConfigError(RagError):
    """A setting or argument is invalid."""


class DocsError(RagError):
    """The docs folder cannot be used."""


class LoadError(RagError):
    """One file could not be loaded; ``reason`` is a short human phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BackendError(RagError):
    """A model server failed; ``tier`` is "slm" or "llm", ``url`` its base URL."""

    def __init__(self, message: str, tier: str = "", url: str = "") -> None:
        super().__init__(message)
        self.tier = tier
        self.url = url


class BackendUnavailable(BackendError):
    """Nothing answers at the URL."""


class BackendTimeout(BackendError):
    """The server did not answer in time."""


class BackendStatusError(BackendError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, tier: str = "", url: str = "", status: int = 0) -> None:
        super().__init__(message, tier, url)
        self.status = status


class ModelNotServed(BackendError):
    """The server is up but does not serve the requested model."""


class ReasoningBudgetExhausted(BackendError):
    """A reasoning model hit ``max_tokens`` (``finish_reason == "length"``) while still thinking: no answer.

    Not a broken server: the next tier answers, and the message says which
    setting to raise or lower.
    """


class TruncatedStream(BackendError):
    """A stream that ended (``[DONE]`` or the body's end) without a ``finish_reason``: the answer is cut, not done.

    llama-cpp-python's server does this to a running stream when another request
    arrives (its ``interrupt_requests``); a proxy that gives up early can too. The
    partial text is kept (``Finished.text``), but it is a failure: the pipeline
    escalates it, and the demo shows it as cut.
    """
