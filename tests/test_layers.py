"""Imports point one way: each package imports only itself and the packages below it.

common (generic helpers) < ntu (dataset facts) < model (network), pose (pixels -> skeletons)
< weights (names -> files) < pipeline (frames -> predictions: sources, windows, the streaming
classifier, the video summary) < train < app (classify_video, watch, API) < app.gui < bench.
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
