"""The process's budget for uploaded documents (``rag.search.budget``), through ``Overlay.add_bytes`` as the app calls it.

Several overlays (chats) share one ``UploadBudget``: an upload that does not fit
is refused with a message that says how full the budget is, how much of it this
chat holds and what to do; nothing of it is added. Removing an upload, clearing
a chat (what the app does when the chat ends) or losing the overlay gives its
share back. Many threads adding and clearing at once never pass the limit and
never lose a byte of the count.
"""

from __future__ import annotations

import gc
import threading

import pytest

from rag.errors import ConfigError, LoadError
from rag.search.budget import MB, UploadBudget, UploadsFull, upload_cost
from rag.search.index import Index
from rag.search.retrieval import search
from rag.settings import load_settings
from rag.web.uploads import UploadRules, add_upload


def body(n: int, words: int = 40) -> bytes:
    """A distinct Markdown upload whose code word is ``kw<n>q``."""
    return (f"# Notes {n}\n\nThe code word of upload {n} is kw{n}q. " + "Filler words about the project. " * words + "\n").encode()


def cost_of(index: Index, data: bytes) -> int:
    """What one upload of ``data`` costs (measured on an overlay of its own)."""
    budget = UploadBudget(10**9)
    overlay = index.new_overlay()  # kept until measured: a collected overlay gives its share back
    overlay.add_bytes("probe.md", data, budget)
    return budget.used


# ---------------------------------------------------------------- the budget alone


