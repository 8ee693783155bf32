"""model.export and the ONNX Runtime backend: parity with PyTorch, the command (weights.export),
the pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pose_helpers import streaming
from shared_paths import REPO_ROOT, require_shared

from bench.stgcn import STGCN
from model import ModelConfig, ShiftGCN, load_model
from model.export import onnx_bytes
from model.runtime import OnnxRuntime, make_runtime


@pytest.mark.parametrize("name", ["ntu_ShiftGCN_joint_xsub", "ntu120_ShiftGCN_joint_xsetup"])
def test_onnx_runtime_matches_the_reference_logits(name):
    """Static and dynamic graphs, both shared inputs (T300, T64), within 1e-4 of the published
    implementation's logits."""
    reference = np.load(require_shared("fixtures", "shiftgcn_reference_logits.npz"))
    net = load_model(require_shared("weights", "official", f"{name}.pt")).net
    dynamic = OnnxRuntime(onnx_bytes(net))
    for inputs in ("T300", "T64"):
        np.testing.assert_allclose(
            dynamic.run(reference[inputs]), reference[f"{name}__{inputs}"], rtol=0, atol=1e-4
        )
    x = reference["T64"]
    static = OnnxRuntime(onnx_bytes(net, frames=64, batch=len(x)))
    np.testing.assert_allclose(static.run(x), reference[f"{name}__T64"], rtol=0, atol=1e-4)


def test_onnx_runtime_matches_pytorch_on_any_length_and_an_empty_body():
    """An untrained network: T=70 is loop-padded as ShiftGCN does; a one-person sample, which
    PyTorch computes through its empty-body cache, agrees as well; so does an ST-GCN. (Untrained
    logits reach 150, hence a relative tolerance beside the absolute one.)"""
    torch.manual_seed(0)
    net = ShiftGCN(ModelConfig(num_class=7)).eval()
    x = torch.randn(2, 3, 70, 25, 2)
    x[1, ..., 1] = 0
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(
        OnnxRuntime(onnx_bytes(net)).run(x.numpy()), expected, rtol=1e-5, atol=1e-4
    )
    baseline = STGCN(7).eval()
    with torch.no_grad():
        expected = baseline(x).numpy()
    np.testing.assert_allclose(
        OnnxRuntime(onnx_bytes(baseline), 1).run(x.numpy()), expected, rtol=1e-5, atol=1e-4
    )


def test_the_streaming_classifier_runs_on_onnx_runtime():
    """runtime='onnx' gives the probabilities of the full window in PyTorch (no loop there)."""
    torch.manual_seed(0)
    net = ShiftGCN(ModelConfig(num_class=5)).eval()
    frames = np.random.default_rng(0).normal(size=(24, 3, 25, 2)).astype(np.float32)
    probs = []
    for runtime, looped in (("onnx", True), ("torch", False)):
        classifier = streaming(
            net, window=24, stride=24, min_frames=1, pad_to=300, runtime=runtime, looped=looped
        )
        probs.append([classifier.push(f, i / 30) for i, f in enumerate(frames)][-1].probs)
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-5)


def test_unknown_runtime_and_onnx_off_the_cpu_are_one_line_errors():
    net = ShiftGCN(ModelConfig(num_class=5)).eval()
    with pytest.raises(Exception, match="unknown runtime 'tensorrt'; expected one of torch, onnx"):
        make_runtime(net, "tensorrt")
    with pytest.raises(Exception, match="runs on the CPU; set device: cpu"):
        make_runtime(net, "onnx", "meta")


def _export(*args: str, weights_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHIFTGCN_WEIGHTS_DIR": str(weights_dir)} if weights_dir else None
    return subprocess.run(
        [sys.executable, "-m", "weights.export", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.slow
def test_export_command_writes_a_static_graph_and_refuses_bad_lengths(tmp_path):
    """A registered name (the released file already in the weights folder) or a file."""
    weights = require_shared("weights", "official", "ntu_ShiftGCN_joint_xsub.pt")
    out = tmp_path / "model.onnx"
    done = _export(
        "--weights",
        "ntu60-xsub-joint",
        "--out",
        str(out),
        "--frames",
        "300",
        "--batch",
        "1",
        weights_dir=weights.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "x (1, 3, 300, 25, 2) -> logits (1, 60)" in done.stdout
    import onnxruntime

    shape = onnxruntime.InferenceSession(str(out)).get_inputs()[0].shape
    assert shape == [1, 3, 300, 25, 2]
    bad = _export("--weights", str(weights), "--out", str(out), "--frames", "62")
    assert bad.returncode == 1
    assert bad.stderr == "error: --frames 62: give a positive multiple of 4\n"
    missing = _export("--weights", str(tmp_path / "none.pt"), "--out", str(out))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
