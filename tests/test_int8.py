"""Runtime int8 (model.quantize, model.runtime.Int8Runtime): the looped-body graph it is built
from gives the torch runtime's logits, the int8 graph is cached by the network's digest, and a
missing calibration is one clear line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_paths import require_shared

from model import ModelCard, ModelConfig, ShiftGCN
from model.preprocess import loop_period, prepare_window
from model.quantize import (
    int8_graph,
    network_digest,
    prepared_graph,
    quantize_int8,
)
from model.runtime import Int8Runtime, TorchRuntime, make_runtime
from pipeline import load_settings
from pipeline.build import int8_calibration
from pipeline.windows import calibration_windows


def _window(rng: np.random.Generator, frames: int = 64, one_person: bool = False) -> np.ndarray:
    """A smooth random two-body window, prepared as the live classifier does (looped to 300)."""
    walk = rng.normal(size=(frames, 3, 25, 2)).astype(np.float32).cumsum(0) * 0.05
    if one_person:
        walk[..., 1] = 0
    return prepare_window(walk, 300, "joint")


@pytest.fixture(scope="module")
def net() -> ShiftGCN:
    torch.manual_seed(0)
    return ShiftGCN(ModelConfig(num_class=7)).eval()


def test_the_float_graph_gives_the_torch_runtimes_logits(net):
    """Before quantization, the graph with numpy's data_bn and head equals the torch runtime on a
    looped window, one person (the empty slot computed once), a length that is no multiple of
    4 and someone standing still (a period of 4 frames). A window that does not loop (the
    partner leaves halfway) is computed whole with its ends wrapped around where torch pads them
    with zeros: near, not equal."""
    rng = np.random.default_rng(0)
    float32 = Int8Runtime(net, prepared_graph(net))
    torch_runtime = TorchRuntime(net)
    one_person = _window(rng, one_person=True)
    still = prepare_window(
        np.repeat(np.transpose(_window(rng), (1, 0, 2, 3))[:1], 64, 0), 300, "joint"
    )
    assert loop_period(still, 4) == 4  # shorter than the traced period: computed repeated
    windows = (_window(rng), one_person, _window(rng, frames=42), still, one_person)
    for window in windows:  # the second one-person window takes the empty slot from the cache
        expected = torch_runtime(window)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(float32(window), expected, rtol=0, atol=1e-4 * scale)
    partner_leaves = np.transpose(_window(rng), (1, 0, 2, 3))[:64].copy()
    partner_leaves[40:, ..., 1] = 0
    window = prepare_window(partner_leaves, 300, "joint")
    assert loop_period(window, 4) is None
    expected = torch_runtime(window)
    assert np.abs(float32(window) - expected).max() < 0.03 * np.abs(expected).max()


def test_the_int8_graph_is_built_once_and_cached_by_digest(net, tmp_path):
    """The first call calibrates and writes the cache file; the next reads it without calibrating;
    other weights get another file. The int8 logits stay near fp32's."""
    rng = np.random.default_rng(1)
    calibration = [_window(rng) for _ in range(6)]
    calls = []

    def windows() -> list[np.ndarray]:
        calls.append(1)
        return calibration

    graph = int8_graph(net, windows, tmp_path)
    assert calls == [1]
    assert [p.name for p in tmp_path.iterdir()] == [f"{network_digest(net)}.onnx"]
    assert int8_graph(net, windows, tmp_path) == graph and calls == [1]
    other = ShiftGCN(ModelConfig(num_class=7)).eval()
    assert network_digest(other) != network_digest(net)

    int8, reference = Int8Runtime(net, graph), TorchRuntime(net)
    for window in calibration[:2]:
        expected = reference(window)
        assert np.abs(int8(window) - expected).max() < 0.2 * np.abs(expected).max()


def test_calibration_windows_are_the_classifiers_windows():
    """The training windows (`window` frames one each `stride`, the last ending with the clip),
    with mirror images; empty stretches left out."""
    rng = np.random.default_rng(2)
    skeleton = rng.normal(size=(3, 100, 25, 2)).astype(np.float32)
    skeleton[:, 80:] = 0
    windows = calibration_windows([skeleton], 64, 15, 300)
    assert len(windows) == 2 * 4  # ends 64, 79, 94 and the clip's: each with its mirror image
    assert all(w.shape == (3, 300, 25, 2) for w in windows)
    assert len(calibration_windows([skeleton[:, :40]], 64, 15, 300, mirrored=False)) == 1


def test_int8_without_a_cached_model_or_calibration_is_one_line(net, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = load_settings(overrides={"runtime": "int8", "int8_calibration": str(tmp_path)})
    assert settings.runtime == "int8"
    with pytest.raises(Exception, match=r"int8_calibration \(.*\) holds no .npy skeletons"):
        int8_calibration(settings, "joint")
    with pytest.raises(Exception, match="runtime 'int8' has no int8 model of this checkpoint"):
        make_runtime(net, "int8")
    with pytest.raises(Exception, match="runtime 'int8' runs on the CPU"):
        make_runtime(net, "int8", "meta")


@pytest.mark.slow
def test_int8_names_the_paired_clips_action_as_fp32_does():
    """The released checkpoint, calibrated on the NTU fixture skeletons (other people, other
    actions), agrees with fp32 on the top-1 of every window of the paired clip and its mirror."""
    from train.skeleton import read_skeleton
    from weights import load_model

    folder = require_shared("fixtures", "skeletons")
    paired = require_shared("fixtures", "paired", "S001C001P001R001A001.skeleton")
    net = load_model(str(require_shared("weights", "official", "ntu_ShiftGCN_joint_xsub.pt"))).net

    def frames(path):
        raw = read_skeleton(path)
        return raw[:, np.abs(raw).sum(axis=(0, 2, 3)) > 0]

    calibration = calibration_windows(
        [frames(p) for p in sorted(folder.glob("*.skeleton"))][:8], 64, 32, 300
    )
    int8, fp32 = Int8Runtime(net, quantize_int8(net, calibration)), TorchRuntime(net)
    for window in calibration_windows([frames(paired)], 64, 15, 300):
        assert int8(window).argmax() == fp32(window).argmax()


def test_the_classifier_runs_int8_calibrated_from_the_settings_folder(net, tmp_path, monkeypatch):
    """runtime int8 with an int8_calibration folder of .npy skeletons: the classifier builds the
    model on first use into the user's cache, in the network's stream, and classifies."""
    from functools import partial

    from pipeline import ClassifierSettings, StreamingClassifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "skeletons"
    folder.mkdir()
    rng = np.random.default_rng(3)
    skeleton = rng.normal(size=(3, 80, 25, 2)).astype(np.float32).cumsum(1) * 0.05
    np.save(folder / "someone.npy", skeleton)
    settings = load_settings(overrides={"runtime": "int8", "int8_calibration": str(folder)})
    assert len(int8_calibration(settings, "joint")) == 3 * 2  # 3 windows, each with its 2x view
    classifier = StreamingClassifier(
        net,
        ClassifierSettings(window=24, stride=24, min_frames=1, either_hand=False, ensemble=[]),
        card=ModelCard(7),
        device="cpu",
        runtime="int8",
        calibration=partial(int8_calibration, settings),
    )
    cached = list((tmp_path / "cache" / "shiftgcn-live" / "int8").glob("*.onnx"))
    assert [p.name for p in cached] == [f"{network_digest(net)}.onnx"]
    probabilities = classifier.window_classifier(np.transpose(skeleton[:, :24], (1, 0, 2, 3)))
    assert probabilities.shape == (7,) and abs(float(probabilities.sum()) - 1) < 1e-5
    classifier.close()
