"""The trainer stops with one line at the first loss that is not finite or explodes, keeping
the last good checkpoints; the fine-tuning recipe learns train.synthetic with the full network."""

from __future__ import annotations

import pytest
import torch
from shared_paths import OFFICIAL_WEIGHTS, require
from train_helpers import (
    one_torch_thread,
    run_cli,
    train_command,
    write_tiny_config,
    write_tiny_dataset,
)

from bench.finetune import synthetic_windows
from train.config import load_config
from train.from_videos import FINETUNE_CONFIG
from train.metrics import read_metrics_csv
from train.trainer import train


def error_lines(stderr: str) -> list[str]:
    """The error lines of a command's stderr (progress bars aside); no traceback allowed."""
    assert "Traceback" not in stderr, stderr
    return [line.strip() for line in stderr.splitlines() if "error:" in line]


@pytest.mark.slow
def test_learning_rate_10_stops_with_one_line(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    config = write_tiny_config(tmp_path / "tiny.yaml", base_lr=10.0)
    done = run_cli(*train_command(config, data, tmp_path / "work"))
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: training stopped in epoch 1: the "), (
        done.stderr
    )
    assert "lower base_lr" in lines[0] and "no checkpoint was written" in lines[0]
    assert not (tmp_path / "work" / "best.pt").exists()
    assert "training stopped" in (tmp_path / "work" / "log.txt").read_text()


@pytest.mark.slow
def test_a_loss_that_explodes_later_keeps_the_last_good_checkpoints(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    # two good epochs at 0.05, then the rate jumps to 500
    config = write_tiny_config(tmp_path / "tiny.yaml", epochs=4, lr_steps=[2], lr_gamma=10000.0)
    work = tmp_path / "work"
    done = run_cli(*train_command(config, data, work))
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and "training stopped in epoch 3" in lines[0], done.stderr
    assert "keep epoch" in lines[0]
    last = torch.load(work / "last.pt", weights_only=True)
    assert last["train"]["epoch"] == 2
    assert torch.isfinite(
        torch.cat([v.flatten().float() for v in last["state_dict"].values()])
    ).all()
    assert len(read_metrics_csv(work / "metrics.csv")) == 2
    assert (work / "best.pt").is_file()


@pytest.mark.slow
def test_the_fine_tuning_recipe_learns_synthetic_actions(tmp_path, monkeypatch):
    """The released network from the NTU checkpoint, train/configs/finetune.yaml as it is (fewer
    epochs), 4 synthetic classes of 16 samples in 100-frame windows: well above chance (25%)."""
    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", str(require(OFFICIAL_WEIGHTS)))
    data = synthetic_windows(tmp_path, classes=4, per_class=16, frames=100, noise=0.0)
    config = load_config(
        FINETUNE_CONFIG,
        {
            "dataset": "synthetic",
            "num_class": 4,
            "data_dir": str(data),
            "work_dir": str(tmp_path / "work"),
            "epochs": 2,
            "device": "cpu",
        },
    )
    assert config.base_weights == "ntu60-xsub-joint" and config.model == {}
    with one_torch_thread():
        state = train(config)
    assert state.best_top1 >= 75.0, state.history
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
