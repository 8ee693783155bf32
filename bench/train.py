"""Benchmark data loading and training throughput (samples/s) on the present device.

`python -m bench.train [--device auto] [--batch-size B] [--config train/configs/X.yaml]`
writes a temporary memory-mapped split of random NTU-shaped samples, then times: reading it
through the feeder, a training pass (loading, forward, backward, SGD step) and an evaluation pass.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from common.cli import add_config_flags, add_device_flag, command_parser, config_overrides
from common.device import select_device
from common.errors import UserError, cli_entry
from model import build_model
from train.config import TrainConfig, load_config
from train.epoch import predict, train_epoch
from train.feeder import SkeletonFeeder
from train.gendata import data_file, label_file
from train.optim import build_optimizer

from .timing import synchronize


def write_random_split(folder: Path, samples: int, frames: int, classes: int) -> Path:
    """A memory-mapped train split of random (3, frames, 25, 2) samples, as gendata lays it out."""
    array = np.lib.format.open_memmap(
        data_file(folder, "train", "joint"),
        mode="w+",
        dtype=np.float32,
        shape=(samples, 3, frames, 25, 2),
    )
    rng = np.random.default_rng(0)
    for start in range(0, samples, 64):
        chunk = array[start : start + 64]
        chunk[:] = rng.normal(0, 0.3, size=chunk.shape)
    array.flush()
    labels = (np.arange(samples) % classes).tolist()
    with label_file(folder, "train").open("wb") as f:
        pickle.dump(([f"sample{i}" for i in range(samples)], labels), f)
    return folder


def time_loading(loader: DataLoader) -> float:
    """Samples per second of a pass over the loader (after a pass that starts the workers)."""
    for _ in loader:
        pass
    start, count = time.perf_counter(), 0
    for x, _, _ in loader:
        count += len(x)
    return count / (time.perf_counter() - start)


def time_training(
    config: TrainConfig, loader: DataLoader, device: torch.device, amp: bool
) -> tuple[float, float]:
    """Samples per second of a training pass and of an evaluation pass (after one warm-up pass)."""
    net = build_model(config.model_config()).to(device)
    optimizer = build_optimizer(net, config)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    train_epoch(
        net, loader, optimizer, scaler, device, amp, show=False
    )  # warm-up: allocator, kernels
    synchronize(device)
    start = time.perf_counter()
    _, count = train_epoch(net, loader, optimizer, scaler, device, amp, show=True)
    synchronize(device)
    train_rate = count / (time.perf_counter() - start)
    start = time.perf_counter()
    scores, _, _ = predict(net, loader, device, amp, show=True)
    synchronize(device)
    return train_rate, len(scores) / (time.perf_counter() - start)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.train", __doc__)
    add_config_flags(
        parser,
        "training config whose model to time (default: the released network)",
        "model.channels=[32,64]",
    )
    add_device_flag(parser)
    parser.add_argument("--batch-size", type=int, help="default: 64 on CUDA, 8 on CPU")
    parser.add_argument("--batches", type=int, default=4, help="batches per timed pass")
    parser.add_argument("--frames", type=int, default=300, help="frames a sample (default: 300)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Print loading, training and evaluation throughput."""
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    config = load_config(args.config, config_overrides(args, {}))
    batch = args.batch_size or (64 if device.type == "cuda" else 8)
    if min(batch, args.batches, args.frames) < 1:
        raise UserError("--batch-size, --batches and --frames must be at least 1")
    amp = args.amp and device.type == "cuda"
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu, {torch.get_num_threads()} threads"
    )
    print(
        f"device {device} ({name}); model {config.name if args.config else 'released Shift-GCN'}; "
        f"batch {batch} x {args.batches}, {args.frames} frames, {args.workers} workers"
        + (", mixed precision" if amp else ""),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        folder = write_random_split(Path(tmp), batch * args.batches, args.frames, config.classes)
        dataset = SkeletonFeeder(folder, "train", "joint")
        loader = DataLoader(
            dataset,
            batch_size=batch,
            shuffle=True,
            drop_last=True,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=args.workers > 0,
        )
        load_rate = time_loading(loader)
        train_rate, eval_rate = time_training(config, loader, device, amp)
    print(f"data loading      {load_rate:9.1f} samples/s")
    print(f"training step     {train_rate:9.1f} samples/s   (loading + forward + backward + SGD)")
    print(f"evaluation        {eval_rate:9.1f} samples/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
