"""A small real video set for train.from_videos, cut from the team's shared recordings
(../shared/fixtures): `armwrestling` (the MMAction2 clip), `drinking` (the NTU RGB+D clip
S001C001P001R001A001) and `drinking reversed` (the same clip played backwards: putting the cup
down instead of raising it, the same poses in the other order). Each class gets overlapping
2-second parts, and their mirror images.

    python -m bench.video_set --out my_videos     # then: python -m train.from_videos my_videos ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from app.annotate import video_writer
from common.cli import command_parser
from common.errors import cli_entry
from pipeline.sources import VideoSource

from .shared import ARMWRESTLING, PAIRED, require_shared

DRINKING = PAIRED / "S001C001P001R001A001_rgb.avi"
MAX_WIDTH = 640  # the NTU clip is 1920x1080: smaller frames decode faster, pose sees the same


def read_frames(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames of a video (scaled down to MAX_WIDTH) and its frame rate."""
    require_shared(path)
    with VideoSource(path) as source:
        scale = min(1.0, MAX_WIDTH / source.size[0])
        size = (round(source.size[0] * scale), round(source.size[1] * scale))
        frames = [cv2.resize(f.image, size, interpolation=cv2.INTER_AREA) for f in source]
        return frames, source.fps


def write_parts(
    frames: list[np.ndarray], fps: float, folder: Path, name: str, seconds: float, step: float
) -> int:
    """Parts of `seconds` every `step` seconds, each also mirrored; returns how many files."""
    folder.mkdir(parents=True, exist_ok=True)
    length, hop = round(seconds * fps), max(1, round(step * fps))
    count = 0
    for start in range(0, len(frames) - length + 1, hop):
        part = frames[start : start + length]
        for mirrored in (False, True):
            path = folder / f"{name}_{start:04d}{'_mirror' if mirrored else ''}.mp4"
            with video_writer(path, fps, (part[0].shape[1], part[0].shape[0])) as writer:
                for frame in part:
                    writer.write(cv2.flip(frame, 1) if mirrored else frame)
            count += 1
    return count


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.video_set", __doc__)
    parser.add_argument(
        "--out", type=Path, required=True, help="folder to write, one subfolder a class"
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a part")
    parser.add_argument("--step", type=float, default=0.5, help="seconds between part starts")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Write the three class folders and say how many clips each got."""
    args = build_parser().parse_args(argv)
    arm, arm_fps = read_frames(ARMWRESTLING)
    drink, drink_fps = read_frames(DRINKING)
    drink_step = args.step / 4  # the NTU clip is 3.4 s long, the other 10 s
    for name, frames, fps, step in (
        ("armwrestling", arm, arm_fps, args.step),
        ("drinking", drink, drink_fps, drink_step),
        ("drinking reversed", drink[::-1], drink_fps, drink_step),
    ):
        count = write_parts(
            frames, fps, args.out / name, name.replace(" ", "_"), args.seconds, step
        )
        print(f"{args.out / name}: {count} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
