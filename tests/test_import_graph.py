"""The package's import graph (every import statement, lazy ones included): no cycles, and no
import from a lower layer (the run profile, the data schema, the training loop) to a higher one."""
from __future__ import annotations

import ast
from pathlib import Path

import lantern_nb

ROOT = Path(lantern_nb.__file__).parent
GROUND = {"lantern_nb.profiles": set(), "lantern_nb.cache": set(), "lantern_nb.schema": {"lantern_nb.textcheck"},
          "lantern_nb.textcheck": {"lantern_nb.profiles"}}
ENTRY_POINTS = ("lantern_nb.report", "lantern_nb.notebook", "lantern_nb.cli", "lantern_nb.serving.cli")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the lantern_nb modules it imports anywhere in its source."""
    paths = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for mod, path in paths.items():
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[mod].update(t for t in targets if t in paths and t != mod)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycles():
    assert _cycle(import_graph()) is None, " -> ".join(_cycle(import_graph()) or [])


def test_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_lower_layers_import_nothing_above_them():
    graph = import_graph()
    for mod, allowed in GROUND.items():
        assert graph[mod] <= allowed, f"{mod} imports {sorted(graph[mod] - allowed)}"
    assert not {d for d in graph["lantern_nb.train"] if d.startswith(("lantern_nb.kd", "lantern_nb.serving"))}
    for mod, deps in graph.items():
        bad = [d for d in deps if d in ENTRY_POINTS and mod not in ENTRY_POINTS and mod != "lantern_nb.__main__"]
        assert not bad, f"{mod} imports the entry point(s) {bad}"
