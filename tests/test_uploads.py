"""Uploads with the same name: both are kept; the same bytes again are recognised, not added twice.

Through ``Overlay.add_bytes`` as the app calls it, on a small real index. The
result (``Added``) says under which name an upload is searched and cited, and
whether it was a duplicate; it is also the sequence of the upload's chunks.
"""

from __future__ import annotations

import threading

import pytest

from rag.search.index import Added, Index
from rag.search.retrieval import search

FIRST = b"# Meeting notes\n\nThe vendor contract renewal deadline is 14 March.\n"
SECOND = b"# Meeting notes\n\nThe new badge readers arrive in week 22.\n"
THIRD = b"# Meeting notes\n\nThe canteen reopens after the summer break.\n"


@pytest.fixture
def index(small_index: Index) -> Index:
    return small_index


def top(index: Index, query: str, overlay) -> str:
    return search(index, query, 3, overlay=overlay).hits[0].source


def test_two_different_files_with_one_name_are_both_kept_and_found(index: Index) -> None:
    overlay = index.new_overlay()
    first = overlay.add_bytes("notes.md", FIRST)
    second = overlay.add_bytes("notes.md", SECOND)
    third = overlay.add_bytes("notes.md", THIRD)
    assert (first.source, first.renamed, first.duplicate) == ("notes.md", False, False)
    assert (second.source, second.requested, second.renamed, second.duplicate) == ("notes (2).md", "notes.md", True, False)
    assert third.source == "notes (3).md"
    assert overlay.sources == ["notes.md", "notes (2).md", "notes (3).md"]
    assert top(index, "vendor contract renewal deadline", overlay) == "notes.md"
    assert top(index, "badge readers arrive", overlay) == "notes (2).md"
    assert {c.source for c in second} == {"notes (2).md"}  # cited under the name the user is told


def test_the_same_bytes_again_are_a_duplicate_not_a_second_copy(index: Index) -> None:
    overlay = index.new_overlay()
    first = overlay.add_bytes("notes.md", FIRST)
    again = overlay.add_bytes("notes.md", FIRST)
    renamed = overlay.add_bytes("copy of notes.md", FIRST)
    assert isinstance(again, Added) and again.duplicate and again.source == "notes.md"
    assert renamed.duplicate and renamed.source == "notes.md" and renamed.requested == "copy of notes.md"
    assert overlay.sources == ["notes.md"]
    assert list(again) == list(first) and len(overlay.chunks) == len(first)


def test_a_removed_upload_can_be_added_again(index: Index) -> None:
    overlay = index.new_overlay()
    overlay.add_bytes("notes.md", FIRST)
    assert overlay.remove("notes.md")
    back = overlay.add_bytes("notes.md", FIRST)
    assert not back.duplicate and back.source == "notes.md" and overlay.sources == ["notes.md"]


def test_the_result_is_also_the_list_of_chunks(index: Index) -> None:
    added = index.new_overlay().add_bytes("notes.md", FIRST)
    assert len(added) == 1 and added[0].source == "notes.md" and added[0] in added
    assert "renewal deadline" in added[0].text


def test_uploads_of_one_name_at_the_same_time_all_get_their_own_name(index: Index) -> None:
    overlay = index.new_overlay()
    bodies = [f"# Notes\n\nThe code word of upload {n} is kw{n}q.\n".encode() for n in range(8)]
    results: list[Added] = []
    threads = [threading.Thread(target=lambda b=b: results.append(overlay.add_bytes("notes.md", b))) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.source for r in results) == sorted(["notes.md"] + [f"notes ({n}).md" for n in range(2, 9)])
    assert len(overlay.sources) == 8
    for n in range(8):
        assert top(index, f"kw{n}q", overlay) in overlay.sources
