"""The layout's rule, over the import graph of ``rag``: a stage imports only the stages below it, and no module
imports itself back through others.

The stages, lowest first (``LAYERS``): the base (errors, settings), documents, search, tiers, answer, web,
evaluation, and the CLI on top. Every import counts: at module level, inside a function (imported late to start
fast) and under ``TYPE_CHECKING`` (a type is a dependency too). The graph is read from the source with ``ast``,
so a test failure names the file, the line and the import that breaks the rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "rag"

# lowest first; a module may import its own stage and those listed before it
LAYERS = [
    ("base", ["rag.errors", "rag.settings"]),
    ("documents", ["rag.documents"]),
    ("search", ["rag.search"]),
    ("tiers", ["rag.tiers"]),
    ("answer", ["rag.answer"]),
    ("web", ["rag.web"]),
    ("evaluation", ["rag.evaluation"]),
    ("cli", ["rag.cli", "rag.__main__"]),
]


@dataclass(frozen=True, kw_only=True)
class Edge:
    source: str  # importing module
    target: str  # imported module
    where: str  # file:line


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def edges() -> list[Edge]:
    known = modules()
    out = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # "from rag.search import index" imports the module rag.search.index
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
            for target in targets:
                while target and target not in known:  # "rag.search.index.Index" is rag.search.index
                    target = target.rpartition(".")[0]
                if target.startswith("rag") and target != name and not name.startswith(target + "."):
                    out.append(Edge(source=name, target=target, where=f"{path.relative_to(ROOT.parent)}:{node.lineno}"))
    return out


def layer(name: str) -> int:
    for number, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return number
    raise AssertionError(f"{name} belongs to no stage: add it to a package, or to LAYERS in {__file__}")


def test_every_module_belongs_to_a_stage() -> None:
    for name in modules():
        if name != "rag":
            layer(name)


def test_no_stage_imports_a_stage_above_it() -> None:
    upward = [
        f"{e.where}: {e.source} ({LAYERS[layer(e.source)][0]}) imports {e.target} ({LAYERS[layer(e.target)][0]})"
        for e in edges()
        if layer(e.target) > layer(e.source)
    ]
    assert not upward, "imports against the stage order:\n" + "\n".join(upward)


def test_the_import_graph_has_no_cycles() -> None:
    graph: dict[str, list[Edge]] = {}
    for edge in edges():
        graph.setdefault(edge.source, []).append(edge)
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[Edge]) -> None:
        state[node] = 1
        for edge in graph.get(node, []):
            if state.get(edge.target) == 1:
                start = next(i for i, e in enumerate(path + [edge]) if e.source == edge.target)
                cycles.append(" -> ".join(f"{e.source} ({e.where})" for e in (path + [edge])[start:]) + f" -> {edge.target}")
            elif edge.target not in state:
                visit(edge.target, path + [edge])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule can fail: a search module importing the pipeline is one stage order violation."""
    assert layer("rag.search.index") < layer("rag.answer.pipeline")
    found = [e for e in edges() if e.source == "rag.search.retrieval" and e.target == "rag.search.bm25"]
    assert found and found[0].where.startswith("rag/search/retrieval.py:")
