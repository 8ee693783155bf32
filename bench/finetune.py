"""How the fine-tuning recipe's choices do on a small set: train.synthetic's actions (by default
4 classes, 16 samples each, 100-frame windows like the live classifier's), the released network.

`python -m bench.finetune [--classes K] [--per-class N] [--noise M] [--epochs N]
[--batch-size B] [--set KEY=VALUE] [--variants NAME ...]` trains each variant of
train/configs/finetune.yaml (`--set` changes it for all; the first variant is the released recipe
from scratch) and prints a table: best validation top-1, last validation loss, seconds, or where
the loss guard stopped the run.
Needs the NTU checkpoint of the recipe (registered name, or $SHIFTGCN_WEIGHTS_DIR).
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.cli import add_config_flags, command_parser, config_overrides
from common.errors import UserError, cli_entry
from train.config import load_config
from train.gendata import data_file, generate, label_file
from train.synthetic import generate as make_synthetic
from train.trainer import train

FINETUNE = Path(__file__).resolve().parents[1] / "train" / "configs" / "finetune.yaml"

# name -> overrides of the fine-tuning recipe (the first is the released recipe, from scratch)
VARIANTS: dict[str, dict[str, Any]] = {
    "released recipe, random init": {
        "base_weights": None,
        "base_lr": 0.1,
        "warmup_epochs": 0,
        "frozen_units": 0,
        "batchnorm": "train",
    },
    "fine-tune recipe": {},
    "lr 0.1": {"base_lr": 0.1},
    "lr 0.03": {"base_lr": 0.03},
    "lr 0.001": {"base_lr": 0.001},
    "no warm-up": {"warmup_epochs": 0},
    "all units learn": {"frozen_units": 0},
    "head only": {"frozen_units": 10},
    "batchnorm train": {"batchnorm": "train"},
    "batchnorm frozen": {"batchnorm": "frozen"},
    "batchnorm recalibrate": {"batchnorm": "recalibrate"},
}


def synthetic_windows(
    folder: Path, classes: int, per_class: int, frames: int, noise: float
) -> Path:
    """train.synthetic's set through gendata (xsub), cut to each sample's first `frames`, with
    Gaussian noise of `noise` metres on every joint (pose estimates jitter; 0: none)."""
    make_synthetic(folder / "raw", classes, per_class, seed=0, progress=False)
    rng = np.random.default_rng(0)
    generate(
        "ntu60", folder / "raw", folder / "data", benchmarks=["xsub"], workers=1, progress=False
    )
    split = folder / "data" / "xsub"
    for part in ("train", "val"):
        path = data_file(split, part, "joint")
        cut = np.ascontiguousarray(np.load(path)[:, :, :frames])
        cut += (cut != 0) * rng.normal(0, noise, cut.shape).astype(np.float32)
        np.save(path, cut)
    return split


def run_variant(
    name: str, data: Path, work: Path, classes: int, recipe: Path, common: dict[str, Any]
) -> dict[str, Any]:
    """Train one variant of `recipe` (with `common` overrides, epochs and batch size among them);
    its best top-1, last validation loss and time, or why it stopped."""
    overrides = {
        **common,
        **VARIANTS[name],
        "dataset": "synthetic",
        "num_class": classes,
        "data_dir": str(data),
        "work_dir": str(work),
        "device": "cpu",
    }
    began = time.perf_counter()
    try:
        state = train(load_config(recipe, overrides))
    except UserError as err:
        return {
            "variant": name,
            "result": f"stopped: {str(err).split(';')[0]}",
            "seconds": time.perf_counter() - began,
        }
    last = state.history[-1]
    return {
        "variant": name,
        "result": f"top-1 {state.best_top1:.1f}% (epoch "
        f"{state.best_epoch}), last val loss {last['val_loss']:.3g}",
        "seconds": time.perf_counter() - began,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line; --epochs and --batch-size left out keep the recipe's."""
    parser = command_parser("python -m bench.finetune", __doc__)
    add_config_flags(
        parser, "the fine-tuning recipe whose variants run", "batchnorm=frozen", default=FINETUNE
    )
    parser.add_argument("--epochs", type=int, help="epochs a variant (default: the recipe's)")
    parser.add_argument(
        "--batch-size", type=int, help="training batch size (default: the recipe's)"
    )
    parser.add_argument("--classes", type=int, default=4, help="synthetic actions to learn")
    parser.add_argument("--per-class", type=int, default=16, help="samples a class (half train)")
    parser.add_argument("--noise", type=float, default=0.0, help="joint noise (metres)")
    parser.add_argument("--frames", type=int, default=100, help="window length (frames)")
    parser.add_argument(
        "--variants",
        nargs="*",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="the fine-tuning variants to compare (default: all)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Build the set once, train each variant, print the table."""
    args = build_parser().parse_args(argv)
    common = config_overrides(args, {"epochs": args.epochs, "batch_size": args.batch_size})
    recipe = load_config(args.config, common)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_windows(Path(tmp), args.classes, args.per_class, args.frames, args.noise)
        with label_file(data, "val").open("rb") as f:
            chance = 100 / len(set(pickle.load(f)[1]))
        print(
            f"{args.classes} classes x {args.per_class} (train.synthetic, xsub split), "
            f"{args.frames} frames, noise {args.noise} m, {recipe.epochs} epochs of batch "
            f"{recipe.batch_size}, chance "
            f"{chance:.0f}%",
            flush=True,
        )
        for number, name in enumerate(args.variants):
            rows.append(
                run_variant(
                    name, data, Path(tmp) / f"run{number}", args.classes, args.config, common
                )
            )
            print(
                f"| {rows[-1]['variant']} | {rows[-1]['result']} | {rows[-1]['seconds']:.0f} s |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
