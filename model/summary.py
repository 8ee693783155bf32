"""`python -m model.summary [--config YAML]`: weights and FLOPs of one 300-frame two-body sample.

Two figures are printed. The paper's 2.5 GFLOPs follows the module-level convention of the
common `thop` profiler: multiply-accumulates of Conv/Linear modules plus two operations per
BatchNorm output, which leaves out the shift graph convolution's per-joint linear map (a matmul,
not a module). The second counts every multiply-accumulate of the layers, that map included.
Both count shifts as free, as the paper does (here they run as sparse depthwise convolutions).
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from common.cli import add_config_flags, command_parser, config_overrides
from common.errors import cli_entry

from .config import ModelConfig
from .shift_gcn import ShiftGCN, ShiftGraphConv
from .temporal_shift import TemporalShift


@dataclass
class ModelCost:
    """Size and compute of one network on one input."""

    parameters: int
    paper_gflops: float  # thop convention, comparable with the paper's 2.5
    gmacs: float  # every multiply-accumulate


def count_parameters(model: nn.Module) -> int:
    """Learnable weights (the spatial shift indices and BN statistics are not learnable)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure_cost(model: nn.Module, frames: int = 300, bodies: int = 2) -> ModelCost:
    """Count weights and operations of `model` on one (1, 3, frames, 25, bodies) sample.

    Counted on an unfused copy, where every BatchNorm runs as its own layer (model.fuse folds
    most of them into neighbouring weights for inference).
    """
    net = copy.deepcopy(model).train()
    x = torch.zeros(1, 3, frames, net.config.num_point, bodies)
    batch_norm_ops = 0

    def count_batch_norm(_module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal batch_norm_ops
        batch_norm_ops += 2 * output.numel()

    handles = [
        m.register_forward_hook(count_batch_norm)
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    root = type(net).__name__
    per_module = {name: sum(ops.values()) / 2 for name, ops in counter.get_flop_counts().items()}

    def macs_in(name: str) -> float:
        return per_module.get(f"{root}.{name}", 0.0)

    modules = dict(net.named_modules())
    shifts = sum(macs_in(name) for name, m in modules.items() if isinstance(m, TemporalShift))
    macs = counter.get_total_flops() / 2 - shifts  # a shift is a move, not arithmetic
    graph_linear = sum(
        macs_in(name) - macs_in(f"{name}.down")
        for name, m in modules.items()
        if isinstance(m, ShiftGraphConv)
    )
    return ModelCost(
        parameters=count_parameters(net),
        paper_gflops=(macs - graph_linear + batch_norm_ops) / 1e9,
        gmacs=macs / 1e9,
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m model.summary", __doc__)
    add_config_flags(
        parser,
        "YAML whose model: section to count (default: the released network)",
        "model.channels=[32,64]",
    )
    parser.add_argument(
        "--frames", type=int, default=300, help="frames of the sample (default 300)"
    )
    parser.add_argument("--num-class", type=int, help="classes (default: the config's, else 60)")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = ModelConfig.from_yaml(
        args.config, config_overrides(args, {"model": {"num_class": args.num_class}})
    )
    cost = measure_cost(ShiftGCN(config), frames=args.frames)
    print(f"classes:           {config.num_class}")
    print(f"learnable weights: {cost.parameters:,} ({cost.parameters / 1e6:.2f} M)")
    print(f"GFLOPs (paper's convention, {args.frames} frames, 2 bodies): {cost.paper_gflops:.2f}")
    print(f"GMACs (every multiply-accumulate):          {cost.gmacs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
