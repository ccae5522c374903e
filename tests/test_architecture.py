"""The drawing of imports, checked: no module imports itself round a cycle, no room imports another round a
cycle, core/ (configuration, database, migrations) imports nothing of the rooms above it, and no test module
imports another test module (shared helpers live in tests/conftest.py, clients.py, browser.py, ...).

`python tests/test_architecture.py` prints the rooms' arrows."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("ai", "app", "bot", "core", "sandbox", "support", "webhook", "widget", "models", "run", "migrations")
SKIPPED = {".venv", "tests", "bench", ".git", "node_modules"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in SKIPPED or (relative.parts[0] not in ROOMS and relative.stem not in ROOMS):
            continue
        name = ".".join(relative.with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (anywhere in the file: a deferred import is still a dependency)."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                # `from ai import texts` depends on ai.texts; `from ai import Turn` on the package ai.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def room(module: str) -> str:
    return module.split(".")[0]


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        rooms[room(source)] |= {room(t) for t in targets if room(t) != room(source)}
    return rooms


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_room_imports_another_round_a_cycle() -> None:
    assert cycles(room_graph(import_graph())) == []


def test_core_imports_nothing_above_it() -> None:
    above = {f"{source} -> {target}" for source, targets in import_graph().items() if room(source) == "core"
             for target in targets if room(target) != "core"}
    assert above == set()


def imported_test_modules(source: str) -> set[str]:
    """The `tests.test_*` modules a test-side source imports (however spelled: `tests.test_x`, `from tests import
    test_x`, or the bare `test_x` pytest's rootdir import would also resolve)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            base = node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "tests" else [base]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tests":
                parts = parts[1:]
            if parts and parts[0].startswith("test_"):
                found.add(parts[0])
    return found



def test_no_test_module_imports_another() -> None:
    crossing = {(path.stem, target) for path in (ROOT / "tests").rglob("*.py")
                for target in imported_test_modules(path.read_text(encoding="utf-8")) if target != path.stem}
    assert crossing == set(), "move shared helpers and fixtures into tests/conftest.py or a helper module"


def test_the_checks_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "support.store" in import_graph()["support.lifecycle"]
    assert imported_test_modules("from tests.test_a import x\nimport tests.test_b\nfrom tests import test_c, clients\n"
                        "from test_d import y\nfrom tests.conftest import Desk\nimport tests.browser\n") == {
        "test_a", "test_b", "test_c", "test_d"}


if __name__ == "__main__":
    for source, targets in sorted(room_graph(import_graph()).items()):
        print(f"{source} -> {', '.join(sorted(targets))}")
