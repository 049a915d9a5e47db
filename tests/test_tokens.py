"""Token counting works offline: no network, no tiktoken download cache."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rag.documents import tokens
from rag.documents.tokens import count_tokens


class NetworkBlocked(AssertionError):
    pass


def _refuse(*args: object, **kwargs: object) -> None:
    raise NetworkBlocked(f"network access attempted: {args!r}")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    empty = tmp_path / "tiktoken-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(empty))
    tokens.encoding.cache_clear()
    yield
    tokens.encoding.cache_clear()  # do not leak the encoding loaded in the sandbox


def test_network_is_really_blocked(no_network: None) -> None:
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("example.com", 443), timeout=1)


def test_count_tokens_offline(no_network: None) -> None:
    assert count_tokens(["hello world"]) == [2]
    assert count_tokens(["hello world", "", "Quantization stores weights in fewer bits."]) == [2, 0, 8]


def test_count_tokens_empty_list() -> None:
    assert count_tokens([]) == []


def test_special_tokens_are_counted_as_text() -> None:
    assert count_tokens(["<|endoftext|>"])[0] > 1
