"""HTML -> canonical Markdown: BeautifulSoup cleans, markdownify converts, markdown-it checks.

1. BeautifulSoup (the standard library's ``html.parser``) reads the page; what a
   browser does not show as text is removed whole: ``script``, ``style``,
   ``noscript``, ``template``, ``svg``, ``iframe``, ``object`` and the ``head``
   (its ``<title>`` is read first, without any script inside it, as the title).
   Event handlers and ``javascript:`` links are attributes, never text.
2. markdownify turns the rest into Markdown: ``h1``-``h6`` become ``#`` headings,
   tables get a header row, ``pre`` becomes a fence, lists stay lists. Links and
   images keep their text only (no URLs in passages), bold and italics are plain
   text. Text that would read as Markdown structure at the start of a line (a
   paragraph that begins ``# ``, or three backticks) is escaped.
3. The Markdown is normalized again (entities such as ``&shy;`` and ``&#8203;``
   became characters in step 1) and made canonical by ``rag.documents.formats.markdown``
   (a heading inside a list item becomes its own line, and so on). A table
   nested in a cell is flattened into that cell first (``a / b; c / d``).
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from markdownify import MarkdownConverter

from rag.documents.formats import Parsed
from rag.documents.formats.canonical import fence
from rag.documents.formats.markdown import parse_markdown
from rag.documents.normalize import normalize_text

__all__ = ["parse_html"]

_INVISIBLE_TAGS = ["script", "style", "noscript", "template", "svg", "iframe", "object", "head"]
# text that would read as structure at the start of a line: an ATX heading, a fence, a setext underline
_LINE_START_MARK = re.compile(r"^([ \t]*)(#{1,6}(?=[ \t]|$)|`{3,}|~{3,}|[=-]+[ \t]*$)")


class _Converter(MarkdownConverter):
    def escape(self, text: str, parent_tags: set[str]) -> str:
        return _LINE_START_MARK.sub(r"\1\\\2", super().escape(text, parent_tags))

    def convert_pre(self, el, text: str, parent_tags: set[str]) -> str:
        if not text.strip():
            return ""
        code = el.find("code")
        classes = [*(el.get("class") or []), *((code.get("class") or []) if code is not None else [])]
        language = next((c.split("-", 1)[1] for c in classes if c.startswith(("language-", "lang-"))), "")
        return "\n\n" + "\n".join(fence(text.strip("\n"), language)) + "\n\n"


_CONVERTER = _Converter(
    heading_style="ATX",
    bullets="-",
    strip=["a", "img", "b", "strong", "i", "em", "u", "mark", "small"],
    escape_asterisks=False,
    escape_underscores=False,
    escape_misc=False,
)


def parse_html(text: str, stem: str) -> Parsed:
    """Canonical Markdown of an HTML page's (decoded, normalized) ``text``."""
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()  # first, so none of them is read as part of the <title>
    title_tag = soup.find("title")
    title = _title_text(title_tag.get_text(" ")) if title_tag is not None else ""
    if title_tag is not None:
        title_tag.decompose()
    for tag in soup(_INVISIBLE_TAGS):
        tag.decompose()
    for inner in reversed(soup.select("table table")):  # innermost first: a Markdown cell holds one line
        rows = [" / ".join(" ".join(c.get_text(" ").split()) for c in tr.find_all(["td", "th"], recursive=False)) for tr in inner.find_all("tr")]
        inner.replace_with(" " + "; ".join(r for r in rows if r.strip(" /")) + " ")
    # entities (&shy; &#8203; &nbsp;) are characters only now: normalize the converted text again
    markdown = normalize_text(_CONVERTER.convert_soup(soup))
    parsed = parse_markdown(markdown, stem)
    return Parsed(title or parsed.title, parsed.pages, parsed.markup)


def _title_text(text: str) -> str:
    """The title's words; markup inside it (a parser that reads ``<title>`` as raw text) is dropped."""
    if "<" in text:
        inner = BeautifulSoup(text, "html.parser")
        for tag in inner(["script", "style"]):
            tag.decompose()
        text = inner.get_text(" ")
    return " ".join(text.split())
