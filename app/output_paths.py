"""Output paths of classify_video, checked before any work starts: each can be written, none is
an input, and no two results share one file (minutes of pose are not lost to a bad path)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from common.errors import UserError
from common.fileio import written_in_place


def output_stems(videos: list[Path]) -> dict[Path, str]:
    """The name each video's outputs get in an output folder: its stem, or its whole file name
    where two videos share a stem (clip.mp4 and clip.avi), so that no output is shared."""
    counts = Counter(video.stem for video in videos)
    return {video: video.stem if counts[video.stem] == 1 else video.name for video in videos}


def check_outputs(outputs: dict[str, Path], inputs: list[Path]) -> None:
    """Refuse, in one line, an output that is an input, two outputs on one file, or an output
    that cannot be written (its folder is a file, read-only, or it names a folder).

    `outputs` maps a description ("--json", "--annotate for clip.mp4") to the file it writes.
    """
    sources = {_identity(path): path for path in inputs}
    seen: dict[str, str] = {}
    for what, path in outputs.items():
        key = _identity(path)
        if key in sources:
            raise UserError(
                f"{what} {path} is the input video {sources[key]}: it would be "
                "destroyed; write the output elsewhere"
            )
        if key in seen:
            raise UserError(f"{what} and {seen[key]} both write {path}; give them different paths")
        seen[key] = what
        _check_writable(what, path)


def create_output_folders(outputs: dict[str, Path]) -> None:
    """Create the missing folders of checked outputs, the same for every flag, and say so on
    stderr (a typo in a folder name shows at once, not after minutes of work). Called once
    every argument is known good, as the work starts."""
    for what, path in outputs.items():
        folder = path.parent
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            print(f"note: created folder {folder} for {what.split()[0]}", file=sys.stderr)


def _identity(path: Path) -> str:
    """One spelling per file: the absolute path with links and '..' resolved."""
    return os.path.realpath(path)


def _check_writable(what: str, path: Path) -> None:
    """The file can be created (or replaced) where it is asked for; a stream (/dev/stdout) is
    written in place, a folder or a device other than a stream refused (common.fileio)."""
    if written_in_place(path, what):
        return
    folder = path.parent
    while not folder.exists():  # atomic_write creates the missing folders: check the first that is
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {what} {path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(
            f"cannot write {what} {path}: {folder} is not writable "
            f"({err.strerror}); choose another place"
        ) from None
