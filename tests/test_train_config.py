"""Training configs: the recipe's defaults, the YAML files, inheritance, flags, optimiser groups."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import REPO_ROOT

from common.cli import parse_assignments
from common.errors import UserError
from model import ModelConfig, build_model
from model.preprocess import STREAMS
from train.config import TrainConfig, load_config
from train.optim import build_optimizer, build_scheduler, load_scheduler_state
from train.run import build_parser, overrides_from

CONFIGS = REPO_ROOT / "train" / "configs"
BENCHMARKS = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}


def test_defaults_are_the_released_recipe():
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.base_lr) == (140, 64, 0.1)
    assert (config.lr_steps, config.lr_gamma) == ([60, 80, 100], 0.1)
    assert (config.momentum, config.nesterov, config.weight_decay) == (0.9, True, 1e-4)
    assert config.weight_decay_by_name == {"Linear_weight": 1e-3, "Feature_Mask": 0.0}
    assert config.classes == 60 and config.data_path == Path("data/ntu60/xsub")


@pytest.mark.parametrize("dataset", sorted(BENCHMARKS))
def test_every_benchmark_and_stream_has_a_config(dataset):
    for benchmark in BENCHMARKS[dataset]:
        for stream in STREAMS:
            path = CONFIGS / f"{dataset}_{benchmark}_{stream}.yaml"
            config = load_config(path)
            assert (config.dataset, config.benchmark, config.stream) == (dataset, benchmark, stream)
            assert config.name == path.stem and config.work_path == Path("work_dir") / path.stem
            assert config.classes == {"ntu60": 60, "ntu120": 120}[dataset]
            assert config.epochs == 140  # the recipe comes from the one set of defaults


@pytest.mark.parametrize(
    "name, motion, channel",
    [
        ("ntu60_xsub_joint_me_series", "series", "none"),
        ("ntu60_xsub_joint_me_parallel", "parallel", "none"),
        ("ntu60_xsub_joint_ce_parallel", "none", "parallel"),
        ("ntu60_xsub_joint_me_ce_series", "series", "series"),
    ],
)
def test_variant_configs_inherit_and_set_the_blocks(name, motion, channel):
    config = load_config(CONFIGS / f"{name}.yaml")
    assert (config.dataset, config.benchmark, config.stream, config.name) == (
        "ntu60",
        "xsub",
        "joint",
        name,
    )
    model_config = config.model_config()
    assert model_config.motion_excitation.placement == motion
    assert model_config.channel_excitation.placement == channel
    assert model_config.num_class == 60


def test_ce_parallel_leaves_out_the_temporal_conv():
    config = load_config(CONFIGS / "ntu60_xsub_joint_ce_parallel.yaml").model_config()
    assert config.channel_excitation.temporal_conv is False


def test_base_files_merge_nested_keys(tmp_path):
    (tmp_path / "base.yaml").write_text("epochs: 7\nmodel: {channels: [8, 16], strides: [2, 2]}\n")
    (tmp_path / "child.yaml").write_text(
        "_base_: base.yaml\ndataset: ntu120\nmodel: {strides: [1, 4]}\n"
    )
    config = load_config(tmp_path / "child.yaml")
    assert (config.epochs, config.dataset, config.classes, config.name) == (
        7,
        "ntu120",
        120,
        "child",
    )
    assert config.model == {"channels": [8, 16], "strides": [1, 4]}


def test_flags_override_the_file():
    args = build_parser().parse_args(
        [
            "--config",
            "x.yaml",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--num-class",
            "6",
            "--amp",
            "--set",
            "base_lr=0.05",
            "--set",
            "model.channels=[8,16]",
            "--set",
            "model.strides=[2,2]",
            "--set",
            "epochs=9",
        ]
    )
    overrides = overrides_from(args)
    assert overrides == {
        "epochs": 3,
        "batch_size": 8,
        "num_class": 6,
        "amp": True,
        "base_lr": 0.05,
        "model": {"channels": [8, 16], "strides": [2, 2]},
    }
    config = load_config(CONFIGS / "ntu60_xsub_joint.yaml", overrides)
    assert (config.epochs, config.batch_size, config.classes, config.amp, config.base_lr) == (
        3,
        8,
        6,
        True,
        0.05,
    )
    absent = build_parser().parse_args(["--config", "x.yaml"])
    assert absent.amp is None  # absent flags keep the file's values


@pytest.mark.parametrize(
    "text, message",
    [
        ("stream: depth\n", "stream 'depth'"),
        ("epochs: 0\n", "epochs 0 is out of bounds"),
        ("learning_rate: 0.1\n", "unknown keys learning_rate"),
        ("dataset: kinetics\n", "give num_class"),
        ("dataset: ntu60\nbenchmark: xset\n", "ntu60 has no benchmark 'xset'"),
        ("model: {colours: 3}\n", "unknown keys colours"),
        ("[1, 2]\n", "must be a mapping"),
        ("_base_: missing.yaml\n", "does not exist"),
    ],
)
def test_bad_configs_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_config(path)


def test_bad_set_assignment_is_refused():
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_assignments(["base_lr"])


def test_weight_decay_groups_and_schedule():
    config = TrainConfig(epochs=5, lr_steps=[2, 4])
    net = build_model(ModelConfig(num_class=5, channels=(8, 16), strides=(2, 2)))
    optimizer = build_optimizer(net, config)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, param in net.named_parameters():
        expected = 1e-3 if "Linear_weight" in name else 0.0 if "Feature_Mask" in name else 1e-4
        assert decay_of[id(param)] == expected, name
    assert len(decay_of) == len(list(net.parameters()))
    assert all(g["nesterov"] and g["momentum"] == 0.9 for g in optimizer.param_groups)
    scheduler = build_scheduler(optimizer, config)
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    fresh = build_scheduler(build_optimizer(net, config), config)
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh.state_dict() == scheduler.state_dict()
    # a run saved with the MultiStepLR of earlier versions resumes on the same rates
    old = torch.optim.lr_scheduler.MultiStepLR(build_optimizer(net, config), [2, 4], 0.1)
    for _ in range(3):
        old.optimizer.step()
        old.step()
    resumed = build_scheduler(build_optimizer(net, config), config)
    load_scheduler_state(resumed, old.state_dict())
    assert resumed.last_epoch == 3 and resumed.get_last_lr() == pytest.approx([0.01] * 3)
    resumed.optimizer.step()
    resumed.step()
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_class_names_come_from_the_dataset():
    assert len(load_config(CONFIGS / "ntu120_xsub_joint.yaml").resolved_class_names()) == 120
    synthetic = TrainConfig(dataset="synthetic", num_class=4).resolved_class_names()
    assert len(synthetic) == 4 and synthetic[0] == "waving"
    assert TrainConfig(dataset="mine", num_class=3).resolved_class_names() is None
    assert TrainConfig(
        dataset="mine", num_class=2, class_names=["a", "b"]
    ).resolved_class_names() == ["a", "b"]


def test_plot_titles_describe_the_run_not_the_config_file():
    """A 6-class synthetic run from ntu60_xsub_joint.yaml is titled as what it is."""
    config = load_config(
        REPO_ROOT / "train" / "configs" / "ntu60_xsub_joint.yaml",
        {"dataset": "synthetic", "num_class": 6, "work_dir": "quickstart/work"},
    )
    assert config.describe() == "work: synthetic, 6 classes, joint stream"
    released = load_config(REPO_ROOT / "train" / "configs" / "ntu60_xsub_joint.yaml")
    assert released.describe() == "ntu60_xsub_joint: ntu60 xsub, 60 classes, joint stream"
