"""Ensemble streams by a weighted sum of per-sample scores, as the published 4-stream results do.

`python -m train.ensemble --scores work_dir/a work_dir/b --labels data/ntu60/xsub/val_label.pkl`
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cli import command_parser
from common.errors import UserError, cli_entry

from .feeder import read_labels
from .metrics import load_scores, topk_accuracy


@dataclass
class EnsembleResult:
    """Each input's accuracy and the ensemble's."""

    single_top1: list[float]
    top1: float
    top5: float
    samples: int


def score_matrix(path: str | Path, names: list[str]) -> np.ndarray:
    """One scores file's rows in the label file's order; every labelled sample must be there."""
    table = load_scores(path)
    missing = [n for n in names if n not in table]
    if missing:
        raise UserError(
            f"scores file {path} lacks {len(missing)} of the {len(names)} labelled samples "
            f"(e.g. {missing[0]}); were they made on this split?"
        )
    return np.stack([table[n] for n in names])


def ensemble(
    score_paths: list[str | Path], label_path: str | Path, alphas: list[float] | None = None
) -> EnsembleResult:
    """Sum alpha * scores over the inputs and measure top-1/top-5 against the labels."""
    alphas = list(alphas) if alphas else [1.0] * len(score_paths)
    if len(alphas) != len(score_paths):
        raise UserError(
            f"{len(alphas)} alphas for {len(score_paths)} scores files; give one alpha per file"
        )
    names, labels = read_labels(label_path)
    matrices = [score_matrix(p, names) for p in score_paths]
    if len({m.shape for m in matrices}) > 1:
        raise UserError(
            "the scores files have different numbers of classes; ensemble models of one dataset"
        )
    if labels.size and labels.max() >= matrices[0].shape[1]:
        raise UserError(
            f"{label_path} has labels up to {labels.max()} "
            f"but the scores have {matrices[0].shape[1]} classes"
        )
    total = sum(a * m for a, m in zip(alphas, matrices))
    return EnsembleResult(
        single_top1=[topk_accuracy(m, labels, 1) for m in matrices],
        top1=topk_accuracy(total, labels, 1),
        top5=topk_accuracy(total, labels, 5),
        samples=len(labels),
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m train.ensemble", __doc__)
    parser.add_argument(
        "--scores",
        nargs="+",
        required=True,
        help="scores.pkl files ({sample_name: scores}) or the folders holding them",
    )
    parser.add_argument("--labels", required=True, help="the split's <split>_label.pkl")
    parser.add_argument(
        "--alphas",
        nargs="+",
        type=float,
        metavar="ALPHA",
        help="one score weight per scores file (default: all 1)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Print each input's top-1 and the ensemble's top-1/top-5."""
    args = build_parser().parse_args(argv)
    result = ensemble(args.scores, args.labels, args.alphas)
    for path, top1 in zip(args.scores, result.single_top1):
        print(f"{path}: top-1 {top1:.2f}%")
    print(
        f"ensemble of {len(args.scores)} ({result.samples} samples): "
        f"top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
