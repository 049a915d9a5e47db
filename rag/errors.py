"""Errors the user may see, and what to do about them.

Our exception hierarchy:

* RagError                  every error meant to be shown to a person
  + ConfigError             a setting or argument is wrong (names the setting)
  + DocsError               the docs folder is missing, empty or unusable
  + LoadError               one file could not be read (the batch goes on)
  + IndexCacheError         the on-disk index cache is unreadable (rebuilt)

Messages say what happened *and* the next step: which folder to create, which
setting to change. Entry points (the CLI, the app) catch ``RagError`` and show
``str(error)``; anything else is a bug and is allowed to raise.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DocsError", "IndexCacheError", "LoadError", "RagError"]


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


class IndexCacheError(RagError):
    """The index cache could not be read or written."""
