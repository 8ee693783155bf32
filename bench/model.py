"""`python -m bench.model`: Shift-GCN beside a plain ST-GCN, inference and training.

Prints, for each batch size and window length: the latency of one forward pass, clips per second,
and the clips per second of a training step (forward, backward, SGD), for both networks on the
same random two-body input, and the ratio; at batch 1 also for one person (second body all zeros,
which Shift-GCN skips). The two networks are timed in alternating rounds; latencies are the best
of all rounds (see bench.timing), and the median ratio of the paired rounds is printed beside.

Shift-GCN runs with a released checkpoint by default: its learnt temporal offsets (up to about 10
frames) set the width of the shift kernels, which fresh initialisation (offsets within 1) would
understate. `--weights random` measures an untrained network instead.
"""

from __future__ import annotations

import argparse
import statistics
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


@dataclass
class Comparison:
    """Both networks on one input, timed in alternation so that both see the same machine."""

    baseline: Figures
    shift_gcn: Figures
    speedup_median: float
    """Median over rounds of the ratio of the two latencies measured back to back."""


def inference_seconds(net: nn.Module, x: torch.Tensor, budget: float) -> float:
    """The best time of one no-grad forward pass of `net` on `x`."""
    with torch.no_grad():
        return best_seconds(lambda: net(x), repeats=3, inner=3, budget=budget)


def train_clips_per_s(net: nn.Module, x: torch.Tensor, budget: float) -> float:
    """Clips per second of a training step: forward, cross-entropy, backward, SGD."""
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
    labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), labels).backward()
        optimizer.step()

    rate = x.shape[0] / best_seconds(step, repeats=3, inner=2, budget=budget)
    net.eval()
    return rate


def compare(
    baseline: nn.Module,
    shift_gcn: nn.Module,
    x: torch.Tensor,
    rounds: int,
    train: bool,
    budget: float,
) -> Comparison:
    """Eval latency of both networks in `rounds` alternating rounds, then training throughput.

    The machine's speed drifts by tens of percent over seconds; alternating keeps the drift out
    of the ratio, and the best of all rounds is each network's least disturbed latency.
    """
    baseline, shift_gcn = baseline.to(x.device).eval(), shift_gcn.to(x.device).eval()
    times: dict[str, list[float]] = {"baseline": [], "shift_gcn": []}
    for _ in range(rounds):
        times["baseline"].append(inference_seconds(baseline, x, budget / rounds))
        times["shift_gcn"].append(inference_seconds(shift_gcn, x, budget / rounds))
    ratios = [b / s for b, s in zip(times["baseline"], times["shift_gcn"])]
    figures = {}
    for label, net in (("baseline", baseline), ("shift_gcn", shift_gcn)):
        seconds = min(times[label])
        rate = train_clips_per_s(net, x, budget) if train else None
        figures[label] = Figures(seconds * 1e3, x.shape[0] / seconds, rate)
    return Comparison(figures["baseline"], figures["shift_gcn"], statistics.median(ratios))


def _row(name: str, batch: int, frames: int, figures: Figures) -> str:
    train = f"{figures.train_clips_per_s:10.1f}" if figures.train_clips_per_s else f"{'-':>10}"
    return (
        f"{name:10} {batch:5d} {frames:6d} {figures.latency_ms:12.1f} "
        f"{figures.clips_per_s:10.1f} {train}"
    )


def _report(label: str, batch: int, frames: int, result: Comparison) -> None:
    print(_row("ST-GCN", batch, frames, result.baseline))
    print(_row("Shift-GCN", batch, frames, result.shift_gcn))
    best = result.baseline.latency_ms / result.shift_gcn.latency_ms
    line = (
        f"{'':10} {label}: Shift-GCN is {best:.2f}x faster in inference "
        f"(best against best; median of paired rounds {result.speedup_median:.2f}x)"
    )
    if result.shift_gcn.train_clips_per_s:
        train_speedup = result.shift_gcn.train_clips_per_s / result.baseline.train_clips_per_s
        line += f", {train_speedup:.2f}x in training"
    print(line, flush=True)


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
    parser.add_argument(
        "--rounds", type=int, default=6, help="alternating timing rounds (default 6)"
    )
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
    baseline = STGCN(shift_gcn.num_class)
    for batch in args.batch:
        for frames in args.frames:
            x = torch.randn(batch, 3, frames, 25, 2, device=device)
            result = compare(baseline, shift_gcn, x, args.rounds, not args.no_train, args.budget)
            _report("two bodies", batch, frames, result)
            if batch == 1:  # one person in view: the second body slot is all zeros
                x[..., 1] = 0
                result = compare(baseline, shift_gcn, x, args.rounds, False, args.budget)
                _report("one person", batch, frames, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
