"""`python -m bench.int8`: how far the int8 runtime's logits are from fp32 on real people.

    python -m app.classify_video ../shared/fixtures/real --save-skeleton SKEL   # once
    python -m bench.int8 --skeletons SKEL

Windows as the int8 runtime is calibrated on (pipeline.windows.calibration_windows: 64 frames, one
every 15 and the last ending with the clip, looped to 300 as live, each with its
mirror image) of three sets of real people: the NTU fixture skeletons (Kinect), the paired
clip's Kinect skeleton, and `--skeletons` (.npy files from classify_video --save-skeleton:
MediaPipe through the app's mapping; the development set's clips). Held out, two-fold: the
clips of the NTU and --skeletons sets are split in two halves (alternately, by name), and each
half is scored with the int8 model calibrated on the other half; the paired clip calibrates
neither and is scored by both. Printed per checkpoint and set: windows, top-1 agreement with the
fp32 torch runtime, and the logits' error (mean and largest absolute error, and the mean of the
largest error a window relative to its largest fp32 logit); then per set, the agreement of what
the app shows: the ensemble's top-1 (both checkpoints, each window with its mirror image,
probabilities at the calibrated temperature averaged) in int8 against fp32, and how often the
fp32 logits' two best classes are less than a logit apart (windows int8's error can turn over).

`--write-calibration DIR` writes the NTU fixture skeletons as .npy files (the runtime's
`int8_calibration` folder format), to calibrate the app on other people than a benchmark's:
`python -m bench.real_set DIR2 --set runtime=int8 --set int8_calibration=DIR`.
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
    """The live classifier's windows of the clips (pipeline.windows.calibration_windows)."""
    from pipeline.windows import calibration_windows

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


Scored = dict[str, tuple[np.ndarray, np.ndarray]]  # set -> (fp32, int8) logits, (N, classes)


def measure(name: str, sets: dict[str, tuple[dict, dict]], paired: dict) -> Scored:
    """Each set's fp32 and int8 logits of one checkpoint: both folds pooled, in a fixed order
    (each window followed by its mirror image)."""
    from model.quantize import quantize_int8
    from model.runtime import Int8Runtime, TorchRuntime
    from weights import load_model

    net = load_model(name).net
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
        key: (np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs]))
        for key, pairs in scored.items()
        if pairs
    }


def ensemble_top1(logits: list[np.ndarray], temperature: float) -> np.ndarray:
    """The live classifier's top-1 per window from each checkpoint's (N, classes) logits, rows
    in window / mirror-image pairs: softmax at the temperature, averaged over all."""
    scaled = np.stack(logits) / temperature  # (checkpoints, N, classes)
    probs = np.exp(scaled - scaled.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    pairs = probs.reshape(len(logits), -1, 2, probs.shape[-1])
    return pairs.mean(axis=(0, 2)).argmax(-1)


def write_calibration(folder: Path) -> None:
    """The NTU fixture skeletons as .npy files (3, T, 25, 2), metres."""
    from common.fileio import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    for name, skeleton in ntu_clips(SKELETONS).items():
        with atomic_write(folder / f"{Path(name).stem}.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, skeleton.astype(np.float32))
    print(f"wrote {len(ntu_clips(SKELETONS))} skeletons to {folder}")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.int8", __doc__)
    parser.add_argument(
        "--skeletons",
        type=Path,
        help="a folder of .npy skeletons (classify_video --save-skeleton) of real people",
    )
    parser.add_argument(
        "--weights",
        nargs="+",
        default=list(CHECKPOINTS),
        help="checkpoints to quantize (default: the live ensemble)",
    )
    parser.add_argument(
        "--write-calibration",
        type=Path,
        metavar="DIR",
        help="only write the NTU fixture skeletons as .npy files into DIR",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Print the agreement table."""
    args = build_parser().parse_args(argv)
    require_shared(SKELETONS, PAIRED)
    if args.write_calibration is not None:
        write_calibration(args.write_calibration)
        return 0
    use_released_weights()
    from train.skeleton import read_skeleton
    from weights.registry import calibrated_temperature

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
    logits: dict[str, Scored] = {}
    for name in args.weights:
        logits[name] = measure(name, sets, paired)
        for key, pair in logits[name].items():
            row = agreement(*pair)
            print(
                f"{name:20} {key:7} {row['windows']:7d} {100 * row['top1_agreement']:10.1f}% "
                f"{row['mean_abs_error']:10.3f} {row['max_abs_error']:9.3f} "
                f"{100 * row['mean_relative_max_error']:11.1f}%",
                flush=True,
            )
    temperature = calibrated_temperature(args.weights[0])
    print(f"the app's top-1 (ensemble of {len(args.weights)}, mirror images, T={temperature:g}):")
    for key in logits[args.weights[0]]:
        fp32 = ensemble_top1([logits[n][key][0] for n in args.weights], temperature)
        int8 = ensemble_top1([logits[n][key][1] for n in args.weights], temperature)
        ranked = np.sort(logits[args.weights[0]][key][0], axis=1)
        close = float((ranked[:, -1] - ranked[:, -2] < 1.0).mean())
        print(
            f"  {key:7} {len(fp32):4d} windows: int8 agrees on {100 * (fp32 == int8).mean():.1f}%;"
            f" {100 * close:.0f}% of {args.weights[0]}'s fp32 windows have their two best "
            "classes less than 1 logit apart"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
