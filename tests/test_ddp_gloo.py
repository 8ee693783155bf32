"""DistributedDataParallel on CPU: two gloo processes under torchrun, one set of files."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from train_helpers import (
    one_torch_thread,
    run_cli,
    train_command,
    write_tiny_config,
    write_tiny_dataset,
)

from train.evaluate import evaluate
from train.feeder import read_labels
from train.metrics import load_scores, read_metrics_csv, topk_accuracy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not torch.distributed.is_available() or sys.platform == "win32",
        reason="torch.distributed (gloo) is not available",
    ),
]


# what libstdc++ prints when a C++ thread ends on an uncaught exception (SIGABRT)
GLOO_ABORT = "terminate called without an active exception"


def test_two_gloo_processes_train_together(tmp_path):
    data = write_tiny_dataset(
        tmp_path / "data", classes=3, per_class=(4, 1), frames=16
    )  # 3 val: uneven shares
    config = write_tiny_config(tmp_path / "tiny.yaml", epochs=2, batch_size=4)
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    work = tmp_path / "work"
    done = run_cli(*torchrun, *train_command(config, data, work))
    if done.returncode != 0 and GLOO_ABORT in done.stdout + done.stderr:
        # now and then a process dies inside torch's C++ side (an uncaught exception; seen once
        # in CI on 2026-12-05, epoch 1 of 2, and not in 6 runs after): repeated once, afresh
        work = tmp_path / "work-again"
        done = run_cli(*torchrun, *train_command(config, data, work))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    log = (work / "log.txt").read_text()
    assert "2 processes" in log and log.count("epoch 2/2") == 1  # only rank 0 writes
    rows = read_metrics_csv(work / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    # the validation scores of both processes were gathered: every sample once, accuracy consistent
    names, labels = read_labels(data / "val_label.pkl")
    scores = load_scores(work / "scores.pkl")
    assert sorted(scores) == sorted(names)
    best = max(rows, key=lambda r: float(r["top1"]))
    matrix = np.stack([scores[n] for n in names])
    assert topk_accuracy(matrix, labels, 1) == pytest.approx(float(best["top1"]))
    # both processes scored with the network rank 0 saved (its BatchNorm statistics included)
    with one_torch_thread():
        again = evaluate(str(work / "best.pt"), data, tmp_path / "eval", device="cpu", workers=0)
    assert again.top1 == pytest.approx(float(best["top1"]))
    assert again.loss == pytest.approx(float(best["val_loss"]), rel=1e-5)
    saved = torch.load(work / "last.pt", weights_only=True)
    assert not any(
        key.startswith("module.") for key in saved["state_dict"]
    )  # the bare network is saved
