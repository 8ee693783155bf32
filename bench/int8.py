"""`python -m bench.int8`: how far the int8 runtime's logits are from fp32 on real people.

    python -m app.classify_video ../shared/fixtures/real --save-skeleton SKEL   # once
    python -m bench.int8 --skeletons SKEL

Windows as the live classifier makes them (64 frames, one every 15, looped to 300, each with its
mirror image) of three sets of real people: the NTU fixture skeletons (Kinect), the paired
clip's Kinect skeleton, and `--skeletons` (.npy files from classify_video --save-skeleton:
MediaPipe through the app's mapping; the development set's clips). Held out, two-fold: the
clips of the NTU and --skeletons sets are split in two halves (alternately, by name), and each
half is scored with the int8 model calibrated on the other half; the paired clip calibrates
neither and is scored by both. Printed per checkpoint and set: windows, top-1 agreement with the
fp32 torch runtime, and the logits' error (mean and largest absolute error, and the mean of the
largest error a window relative to its largest fp32 logit).
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np

from common.cli import command_parser
from common.errors import UserError, cli_entry
from ntu.recording import SAMPLE_LENGTH

from .shared import PAIRED, SKELETONS, require_shared, use_released_weights
from .timing import machine_line

CHECKPOINTS = ("ntu60-xsub-joint", "ntu60-xview-joint")  # the live ensemble
WINDOW, STRIDE = 64, 15  # the classifier's defaults (pipeline.ClassifierSettings)


def ntu_clips(folder: Path) -> dict[str, np.ndarray]:
    """The frames holding a skeleton of each NTU .skeleton file (the empty one left out)."""
    from train.skeleton import read_skeleton

    clips = {}
    for path in sorted(folder.glob("*.skeleton")):
        raw = read_skeleton(path)
        kept = np.abs(raw).sum(axis=(0, 2, 3)) > 0
        if kept.any():
            clips[path.name] = raw[:, kept]
    return clips


def windows_of(clips: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The live classifier's windows of the clips (model.quantize.calibration_windows)."""
    from model.quantize import calibration_windows

    return calibration_windows(clips.values(), WINDOW, STRIDE, SAMPLE_LENGTH)


def halves(clips: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The clips split alternately by name."""
    names = sorted(clips)
    return {n: clips[n] for n in names[0::2]}, {n: clips[n] for n in names[1::2]}


def agreement(reference: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and the logits' error of (N, classes) arrays against the reference."""
    error = np.abs(logits - reference)
    return {
        "windows": len(reference),
        "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
        "mean_abs_error": float(error.mean()),
        "max_abs_error": float(error.max()),
        "mean_relative_max_error": float(
            (error.max(1) / np.abs(reference).max(1).clip(1e-6)).mean()
        ),
    }


def measure(name: str, sets: dict[str, tuple[dict, dict]], paired: dict) -> dict[str, dict]:
    """Each set's figures for one checkpoint: both folds pooled."""
    from model.quantize import quantize_int8
    from model.runtime import Int8Runtime, TorchRuntime
    from weights import load_model

    net = load_model(name)
    fp32 = TorchRuntime(net)
    scored: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {key: [] for key in sets}
    scored["paired"] = []
    for fold in (0, 1):
        calibration = [
            w for first, second in sets.values() for w in windows_of((first, second)[fold])
        ]
        int8 = Int8Runtime(net, quantize_int8(net, calibration))
        held_out = {key: windows_of(pair[1 - fold]) for key, pair in sets.items()}
        held_out["paired"] = windows_of(paired)
        for key, windows in held_out.items():
            for window in windows:
                scored[key].append((fp32(window), int8(window)))
    return {
        key: agreement(np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs]))
        for key, pairs in scored.items()
        if pairs
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.int8", __doc__)
    parser.add_argument(
        "--skeletons",
        type=Path,
        help="a folder of .npy skeletons (classify_video --save-skeleton) of real people",
    )
    parser.add_argument(
        "--weights", nargs="+", default=list(CHECKPOINTS), help="checkpoints (default: both)"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Print the agreement table."""
    args = build_parser().parse_args(argv)
    require_shared(SKELETONS, PAIRED)
    use_released_weights()
    from train.skeleton import read_skeleton

    sets = {"ntu": halves(ntu_clips(SKELETONS))}
    if args.skeletons is not None:
        files = sorted(args.skeletons.glob("*.npy"))
        if not files:
            raise UserError(f"--skeletons {args.skeletons}: no .npy files there")
        sets["real"] = halves({f.name: np.load(f) for f in files})
    raw = read_skeleton(next(PAIRED.glob("*.skeleton")))
    paired = {"paired": raw[:, np.abs(raw).sum(axis=(0, 2, 3)) > 0]}
    print(machine_line(), f"python {platform.python_version()}")
    print(
        f"{'checkpoint':20} {'set':7} {'windows':>7} {'top-1 agree':>11} "
        f"{'mean |err|':>10} {'max |err|':>9} {'rel. max err':>12}"
    )
    for name in args.weights:
        for key, row in measure(name, sets, paired).items():
            print(
                f"{name:20} {key:7} {row['windows']:7d} {100 * row['top1_agreement']:10.1f}% "
                f"{row['mean_abs_error']:10.3f} {row['max_abs_error']:9.3f} "
                f"{100 * row['mean_relative_max_error']:11.1f}%",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
