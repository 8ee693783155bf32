"""train.evaluate on project checkpoints and on the released ones, and its one-line errors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from card_helpers import save_plain
from shared_paths import require_shared
from train_helpers import TINY_MODEL, one_torch_thread, write_tiny_dataset

from common.errors import UserError
from model import ModelConfig, build_model
from train import evaluate as evaluate_cli
from train.evaluate import evaluate
from train.feeder import read_labels
from train.metrics import load_scores, topk_accuracy


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(
        tmp_path_factory.mktemp("eval") / "data", classes=3, per_class=(1, 3), frames=16
    )


def tiny_checkpoint(path, num_class: int = 3, stream: str = "bone"):
    torch.manual_seed(0)
    net = build_model(ModelConfig.from_dict({**TINY_MODEL, "num_class": num_class}))
    save_plain(path, net, class_names=[f"c{i}" for i in range(num_class)], stream=stream)
    return path


def test_evaluate_writes_scores_confusion_and_result(data, tmp_path, capsys):
    weights = tiny_checkpoint(tmp_path / "tiny.pt")
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
    assert status == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert (
        result["stream"] == "bone" and result["samples"] == 9
    )  # the checkpoint's stream by default
    names, labels = read_labels(data / "val_label.pkl")
    scores = load_scores(out / "scores.pkl")
    assert list(scores) == names and scores[names[0]].shape == (3,)
    top1 = topk_accuracy(np.stack([scores[n] for n in names]), labels, 1)
    assert result["top1"] == pytest.approx(top1) and f"top-1 {top1:.2f}%" in printed
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_checkpoint_of_another_class_count_is_refused(data, tmp_path, capsys):
    weights = tiny_checkpoint(tmp_path / "two.pt", num_class=2)
    assert (
        evaluate_cli.main(
            ["--weights", str(weights), "--data-dir", str(data), "--out", str(tmp_path)]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "has 2 classes but" in err and err.count("\n") == 1


def test_missing_inputs_are_one_clear_error(data, tmp_path, capsys):
    weights = tiny_checkpoint(tmp_path / "t.pt")
    assert evaluate_cli.main(["--weights", str(tmp_path / "none.pt"), "--data-dir", str(data)]) == 1
    assert (
        evaluate_cli.main(["--weights", str(weights), "--data-dir", str(tmp_path / "nodata")]) == 1
    )
    assert (
        evaluate_cli.main(
            [
                "--weights",
                str(weights),
                "--data-dir",
                str(data),
                "--stream",
                "joint_motion",
                "--split",
                "train",
                "--out",
                str(tmp_path / "o"),
                "--workers",
                "0",
            ]
        )
        == 0
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert (
        len(errors) == 2
        and "none.pt not found" in errors[0]
        and "nodata does not exist" in errors[1]
    )


def test_released_checkpoint_evaluates(data, tmp_path):
    weights = require_shared("weights", "official", "ntu_ShiftGCN_joint_xsub.pt")
    with one_torch_thread():
        result = evaluate(str(weights), data, tmp_path / "released", device="cpu", workers=0)
    assert result.stream == "joint" and result.samples == 9
    assert next(iter(load_scores(tmp_path / "released").values())).shape == (60,)
    # NTU-120 labels are beyond what a 60-class checkpoint knows
    ntu120 = tmp_path / "ntu120"
    ntu120.mkdir()
    for name in ("val_data_joint.npy",):
        (ntu120 / name).write_bytes((data / name).read_bytes())
    names, labels = read_labels(data / "val_label.pkl")
    with (ntu120 / "val_label.pkl").open("wb") as f:
        pickle.dump((names, (labels + 100).tolist()), f)
    with pytest.raises(UserError, match="has 60 classes but .* labels go up to 102"):
        evaluate(str(weights), ntu120, tmp_path / "x", device="cpu", workers=0)
