"""Every import in the repository is installed by the requirements files the README names.

A package installed by hand once made CI green while a fresh machine failed at collection. This
test reads every top-level import of every `.py` file in the repository, sets aside the standard
library and the project's own modules, and checks that each remaining one both resolves here and
comes from a distribution that `requirements-dev.txt` asks for, directly or through the
dependencies of what it asks for. In the environment `.ci/run` builds from those files alone, an
import that no requirements file brings in fails here with its file and the package to add.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
SKIPPED_DIRS = {".git", "venv", ".venv", "build", "dist", "__pycache__", "node_modules"}


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them: lower case, runs of -_. as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str | None:
    """The distribution named by one requirement line (None for blanks, comments, options)."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return _normalise(match.group(0)) if match else None


def requirement_names(path: Path) -> set[str]:
    """Distributions a requirements file names, following `-r other.txt` includes."""
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(path.parent / line.split(maxsplit=1)[1])
        elif (name := _requirement_name(line)) is not None:
            names.add(name)
    return names


def installed_closure(names: set[str]) -> set[str]:
    """`names` and every installed distribution they require, transitively (extras aside)."""
    closure: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if re.search(r"\bextra\s*==", requirement):
                continue
            if (dependency := _requirement_name(requirement)) is not None:
                pending.append(dependency)
    return closure


def repository_files() -> list[Path]:
    """The repository's Python files, environments and build outputs aside."""
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
    ]


def own_modules() -> set[str]:
    """Top-level names the project itself provides: its packages, root scripts, test helpers."""
    names = {path.name for path in ROOT.iterdir() if path.is_dir() and path.name[0] != "."}
    names |= {path.stem for path in ROOT.glob("*.py")}
    names |= {path.stem for path in (ROOT / "tests").glob("*.py")}
    return names


def third_party_imports() -> dict[str, list[str]]:
    """Top-level third-party module -> the files that import it."""
    stdlib = set(sys.stdlib_module_names)
    own = own_modules()
    found: dict[str, list[str]] = {}
    for path in repository_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in stdlib and top not in own and top != "__future__":
                    found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_import_comes_from_the_requirements_files() -> None:
    required = installed_closure(requirement_names(DEV_REQUIREMENTS))
    providers = metadata.packages_distributions()
    imports = third_party_imports()
    assert "torch" in imports and "hypothesis" in imports  # the scan sees the tree
    problems = []
    for module, files in sorted(imports.items()):
        more = f" and {len(files) - 1} more" if len(files) > 1 else ""
        where = f"imported by {files[0]}{more}"
        if importlib.util.find_spec(module) is None:
            problems.append(f"{module} ({where}) is not installed: add it to a requirements file")
            continue
        distributions = {_normalise(name) for name in providers.get(module, [])}
        if not distributions & required:
            problems.append(
                f"{module} ({where}) comes from {sorted(distributions) or 'no distribution'}, "
                f"which no requirements file brings in: add it to requirements(-dev).txt"
            )
    assert not problems, "\n".join(problems)


def test_the_app_requirements_hold_no_test_tools() -> None:
    app = requirement_names(ROOT / "requirements.txt")
    assert not app & {"pytest", "hypothesis", "ruff", "scikit-image"}, app
    assert requirement_names(DEV_REQUIREMENTS) > app


def test_the_scan_follows_includes_and_sees_a_missing_package(tmp_path: Path) -> None:
    base = tmp_path / "base.txt"
    base.write_text("numpy>=1.24,<2   # a comment\n\n--extra-index-url x\n")
    dev = tmp_path / "dev.txt"
    dev.write_text("-r base.txt\nPyYAML>=6.0\n")
    assert requirement_names(dev) == {"numpy", "pyyaml"}
    assert "numpy" in installed_closure({"matplotlib"})  # a dependency counts as brought in
