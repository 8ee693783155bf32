"""Where a normalised window's logits are computed: eager PyTorch or ONNX Runtime.

Both take one network input (3, T, 25, 2) as numpy and return its logits (num_class,). The
PyTorch runtime computes a looped window (one that repeats its first frames, as a short window
padded to the training length does) on one period (ShiftGCN's `loop_to`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from common.errors import UserError

from .fuse import fuse_for_inference
from .preprocess import loop_period

RUNTIMES = ("torch", "onnx")


class Runtime(Protocol):
    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class TorchRuntime:
    """Eager PyTorch on `device` with the fused network (model.fuse); a looped window runs on its
    period when the network allows."""

    def __init__(
        self, net: torch.nn.Module, device: torch.device | str = "cpu", looped: bool = True
    ) -> None:
        self.net, self.device = fuse_for_inference(net), torch.device(device)
        self.multiple = net.config.temporal_reduction if hasattr(net, "config") else 0
        self.looped = looped and bool(getattr(net, "loops_exactly", False))

    @torch.no_grad()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        frames = x.shape[1]
        period = (
            loop_period(x, self.multiple) if self.looped and frames % self.multiple == 0 else None
        )
        if period is None:
            logits = self.net(torch.from_numpy(x)[None].to(self.device))
        else:
            window = torch.from_numpy(np.ascontiguousarray(x[:, :period]))[None]
            logits = self.net(window.to(self.device), loop_to=frames)
        return logits[0].float().cpu().numpy()


class OnnxRuntime:
    """ONNX Runtime's CPU provider on a graph from model.export, with `threads` intra-op threads."""

    def __init__(self, graph: bytes | str, multiple: int = 4, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise UserError(
                "runtime 'onnx' needs the onnxruntime package: pip install -r requirements.txt"
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # no spin-waiting between runs: on a small CPU the pose thread needs those cycles
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are not the user's
        self.session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self.multiple = multiple

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.run(x[None])[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, num_class) of (N, 3, T, 25, 2) inputs; T is loop-padded to the multiple."""
        frames = batch.shape[2]
        missing = -frames % self.multiple
        if missing:
            index = np.arange(frames + missing) % frames
            batch = batch[:, :, index]
        return self.session.run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})[0]


def make_runtime(
    net: torch.nn.Module, runtime: str, device: torch.device | str = "cpu", looped: bool = True
) -> Runtime:
    """The runtime named in the pipeline's `runtime:` key for a loaded network."""
    if runtime == "torch":
        return TorchRuntime(net, device, looped)
    if runtime == "onnx":
        if torch.device(device).type != "cpu":
            raise UserError(f"runtime 'onnx' runs on the CPU; set device: cpu (not {device})")
        from .export import onnx_bytes

        return OnnxRuntime(onnx_bytes(net), net.config.temporal_reduction)
    raise UserError(f"unknown runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
