"""The package's import graph: no cycles, no private names taken across module borders.

Every module under ``src/wlcnn`` is parsed with :mod:`ast` (never imported): module-level and
function-level ``import wlcnn...`` / ``from wlcnn... import ...`` statements, relative ones
resolved, give the edges. Imports under ``if TYPE_CHECKING:`` are left out (they never run). A
name imported from a package resolves to the submodule of that name, or to the module the
package's ``__init__`` takes it from (eagerly or through a lazy ``__getattr__`` table), so that
``from wlcnn.maps import plan_maps`` is an edge to the module defining ``plan_maps``.

A cycle hidden behind function-level imports is still a cycle: each side needs the other to be
importable, and neither can be understood (or tested) alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "wlcnn"


@dataclass(frozen=True)
class Import:
    """One first-party import statement's target, as written and as resolved."""

    importer: str
    module: str
    name: str | None
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST, *, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements at any depth; those under ``if TYPE_CHECKING:`` only if asked for."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            if type_checking:
                yield from _statements(node, type_checking=True)
            for child in node.orelse:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), type_checking=type_checking)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _statements(node, type_checking=type_checking)


def _absolute(node: ast.ImportFrom, *, importer: str, is_package: bool) -> str:
    """The absolute module of a ``from X import ...`` statement."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _raw_imports(name: str, path: Path, *, type_checking: bool) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in _statements(tree, type_checking=type_checking):
        if isinstance(node, ast.Import):
            found += [Import(name, a.name, None, node.lineno) for a in node.names]
        else:
            module = _absolute(node, importer=name, is_package=_is_package(path))
            found += [Import(name, module, a.name, node.lineno) for a in node.names]
    return [i for i in found if i.module == PACKAGE or i.module.startswith(PACKAGE + ".")]


def _lazy_table(path: Path) -> dict[str, str]:
    """A package ``__init__``'s ``name -> submodule`` table for a lazy ``__getattr__`` (``_HOME``)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = getattr(node, "value", None)
        if any(isinstance(t, ast.Name) and t.id.isupper() for t in targets) and isinstance(value, ast.Dict):
            keys = [k.value for k in value.keys if isinstance(k, ast.Constant)]
            values = [v.value for v in value.values if isinstance(v, ast.Constant)]
            if len(keys) == len(value.keys) and all(isinstance(v, str) for v in values):
                return dict(zip(keys, values, strict=True))
    return {}


