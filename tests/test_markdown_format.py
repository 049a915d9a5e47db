"""Markdown is read as CommonMark: what the chunker takes for a heading is what CommonMark says is one.

The loader turns a Markdown file into canonical Markdown (``rag.documents.formats.markdown``);
the chunker then finds headings with ``rag.documents.formats.canonical``'s line tests. The
reference here is markdown-it-py itself, run on the original text: for hand-made
tricky documents and, where ``../shared/corpora`` is present, for every file of
the English course, the headings the chunker sees are exactly the parser's, in
order, and no heading is invented.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from rag.documents.chunking import ChunkConfig, chunk_document
from rag.documents.formats.canonical import closes_fence, fence_marker, match_heading
from rag.documents.loading import load_bytes
from rag.documents.normalize import normalize_text
from rag.documents.tokens import count_tokens

COURSE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "edgeai-workshop" / "en"

HANDBOOK = """Deployment Handbook
===================

This handbook is for the on-call engineer.

Rolling back a release
----------------------

Run `deployctl revert --to previous` and watch the health page until every node is green.

Database migrations
-------------------

Migrations run before the new version starts; a failed migration stops the rollout.
"""


def chunker_headings(text: str) -> list[tuple[int, str]]:
    """(level, text) of every line the chunker takes for a heading, in order."""
    found, fence = [], None
    for line in text.split("\n"):
        if fence is not None:
            fence = None if closes_fence(line, fence) else fence
        elif fence_marker(line):
            fence = fence_marker(line)
        elif match_heading(line):
            found.append(match_heading(line))
    return found


def commonmark_headings(text: str) -> list[tuple[int, str]]:
    md = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
    tokens = md.parse(normalize_text(text))
    return [(int(t.tag[1]), " ".join(tokens[i + 1].content.split())) for i, t in enumerate(tokens) if t.type == "heading_open" and tokens[i + 1].content.strip()]


def page(text: str, name: str = "doc.md") -> str:
    return load_bytes(name, text.encode()).pages[0].text


# ---------------------------------------------------------------- headings


def test_setext_headings_are_headings_and_their_underlines_are_gone() -> None:
    doc = load_bytes("handbook.md", HANDBOOK.encode())
    assert doc.title == "Deployment Handbook"
    assert chunker_headings(doc.pages[0].text) == [(1, "Deployment Handbook"), (2, "Rolling back a release"), (2, "Database migrations")]
    chunks = chunk_document(doc, count_tokens, ChunkConfig())
    rollback = next(c for c in chunks if "deployctl revert" in c.text)
    assert rollback.heading == ("Deployment Handbook", "Rolling back a release")
    assert rollback.text.startswith("## Rolling back a release\n\n")
    assert not any("===" in c.text or "---" in c.text for c in chunks)


TRICKY = {
    "fenced-code": "# Build\n\n```bash\n# install the deps\n## not a heading\n```\n\n## Done\n",
    "tilde-and-longer-fences": "# A\n\n~~~\n# comment\n~~~~\n\n````\n```\n# still code\n```\n````\n\n# B\n",
    "unclosed-fence-runs-to-the-end": "# Top\n\n```\n# code to the end\n\nNot a heading either\n===\n",
    "fence-in-a-list-item": "# List\n\n- step one\n\n  ```sh\n  # comment in code\n  ```\n\n- step two\n\n# After\n",
    "indented-code": "# Code\n\n    # indented code, not a heading\n    more code\n\nText.\n",
    "html-block": "# Page\n\n<div>\n# inside an HTML block\n</div>\n\n# Real\n",
    "heading-in-a-list-item": "# Top\n\n- # Item heading\n  item text\n- plain item\n",
    "heading-in-a-block-quote": "> # Quoted heading\n> quoted text\n\nAfter.\n",
    "setext-two-lines": "A heading on\ntwo lines\n---\n\ntext\n",
    "thematic-break-is-not-setext": "Para\n\n---\n\nMore\n",
    "hash-without-space": "#hashtag and #42\n\n#5 is not a heading\n",
    "escaped-hash": "\\# not a heading\n\ntext\n",
    "closing-hashes": "## Title ##\n\n### C# notes\n\ntext\n",
    "four-space-indent": "    # code block\n\n   # three spaces is a heading\n",
    "backtick-line-in-paragraph": "Use ```x``` inline\n# Then a heading\n",
    "empty-heading": "#\n\n# Real\n",
    "comment-between": "# A\n<!-- # commented heading -->\n# B\n",
}


@pytest.mark.parametrize("text", TRICKY.values(), ids=TRICKY.keys())
def test_the_chunker_sees_exactly_the_headings_commonmark_sees(text: str) -> None:
    assert chunker_headings(page(text)) == commonmark_headings(text)


def test_code_keeps_its_hash_lines_and_comments() -> None:
    text = "# Build\n\n```html\n<!-- keep this comment -->\n# install\n```\n\nText <!-- dropped --> here.\n"
    out = page(text)
    assert "<!-- keep this comment -->\n# install" in out
    assert "dropped" not in out and "Text  here." in out


def test_a_line_that_only_looks_like_a_heading_is_escaped_not_changed() -> None:
    out = page("<div>\n# inside an HTML block\n</div>\n")
    assert "\\# inside an HTML block" in out.split("\n")


# ---------------------------------------------------------------- front matter

YAML_PAGE = """---
title: "Release: checklist"
layout: post
tags: [secret-tag-value]
draft: true
---
Intro line.

