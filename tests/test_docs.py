"""The README is the front door and the docs stay true: short, linked, no dead links, settings generated.

- README.md is at most 160 lines (no line over 200 characters) and links every page of docs/;
- every relative link in README.md and docs/*.md reaches a file, and its #anchor a heading there
  (GitHub's slugs);
- the README's test command is exactly what CI runs (the last line of .ci/run);
- docs/settings.md is what ``python docs/make_settings.py`` writes from rag/settings.py;
- the user docs never send a reader to ../shared/, which only developers of this repository have.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
DEVELOPER_DOCS = {"testing.md", "evaluation.md", "architecture.md"}

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks, with inline code spans blanked out."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"(`+)(?:(?!\1).)+?\1", "``", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [m.group(1) for line in prose_lines(path) for m in LINK.finditer(line)]


def relative_links(path: Path) -> list[str]:
    return [t for t in links(path) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def test_the_slug_rule_matches_github() -> None:
    assert slug("Chats at once: they queue, none is cut") == "chats-at-once-they-queue-none-is-cut"
    assert slug("`reasoning_effort`") == "reasoning_effort"
    assert slug("Reliability: bad inputs, backend faults") == "reliability-bad-inputs-backend-faults"
    assert slug("Prices (hypothetical, for the cost estimate)") == "prices-hypothetical-for-the-cost-estimate"


def test_the_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines; move detail into docs/ (at most 160)"
    long = [n for n, line in enumerate(lines, 1) if len(line) > 200]
    assert not long, f"README.md lines over 200 characters: {long}"


def test_the_readme_links_every_page_of_docs() -> None:
    linked = {(README.parent / t.split("#", 1)[0]).resolve() for t in relative_links(README) if not t.startswith("#")}
    missing = [p.name for p in DOCS if p.resolve() not in linked]
    assert DOCS, "docs/ has no pages"
    assert not missing, f"README.md does not link these docs/ pages: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    text = README.read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert ci[-1] in commands, f"the last line of .ci/run is not one of the README's two commands:\n{ci[-1]}"
    assert "pytest" in ci[-1]


def test_the_settings_page_is_generated_from_the_code() -> None:
    result = subprocess.run(
        [sys.executable, "docs/make_settings.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stale_settings_page_fails_the_check_and_names_the_command(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("make_settings", ROOT / "docs" / "make_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUT = tmp_path / "settings.md"
    module.OUT.write_text("# Settings\n\nan old table\n", encoding="utf-8")
    assert module.main(["--check"]) == 1
    assert "python docs/make_settings.py" in capsys.readouterr().err
    assert module.main([]) == 0 and module.main(["--check"]) == 0


def test_the_settings_page_lists_every_setting_under_its_variable() -> None:
    from rag.settings import Settings

    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        names = [str(c).upper() for c in getattr(alias, "choices", [alias])] if alias else [f"RAG_{name.upper()}"]
        assert f"`{names[0]}`" in text, f"docs/settings.md lacks {names[0]}"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.name not in DEVELOPER_DOCS], ids=lambda p: str(p.relative_to(ROOT))
)
def test_user_docs_do_not_send_readers_to_the_developers_shared_folder(page: Path) -> None:
    hits = [n for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1) if "../shared" in line]
    assert not hits, f"{page.relative_to(ROOT)} names ../shared/ on lines {hits}: describe the file's format instead"
