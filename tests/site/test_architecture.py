"""The shape of the code: no import cycle between modules, and the inner imports ruff allows.

The direction between the apps is import-linter's (pyproject.toml, run by `make test`); this checks
what it does not: that no two modules of the project import each other, directly or round a loop.
An import inside a function is allowed only in a Celery task module (its services queue the tasks)
and in an AppConfig's ready() (pyproject.toml, ruff PLC0415), so those are the only imports that
may close a loop, and they are left out here; every other import counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "config",
    "mastery",
    "grading",
    "gradebook",
    "intervention",
    "years",
    "reports",
    "devtools",
)


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def module_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `name` imports when it is loaded (not inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                imported.add(base)
                imported.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
                # Run at import time too (TYPE_CHECKING blocks included: they are a loop in the
                # design even when Python never runs them).
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []) or [])
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return {m for m in imported if m in known and m != name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
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
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def project_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: module_level_imports(path, name, known) for name, path in files.items()}


def test_no_two_modules_import_each_other():
    graph = project_graph()
    assert len(graph) > 150  # every package was read
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_loop_round_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    graph["c"] = set()
    assert import_cycles(graph) == []


def test_a_task_module_is_the_one_that_imports_its_service_inside_the_task():
    """The loop a Celery task closes is broken on the task's side, not the service's."""
    graph = project_graph()
    for tasks in (m for m in graph if m.endswith(".tasks")):
        for service in graph[tasks]:
            assert tasks not in graph[service], f"{service} and {tasks} import each other"
