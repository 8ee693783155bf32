"""The project's version, from one place: pyproject.toml's [project] version, read once."""

from __future__ import annotations

import functools
import re
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@functools.cache
def version() -> str:
    """pyproject.toml's version (e.g. '0.1.0'), or 'unknown' where the file is not beside the
    code."""
    try:
        text = PYPROJECT.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    project = text.split("[project]", 1)[-1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    return found.group(1) if found else "unknown"
