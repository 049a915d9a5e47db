"""What one chat may add to its documents: a file's size and type, a number of documents per chat (``UploadRules``),
and ``add_upload``, which checks them and adds the file to the chat's ``Overlay`` within the process's ``UploadBudget``
(``rag.search.budget``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.documents.loading import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, too_large
from rag.errors import LoadError
from rag.search.budget import UploadBudget
from rag.search.index import Added, Overlay

__all__ = ["UploadRules", "add_upload"]


@dataclass(frozen=True)
class UploadRules:
    """What one chat may add: ``max_bytes`` per file (``RAG_MAX_FILE_MB``), ``per_chat`` documents."""

    max_bytes: int = DEFAULT_MAX_BYTES
    per_chat: int = 50


def add_upload(overlay: Overlay, name: str, source: Path | bytes, count: int, rules: UploadRules, budget: UploadBudget | None = None) -> Added:
    """Add one upload to a chat's ``overlay``; blocking (reading and parsing: call it in a worker thread).

    ``source``: the file (its size is checked before it is read: Chainlit deletes it later) or its bytes.
    ``count``: documents the chat already has; at ``rules.per_chat`` only bytes already in the chat get
    through, as a duplicate that adds nothing. Returns ``Added`` (``duplicate``, ``renamed``, its chunks).
    Raises ``LoadError`` (``UploadsFull`` when ``budget`` has no room) whose ``reason`` says what to do;
    ``OSError`` when the file cannot be read.
    """
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(f"only {', '.join(sorted(SUPPORTED_SUFFIXES))} files can be added")
    if isinstance(source, Path):
        size = source.stat().st_size
        if size > rules.max_bytes:
            raise LoadError(too_large(size, rules.max_bytes))
        source = source.read_bytes()
    if count >= rules.per_chat and overlay.source_of(source) is None:
        raise LoadError(f"this chat already has {count} documents (the limit). Start a new chat for more.")
    return overlay.add_bytes(name, source, budget)  # parsed within the index's own RAG_MAX_FILE_MB
