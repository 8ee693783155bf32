"""Training and evaluation under bad input: config values of the wrong type or size, a resume
with other settings, non-finite scores, data files with absurd frame counts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from card_helpers import save_plain
from train_helpers import TINY_MODEL, one_torch_thread, write_tiny_config, write_tiny_dataset

from common.errors import UserError
from model import ModelConfig, build_model
from train import evaluate as evaluate_cli
from train import run
from train.config import load_config
from train.feeder import open_array


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("base_lr: abc\n", "base_lr is 'abc', not of type float"),
        ("epochs: '3'\n", "epochs is '3', not of type int"),
        ("lr_steps: [a, 2]\n", "lr_steps is ['a', 2], not of type list[int]"),
        ("nesterov: 1\n", "nesterov is 1, not of type bool"),
        ("batch_size: 1000000000\n", "batch_size 1000000000 is out of bounds"),
        ("test_batch_size: 100000\n", "test_batch_size 100000 is out of bounds"),
        ("num_workers: 100000\n", "num_workers 100000 is out of bounds"),
    ],
)
def test_bad_config_values_are_one_line(tmp_path, yaml_text, message):
    path = tmp_path / "c.yaml"
    path.write_text("num_class: 3\ndataset: tiny\n" + yaml_text)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        load_config(path)
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run of the tiny config (its work dir, data dir and config file)."""
    root = tmp_path_factory.mktemp("safety")
    data = write_tiny_dataset(root / "data", classes=3, per_class=(4, 2), frames=16)
    config = write_tiny_config(root / "tiny.yaml", epochs=1, batch_size=4, lr_steps=[2])
    work = root / "work"
    with one_torch_thread():
        assert (
            run.main(["--config", str(config), "--data-dir", str(data), "--work-dir", str(work)])
            == 0
        )
    return work, data, config


def test_resume_with_other_settings_is_refused(trained, tmp_path, capsys):
    """Another data dir or learning rate: one line naming what changed; config.yaml kept."""
    work, data, config = trained
    other = shutil.copytree(data, tmp_path / "other")
    before = (work / "config.yaml").read_text()
    base = ["--config", str(config), "--work-dir", str(work), "--resume", "--epochs", "2"]
    for extra, message in (
        (["--data-dir", str(other)], "data_dir"),
        (["--data-dir", str(data), "--set", "base_lr=0.01"], "base_lr 0.05 -> 0.01"),
    ):
        with one_torch_thread():
            assert run.main(base + extra) == 1
        err = capsys.readouterr().err
        assert "other settings" in err and message in err and err.count("\n") == 1, err
    assert (work / "config.yaml").read_text() == before


def test_evaluate_refuses_non_finite_scores_and_writes_nothing(trained, tmp_path, capsys):
    _, data, _ = trained
    net = build_model(ModelConfig.from_dict({**TINY_MODEL, "num_class": 3}))
    with torch.no_grad():
        net.data_bn.bias.fill_(1e38)  # finite weights whose scores overflow (NaN ones fail to load)
    weights = tmp_path / "overflow.pt"
    save_plain(weights, net, stream="joint")
    out = tmp_path / "out"
    with one_torch_thread():
        status = evaluate_cli.main(
            [
                "--weights",
                str(weights),
                "--data-dir",
                str(data),
                "--out",
                str(out),
                "--device",
                "cpu",
                "--workers",
                "0",
            ]
        )
    captured = capsys.readouterr()
    assert status == 1 and "non-finite scores" in captured.err
    assert captured.err.count("\n") == 1 and "nan%" not in captured.out
    assert not out.exists() or not (out / "result.json").exists()


@pytest.mark.parametrize("flag, value", [("--batch-size", "1000000000"), ("--workers", "99999")])
def test_evaluate_sizes_out_of_bounds_are_one_line(trained, tmp_path, capsys, flag, value):
    _, data, _ = trained
    status = evaluate_cli.main(
        ["--weights", str(tmp_path / "x.pt"), "--data-dir", str(data), flag, value]
    )
    err = capsys.readouterr().err
    assert status == 1 and f"{flag} {value} is out of bounds" in err and err.count("\n") == 1


def test_a_data_file_with_absurd_frame_counts_is_refused(tmp_path):
    path = tmp_path / "train_data_joint.npy"
    header = {"descr": "<f4", "fortran_order": False, "shape": (1, 3, 10**7, 25, 2)}
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.truncate(f.tell() + 4 * 3 * 10**7 * 25 * 2)  # sparse: no disk used
    with pytest.raises(UserError, match="frames per sample 10000000 is out of bounds"):
        open_array(path)


def test_result_json_is_valid_json(trained, tmp_path):
    """A finite evaluation still writes plain JSON (no NaN token)."""
    _, data, _ = trained
    weights = tmp_path / "ok.pt"
    save_plain(
        weights, build_model(ModelConfig.from_dict({**TINY_MODEL, "num_class": 3})), stream="joint"
    )
    with one_torch_thread():
        assert (
            evaluate_cli.main(
                [
                    "--weights",
                    str(weights),
                    "--data-dir",
                    str(data),
                    "--out",
                    str(tmp_path / "o"),
                    "--device",
                    "cpu",
                    "--workers",
                    "0",
                ]
            )
            == 0
        )
    json.loads((tmp_path / "o" / "result.json").read_text(), parse_constant=pytest.fail)
