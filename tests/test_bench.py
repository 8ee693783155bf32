"""The benchmark commands run and print their tables (tiny sizes: no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from shared_paths import REPO_ROOT, require_shared


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_model_benchmark_compares_shift_gcn_with_st_gcn():
    tiny = ("--batch", "1", "--frames", "8", "--budget", "0.05", "--threads", "1")
    out = run("bench.model", *tiny, "--weights", "random")
    assert out.returncode == 0, out.stderr
    assert "ST-GCN" in out.stdout and "Shift-GCN is" in out.stdout and "in training" in out.stdout


def test_model_benchmark_rejects_a_missing_gpu_in_one_line():
    out = run(
        "bench.model", "--device", "cuda", "--batch", "1", "--frames", "8", "--weights", "random"
    )
    if out.returncode == 0:  # a machine with a GPU
        return
    assert (
        out.returncode == 1
        and out.stderr.startswith("error: --device cuda")
        and out.stderr.count("\n") == 1
    )


@pytest.mark.slow
def test_model_benchmark_with_a_released_checkpoint(monkeypatch):
    weights = require_shared("weights", "official")
    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", str(weights))
    out = run("bench.model", "--batch", "1", "--frames", "8", "--budget", "0.05", "--no-train")
    assert out.returncode == 0, out.stderr
    assert "weights: ntu60-xsub-joint" in out.stdout and "faster in inference" in out.stdout


@pytest.mark.slow
def test_profile_lists_operators_and_the_matrix_products_rate():
    out = run("bench.profile", "--weights", "random", "--frames", "8", "--repeats", "1")
    assert out.returncode == 0, out.stderr
    assert "aten::addmm" in out.stdout and "GFLOP/s" in out.stdout and "all operators" in out.stdout


def test_profile_refuses_a_non_positive_size_in_one_line():
    out = run("bench.profile", "--weights", "random", "--frames", "0")
    assert out.returncode == 1 and out.stderr == "error: --frames 0: give a positive number\n"