def test_take_until_full_then_refuse_with_what_to_do() -> None:
    budget = UploadBudget(3 * MB)
    budget.take("chat-a", 1 * MB)
    budget.take("chat-b", 1 * MB + MB // 2)
    with pytest.raises(UploadsFull) as info:
        budget.take("chat-a", 1 * MB)
    message = info.value.reason
    assert isinstance(info.value, LoadError)  # the app shows it as "`name` was not added: <reason>"
    assert "3.0 MB (RAG_MAX_UPLOADS_MB)" in message
    assert "they hold 2.5 MB now, 1.0 MB of it in this chat, and this file needs 1.0 MB" in message
    assert message.endswith("Start a new chat (this chat's uploads are freed when it ends) or ask the admin to raise RAG_MAX_UPLOADS_MB.")
    assert (budget.used, budget.held("chat-a"), budget.held("chat-b")) == (2 * MB + MB // 2, MB, MB + MB // 2)  # nothing counted
    budget.take("chat-a", MB // 2)  # exactly up to the limit is fine
    assert budget.used == budget.limit


def test_give_back_and_give_back_all() -> None:
    budget = UploadBudget(100)
    budget.take("a", 30)
    budget.take("a", 20)
    budget.take("b", 10)
    budget.give_back("a", 20)
    assert (budget.used, budget.held("a")) == (40, 30)
    budget.give_back("a", 999)  # never more than it holds
    assert (budget.used, budget.held("a")) == (10, 0)
    assert budget.give_back_all("b") == 10 and budget.used == 0
    assert budget.give_back_all("b") == 0


def test_a_negative_limit_or_cost_is_a_bug() -> None:
    with pytest.raises(ValueError):
        UploadBudget(-1)
    with pytest.raises(ValueError):
        UploadBudget(10).take("a", -5)


def test_the_setting_defaults_to_256_mb_and_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().max_uploads_mb == 256
    monkeypatch.setenv("RAG_MAX_UPLOADS_MB", "0")
    with pytest.raises(ConfigError, match="RAG_MAX_UPLOADS_MB"):
        load_settings()


# ---------------------------------------------------------------- through the overlays of several chats


def test_the_cost_is_the_text_and_terms_the_overlay_keeps(small_index: Index) -> None:
    overlay = small_index.new_overlay()
    budget = UploadBudget(10 * MB)
    added = overlay.add_bytes("notes.md", body(1), budget)
    (terms,) = [ts for _, cs, ts in overlay._docs.values()]
    assert budget.used == budget.held(overlay._owner) == upload_cost(added, terms)
    assert budget.used > len(body(1))  # passages and their terms: more than the file, for plain text
    assert cost_of(small_index, body(2, words=400)) > 5 * cost_of(small_index, body(2, words=40))


def test_an_upload_that_does_not_fit_is_refused_and_nothing_of_it_is_added(small_index: Index) -> None:
    one = cost_of(small_index, body(1))
    budget = UploadBudget(int(one * 2.5))  # room for two uploads of this size, not three
    first, second = small_index.new_overlay(), small_index.new_overlay()
    first.add_bytes("a.md", body(1), budget)
    second.add_bytes("b.md", body(2), budget)
    with pytest.raises(UploadsFull) as info:
        second.add_bytes("c.md", body(3), budget)
    assert "kB of it in this chat" in info.value.reason and "RAG_MAX_UPLOADS_MB" in info.value.reason
    assert second.sources == ["b.md"]
    assert search(small_index, "kw3q", overlay=second).hits == []
    assert budget.used == budget.held(first._owner) + budget.held(second._owner)
    # the same bytes again cost nothing: they are recognised, not added
    assert second.add_bytes("copy of b.md", body(2), budget).duplicate
    # the first chat ends: its share is free again, and the refused upload now fits
    first.clear()
    assert budget.held(first._owner) == 0
    second.add_bytes("c.md", body(3), budget)
    assert search(small_index, "kw3q", overlay=second).hits[0].source == "c.md"


def test_remove_gives_the_share_back(small_index: Index) -> None:
    overlay = small_index.new_overlay()
    budget = UploadBudget(10 * MB)
    overlay.add_bytes("a.md", body(1), budget)
    overlay.add_bytes("b.md", body(2), budget)
    both = budget.used
    assert overlay.remove("a.md")
    assert 0 < budget.used < both
    overlay.clear()
    assert budget.used == 0


def test_an_overlay_that_is_dropped_without_clear_gives_its_share_back(small_index: Index) -> None:
    budget = UploadBudget(10 * MB)
    overlay = small_index.new_overlay()
    overlay.add_bytes("a.md", body(1), budget)
    assert budget.used > 0
    del overlay
    gc.collect()
    assert budget.used == 0


def test_uploads_without_a_budget_are_not_counted(small_index: Index) -> None:
    budget = UploadBudget(10 * MB)
    overlay = small_index.new_overlay()
    overlay.add_bytes("a.md", body(1))
    overlay.add_bytes("b.md", body(2), budget)
    overlay.clear()
    assert budget.used == 0


def test_many_chats_adding_and_clearing_at_once_never_pass_the_limit(small_index: Index) -> None:
    """16 threads, each a chat adding 6 uploads (and one clearing half-way), against room for about 40 uploads."""
    one = cost_of(small_index, body(1))
    budget = UploadBudget(one * 40)
    overlays = [small_index.new_overlay() for _ in range(16)]
    refused: list[int] = []
    errors: list[BaseException] = []
    peak = [0]

    def chat(t: int) -> None:
        try:
            for k in range(6):
                try:
                    overlays[t].add_bytes(f"n{k}.md", body(t * 100 + k), budget)
                except UploadsFull:
                    refused.append(t)
                peak[0] = max(peak[0], budget.used)
                if t % 4 == 0 and k == 3:
                    overlays[t].clear()
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=chat, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert refused, "the budget never filled: the test did not test it"
    assert peak[0] <= budget.limit and budget.used <= budget.limit
    assert budget.used == sum(budget.held(o._owner) for o in overlays)
    for overlay in overlays:
        assert budget.held(overlay._owner) == sum(upload_cost(cs, ts) for _, cs, ts in overlay._docs.values())
        overlay.clear()
    assert budget.used == 0


# ---------------------------------------------------------------- one file dropped into a chat (add_upload)


def test_add_upload_checks_format_and_size_before_reading(small_index: Index, tmp_path) -> None:
    overlay = small_index.new_overlay()
    rules = UploadRules(max_bytes=1000, per_chat=5)
    with pytest.raises(LoadError, match=r"^only \.csv, .*\.md.* files can be added$"):
        add_upload(overlay, "run.exe", b"MZ", 0, rules)
    big = tmp_path / "big.md"
    big.write_bytes(b"# Big\n\n" + b"word " * 400)  # 2,007 bytes
    with pytest.raises(LoadError, match="too large .*the limit is .* MB, set RAG_MAX_FILE_MB to raise it"):
        add_upload(overlay, "big.md", big, 0, rules)
    assert overlay.sources == []


def test_add_upload_at_the_chats_limit_lets_only_the_same_bytes_through(small_index: Index, tmp_path) -> None:
    overlay = small_index.new_overlay()
    budget = UploadBudget(10 * MB)
    rules = UploadRules(per_chat=1)
    first = tmp_path / "first.md"
    first.write_bytes(body(1))
    added = add_upload(overlay, "first.md", first, 0, rules, budget)
    assert not added.duplicate and len(added) > 0 and budget.used > 0
    again = add_upload(overlay, "copy.md", body(1), 1, rules, budget)  # at the limit, but already here
    assert again.duplicate and again.source == "first.md"
    with pytest.raises(LoadError, match=r"already has 1 documents \(the limit\)\. Start a new chat for more\."):
        add_upload(overlay, "second.md", body(2), 1, rules, budget)
    assert overlay.sources == ["first.md"]
    assert search(small_index, "kw1q", 3, overlay=overlay).hits[0].source == "first.md"
