"""Progress bars: drawn on a terminal, absent when stderr is redirected (a log file)."""

from __future__ import annotations

import io
import re
import sys

import pytest

from common.progress import progress_bar


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert list(progress_bar(range(5), desc="epochs")) == [0, 1, 2, 3, 4]
    assert log.getvalue() == ""


def test_a_bar_on_a_terminal_unless_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert sum(progress_bar(range(5), desc="epochs")) == 10
    assert "epochs" in terminal.getvalue() and "5/5" in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    list(progress_bar(range(5), desc="epochs", enabled=False))
    assert quiet.getvalue() == ""


def test_every_bar_goes_through_progress_bar() -> None:
    """No module draws a tqdm bar of its own (it would ignore whether stderr is a terminal)."""
    from shared_paths import REPO_ROOT

    direct = []
    for path in REPO_ROOT.glob("*/**/*.py"):
        if {"tests", "shared"} & set(
            path.relative_to(REPO_ROOT).parts
        ) or path.name == "progress.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\btqdm\(", text):
            direct.append(str(path.relative_to(REPO_ROOT)))
    assert direct == []