def _reexports(modules: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Per package: public name -> the module that defines it (eager, type-checking or lazy)."""
    table: dict[str, dict[str, str]] = {}
    for name, path in modules.items():
        if not _is_package(path):
            continue
        homes: dict[str, str] = {}
        for imp in _raw_imports(name, path, type_checking=True):
            if imp.name is not None:
                homes[imp.name] = imp.module
        for attr, sub in _lazy_table(path).items():
            candidate = sub if sub.startswith(PACKAGE + ".") else f"{name}.{sub}"
            if candidate in modules:
                homes.setdefault(attr, candidate)
        table[name] = homes
    return table


def _resolve(imp: Import, modules: dict[str, Path], reexports: dict[str, dict[str, str]]) -> str:
    """The module an import really depends on."""
    if imp.name is None:
        return imp.module
    sub = f"{imp.module}.{imp.name}"
    if sub in modules:
        return sub
    seen = set()
    module, name = imp.module, imp.name
    while module in reexports and name in reexports[module] and module not in seen:
        seen.add(module)
        module = reexports[module][name]
    return module


def _graph() -> tuple[dict[str, set[str]], list[tuple[Import, str]]]:
    modules = _modules()
    reexports = _reexports(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    resolved = []
    for name, path in modules.items():
        for imp in _raw_imports(name, path, type_checking=False):
            target = _resolve(imp, modules, reexports)
            resolved.append((imp, target))
            if target != name and target in graph:
                graph[name].add(target)
    return graph, resolved


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (as a closed path) of a directed graph, or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if colour[nxt] == white and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = black
        return None

    for start in sorted(graph):
        if colour[start] == white and (cycle := visit(start)):
            return cycle
    return None


def _is_private_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last.startswith("_") and not last.startswith("__")


def test_the_graph_sees_function_level_relative_and_reexported_imports(tmp_path: Path) -> None:
    graph, resolved = _graph()
    # Independent facts about the tree (checked by hand): the maps driver's package re-exports
    # resolve to their defining modules, and a module-level import is an edge.
    assert "wlcnn.maps.shells" in graph["wlcnn.maps.pencil_beam"]
    assert "wlcnn.cosmology" in graph["wlcnn.maps.shells"]
    # config.py imports wlcnn.maps.shells inside a function: still an edge.
    assert "wlcnn.maps.shells" in graph["wlcnn.config"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
    rel = tmp_path / "m.py"
    rel.write_text("def f():\n    from .x import _y\n")
    node = next(_statements(ast.parse(rel.read_text()), type_checking=False))
    assert isinstance(node, ast.ImportFrom)
    assert _absolute(node, importer="wlcnn.maps.m", is_package=False) == "wlcnn.maps.x"
    assert _absolute(node, importer="wlcnn.maps", is_package=True) == "wlcnn.maps.x"
    assert resolved  # the walk found imports at all


def test_no_import_cycles() -> None:
    graph, _ = _graph()
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_private_names_across_modules() -> None:
    _, resolved = _graph()
    bad = [
        f"{imp.importer}:{imp.line} imports {imp.name} from {target}"
        for imp, target in resolved
        if imp.name is not None
        and imp.name.startswith("_")
        and not imp.name.startswith("__")
        and not _is_private_module(target)
        and f"{imp.module}.{imp.name}" != target  # a private module itself may be imported
    ]
    assert not bad, "private names imported across module borders:\n" + "\n".join(bad)


#: The marker a function-level first-party import carries, followed by its one-line reason.
LAZY_MARKER = "# lazy:"


def _function_level_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements inside function bodies (at any depth), not under ``if TYPE_CHECKING:``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in node.body:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), type_checking=False)


def _is_first_party(node: ast.Import | ast.ImportFrom, *, importer: str, is_package: bool) -> bool:
    if isinstance(node, ast.Import):
        modules = [a.name for a in node.names]
    else:
        modules = [_absolute(node, importer=importer, is_package=is_package)]
    return any(m == PACKAGE or m.startswith(PACKAGE + ".") for m in modules)


def _untagged_lazy_imports(source: str, *, importer: str, is_package: bool) -> tuple[int, list[int]]:
    """(number of function-level first-party imports, lines of those without a ``# lazy:`` reason).

    The reason sits on the statement's line, or on the first line of a parenthesised one.
    """
    lines = source.splitlines()
    found = {
        node.lineno
        for node in _function_level_imports(ast.parse(source))
        if _is_first_party(node, importer=importer, is_package=is_package)
    }
    untagged = [
        line
        for line in sorted(found)
        if not lines[line - 1].partition(LAZY_MARKER)[2].strip()  # a marker with no reason is none
    ]
    return len(found), untagged


def test_the_lazy_import_check_finds_and_flags(tmp_path: Path) -> None:
    source = (
        "import wlcnn.atomic\n"
        "def f():\n"
        "    from wlcnn.io import FORMATS  # lazy: a reason\n"
        "    from .x import y\n"
        "    import wlcnn.grid  # lazy:\n"
        "    import numpy  # third party: not checked\n"
        "    def g():\n"
        "        from wlcnn.maps import (  # lazy: nested, multi-line\n"
        "            plan_maps,\n"
        "        )\n"
        "    return FORMATS, y, g\n"
    )
    assert _untagged_lazy_imports(source, importer="wlcnn.maps.m", is_package=False) == (4, [4, 5])
    # By hand: trainer.py builds its optimizer (TensorFlow) inside a method.
    path = SRC / PACKAGE / "training" / "trainer.py"
    n, _ = _untagged_lazy_imports(path.read_text(), importer="wlcnn.training.trainer", is_package=False)
    assert n > 0


def test_function_level_first_party_imports_say_why() -> None:
    total = 0
    bad = []
    for name, path in _modules().items():
        n, untagged = _untagged_lazy_imports(path.read_text(), importer=name, is_package=_is_package(path))
        total += n
        bad += [f"{path.relative_to(SRC)}:{line}" for line in untagged]
    assert total > 0, "the walk found no function-level imports at all"
    assert not bad, (
        f"function-level first-party imports without a one-line '{LAZY_MARKER} why' "
        "(move them to the module's top unless TensorFlow, mpi4py, matplotlib or a slow stack "
        "must stay lazy):\n" + "\n".join(bad)
    )
