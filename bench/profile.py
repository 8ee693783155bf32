"""`python -m bench.profile`: where a fused Shift-GCN forward pass spends its time, op by op.

Runs the inference network (model.fuse) under torch.profiler on a random window and prints each
operator's share of the CPU time, largest first, and the matrix products' rate in GFLOP/s. It
shows what bounds the speed: the matrix products, or the memory-bound shifts, gathers and
BatchNorms around them (`python -m bench.model` gives the latencies).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from common.cli import add_weights_flag, command_parser
from common.errors import UserError, cli_entry
from model import ModelConfig, ShiftGCN, fuse_for_inference
from ntu.joints import NUM_BODIES, NUM_JOINTS
from weights import default_name, load_model

MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::addmm_")


def op_times(net: torch.nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Self CPU seconds per forward pass of each operator, over `repeats` profiled passes."""
    with torch.no_grad():
        net(x)  # warm-up: one-off allocations and kernel selection stay out of the profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(repeats):
                net(x)
    times: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        times[event.key] += event.self_cpu_time_total / 1e6 / repeats
    return dict(times)


def matrix_flops(net: torch.nn.Module, x: torch.Tensor) -> float:
    """Floating-point operations of the matrix products in one forward pass (2 per multiply-add).

    The profiler counts mm and addmm; the in-place addmm_ (the fused down projections) is
    counted here from its operands' shapes.
    """
    activities = [ProfilerActivity.CPU]
    with torch.no_grad(), profile(activities=activities, with_flops=True, record_shapes=True) as p:
        net(x)
    flops = sum(e.flops for e in p.key_averages() if e.key in MATRIX_PRODUCTS)
    for event in p.events():
        if event.name == "aten::addmm_":
            (rows, inner), (_, cols) = event.input_shapes[1], event.input_shapes[2]
            flops += 2 * rows * inner * cols
    return float(flops)


def report(times: dict[str, float], flops: float, top: int) -> str:
    """The table: operator, ms per pass and share, largest first; then the products' rate."""
    total = sum(times.values())
    lines = [f"{'operator':32} {'ms/pass':>9} {'share':>7}"]
    for name, seconds in sorted(times.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"{name:32} {seconds * 1e3:9.2f} {seconds / total:7.1%}")
    products = sum(times.get(name, 0.0) for name in MATRIX_PRODUCTS)
    rest = total - products
    lines.append(f"{'all operators':32} {total * 1e3:9.2f}")
    if products > 0:
        lines.append(
            f"matrix products: {flops / 1e9:.2f} GFLOP a pass in {products * 1e3:.2f} ms, "
            f"{flops / products / 1e9:.0f} GFLOP/s; everything else {rest * 1e3:.2f} ms"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.profile", __doc__)
    parser.add_argument("--batch", type=int, default=1, help="windows a pass (default 1)")
    parser.add_argument("--frames", type=int, default=64, help="window length (default 64)")
    parser.add_argument(
        "--bodies", type=int, choices=(1, 2), default=2, help="people in the window (default 2)"
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
    parser.add_argument("--repeats", type=int, default=20, help="profiled passes (default 20)")
    parser.add_argument("--top", type=int, default=12, help="operators listed (default 12)")
    add_weights_flag(
        parser,
        default_name(),
        note="or 'random' for untrained weights; default: the registry's default (%(default)s)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Profile and print the table."""
    args = build_parser().parse_args(argv)
    for flag in ("batch", "frames", "repeats", "top"):
        if getattr(args, flag) <= 0:
            raise UserError(f"--{flag} {getattr(args, flag)}: give a positive number")
    if args.threads:
        torch.set_num_threads(args.threads)
    net = ShiftGCN(ModelConfig()) if args.weights == "random" else load_model(args.weights).net
    fused = fuse_for_inference(net.cpu())
    x = torch.randn(args.batch, 3, args.frames, NUM_JOINTS, NUM_BODIES)
    x[..., args.bodies :] = 0  # an empty body slot, as for one person in view
    print(
        f"fused Shift-GCN ({args.weights}), batch {args.batch}, {args.frames} frames, "
        f"{args.bodies} bodies, CPU, {torch.get_num_threads()} threads"
    )
    print(report(op_times(fused, x, args.repeats), matrix_flops(fused, x), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
