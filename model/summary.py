"""`python -m model.summary [--config YAML]`: learnable weights and FLOPs of one 300-frame two-body sample.

Two FLOP figures are printed. The paper's 2.5 GFLOPs follows the module-level convention of the
common `thop` profiler: multiply-accumulates of Conv/Linear modules plus two operations per
BatchNorm output, which leaves out the shift graph convolution's per-joint linear map (a matmul,
not a module). The second figure counts every multiply-accumulate, that map included.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .config import ModelConfig
from .errors import cli_entry
from .shift_gcn import ShiftGCN


@dataclass
class ModelCost:
    """Size and compute of one network on one input."""

    parameters: int
    paper_gflops: float  # thop convention, comparable with the paper's 2.5
    gmacs: float  # every multiply-accumulate


def count_parameters(model: nn.Module) -> int:
    """Learnable weights (the spatial shift indices and BN statistics are not learnable)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _module_ops(model: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k_t, k_v = module.kernel_size
            total += output.numel() * module.in_channels // module.groups * k_t * k_v
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            total += 2 * output.numel()

    handles = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


def measure_cost(model: nn.Module, frames: int = 300, bodies: int = 2) -> ModelCost:
    """Count weights and operations of `model` on one (1, 3, frames, 25, bodies) sample."""
    model = model.eval()
    x = torch.zeros(1, 3, frames, model.config.num_point, bodies)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return ModelCost(
        parameters=count_parameters(model),
        paper_gflops=_module_ops(model, x) / 1e9,
        gmacs=counter.get_total_flops() / 2e9,
    )


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.summary", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML model config (defaults: the released network)")
    parser.add_argument("--frames", type=int, default=300, help="frames of the sample (default 300)")
    args = parser.parse_args(argv)
    config = ModelConfig.from_yaml(args.config) if args.config else ModelConfig()
    cost = measure_cost(ShiftGCN(config), frames=args.frames)
    print(f"classes:           {config.num_class}")
    print(f"learnable weights: {cost.parameters:,} ({cost.parameters / 1e6:.2f} M)")
    print(f"GFLOPs (paper's convention, {args.frames} frames, 2 bodies): {cost.paper_gflops:.2f}")
    print(f"GMACs (every multiply-accumulate):          {cost.gmacs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
