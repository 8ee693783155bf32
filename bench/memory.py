"""Peak memory of classify_video on the shared clip and on the clip repeated ten times: the peak
must not grow with the video's length. Each video is classified in its own process (with --json,
--csv and --save-skeleton), whose peak resident set size getrusage reports at its end.

    python -m bench.memory [--repeat 10] [--rounds 1]

Peak RSS varies from run to run (threads' allocator arenas): --rounds alternates short and long
runs and reports each, and the ratio of the largest peaks.

Needs ../shared (the fixture video and the released checkpoints).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.cli import command_parser
from common.errors import cli_entry

from .pipeline import _require_shared
from .shared import ARMWRESTLING as VIDEO


def write_repeated(path: Path, repeat: int) -> int:
    """The fixture clip `repeat` times in a row, as one MP4; returns its frame count."""
    import cv2

    from pipeline.sources import VideoSource

    with VideoSource(VIDEO) as source:
        fps, size = source.fps, source.size
        frames = [frame.image for frame in source]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(repeat):
        for image in frames:
            writer.write(image)
    writer.release()
    return repeat * len(frames)


def measure(video: Path, out: Path) -> dict[str, float]:
    """Classify `video` in a fresh process; its peak RSS (MB) and wall time (s)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", str(video), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"classify_video failed on {video}:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**report, "seconds": time.perf_counter() - began}


def child(video: Path, out: Path) -> int:
    """Run classify_video as a user would and print this process's peak RSS as JSON."""
    from app.classify_video import main as classify

    status = classify(
        [
            str(video),
            "--no-progress",
            "--device",
            "cpu",
            "--json",
            str(out / f"{video.stem}.json"),
            "--csv",
            str(out / f"{video.stem}.csv"),
            "--save-skeleton",
            str(out / f"{video.stem}.npy"),
        ]
    )
    frames = json.loads((out / f"{video.stem}.json").read_text())["frames"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"frames": frames, "peak_mb": peak_mb}))
    return status


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.memory", __doc__)
    parser.add_argument(
        "--repeat",
        type=int,
        default=10,
        choices=range(2, 101),
        metavar="N",
        help="copies of the clip in the long video (2-100)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        choices=range(1, 11),
        metavar="R",
        help="alternate short and long runs R times (1-10)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Measure the short and the long video and print both peaks and their ratio."""
    args = build_parser().parse_args(argv)
    _require_shared(VIDEO)
    if args.child:
        return child(args.child, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        short, long = folder / "short.mp4", folder / f"long_x{args.repeat}.mp4"
        write_repeated(short, 1)
        write_repeated(long, args.repeat)
        peaks: dict[str, list[float]] = {"short": [], f"x{args.repeat}": []}
        for _ in range(args.rounds):
            for name, path in (("short", short), (f"x{args.repeat}", long)):
                r = measure(path, folder)
                peaks[name].append(r["peak_mb"])
                print(
                    f"{name:>6}: {r['frames']:6d} frames, peak RSS {r['peak_mb']:7.1f} MB, "
                    f"{r['seconds']:6.1f} s",
                    flush=True,
                )
    ratio = max(peaks[f"x{args.repeat}"]) / max(peaks["short"])
    print(f"largest peak RSS long / short: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
