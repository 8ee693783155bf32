"""Progress bars: drawn on a terminal, absent when stderr is redirected (a log file)."""

from __future__ import annotations

import io
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
