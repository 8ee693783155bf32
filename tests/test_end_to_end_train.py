"""Synthetic .skeleton files -> gendata -> CPU epochs -> above chance -> evaluate -> ensemble."""

from __future__ import annotations

import pytest
import yaml
from train_helpers import one_torch_thread, run_cli

from model import load_model
from train import ensemble, evaluate, run
from train.metrics import read_metrics_csv
from train.synthetic import class_names

pytestmark = pytest.mark.slow  # end-to-end training

CLASSES = 6
# A narrow network and small batches: enough steps in a few epochs for BatchNorm and SGD to settle.
CONFIG = {
    "dataset": "synthetic",
    "epochs": 6,
    "batch_size": 5,
    "test_batch_size": 30,
    "base_lr": 0.1,
    "lr_steps": [5],
    "num_workers": 0,
    "device": "cpu",
    "model": {"channels": [8, 16], "strides": [2, 2]},
}


def test_synthetic_data_trains_evaluates_and_ensembles(tmp_path, capsys):
    raw, data = tmp_path / "raw", tmp_path / "data"
    made = run_cli(
        "-m",
        "train.synthetic",
        "--out",
        str(raw),
        "--classes",
        str(CLASSES),
        "--per-class",
        "10",
        "--seed",
        "0",
    )
    assert made.returncode == 0, made.stderr[-2000:]
    generated = run_cli(
        "-m",
        "train.gendata",
        "--dataset",
        "ntu60",
        "--data-path",
        str(raw),
        "--out",
        str(data),
        "--benchmarks",
        "xsub",
        "--workers",
        "2",
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    split = data / "xsub"

    config, work = tmp_path / "synthetic.yaml", tmp_path / "work"
    config.write_text(yaml.safe_dump(CONFIG))
    with one_torch_thread():
        assert (
            run.main(
                [
                    "--config",
                    str(config),
                    "--data-dir",
                    str(split),
                    "--work-dir",
                    str(work),
                    "--num-class",
                    str(CLASSES),
                ]
            )
            == 0
        )
    rows = read_metrics_csv(work / "metrics.csv")
    best_top1 = max(float(r["top1"]) for r in rows)
    assert len(rows) == CONFIG["epochs"]
    assert best_top1 >= 3 * 100 / CLASSES, f"top-1 {best_top1:.1f}% is not well above chance"
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    trained = load_model(work / "best.pt")
    assert trained.card.labels() == class_names(CLASSES) and trained.card.stream == "joint"

    capsys.readouterr()
    with one_torch_thread():
        assert (
            evaluate.main(
                [
                    "--weights",
                    str(work / "best.pt"),
                    "--data-dir",
                    str(split),
                    "--out",
                    str(tmp_path / "eval"),
                    "--device",
                    "cpu",
                    "--workers",
                    "0",
                ]
            )
            == 0
        )
    assert f"top-1 {best_top1:.2f}%" in capsys.readouterr().out  # evaluate agrees with the trainer
    assert (tmp_path / "eval" / "confusion.png").is_file()

    assert (
        ensemble.main(
            [
                "--scores",
                str(work / "scores.pkl"),
                str(tmp_path / "eval"),
                "--labels",
                str(split / "val_label.pkl"),
            ]
        )
        == 0
    )
    assert f"ensemble of 2 (30 samples): top-1 {best_top1:.2f}%" in capsys.readouterr().out
