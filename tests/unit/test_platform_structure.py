"""The reference platform's structure, read from its source with `ast`: no import cycle (TYPE_CHECKING
imports included), nothing imports the supervisor, no mutable state shared through a class or a module."""

from __future__ import annotations

import ast
from pathlib import Path

PLATFORM = Path(__file__).resolve().parents[2] / "reference_platform"
MUTABLE_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "deque", "OrderedDict"}
MUTATORS = {"append", "add", "update", "setdefault", "extend", "insert", "pop", "popitem", "clear", "remove", "discard"}


def _paths() -> dict[str, Path]:
    """Every module of the platform's import packages (and the Triton backend), by dotted name."""
    out = {}
    for path in sorted(PLATFORM.rglob("*.py")):
        rel = path.relative_to(PLATFORM.parent)
        if "deploy" in rel.parts or any(p.endswith(".egg-info") for p in rel.parts):
            continue
        out[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    return out


def _sources() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(), str(path)) for name, path in _paths().items()}


def import_graph(sources: dict[str, ast.Module]) -> dict[str, set[str]]:
    """module -> the platform modules it imports anywhere (module level, functions, TYPE_CHECKING blocks)."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, tree in sources.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {t for t in targets if t in sources and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _mutable(value: ast.expr | None) -> bool:
    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return name in MUTABLE_CALLS
    return False


def _bound(stmt: ast.stmt) -> list[tuple[str, ast.expr | None]]:
    if isinstance(stmt, ast.Assign):
        return [(t.id, stmt.value) for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [(stmt.target.id, stmt.value)]
    return []


def class_level_mutables(tree: ast.Module) -> list[str]:
    """`Class.attr` for every class attribute bound to a mutable container (shared by all instances)."""
    return [
        f"{node.name}.{name} (line {stmt.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for stmt in node.body
        for name, value in _bound(stmt)
        if _mutable(value)
    ]


def module_registries(tree: ast.Module) -> list[str]:
    """Module-level names bound to a mutable container and written inside a function, and `global` rebinds."""
    mutable = {name for stmt in tree.body for name, value in _bound(stmt) if _mutable(value)}
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Global):
                found += [f"global {n} (line {node.lineno})" for n in node.names]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in MUTATORS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in mutable
            ):
                found.append(f"{node.func.value.id}.{node.func.attr}() (line {node.lineno})")
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                found += [
                    f"{t.value.id}[...] = (line {node.lineno})"
                    for t in targets
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in mutable
                ]
    return found


def test_the_platform_has_no_import_cycle() -> None:
    graph = import_graph(_sources())
    assert {"reference_platform.autoscaler", "reference_platform.rollout"} <= graph["reference_platform.supervisor"]
    assert cycles(graph) == []


def test_nothing_imports_the_supervisor() -> None:
    graph = import_graph(_sources())
    assert sorted(m for m, imported in graph.items() if "reference_platform.supervisor" in imported) == []


def test_no_class_or_module_level_mutable_state() -> None:
    sources = _sources()
    assert len(sources) > 15
    found = {name: class_level_mutables(tree) + module_registries(tree) for name, tree in sources.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_checks_catch_what_they_forbid() -> None:
    """The shapes the platform had before: a cycle through TYPE_CHECKING, a ClassVar dict, a module-level set."""
    sources = {
        "pkg.sup": ast.parse("from pkg.ctl import Ctl\n"),
        "pkg.ctl": ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sup import Sup\n"),
        "pkg.leaf": ast.parse("import pkg.ctl\n"),
    }
    assert cycles(import_graph(sources)) == [["pkg.ctl", "pkg.sup"]]
    tree = ast.parse(
        "_handed_out: set[int] = set()\n"
        "CONSTANT = {'a': 1}\n"
        "def free_port() -> int:\n    _handed_out.add(1)\n    return 1\n"
        "class Pod:\n    networks: ClassVar[dict[str, int]] = {}\n    name: str = 'x'\n"
    )
    assert class_level_mutables(tree) == ["Pod.networks (line 7)"]
    assert module_registries(tree) == ["_handed_out.add() (line 4)"]
    rebinding = ast.parse("STATE = []\ndef reset() -> None:\n    global STATE\n    STATE[0] = 1\n")
    assert module_registries(rebinding) == ["global STATE (line 3)", "STATE[...] = (line 4)"]


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def oversized(sources: dict[str, str]) -> list[str]:
    """Modules over MAX_MODULE_LINES lines and functions (methods included) over MAX_FUNCTION_LINES."""
    found = []
    for name, text in sources.items():
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}.{node.name} (line {node.lineno}): {length} lines")
    return found


def test_every_module_reads_in_one_sitting() -> None:
    """STYLE.md: modules under ~400 lines; no function the reader has to scroll through twice."""
    sources = {name: path.read_text() for name, path in _paths().items()}
    assert "reference_platform.supervisor" in sources
    assert oversized(sources) == []


def test_the_size_check_catches_what_it_forbids() -> None:
    long_function = "def f() -> None:\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    long_module = "x = 1\n" * (MAX_MODULE_LINES + 1)
    assert oversized({"pkg.a": long_function, "pkg.b": long_module, "pkg.c": "def g() -> None:\n    pass\n"}) == [
        f"pkg.a.f (line 1): {MAX_FUNCTION_LINES + 1} lines",
        f"pkg.b: {MAX_MODULE_LINES + 1} lines",
    ]
