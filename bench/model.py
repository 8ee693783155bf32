"""`python -m bench.model`: Shift-GCN beside a plain ST-GCN, inference and training.

Prints, for each batch size and window length: the latency of one forward pass, clips per second,
and the clips per second of a training step (forward, backward, SGD), for both networks on the
same input, and the ratio. Times are the best of several repeats (see bench.timing).

Shift-GCN runs with a released checkpoint by default: its learnt temporal offsets (up to about 10
frames) set the width of the shift kernels, which fresh initialisation (offsets within 1) would
understate. `--weights random` measures an untrained network instead.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn

from model import ModelConfig, ShiftGCN, load_model, select_device
from model.errors import cli_entry

from .stgcn import STGCN
from .timing import best_seconds


@dataclass
class Figures:
    """Speed of one network on one input shape."""

    latency_ms: float
    clips_per_s: float
    train_clips_per_s: float | None


def measure(
    net: nn.Module, batch: int, frames: int, device: torch.device, train: bool, budget: float
) -> Figures:
    """Eval latency and throughput, and optionally a training step's throughput."""
    x = torch.randn(batch, 3, frames, 25, 2, device=device)
    net = net.to(device).eval()
    with torch.no_grad():
        seconds = best_seconds(lambda: net(x), repeats=5, inner=5, budget=budget)
    train_rate = None
    if train:
        net.train()
        optimizer = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
        labels = torch.zeros(batch, dtype=torch.long, device=device)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), labels).backward()
            optimizer.step()

        train_rate = batch / best_seconds(step, repeats=3, inner=2, budget=budget)
        net.eval()
    return Figures(seconds * 1e3, batch / seconds, train_rate)


def _row(name: str, batch: int, frames: int, figures: Figures) -> str:
    train = f"{figures.train_clips_per_s:10.1f}" if figures.train_clips_per_s else f"{'-':>10}"
    return (
        f"{name:10} {batch:5d} {frames:6d} {figures.latency_ms:12.1f} "
        f"{figures.clips_per_s:10.1f} {train}"
    )


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.model", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)"
    )
    parser.add_argument(
        "--frames", type=int, nargs="+", default=[64, 300], help="window lengths (default 64 300)"
    )
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step figures")
    parser.add_argument(
        "--weights",
        default="ntu60-xsub-joint",
        help="Shift-GCN checkpoint (name or file, fetched if missing) or 'random' "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help="seconds of timing per figure; slow cases get fewer repeats (default 4)",
    )
    args = parser.parse_args(argv)
    device = select_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    shift_gcn = ShiftGCN(ModelConfig()) if args.weights == "random" else load_model(args.weights)
    print(f"device: {name}; torch {torch.__version__}; Shift-GCN weights: {args.weights}")
    print(
        f"{'network':10} {'batch':>5} {'frames':>6} {'latency ms':>12} {'clips/s':>10}"
        f" {'train c/s':>10}"
    )
    for batch in args.batch:
        for frames in args.frames:
            results = {}
            networks = (("ST-GCN", STGCN(shift_gcn.num_class)), ("Shift-GCN", shift_gcn))
            for label, net in networks:
                results[label] = measure(net, batch, frames, device, not args.no_train, args.budget)
                print(_row(label, batch, frames, results[label]), flush=True)
            speedup = results["ST-GCN"].latency_ms / results["Shift-GCN"].latency_ms
            line = f"{'':10} Shift-GCN is {speedup:.2f}x faster in inference"
            if not args.no_train:
                train_speedup = (
                    results["Shift-GCN"].train_clips_per_s / results["ST-GCN"].train_clips_per_s
                )
                line += f", {train_speedup:.2f}x in training"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
