"""An int8 Shift-GCN for ONNX Runtime's CPU provider: static quantization of its matrix products.

The graph is the units on one period of a looped window, body by body
(model.export.looped_body_onnx_bytes); data_bn before it and the head after it stay float, in
numpy (LoopedInputs, Int8Runtime). Its Gemms are rewritten as MatMul (+ Add) so that only their
inputs are quantized (QDQ format: int8 weights per output channel, int8 activations with ranges
from calibration windows, MinMax) and every product's output stays float; the shifts, gathers
and BatchNorms stay float too. The result is kept in the user's cache (`int8/<digest>.onnx`,
written atomically), keyed by the network's weights, this recipe and ONNX Runtime's version, so
it is built once (tens of seconds) per checkpoint. `python -m bench.int8` measures what it costs
in agreement with fp32.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from common.cache import user_cache_dir
from common.errors import UserError
from common.fileio import atomic_write

from .export import LOOPED_TRACE_FRAMES
from .preprocess import loop_period

RECIPE = "qdq-matmul-minmax-1"  # change when the quantization changes: cached files are rebuilt


class LoopedInputs:
    """A normalised window (3, T, 25, M) as the looped graph's inputs: the bodies after data_bn
    (M, 3, P, 25), P its loop period (T itself when it does not loop) repeated up to the traced
    length where it is shorter (the same features), and the output frames' weights (P / 4,)."""

    def __init__(self, net: torch.nn.Module) -> None:
        bn = net.data_bn
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        self.scale = scale.numpy().astype(np.float32)
        self.shift = (bn.bias.detach() - bn.running_mean * scale).numpy().astype(np.float32)
        self.multiple = net.config.temporal_reduction
        self.loop_weights = net.loop_weights

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = x.shape[1]
        missing = -frames % self.multiple
        if missing:  # loop-padded as ShiftGCN.pad_frames does
            x = x[:, np.arange(frames + missing) % frames]
            frames += missing
        period = loop_period(x, self.multiple) or frames
        span = period * -(-LOOPED_TRACE_FRAMES // period)
        bodies = self.bodies(x[:, np.arange(span) % period])
        return bodies, self.loop_weights(span, max(span, frames)).numpy()

    def bodies(self, x: np.ndarray) -> np.ndarray:
        """(3, P, 25, M) frames -> (M, 3, P, 25) bodies after data_bn (as normalise_bodies)."""
        c, period, v, m = x.shape
        window = np.transpose(x, (3, 2, 0, 1)).reshape(m * v * c, period)
        window = window * self.scale[:, None] + self.shift[:, None]
        bodies = window.reshape(m, v, c, period).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(bodies, dtype=np.float32)


def network_digest(net: torch.nn.Module) -> str:
    """sha256 of the network's weights and architecture, the recipe and ONNX Runtime's version:
    the cache key of its int8 graph."""
    import onnxruntime

    digest = hashlib.sha256(f"{RECIPE} {onnxruntime.__version__} {net.config}".encode())
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gemm_as_matmul(graph: bytes) -> bytes:
    """The graph with every Gemm (transA=0, alpha=1) as MatMul, then Add where it has a bias, so
    that quantization leaves the products' outputs in float."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(graph)
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type != "Gemm":
            nodes.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("transA", 0) or attributes.get("alpha", 1.0) != 1.0:
            raise ValueError(f"Gemm {node.name}: transA or alpha not supported")
        left, right = node.input[0], node.input[1]
        if attributes.get("transB", 0):
            transposed = numpy_helper.to_array(initializers[right]).T.copy()
            right = f"{right}_transposed"
            model.graph.initializer.append(numpy_helper.from_array(transposed, right))
        bias = len(node.input) > 2 and node.input[2] and attributes.get("beta", 1.0) != 0
        product = f"{node.output[0]}_product" if bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [left, right], [product], name=f"{node.name}_mm"))
        if bias:
            nodes.append(
                helper.make_node("Add", [product, node.input[2]], [node.output[0]], node.name)
            )
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model.SerializeToString()


def prepared_graph(net: torch.nn.Module) -> bytes:
    """The float looped-body graph of `net` as quantization takes it: constants folded (ONNX
    Runtime's pre-processing, so that every weight is an initializer), Gemms as MatMul."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .export import looped_body_onnx_bytes

    with tempfile.TemporaryDirectory(prefix="shiftgcn-int8-") as folder:
        source, target = Path(folder, "exported.onnx"), Path(folder, "folded.onnx")
        source.write_bytes(looped_body_onnx_bytes(net))
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
        return gemm_as_matmul(target.read_bytes())


def quantize_graph(
    graph: bytes, feeds: Iterable[dict[str, np.ndarray]], op_types: Sequence[str]
) -> bytes:
    """`graph` with the nodes of `op_types` statically quantized (QDQ, int8 weights per output
    channel, int8 activations with MinMax ranges over the calibration `feeds`)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    with tempfile.TemporaryDirectory(prefix="shiftgcn-int8-") as folder:
        source, target = Path(folder, "fp32.onnx"), Path(folder, "int8.onnx")
        source.write_bytes(graph)
        quantize_static(
            str(source),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return target.read_bytes()


def quantize_int8(net: torch.nn.Module, windows: Sequence[np.ndarray]) -> bytes:
    """The int8 looped-body graph of a ShiftGCN `net`, its activation ranges calibrated on
    `windows` (normalised (3, T, 25, 2) network inputs of real people)."""
    if not windows:
        raise UserError("int8 quantization needs at least one calibration window")
    inputs = LoopedInputs(net)
    feeds = (dict(zip(("bodies", "frame_weights"), inputs(window))) for window in windows)
    return quantize_graph(prepared_graph(net), feeds, ["MatMul"])


def int8_graph(
    net: torch.nn.Module,
    calibration: Callable[[], Sequence[np.ndarray]],
    cache: Path | None = None,
) -> bytes:
    """The int8 graph of `net` from the cache folder (default: the user's `int8/`), built with
    the windows `calibration()` gives and stored there (atomically) when it is not there yet."""
    folder = cache or user_cache_dir("int8")
    path = folder / f"{network_digest(net)}.onnx"
    if path.is_file():
        return path.read_bytes()
    graph = quantize_int8(net, calibration())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            tmp.write_bytes(graph)
    except (OSError, UserError):  # no writable cache folder (or a full disk): build next time
        pass
    return graph