# Before you start

Check the backups.

## Steps

Tag the release.
"""


def test_yaml_front_matter_is_metadata_its_title_tops_the_trail() -> None:
    doc = load_bytes("release.md", YAML_PAGE.encode())
    assert doc.title == "Release: checklist"
    chunks = chunk_document(doc, count_tokens, ChunkConfig())
    assert not any("layout" in c.text or "secret-tag-value" in c.text or "draft" in c.text for c in chunks)
    trails = {c.text.split("\n")[-1]: c.heading for c in chunks}
    assert trails["Intro line."] == ("Release: checklist",)
    assert trails["Check the backups."] == ("Release: checklist", "Before you start")  # the page's H1 went one level down
    assert trails["Tag the release."] == ("Release: checklist", "Before you start", "Steps")


def test_front_matter_title_equal_to_the_first_h1_is_not_repeated() -> None:
    out = page("---\ntitle: Guide\n---\n# Guide\n\n## Part\n\ntext\n")
    assert chunker_headings(out) == [(1, "Guide"), (2, "Part")]


def test_toml_front_matter_is_metadata_too() -> None:
    doc = load_bytes("hugo.md", b'+++\ntitle = "Hugo page"\nweight = 10\n+++\n\n## Section\n\nBody.\n')
    assert doc.title == "Hugo page"
    assert "weight" not in doc.pages[0].text
    assert chunker_headings(doc.pages[0].text) == [(1, "Hugo page"), (2, "Section")]


def test_front_matter_that_is_not_yaml_still_gives_its_title() -> None:
    doc = load_bytes("odd.md", b"---\ntitle: Ops: the runbook: part 2\n  bad: [indent\n---\nBody.\n")
    assert doc.title == "Ops: the runbook: part 2"
    assert "bad:" not in doc.pages[0].text


def test_a_leading_thematic_break_without_a_closing_one_is_not_front_matter() -> None:
    out = page("---\n\nThe whole document is here.\n\n# Heading\n")
    assert "The whole document is here." in out
    assert chunker_headings(out) == [(1, "Heading")]


# ---------------------------------------------------------------- text


def test_entities_for_letters_spaces_and_invisible_marks_do_not_split_words() -> None:
    out = page("soft&shy;ware zero&#8203;width caf&eacute; a&nbsp;b, but &lt;tag&gt; &amp; stay\n")
    assert "software zerowidth café a b, but &lt;tag&gt; &amp; stay" in out


@pytest.mark.corpus
@pytest.mark.skipif(not COURSE.is_dir(), reason="needs ../shared/corpora/edgeai-workshop/en")
def test_on_the_real_course_the_chunker_sees_the_parsers_headings() -> None:
    files = sorted(COURSE.rglob("*.md"))
    assert len(files) > 50
    for path in files:
        text = path.read_bytes().decode("utf-8")
        assert chunker_headings(page(text, path.name)) == commonmark_headings(text), path.name
