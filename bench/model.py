"""`python -m bench.model`: Shift-GCN beside a plain ST-GCN, inference and training.

Prints, for each batch size and window length: the latency of one forward pass, clips per second,
and the clips per second of a training step (forward, backward, SGD), for both networks on the
same random two-body input, and the ratio; at batch 1 also for one person (second body all zeros,
which the fused Shift-GCN skips in eager PyTorch). Shift-GCN infers fused (model.fuse) and
trains unfused. Each network runs in eager PyTorch, in ONNX Runtime (both exported by
model.export) and, at batch 1 on the CPU, in ONNX Runtime with int8 matrix products and
convolutions (`--runtimes`; Shift-GCN as the int8 runtime runs it, model.quantize; both
calibrated on windows of the NTU fixture skeletons in ../shared, skipped without them), so that
ratios are like for like, and the ratio of each network in its fastest runtime is printed too.
All are timed in alternating rounds; latencies are the best of all rounds (see bench.timing), and
the median ratio of the paired rounds is printed beside. The CPU and its load average are printed
first; `python -m bench.int8` gives int8's agreement with fp32.

Shift-GCN runs with a released checkpoint by default: its learnt temporal offsets (up to about 10
frames) set the width of the shift kernels, which fresh initialisation (offsets within 1) would
understate. `--weights random` measures an untrained network instead.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from common.cli import add_device_flag, add_weights_flag, command_parser
from common.device import select_device
from common.errors import cli_entry
from model import ModelConfig, ShiftGCN, fuse_for_inference
from model.export import onnx_bytes
from model.runtime import RUNTIMES, Int8Runtime, OnnxRuntime
from weights import default_name, load_model

from .shared import SKELETONS
from .stgcn import STGCN
from .timing import best_seconds, machine_line

NETWORKS = ("ST-GCN", "Shift-GCN")


@dataclass
class Figures:
    """Speed of one network in one runtime on one input shape."""

    latency_ms: float
    clips_per_s: float
    train_clips_per_s: float | None


def torch_call(net: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """One no-grad eager forward pass of `net` on `x`."""

    def call() -> object:
        with torch.no_grad():
            return net(x)

    return call


def onnx_sessions(baseline: nn.Module, shift_gcn: nn.Module) -> dict[str, OnnxRuntime]:
    """Both networks exported the same way (model.export, dynamic batch and frames) and loaded
    into ONNX Runtime with as many intra-op threads as torch uses."""
    return {
        "ST-GCN": OnnxRuntime(onnx_bytes(baseline), 1),
        "Shift-GCN": OnnxRuntime(onnx_bytes(shift_gcn), shift_gcn.config.temporal_reduction),
    }


def int8_runners(baseline: nn.Module, shift_gcn: nn.Module) -> dict[str, Callable] | None:
    """Both networks with int8 products, calibrated on 64-frame windows of the NTU fixture
    skeletons: Shift-GCN as runtime int8 runs it (one window), ST-GCN's exported graph with its
    convolutions and products quantized the same way (a batch). None without ../shared."""
    from model.quantize import quantize_graph, quantize_int8
    from pipeline.windows import calibration_windows

    from .int8 import ntu_clips

    if not SKELETONS.is_dir():
        print(f"note: int8 left out: {SKELETONS} is absent (calibration windows)")
        return None
    windows = calibration_windows(ntu_clips(SKELETONS).values(), 64, 32, 0)
    feeds = ({"x": window[None]} for window in windows)
    baseline_graph = quantize_graph(onnx_bytes(baseline), feeds, ["Conv", "MatMul", "Gemm"])
    shift_gcn_runtime = Int8Runtime(shift_gcn, quantize_int8(shift_gcn, windows))
    return {
        "ST-GCN": OnnxRuntime(baseline_graph, 1).run,
        "Shift-GCN": lambda x: shift_gcn_runtime(x[0]),
    }


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
    calls: dict[tuple[str, str], Callable[[], object]],
    rounds: int,
    budget: float,
) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Best latency (s) of each (network, runtime) over `rounds` alternating rounds, and per
    runtime the median over rounds of the ST-GCN / Shift-GCN ratio measured back to back.

    A shared machine's speed drifts from second to second; alternating keeps the drift out of
    the ratio, and the best of all rounds is each network's least disturbed latency.
    """
    times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    for _ in range(rounds):
        for key, call in calls.items():
            times[key].append(best_seconds(call, repeats=3, inner=3, budget=budget / rounds))
    runtimes = sorted({runtime for _, runtime in calls}, key=RUNTIMES.index)
    medians = {
        runtime: statistics.median(
            b / s for b, s in zip(times["ST-GCN", runtime], times["Shift-GCN", runtime])
        )
        for runtime in runtimes
    }
    return {key: min(values) for key, values in times.items()}, medians


