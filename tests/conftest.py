"""Shared fixtures: a real X11 display (Xvfb) for the GUI tests, torch's thread count kept, the
same random numbers in every run."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from local_server import server as server  # a fixture: a local HTTP server for downloads

XVFB_START_TIMEOUT_S = 15


@pytest.fixture(scope="session")
def qt_display() -> Iterator[dict[str, str]]:
    """Environment for a Qt subprocess: DISPLAY of a private Xvfb (Qt's default xcb platform).

    Where Xvfb is not installed the GUI runs with QT_QPA_PLATFORM=offscreen instead, which does
    not exercise the X11 plugin loading; the fixture says so on the terminal.
    """
    with xvfb_display("1280x800") as display:
        yield display


@contextlib.contextmanager
def xvfb_display(size: str) -> Iterator[dict[str, str]]:
    """A private Xvfb screen of `size` ("WIDTHxHEIGHT") as environment for a Qt subprocess;
    offscreen Qt where Xvfb is not installed."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        print("\nNOTE: Xvfb not found; GUI tests run with QT_QPA_PLATFORM=offscreen, not under X11")
        yield {"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ""}
        return
    read_fd, write_fd = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it to the pipe once it is ready.
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        number = _read_display_number(read_fd)
        yield {"DISPLAY": f":{number}", "QT_QPA_PLATFORM": ""}
    finally:
        os.close(read_fd)
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


def _read_display_number(fd: int) -> int:
    """The display number Xvfb writes on -displayfd (a line), or fail the test session clearly."""
    import select

    ready, _, _ = select.select([fd], [], [], XVFB_START_TIMEOUT_S)
    text = os.read(fd, 64).decode().strip() if ready else ""
    if not text.isdigit():
        pytest.fail(f"Xvfb did not start within {XVFB_START_TIMEOUT_S} s (got {text!r})")
    return int(text)


@pytest.fixture(autouse=True)
def same_random_numbers() -> None:
    """Each test starts from one random state (Python, numpy, torch): a result that depends on a
    randomly initialised network is the same in every run, never a flake of one run in ten."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def keep_torch_threads() -> Iterator[None]:
    """Live and video pipelines pin torch to one thread; give later tests their threads back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
