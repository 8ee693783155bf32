"""Read NTU RGB+D ``.skeleton`` files into raw ``(3, 300, 25, 2)`` arrays, as published.

File layout: the number of frames; per frame the number of bodies; per body a line of 10 body
values, the number of joints and one line of 12 values per joint (x, y, z first, in metres;
only those three are read).
A body's slot is its position in each frame's body list (up to 4 slots); the 2 slots with the
largest energy (sum over x, y, z of the standard deviation over the slot's non-empty frames)
are kept, as the published ``ntu_gendata.py`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.limits import MAX_FILE_FRAMES
from ntu.joints import NUM_BODIES, NUM_JOINTS

MAX_FRAMES = 300  # NTU samples are at most 300 frames; arrays are zero-padded to this length
MAX_SLOTS = 4  # body slots read per frame before choosing the NUM_BODIES most energetic
XYZ = (0, 1, 2)  # the columns of a joint line read for training: x, y, z in metres
TRACKING_STATE = 11  # the joint line's last column: 2 tracked, 1 inferred by Kinect, 0 not seen
MAX_FILE_BYTES = 64 << 20  # a file is read whole: refuse what cannot be an NTU sample


class SkeletonFileError(UserError):
    """A .skeleton file that cannot be read: the message names the file and the line."""


def read_skeleton(path: str | os.PathLike, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Parse one file into a raw float32 (3, max_frames, 25, 2) array (longer files are cut)."""
    return read_joint_columns(path, XYZ, max_frames)


def read_tracking(
    path: str | os.PathLike, max_frames: int = MAX_FRAMES
) -> tuple[np.ndarray, np.ndarray]:
    """The raw (3, max_frames, 25, 2) joints and a (max_frames, 25, 2) mask of those Kinect
    tracked (the others it inferred or lost): where a skeleton can be trusted as ground truth."""
    data = read_joint_columns(path, XYZ + (TRACKING_STATE,), max_frames)
    return data[:3], data[3] == 2


def read_joint_columns(
    path: str | os.PathLike, columns: tuple[int, ...], max_frames: int = MAX_FRAMES
) -> np.ndarray:
    """The given columns of every joint line of the two bodies the published code keeps, as a
    float32 (len(columns), max_frames, 25, 2) array; x, y, z must be the first three."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SkeletonFileError(
                f"{path}: {path.stat().st_size} bytes, more than the "
                f"{MAX_FILE_BYTES} a .skeleton file may have (NTU's are "
                f"under 3 MB); is it one?"
            )
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SkeletonFileError(f"{path}: cannot read it ({err})") from None
    slots = _parse_slots(lines, path, columns)  # (MAX_SLOTS, frames, 25, C), float64
    chosen = np.argsort(_energy(slots[..., :3]))[::-1][:NUM_BODIES]
    data = slots[chosen].transpose(3, 1, 2, 0)[:, :max_frames]  # (C, T, 25, M)
    out = np.zeros((len(columns), max_frames, NUM_JOINTS, NUM_BODIES), dtype=np.float32)
    out[:, : data.shape[1]] = data
    return out


def _parse_slots(lines: list[str], path: Path, columns: tuple[int, ...]) -> np.ndarray:
    """The columns of every body slot in every frame: (MAX_SLOTS, frames, 25, C), zeros where
    absent."""
    num_frames = _count(lines, 0, path, "number of frames")
    if num_frames > MAX_FILE_FRAMES:
        raise SkeletonFileError(
            f"{path}: line 1: {num_frames} frames, more than the "
            f"{MAX_FILE_FRAMES} a sample may have"
        )
    frame_idx, slot_idx, starts, counts = [], [], [], []
    line = 1
    for frame in range(num_frames):
        num_bodies = _count(lines, line, path, "number of bodies")
        line += 1
        for slot in range(num_bodies):
            num_joints = _count(lines, line + 1, path, "number of joints")  # after the body line
            line += 2
            if slot < MAX_SLOTS:
                frame_idx.append(frame)
                slot_idx.append(slot)
                starts.append(line)
                counts.append(min(num_joints, NUM_JOINTS))
            line += num_joints
    if line > len(lines):
        raise _truncated(lines, path)
    slots = np.zeros((MAX_SLOTS, num_frames, NUM_JOINTS, len(columns)))
    if starts:
        joints = _parse_joint_lines(lines, starts, counts, path, columns)
        per_body = np.asarray(counts)
        slots[
            np.repeat(slot_idx, per_body),
            np.repeat(frame_idx, per_body),
            np.concatenate([np.arange(n) for n in counts]),
        ] = joints
    return slots


def _parse_joint_lines(
    lines: list[str], starts: list[int], counts: list[int], path: Path, columns: tuple[int, ...]
) -> np.ndarray:
    """The columns of all joint lines of the kept bodies as one (n, C) array, parsed in one go."""
    numbers = [i for start, n in zip(starts, counts) for i in range(start, start + n)]
    try:
        values = np.loadtxt([lines[i] for i in numbers], usecols=columns, ndmin=2)
    except ValueError:
        values = np.empty((0, len(columns)))
    if len(values) != len(numbers):
        bad = next(i for i in numbers if not _has_numbers(lines[i], columns))
        raise SkeletonFileError(
            f"{path}: line {bad + 1}: expected a joint line of numbers "
            f"(x y z ...), got {lines[bad].strip()[:60]!r}"
        )
    with np.errstate(over="ignore"):
        finite = np.isfinite(values.astype(np.float32)).all(axis=1)  # the arrays are float32
    if not finite.all():
        bad = numbers[int(np.argmin(finite))]
        raise SkeletonFileError(
            f"{path}: line {bad + 1}: joint coordinates are not finite "
            f"numbers of float32 size (|x| < 3.4e38)"
        )
    return values


def _has_numbers(line: str, columns: tuple[int, ...]) -> bool:
    """True when the line has numbers in all those columns (the slow path, only on errors)."""
    fields = line.split()
    try:
        [float(fields[c]) for c in columns]
    except (ValueError, IndexError):
        return False
    return True


def _count(lines: list[str], index: int, path: Path, what: str) -> int:
    """The non-negative integer on line `index`, or a SkeletonFileError naming the line."""
    if index >= len(lines):
        raise _truncated(lines, path)
    try:
        value = int(lines[index])
    except ValueError:
        value = -1
    if value < 0:
        raise SkeletonFileError(
            f"{path}: line {index + 1}: expected the {what}, got {lines[index].strip()[:60]!r}"
        )
    return value


def _truncated(lines: list[str], path: Path) -> SkeletonFileError:
    """The error for a file whose structure runs past its last line."""
    return SkeletonFileError(
        f"{path}: line {len(lines) + 1}: file ends after {len(lines)} lines (truncated?)"
    )


def _energy(slots: np.ndarray) -> np.ndarray:
    """Per slot: sum over x, y, z of the std over its non-empty frames (0 for an empty slot)."""
    energy = np.zeros(len(slots))
    for k, slot in enumerate(slots):
        filled = slot[slot.sum(axis=(1, 2)) != 0]
        if len(filled):
            energy[k] = sum(filled[..., c].std() for c in range(3))
    return energy
