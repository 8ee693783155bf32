"""Evaluate a checkpoint (released or trained here): top-1/top-5, per-sample scores, confusion PNG.

`python -m train.evaluate --weights ntu60-xsub-joint --data-dir data/ntu60/xsub`
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from common.cli import add_device_flag, add_weights_flag, command_parser
from common.device import select_device
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from common.limits import MAX_BATCH, check_size, max_workers
from model import fuse_for_inference
from model.preprocess import STREAMS
from weights import load_model

from .epoch import predict
from .feeder import SkeletonFeeder
from .metrics import confusion_matrix, save_scores, topk_accuracy
from .plots import plot_confusion


@dataclass
class Evaluation:
    """What one evaluation measured and where it wrote its files."""

    weights: str
    stream: str
    samples: int
    top1: float
    top5: float
    loss: float
    scores: str
    confusion: str


def evaluate(
    weights: str,
    data_dir: str | Path,
    out_dir: str | Path | None = None,
    stream: str | None = None,
    split: str = "val",
    batch_size: int = 64,
    device: str = "auto",
    workers: int = 2,
) -> Evaluation:
    """Score every sample of `split`; write scores.pkl, confusion.png and result.json to `out_dir`
    (default eval/<checkpoint name>_<stream>)."""
    check_size("--batch-size", batch_size, 1, MAX_BATCH)
    check_size("--workers", workers, 0, max_workers())
    torch_device = select_device(device)
    model, card = load_model(weights, device=torch_device)
    stream = stream or card.stream
    dataset = SkeletonFeeder(data_dir, split, stream)
    top = int(dataset.labels.max(initial=0))
    if top >= model.num_class:
        raise UserError(
            f"{weights} has {model.num_class} classes but {data_dir}'s labels go up to {top}; "
            "use a checkpoint trained on this dataset"
        )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=torch_device.type == "cuda",
    )
    scores, _, loss_sum = predict(
        fuse_for_inference(model), loader, torch_device, amp=False, show=True
    )
    bad = int(np.count_nonzero(~np.isfinite(scores).all(axis=1)))
    if bad or not math.isfinite(loss_sum):
        raise UserError(
            f"{weights} gives non-finite scores (NaN or inf) for {bad} of "
            f"{len(scores)} samples of {data_dir}: its weights are damaged (or "
            "the data holds non-finite values); nothing was written"
        )
    labels = dataset.labels
    out_dir = Path(out_dir or Path("eval") / f"{Path(str(weights)).stem}_{stream}")
    save_scores(out_dir / "scores.pkl", dataset.names, scores)
    matrix = confusion_matrix(scores.argmax(1), labels, model.num_class)
    top1 = topk_accuracy(scores, labels, 1)
    plot_confusion(
        matrix,
        card.labels() if card.class_names else None,
        out_dir / "confusion.png",
        f"{Path(str(weights)).name} on {split} ({stream}): top-1 {top1:.2f}%",
    )
    result = Evaluation(
        str(weights),
        stream,
        len(labels),
        top1,
        topk_accuracy(scores, labels, 5),
        loss_sum / max(len(labels), 1),
        str(out_dir / "scores.pkl"),
        str(out_dir / "confusion.png"),
    )
    with atomic_write(out_dir / "result.json") as tmp:
        tmp.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m train.evaluate", __doc__)
    add_weights_flag(parser, required=True)
    parser.add_argument(
        "--data-dir",
        required=True,
        help="folder with <split>_data_<stream>.npy and <split>_label.pkl",
    )
    parser.add_argument("--stream", choices=STREAMS, help="default: the checkpoint's stream")
    parser.add_argument(
        "--split", default="val", choices=("train", "val"), help="which samples to score"
    )
    parser.add_argument("--out", help="output folder (default: eval/<checkpoint name>_<stream>)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples a batch")
    add_device_flag(parser)
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Evaluate and print one line of results."""
    args = build_parser().parse_args(argv)
    result = evaluate(
        args.weights,
        args.data_dir,
        args.out,
        args.stream,
        args.split,
        args.batch_size,
        args.device,
        args.workers,
    )
    print(
        f"{result.weights} ({result.stream}, {result.samples} samples): "
        f"top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%  -> {Path(result.scores).parent}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
