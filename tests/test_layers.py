"""The package's layers import one way: a module may import its own layer and the layers below.

Every ``import`` counts, at module level, inside a function (a function-level import that runs
against the order is still a dependency, only hidden) or under ``if TYPE_CHECKING:`` (an
annotation that names a module above is a dependency of the reader). A cycle between modules
fails too, inside one layer as across layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bayeslaw

PACKAGE = Path(bayeslaw.__file__).resolve().parent
#: lowest first; the package root (the public API) sits under the command line
LAYERS = ["core", "laws", "data", "modeling", "results", "infer", "evaluate", "decide",
          "downstream", "plot", "report", "__init__", "cli", "__main__"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> int:
    parts = name.split(".")
    key = "__init__" if len(parts) == 1 else parts[1]
    return LAYERS.index(key)


def imported_modules(path: Path, known: set[str], me: str | None = None) -> set[str]:
    """The bayeslaw modules ``path`` (module ``me``) imports: the deepest known module each
    import names."""
    tree = ast.parse(path.read_text())
    me = me or module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("bayeslaw") and target != me:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, known) for p in paths}


def test_every_subpackage_has_a_layer():
    folders = {p.parent.name for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE}
    assert folders <= set(LAYERS)
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "__main__.py"}


def test_imports_follow_the_layer_order():
    upward = [f"{m} imports {t}" for m, targets in graph().items() for t in sorted(targets)
              if layer_of(t) > layer_of(m) and not (m == "bayeslaw" and t.startswith("bayeslaw."))]
    assert upward == []


def test_no_import_cycle():
    edges = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_a_function_level_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from bayeslaw.cli import main\n")
    assert imported_modules(source, {"bayeslaw.cli", "bayeslaw.cli.main"}, "bayeslaw.x") == {
        "bayeslaw.cli.main"}


def test_the_checker_sees_an_import_for_annotations(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bayeslaw.results.fit import Fit\n")
    assert imported_modules(source, {"bayeslaw.results", "bayeslaw.results.fit"}, "bayeslaw.x") == {
        "bayeslaw.results.fit"}
