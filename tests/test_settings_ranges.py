"""Numeric settings are range- and finite-checked where their settings class is built: NaN,
infinities and out-of-range values are one line naming the key, never a changed result or a
traceback later. The loss guard judges a fresh network against its own first loss."""

from __future__ import annotations

import math

import pytest

from common.errors import UserError
from model import ModelConfig
from pipeline.settings import load_settings
from train.config import TrainConfig, load_config
from train.distributed import Cluster
from train.epoch import LossExploded, LossGuard

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("tracker", "leg_visibility", NAN),
        ("tracker", "leg_visibility", 1.5),
        ("tracker", "leg_visibility", -0.1),
        ("tracker", "partner_reach", NAN),
        ("pose", "min_detection_confidence", NAN),
        ("pose", "min_detection_confidence", 2.0),
        ("pose", "min_tracking_confidence", -1.0),
        ("pose", "min_tracking_confidence", INF),
        ("pose", "threads", 2147483648),
        ("pose", "threads", 0),
        ("live", "frame_buffer", 0),
        ("live", "frame_buffer", 10**9),
        ("live", "torch_threads", -1),
    ],
)
def test_pipeline_numbers_out_of_range_are_one_line(section, key, value):
    with pytest.raises(UserError) as err:
        load_settings(None, {section: {key: value}})
    assert key in str(err.value) and "\n" not in str(err.value)


def test_pipeline_infinite_partner_gates_stay_allowed():
    settings = load_settings(None, {"tracker": {"partner_reach": INF, "partner_speed": 0}})
    assert math.isinf(settings.tracker.partner_reach)


@pytest.mark.parametrize(
    "key, value",
    [
        ("base_lr", NAN),
        ("base_lr", -0.1),
        ("base_lr", 0),
        ("base_lr", INF),
        ("momentum", NAN),
        ("momentum", 1.5),
        ("weight_decay", -1.0),
        ("lr_gamma", NAN),
        ("loss_limit", NAN),
        ("loss_limit", -1),
        ("loss_limit", INF),
        ("seed", -1),
        ("seed", 2**40),
    ],
)
def test_training_numbers_out_of_range_are_one_line(key, value):
    with pytest.raises(UserError, match=key):
        TrainConfig(dataset="synthetic", num_class=4, **{key: value})


@pytest.mark.parametrize(
    "model",
    [
        {"channels": [0], "strides": [1]},
        {"channels": [-4], "strides": [1]},
        {"channels": [16], "strides": [0]},
        {"channels": [], "strides": []},
    ],
)
def test_model_shapes_out_of_range_are_one_line(model):
    with pytest.raises(UserError, match="model config"):
        load_config(None, {"dataset": "synthetic", "num_class": 4, "model": model})
    with pytest.raises(UserError, match="model config"):
        ModelConfig(**model)


def test_the_guard_judges_a_fresh_network_by_its_own_first_loss():
    """A fresh network whose first loss is 24 (12 ln 4) trains; ten times that stops."""
    guard = LossGuard(10.0, 4, Cluster())
    guard.check("training", 24.13)
    guard.check("training", 150.0)
    guard.check("validation", 30.0)
    with pytest.raises(LossExploded, match="limit 241"):
        guard.check("training", 250.0)


def test_the_guard_floor_and_non_finite_losses():
    guard = LossGuard(10.0, 4, Cluster())
    guard.check("training", 0.1)  # a fine-tuned network: the floor ln-based limit applies
    with pytest.raises(LossExploded, match="limit 20"):
        guard.check("training", 21.0)
    off = LossGuard(0.0, 4, Cluster())
    off.check("training", 1e30)
    for value in (NAN, INF):
        with pytest.raises(LossExploded):
            off.check("training", value)


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "1e7", "0"])
def test_quit_after_must_be_a_sensible_number_of_seconds(seconds, capsys):
    from app.gui import launch

    status = launch.main([f"--quit-after={seconds}", "--source", "none.mp4"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "--quit-after" in err, err


def test_teach_class_names_are_nfc_and_bounded():
    from app.gui.teach import MAX_CLASS_NAME, clean_class_name

    assert clean_class_name("cafe\u0301 <1>") == "café 1"
    assert len(clean_class_name("x" * 300)) > MAX_CLASS_NAME  # the panel refuses it with a line


def test_a_fresh_network_with_a_large_first_loss_trains(tmp_path, monkeypatch):
    """A head biased so that the first loss is far above the old fixed limit (20 for 3
    classes): the run is judged against its own start and completes its epochs."""
    import torch
    from train_helpers import one_torch_thread, write_tiny_config, write_tiny_dataset

    import train.trainer as trainer

    real_build = trainer.build_model
    seen: list[float] = []

    def loud_head(config):
        net = real_build(config)
        with torch.no_grad():
            net.fc.bias.zero_()
            net.fc.bias[0] = 60.0  # everything "class 0" by a wide margin: a loss near 40
        return net

    class Spy(LossGuard):
        def check(self, where, value):
            seen.append(value) if where == "training" else None
            super().check(where, value)

    monkeypatch.setattr(trainer, "build_model", loud_head)
    monkeypatch.setattr(trainer, "LossGuard", Spy)
    data = write_tiny_dataset(tmp_path / "data")
    path = write_tiny_config(tmp_path / "tiny.yaml", epochs=2, base_lr=0.01)
    config = load_config(path, {"data_dir": str(data), "work_dir": str(tmp_path / "work")})
    with one_torch_thread():
        state = trainer.train(config)
    assert seen[0] > 20  # what the old fixed limit, 10 max(ln 3, 2), stopped at once
    assert state.epoch == 2
