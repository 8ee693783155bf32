"""Imports point one way: each package imports only itself and the packages below it.

common (generic helpers) < ntu (dataset facts) < model (network), pose (pixels -> skeletons)
< weights (names -> files) < pipeline (frames -> predictions: sources, windows, the streaming
classifier, the video summary) < train < app (classify_video, watch, API) < app.gui < bench.
No module imports itself through others either (no import cycle between modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_BASE = ("common", "ntu")
ALLOWED: dict[str, tuple[str, ...]] = {
    "common": (),
    "ntu": ("common",),
    "model": _BASE,
    "pose": _BASE,  # knows nothing of the network
    "weights": (*_BASE, "model"),
    "pipeline": (*_BASE, "model", "pose", "weights"),
    "train": (*_BASE, "model", "pose", "weights", "pipeline"),
    "app": (*_BASE, "model", "pose", "weights", "pipeline"),
    "app.gui": (*_BASE, "model", "pose", "weights", "pipeline", "train", "app"),
    "bench": (*_BASE, "model", "pose", "weights", "pipeline", "train", "app"),
    "run_demo": (*_BASE, "model", "pose", "weights", "pipeline", "train", "app", "app.gui"),
}


def layer_of(module: str) -> str | None:
    """The most specific layer `module` belongs to (app.gui before app), None for others."""
    matches = [name for name in ALLOWED if module == name or module.startswith(name + ".")]
    return max(matches, key=len) if matches else None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, function-level ones too."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] if not node.module else [base]
            found += [(node.lineno, name) for name in names]
    return found


def violations(root: Path) -> list[str]:
    """Every import of a layer that the importing module's layer may not use."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in ("tests", ".git"):
            continue
        layer = layer_of(_module_name(path, root))
        if layer is None:
            continue
        for line, name in imported_modules(path, root):
            target = layer_of(name)
            if target not in (None, layer, *ALLOWED[layer]):
                found.append(f"{path.relative_to(root)}:{line} ({layer}) imports {name} ({target})")
    return found


def _python_files(root: Path) -> list[Path]:
    """The repository's Python files, hidden folders (.git, a virtual environment) left out."""
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]


def import_graph(root: Path) -> dict[str, set[str]]:
    """{module: the repository's modules it imports}, every import counted (function-level and
    TYPE_CHECKING ones too); a name imported from a module (`from a.b import f`) is an edge to
    the longest module that prefixes it."""
    modules = {_module_name(path, root): path for path in _python_files(root)}

    def module_of(name: str) -> str | None:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in modules:
                return ".".join(parts[:end])
        return None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {module_of(name) for _, name in imported_modules(path, root)}
        graph[module] = {target for target in targets if target not in (None, module)}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, with an
    explicit stack): each is a set of modules that import one another in a circle."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = lowest[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = lowest[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    lowest[node] = min(lowest[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowest[parent] = min(lowest[parent], lowest[node])
            if lowest[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph collapsed onto packages: each module counts as its layer (app.gui apart
    from app), or its top-level name outside the layers (tests)."""

    def package(module: str) -> str:
        return layer_of(module) or module.partition(".")[0]

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges = packages.setdefault(package(module), set())
        edges.update(package(target) for target in targets)
    for name, edges in packages.items():
        edges.discard(name)
    return packages


def test_no_module_imports_itself_through_others():
    """No import cycle between modules anywhere in the repository (a lazy import in a function
    counts: the cycle is in the design even where Python's import order tolerates it), nor
    between packages."""
    graph = import_graph(REPO)
    assert import_cycles(graph) == []
    assert import_cycles(package_graph(graph)) == []


def test_the_cycle_check_finds_a_planted_cycle(tmp_path):
    """The check is not vacuous: a three-module circle (one leg a relative, lazy import) is found,
    and one through a package's __init__; removing one import of each leaves none."""
    (tmp_path / "app" / "gui").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "gui" / "__init__.py").write_text("from .widgets import Label\n")
    (tmp_path / "app" / "gui" / "widgets.py").write_text("from common.errors import UserError\n")
    (tmp_path / "app" / "gui" / "window.py").write_text("from app.gui.teach import Panel\n")
    (tmp_path / "app" / "gui" / "teach.py").write_text("import app.gui.run\n")
    (tmp_path / "app" / "gui" / "run.py").write_text("def f():\n    from .window import Main\n")
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "errors.py").write_text("from app.gui import widgets\n")
    assert import_cycles(import_graph(tmp_path)) == [
        ["app.gui", "app.gui.widgets", "common.errors"],  # through the package's __init__
        ["app.gui.run", "app.gui.teach", "app.gui.window"],
    ]
    assert import_cycles(package_graph(import_graph(tmp_path))) == [["app.gui", "common"]]
    (tmp_path / "common" / "errors.py").write_text("")
    (tmp_path / "app" / "gui" / "run.py").write_text("")
    assert import_cycles(import_graph(tmp_path)) == []


def test_no_package_imports_one_above_it():
    assert violations(REPO) == []


def test_the_check_sees_a_hidden_import_inside_a_function(tmp_path):
    """The check is not vacuous: a lazy upward import (model -> weights) is reported, as are
    relative ones, while a downward import passes."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "__init__.py").write_text("")
    (tmp_path / "model" / "load.py").write_text(
        "from common.errors import UserError\n\ndef f():\n    from weights.registry import get\n"
    )
    (tmp_path / "app" / "gui").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "summary.py").write_text("from .gui import window\n")
    assert violations(tmp_path) == [
        "app/summary.py:1 (app) imports app.gui (app.gui)",
        "model/load.py:4 (model) imports weights.registry (weights)",
    ]


def test_layers_are_ordered():
    """A layer allows only layers listed before it, so the allowed graph has no cycle."""
    order = list(ALLOWED)
    for layer, below in ALLOWED.items():
        assert all(order.index(other) < order.index(layer) for other in below), layer
