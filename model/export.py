"""A Shift-GCN as an ONNX graph, for ONNX Runtime (the command is `python -m weights.export`).

The graph takes `x` (N, 3, T, 25, 2) float32, T a multiple of the network's temporal reduction
(4; `model.runtime.OnnxRuntime` loop-pads other lengths as ShiftGCN does), and gives `logits`
(N, num_class). It is the fused network (model.fuse: folded BatchNorms, shift kernels stored as
weights) with every body computed (no skipping of empty body slots, whose results it does not
change).

`looped_body_onnx_bytes` exports the units alone on one period of a looped window (ShiftGCN's
`loop_to`), body by body: the int8 runtime (model.quantize) is built from it.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from common.errors import UserError
from common.fileio import atomic_write
from ntu.joints import NUM_BODIES, NUM_JOINTS

from .card import ModelCard
from .fuse import fuse_for_inference
from .shift_gcn import ShiftGCN

OPSET = 17
CARD_KEY = "model_card"  # the graph's metadata entry holding the checkpoint's model card
# The period length the looped graph is traced at: its circular shifts hold for periods at least
# this long (a shorter one is computed repeated, model.quantize.LoopedInputs)
LOOPED_TRACE_FRAMES = 64


class ExportedShiftGCN(nn.Module):
    """The traceable part of ShiftGCN.forward: normalisation, the units on every body, the head."""

    def __init__(self, net: ShiftGCN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = x.shape[0], x.shape[4]
        features = self.net.body_features(self.net.normalise_bodies(x))
        return self.net.fc(features.view(n, m, -1).mean(1))


class LoopedBodyFeatures(nn.Module):
    """The units on one period of looped windows, body by body (data_bn applied already): circular
    temporal shifts, output frames weighted by how often each occurs in the loop
    (ShiftGCN.loop_weights), then the mean over joints: (B, C, P, V) -> (B, 256)."""

    def __init__(self, net: ShiftGCN) -> None:
        super().__init__()
        self.net = net

    def forward(self, bodies: torch.Tensor, frame_weights: torch.Tensor) -> torch.Tensor:
        bodies = bodies.contiguous(memory_format=torch.channels_last)  # as normalise_bodies
        with self.net.circular_shifts(True):
            return self.net.body_features(bodies, frame_weights)


def looped_body_onnx_bytes(net: ShiftGCN) -> bytes:
    """The serialised graph of LoopedBodyFeatures on the fused `net`: inputs `bodies`
    (B, 3, P, 25) and `frame_weights` (P / 4,), output `features` (B, 256); B and P dynamic."""
    if not net.loops_exactly:
        raise UserError("a looped graph needs a network without excitation blocks")
    fused = fuse_for_inference(net)
    frames = LOOPED_TRACE_FRAMES
    example = (
        torch.randn(1, net.config.in_channels, frames, NUM_JOINTS),
        fused.loop_weights(frames, 4 * frames),
    )
    dynamic = {"bodies": {0: "bodies", 2: "frames"}, "frame_weights": {0: "out_frames"}}
    return _export(LoopedBodyFeatures(fused).eval(), example, list(dynamic), dynamic, "features")


def _export(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    input_names: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None,
    output_name: str = "logits",
) -> bytes:
    """`module` traced on `example` as serialised ONNX (opset OPSET), one output."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python ints and shape asserts
        torch.onnx.export(
            module,
            example,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=[output_name],
            dynamic_axes=dynamic_axes,
        )
    return buffer.getvalue()


def check_shape(net: nn.Module, frames: int | None, batch: int | None) -> None:
    """Refuse, in one line, a fixed graph length the network cannot take, or a batch below 1."""
    multiple = net.config.temporal_reduction if isinstance(net, ShiftGCN) else 1
    if frames is not None and (frames <= 0 or frames % multiple):
        raise UserError(f"--frames {frames}: give a positive multiple of {multiple}")
    if batch is not None and batch <= 0:
        raise UserError(f"--batch {batch}: give a positive batch size")


def onnx_bytes(net: nn.Module, frames: int | None = None, batch: int | None = None) -> bytes:
    """The serialised ONNX graph of `net` (fused if a ShiftGCN); None leaves that dimension dynamic.

    `net` is a ShiftGCN, or another network on the same (N, 3, T, 25, 2) input (bench.stgcn).
    """
    check_shape(net, frames, batch)
    wrapper = ExportedShiftGCN(fuse_for_inference(net)) if isinstance(net, ShiftGCN) else net
    wrapper.eval()
    example = torch.randn(batch or 1, 3, frames or 64, NUM_JOINTS, NUM_BODIES)
    dynamic = {}
    if batch is None:
        dynamic[0] = "batch"
    if frames is None:
        dynamic[2] = "frames"
    return _export(wrapper, (example,), ["x"], {"x": dynamic} if dynamic else None)


def export_onnx(
    net: nn.Module,
    out: str | os.PathLike,
    frames: int | None = None,
    batch: int | None = None,
    card: ModelCard | None = None,
) -> Path:
    """Write `net` as an ONNX file (atomically) and return its path. With `card` (the
    checkpoint's), a fixed `frames` must hold its filled windows, and the card goes into the
    graph's metadata (`model_card`, JSON) so that the file says what input it expects."""
    check_shape(net, frames, batch)
    if card is not None:
        check_frames(card, frames)
    data = onnx_bytes(net, frames, batch)
    if card is not None:
        data = with_card(data, card)
    with atomic_write(out) as tmp:
        tmp.write_bytes(data)
    return Path(out)


def check_frames(card: ModelCard, frames: int | None) -> None:
    """Refuse, in one line, a fixed graph length that the card's windows do not have: they are
    looped to `loop_to` frames, or (unlooped) are `window` frames long."""
    length = card.loop_to or card.window
    if frames is not None and length and frames != length:
        raise UserError(
            f"--frames {frames}: this checkpoint's windows are {length} frames long "
            f"({card.fill()}, its model card); give --frames {length} or leave it out (dynamic)"
        )


def with_card(graph: bytes, card: ModelCard) -> bytes:
    """The ONNX graph with the model card in its metadata, key `model_card` (JSON)."""
    import onnx

    proto = onnx.load_from_string(graph)
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_KEY, json.dumps(card.to_dict())
    return proto.SerializeToString()


def card_of(graph: str | os.PathLike | bytes) -> ModelCard | None:
    """The model card an exported graph carries (None: exported without one)."""
    import onnx

    proto = onnx.load_from_string(graph) if isinstance(graph, bytes) else onnx.load(graph)
    stored = {p.key: p.value for p in proto.metadata_props}.get(CARD_KEY)
    return ModelCard.from_dict(json.loads(stored), "the ONNX graph") if stored else None
