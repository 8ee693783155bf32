"""The training benchmark runs and prints its three throughput figures."""

from __future__ import annotations

import re

import yaml
from train_helpers import TINY_MODEL, one_torch_thread

from bench import train as bench_train


def test_benchmark_prints_throughput(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": TINY_MODEL}))
    args = ["--config", str(config), "--device", "cpu", "--batch-size", "2", "--batches", "2"]
    with one_torch_thread():
        assert bench_train.main([*args, "--frames", "16", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "device cpu" in out and "model tiny" in out
    for label in ("data loading", "training step", "evaluation"):
        rate = re.search(rf"{label}\s+([\d.]+) samples/s", out)
        assert rate and float(rate.group(1)) > 0, out


def test_benchmark_refuses_empty_work(capsys):
    assert bench_train.main(["--device", "cpu", "--batches", "0"]) == 1
    assert "must be at least 1" in capsys.readouterr().err
