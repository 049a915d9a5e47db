"""Tiers for tests that build their own clients: a ``TierClient`` (or None) as the ``ServerTier`` the pipeline runs."""

from __future__ import annotations

from rag.tiers.client import TierClient
from rag.tiers.server import ServerTier


def served(client: TierClient | None) -> ServerTier | None:
    """``client`` as a tier (None stays None: the tier is not reachable)."""
    return ServerTier(client) if client is not None else None
