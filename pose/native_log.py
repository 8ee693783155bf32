"""Silencing what native libraries write straight to the process's stderr (file descriptor 2).

MediaPipe's C++ graph and TFLite log warnings that a user cannot act on ("Feedback manager
requires a model with a single signature", "Created TensorFlow Lite XNNPACK delegate") the first
time a graph runs, straight to descriptor 2, where they break into progress bars. Python's
`GLOG_minloglevel` does not reach them (they go through absl, not glog).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved: int | None = None


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point descriptor 2 at the null device while the block runs (nested and thread-safe: the
    last block to leave restores it). Whatever Python or native code writes to stderr meanwhile
    is lost, so keep the blocks short."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError, AttributeError):  # no stderr at all (a windowed app)
                saved = None
            if saved is not None:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
            _saved = saved
        _depth += 1


def _leave() -> None:
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth == 0 and _saved is not None:
            os.dup2(_saved, 2)
            os.close(_saved)
            _saved = None