def _row(name: str, runtime: str, batch: int, frames: int, figures: Figures) -> str:
    train = f"{figures.train_clips_per_s:10.1f}" if figures.train_clips_per_s else f"{'-':>10}"
    return (
        f"{name:10} {runtime:8} {batch:5d} {frames:6d} {figures.latency_ms:12.1f} "
        f"{figures.clips_per_s:10.1f} {train}"
    )


def _report(
    label: str,
    batch: int,
    frames: int,
    best: dict[tuple[str, str], float],
    medians: dict[str, float],
    train: dict[str, float],
) -> None:
    for (name, runtime), seconds in best.items():
        rate = train.get(name) if runtime == "torch" else None
        figures = Figures(seconds * 1e3, batch / seconds, rate)
        print(_row(name, runtime, batch, frames, figures))
    for runtime, median in medians.items():
        ratio = best["ST-GCN", runtime] / best["Shift-GCN", runtime]
        line = (
            f"{'':10} {label}, {runtime}: Shift-GCN is {ratio:.2f}x faster in inference "
            f"(best against best; median of paired rounds {median:.2f}x)"
        )
        if runtime == "torch" and train:
            line += f", {train['Shift-GCN'] / train['ST-GCN']:.2f}x in training"
        print(line, flush=True)
    if len(medians) > 1:
        fastest = {
            name: min((best[name, runtime], runtime) for runtime in medians) for name in NETWORKS
        }
        (base_s, base_rt), (shift_s, shift_rt) = fastest["ST-GCN"], fastest["Shift-GCN"]
        print(
            f"{'':10} {label}, each in its fastest runtime: ST-GCN ({base_rt}) "
            f"{base_s * 1e3:.1f} ms, Shift-GCN ({shift_rt}) {shift_s * 1e3:.1f} ms: "
            f"{base_s / shift_s:.2f}x",
            flush=True,
        )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.model", __doc__)
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)"
    )
    parser.add_argument(
        "--frames", type=int, nargs="+", default=[64, 300], help="window lengths (default 64 300)"
    )
    add_device_flag(parser)
    parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
    parser.add_argument(
        "--rounds", type=int, default=6, help="alternating timing rounds (default 6)"
    )
    parser.add_argument("--no-train", action="store_true", help="skip the training-step figures")
    parser.add_argument(
        "--runtimes",
        nargs="+",
        choices=RUNTIMES,
        default=list(RUNTIMES),
        help="eager PyTorch, ONNX Runtime, ONNX Runtime int8 (CPU, batch 1; default all)",
    )
    add_weights_flag(
        parser,
        default_name(),
        note="or 'random' for untrained weights; default: the registry's default (%(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help="seconds of timing per figure; slow cases get fewer repeats (default 4)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Time both networks and print the table."""
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    shift_gcn = (
        ShiftGCN(ModelConfig()) if args.weights == "random" else load_model(args.weights).net
    )
    print(machine_line())
    print(f"device: {name}; torch {torch.__version__}; Shift-GCN weights: {args.weights}")
    print(
        f"{'network':10} {'runtime':8} {'batch':>5} {'frames':>6} {'latency ms':>12} "
        f"{'clips/s':>10} {'train c/s':>10}"
    )
    baseline = STGCN(shift_gcn.num_class).to(device).eval()
    shift_gcn = shift_gcn.to(device)
    runtimes = [r for r in args.runtimes if r == "torch" or device.type == "cpu"]
    sessions = onnx_sessions(baseline, shift_gcn) if "onnx" in runtimes else {}
    int8 = int8_runners(baseline, shift_gcn) if "int8" in runtimes else None
    if int8 is None and "int8" in runtimes:
        runtimes.remove("int8")
    inference = {"ST-GCN": baseline, "Shift-GCN": fuse_for_inference(shift_gcn)}
    training = {"ST-GCN": baseline, "Shift-GCN": shift_gcn}
    for batch in args.batch:
        for frames in args.frames:
            x = torch.randn(batch, 3, frames, 25, 2, device=device)
            for label in ("two bodies", "one person") if batch == 1 else ("two bodies",):
                if label == "one person":  # the second body slot is all zeros
                    x[..., 1] = 0
                calls = {}
                for runtime in runtimes:
                    for name in NETWORKS:
                        if runtime == "torch":
                            calls[name, runtime] = torch_call(inference[name], x)
                        elif runtime == "onnx":
                            calls[name, runtime] = partial(sessions[name].run, x.cpu().numpy())
                        elif batch == 1:
                            calls[name, runtime] = partial(int8[name], x.cpu().numpy())
                best, medians = compare(calls, args.rounds, args.budget)
                train = {}
                if label == "two bodies" and not args.no_train and "torch" in runtimes:
                    train = {
                        name: train_clips_per_s(training[name], x, args.budget) for name in NETWORKS
                    }
                _report(label, batch, frames, best, medians, train)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
