"""Progress bars for every command: tqdm on a terminal, nothing when the output is redirected.

A bar redrawn into a log file leaves carriage returns, escape codes and blank lines; commands
that report per step (the trainer's one line an epoch) print those lines either way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def on_terminal() -> bool:
    """Whether stderr, where the bars go, is an interactive terminal."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar (on stderr, resizing with the terminal) shown only when `enabled` and stderr is
    a terminal; otherwise a silent pass-through with the same interface."""
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, file=sys.stderr, disable=not (enabled and on_terminal()), **kwargs)
