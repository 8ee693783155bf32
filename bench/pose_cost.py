"""`python -m bench.pose_cost`: what the pose half of the live loop costs a frame, stage by stage,
with one person sought, two (the default), and two with the search's back-off.

    python -m bench.pose_cost                          # the arm-wrestling clip, 640x480
    python -m bench.pose_cost --video clip.mp4 --camera-size 0x0   # as recorded

For each variant, over the clip's frames in order (no camera pacing): the frames with at least
one and with two people, the second-person searches, the process CPU time a frame (all threads:
what the frame costs the machine, whatever else runs), and the wall time of each stage a frame:
the first person's MediaPipe run, the search (in its worker thread), the first person's grown
mask and the grey-out, the tracker, and drawing the skeletons. The CPU and load average come
first; on a loaded machine compare the variants' CPU time, not their wall times.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from common.cli import command_parser
from common.errors import cli_entry

from .shared import ARMWRESTLING, require_shared
from .timing import machine_line

VARIANTS = {
    "one person (max_people 1)": {"max_people": 1},
    "two people (default)": {},
    "two, search back-off to 30": {"second_person_search_max": 30},
}


def _timed(table: dict[str, list[float]], name: str, function):
    """`function`, recording each call's wall seconds under `name`."""

    def call(*args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            table[name].append(time.perf_counter() - began)

    return call


def measure(frames: list[np.ndarray], overrides: dict) -> dict[str, float]:
    """One variant's counts, CPU ms a frame and stage wall ms a frame over `frames`."""
    import pose.estimators as estimators
    from app.annotate import draw_person
    from pose import BodyTracker, MediaPipePose, PoseSettings, TrackerSettings

    table: dict[str, list[float]] = defaultdict(list)
    estimator = MediaPipePose(PoseSettings(**overrides))
    estimator._first.process = _timed(table, "first person", estimator._first.process)
    if estimator._second is not None:
        estimator._search = _timed(table, "search (worker)", estimator._search)
    estimator._grown_mask = _timed(table, "mask", estimator._grown_mask)
    grey_out = estimators._grey_out
    estimators._grey_out = _timed(table, "grey-out", grey_out)
    tracker = BodyTracker(TrackerSettings())
    track, draw = _timed(table, "tracker", tracker.update), _timed(table, "draw", draw_person)
    counts = []
    began, cpu = time.perf_counter(), time.process_time()
    try:
        for index, frame in enumerate(frames):
            people = estimator.estimate(frame)
            counts.append(len(people))
            track(people, index / 30)
            canvas = frame.copy()
            for person in people:
                draw(canvas, person, (0, 255, 0))
        estimator.reset()  # waits for the last search
    finally:
        estimators._grey_out = grey_out
        estimator.close()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    found = np.array(counts)
    figures = {
        "frames": len(frames),
        "with a person": int((found >= 1).sum()),
        "with two": int((found == 2).sum()),
        "searches": len(table.get("search (worker)", [])),
        "cpu ms a frame": 1000 * cpu / len(frames),
        "frames/s": len(frames) / wall,
    }
    for name, seconds in table.items():
        figures[f"{name} ms a frame"] = 1000 * sum(seconds) / len(frames)
    return figures


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.pose_cost", __doc__)
    parser.add_argument("--video", type=Path, default=ARMWRESTLING, help="default: arm wrestling")
    parser.add_argument(
        "--camera-size", default="640x480", help="WxH the frames are resized to (0x0: as recorded)"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Print each variant's figures."""
    args = build_parser().parse_args(argv)
    require_shared(args.video)
    import cv2

    from pipeline.sources import VideoSource

    width, height = (int(v) for v in args.camera_size.lower().split("x"))
    with VideoSource(args.video) as source:
        frames = [frame.image for frame, _ in zip(source, range(10**6))]
    if width and height:
        frames = [cv2.resize(frame, (width, height)) for frame in frames]
    print(machine_line())
    print(f"{args.video.name}, {len(frames)} frames at {frames[0].shape[1]}x{frames[0].shape[0]}")
    for label, overrides in VARIANTS.items():
        figures = measure(frames, overrides)
        stages = ", ".join(
            f"{key[: -len(' ms a frame')]} {value:.1f}"
            for key, value in figures.items()
            if key.endswith(" ms a frame") and key != "cpu ms a frame"
        )
        print(
            f"{label:28} person in {figures['with a person']}, two in {figures['with two']}, "
            f"{figures['searches']} searches; CPU {figures['cpu ms a frame']:.1f} ms a frame, "
            f"{figures['frames/s']:.1f} frames/s; wall ms a frame: {stages}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
