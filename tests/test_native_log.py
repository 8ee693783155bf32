"""Silencing native writes to stderr: descriptor 2 comes back, nested and from threads."""

from __future__ import annotations

import os
import threading

from pose.native_log import native_stderr_silenced


def test_writes_inside_are_dropped_and_stderr_comes_back(capfd):
    os.write(2, b"before\n")
    with native_stderr_silenced():
        os.write(2, b"native noise\n")
        with native_stderr_silenced():
            os.write(2, b"nested noise\n")
        os.write(2, b"still silenced: the outer block is open\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"


def test_blocks_in_several_threads_leave_stderr_working(capfd):
    def silence_repeatedly() -> None:
        for _ in range(200):
            with native_stderr_silenced():
                os.write(2, b"noise\n")

    threads = [threading.Thread(target=silence_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_an_exception_inside_still_restores_stderr(capfd):
    try:
        with native_stderr_silenced():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
