"""A run killed mid-training and resumed from last.pt ends exactly where an unbroken run does."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import torch
from train_helpers import (
    REPO_ROOT,
    cli_env,
    one_torch_thread,
    python_command,
    run_cli,
    train_command,
    write_tiny_config,
    write_tiny_dataset,
)

from train import run
from train.metrics import read_metrics_csv

pytestmark = pytest.mark.slow  # end-to-end training

EPOCHS = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = write_tiny_dataset(root / "data", classes=3, per_class=(4, 2), frames=16)
    config = write_tiny_config(root / "tiny.yaml", epochs=EPOCHS, batch_size=4, lr_steps=[2])
    return root, data, config


def kill_after_first_epoch(args: list[str], work) -> None:
    """Start a run and SIGKILL it as soon as its first epoch is on disk."""
    proc = subprocess.Popen(
        python_command(*args),
        cwd=REPO_ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while (
        not (work / "metrics.csv").exists() and proc.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_after_kill_matches_uninterrupted_run(setup):
    root, data, config = setup
    straight, killed = root / "straight", root / "killed"
    done = run_cli(*train_command(config, data, straight))
    assert done.returncode == 0, done.stderr[-2000:]

    kill_after_first_epoch(train_command(config, data, killed), killed)
    partial = read_metrics_csv(killed / "metrics.csv")
    assert 1 <= len(partial) < EPOCHS, "the run should have been killed part-way"
    resumed = run_cli(*train_command(config, data, killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in (killed / "log.txt").read_text()

    def without_time(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    expected = read_metrics_csv(straight / "metrics.csv")
    assert len(expected) == EPOCHS
    assert without_time(read_metrics_csv(killed / "metrics.csv")) == without_time(expected)
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(killed / "last.pt", weights_only=True)
    assert a["train"]["epoch"] == b["train"]["epoch"] == EPOCHS
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key


def test_checkpoints_carry_what_resuming_needs(setup):
    root, _, _ = setup
    data = torch.load(root / "straight" / "last.pt", weights_only=True)
    assert data["format"].startswith("shiftgcn-live") and data["stream"] == "joint"
    saved = data["train"]
    assert {"optimizer", "scheduler", "rng", "history", "config", "best_epoch"} <= set(saved)
    assert saved["scheduler"]["last_epoch"] == EPOCHS and saved["config"]["num_class"] == 3
    for name in ("best.pt", "scores.pkl", "curves.png", "confusion.png", "log.txt", "config.yaml"):
        assert (root / "straight" / name).stat().st_size > 0, name


def test_refuses_to_overwrite_or_to_resume_wrongly(setup, capsys):
    root, data, config = setup
    cases = [
        (train_command(config, data, root / "straight"), "already holds a run"),
        (
            train_command(config, data, root / "straight") + ["--resume", "--num-class", "4"],
            "has 3 classes but this run has 4",
        ),
        (
            train_command(config, data, root / "nothing") + ["--resume"],
            "nothing/last.pt does not exist",
        ),
        (train_command(config, root / "missing", root / "w"), "data dir"),
        (train_command(config, data, root / "w") + ["--batch-size", "64"], "fewer than one batch"),
        (
            train_command(config, data, root / "w") + ["--num-class", "2"],
            "labels up to 2 but the model has 2",
        ),
    ]
    for args, message in cases:
        with one_torch_thread():
            assert run.main(args[2:]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err  # one line, no traceback
