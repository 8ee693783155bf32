"""A Shift-GCN as an ONNX graph, for ONNX Runtime (the command is `python -m weights.export`).

The graph takes `x` (N, 3, T, 25, 2) float32, T a multiple of the network's temporal reduction
(4; `model.runtime.OnnxRuntime` loop-pads other lengths as ShiftGCN does), and gives `logits`
(N, num_class). It is the fused network (model.fuse: folded BatchNorms, shift kernels stored as
weights) with every body computed (no skipping of empty body slots, whose results it does not
change).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from common.errors import UserError
from common.fileio import atomic_write
from ntu.joints import NUM_BODIES, NUM_JOINTS

from .fuse import fuse_for_inference
from .shift_gcn import ShiftGCN

OPSET = 17


class ExportedShiftGCN(nn.Module):
    """The traceable part of ShiftGCN.forward: normalisation, the units on every body, the head."""

    def __init__(self, net: ShiftGCN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = x.shape[0], x.shape[4]
        features = self.net.body_features(self.net.normalise_bodies(x))
        return self.net.fc(features.view(n, m, -1).mean(1))


def onnx_bytes(net: nn.Module, frames: int | None = None, batch: int | None = None) -> bytes:
    """The serialised ONNX graph of `net` (fused if a ShiftGCN); None leaves that dimension dynamic.

    `net` is a ShiftGCN, or another network on the same (N, 3, T, 25, 2) input (bench.stgcn).
    """
    multiple = net.config.temporal_reduction if isinstance(net, ShiftGCN) else 1
    if frames is not None and (frames <= 0 or frames % multiple):
        raise UserError(f"--frames {frames}: give a positive multiple of {multiple}")
    if batch is not None and batch <= 0:
        raise UserError(f"--batch {batch}: give a positive batch size")
    wrapper = ExportedShiftGCN(fuse_for_inference(net)) if isinstance(net, ShiftGCN) else net
    wrapper.eval()
    example = torch.randn(batch or 1, 3, frames or 64, NUM_JOINTS, NUM_BODIES)
    dynamic = {}
    if batch is None:
        dynamic[0] = "batch"
    if frames is None:
        dynamic[2] = "frames"
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python ints and shape asserts
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": dynamic} if dynamic else None,
        )
    return buffer.getvalue()


def export_onnx(
    net: nn.Module, out: str | os.PathLike, frames: int | None = None, batch: int | None = None
) -> Path:
    """Write `net` as an ONNX file (atomically) and return its path."""
    data = onnx_bytes(net, frames, batch)
    with atomic_write(out) as tmp:
        tmp.write_bytes(data)
    return Path(out)
