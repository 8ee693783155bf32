"""Where a normalised window's logits are computed: eager PyTorch, ONNX Runtime, or ONNX Runtime
with the matrix products in int8 (model.quantize).

All take one network input (3, T, 25, 2) as numpy and return its logits (num_class,). The
PyTorch and int8 runtimes compute a looped window (one that repeats its first frames, as a short
window padded to the training length does) on one period (ShiftGCN's `loop_to`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from common.errors import UserError

from .fuse import fuse_for_inference
from .preprocess import loop_period

RUNTIMES = ("torch", "onnx", "int8")


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


def _session_options(threads: int | None):
    """ONNX Runtime's options for the model: `threads` intra-op threads, no spin-waiting."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(
            "runtimes 'onnx' and 'int8' need the onnxruntime package: "
            "pip install -r requirements.txt"
        ) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    # no spin-waiting between runs: on a small CPU the pose thread needs those cycles
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's
    return options


def _cpu_session(graph: bytes | str, threads: int | None):
    """An ONNX Runtime session on the CPU provider."""
    import onnxruntime

    options = _session_options(threads)
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class OnnxRuntime:
    """ONNX Runtime's CPU provider on a graph from model.export, with `threads` intra-op threads."""

    def __init__(self, graph: bytes | str, multiple: int = 4, threads: int | None = None) -> None:
        self.session = _cpu_session(graph, threads)
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


class Int8Runtime:
    """A ShiftGCN with int8 matrix products (model.quantize) on ONNX Runtime's CPU provider: one
    period of a looped window (the whole window when it does not loop; its temporal shifts then
    wrap around its ends too), only the body slots that hold a skeleton (an empty slot's features
    are computed once a period length); data_bn and the head in float, in numpy."""

    def __init__(self, net: torch.nn.Module, graph: bytes, threads: int | None = None) -> None:
        from .quantize import LoopedInputs

        self.session = _cpu_session(graph, threads)
        self.inputs = LoopedInputs(net)
        self.head_weight = net.fc.weight.detach().numpy().T.copy()
        self.head_bias = net.fc.bias.detach().numpy().copy()
        self._empty: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        bodies, weights = self.inputs(x)
        present = x.reshape(-1, x.shape[-1]).any(axis=0)
        features = np.empty((len(bodies), self.head_weight.shape[0]), np.float32)
        if present.any():
            features[present] = self._features(bodies[present], weights)
        if not present.all():
            key = (bodies.shape[2], len(weights))
            if key not in self._empty:
                shape = (x.shape[0], bodies.shape[2], *x.shape[2:])
                zeros = self.inputs.bodies(np.zeros(shape, np.float32))
                self._empty[key] = self._features(zeros, weights)
            features[~present] = self._empty[key][~present]
        return features.mean(0) @ self.head_weight + self.head_bias

    def _features(self, bodies: np.ndarray, weights: np.ndarray) -> np.ndarray:
        feeds = {"bodies": bodies, "frame_weights": weights}
        return self.session.run(None, feeds)[0]


def make_runtime(
    net: torch.nn.Module,
    runtime: str,
    device: torch.device | str = "cpu",
    looped: bool = True,
    calibration: Callable[[], Sequence[np.ndarray]] | None = None,
) -> Runtime:
    """The runtime named in the pipeline's `runtime:` key for a loaded network. `int8` takes the
    network's int8 graph from the user's cache, built when it is not there yet with the windows
    `calibration()` gives: network inputs of real people in the network's input stream
    (model.quantize)."""
    if runtime == "torch":
        return TorchRuntime(net, device, looped)
    if runtime in ("onnx", "int8") and torch.device(device).type != "cpu":
        raise UserError(f"runtime {runtime!r} runs on the CPU; set device: cpu (not {device})")
    if runtime == "onnx":
        from .export import onnx_bytes

        return OnnxRuntime(onnx_bytes(net), net.config.temporal_reduction)
    if runtime == "int8":
        from .quantize import int8_graph

        if not getattr(net, "loops_exactly", False):
            raise UserError("runtime 'int8' needs a Shift-GCN without excitation blocks")
        return Int8Runtime(net, int8_graph(net, calibration or _no_calibration))
    raise UserError(f"unknown runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")


def _no_calibration() -> Sequence[np.ndarray]:
    raise UserError(
        "runtime 'int8' has no int8 model of this checkpoint yet and no calibration windows to "
        "build one; set int8_calibration to a folder of skeleton .npy files of people "
        "(python -m app.classify_video VIDEOS --save-skeleton FOLDER)"
    )
