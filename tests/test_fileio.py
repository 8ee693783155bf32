"""common.fileio.atomic_write: whole files only, on disk before the rename, no .part pile-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common import fileio
from common.fileio import atomic_write


def test_the_bytes_are_synced_before_the_rename(tmp_path, monkeypatch):
    """fsync of the temporary file comes before os.replace (a power cut keeps old or new)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(fileio.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(
        fileio.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))
    )
    with atomic_write(tmp_path / "out.txt") as tmp:
        tmp.write_text("done")
    assert (tmp_path / "out.txt").read_text() == "done"
    assert "fsync" in events and events.index("fsync") < events.index("replace")


def test_a_failed_block_leaves_the_old_file(tmp_path):
    """An error inside the block: the old content stays, no temporary file is left."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def _dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_parts_of_killed_writers_are_removed_those_of_live_ones_kept(tmp_path):
    """.part files of earlier, killed runs go at the next write; a running writer's stay."""
    dead = tmp_path / f".last.pt.{_dead_pid()}.abc123.part"
    dead_video = tmp_path / f".last.pt.{_dead_pid()}.xyz.part.mp4"
    live = tmp_path / f".last.pt.{os.getppid()}.def456.part"
    other = tmp_path / f".best.pt.{_dead_pid()}.ghi.part"  # another file's: not ours to judge now
    for part in (dead, dead_video, live, other):
        part.write_bytes(b"partial")
    with atomic_write(tmp_path / "last.pt") as tmp:
        tmp.write_bytes(b"checkpoint")
    assert not dead.exists() and not dead_video.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "last.pt").read_bytes() == b"checkpoint"
