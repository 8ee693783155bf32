"""Helpers for the trainer's tests: tiny learnable datasets and a small, fast model config."""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import yaml

from model.preprocess import STREAMS

# A narrow network so CPU epochs take a second or two; the recipe otherwise stays the released one.
TINY_MODEL = {"channels": [8, 16], "strides": [2, 2]}
REPO_ROOT = Path(__file__).resolve().parents[1]


def write_tiny_dataset(
    data_dir: Path,
    classes: int = 3,
    per_class: tuple[int, int] = (6, 3),
    frames: int = 32,
    seed: int = 0,
) -> Path:
    """Write {train,val}_data_<stream>.npy and labels; each class moves at its own frequency."""
    rng = np.random.default_rng(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    t = np.arange(frames, dtype=np.float32)
    for split, count in zip(("train", "val"), per_class):
        labels = np.repeat(np.arange(classes), count)
        x = rng.normal(0, 0.05, size=(len(labels), 3, frames, 25, 2)).astype(np.float32)
        for i, label in enumerate(labels):
            x[i, label % 3, :, :, 0] += np.sin(2 * np.pi * (label + 1) * t / frames)[:, None]
        names = [f"S001C001P001R001A{label + 1:03d}_{split}{i}" for i, label in enumerate(labels)]
        for stream in STREAMS:
            np.save(data_dir / f"{split}_data_{stream}.npy", x)
        with (data_dir / f"{split}_label.pkl").open("wb") as f:
            pickle.dump((names, labels.tolist()), f)
    return data_dir


def train_command(config: Path, data: Path, work: Path) -> list[str]:
    """The arguments of `python -m train.run` on a config, a data dir and a work dir."""
    return [
        "-m",
        "train.run",
        "--config",
        str(config),
        "--data-dir",
        str(data),
        "--work-dir",
        str(work),
    ]


def write_tiny_config(path: Path, **overrides) -> Path:
    """A config for a few quick CPU epochs on a tiny dataset."""
    config = {
        "dataset": "tiny",
        "num_class": 3,
        "epochs": 3,
        "batch_size": 6,
        "test_batch_size": 8,
        "base_lr": 0.05,
        "lr_steps": [2],
        "num_workers": 0,
        "device": "cpu",
        "model": TINY_MODEL,
        **overrides,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def python_command(*args: str) -> list[str]:
    """`python -m ...` with this interpreter."""
    return [sys.executable, *args]


def cli_env() -> dict[str, str]:
    """The environment for a command run from the repository root, one torch thread per process.

    Tiny models gain nothing from intra-op threads, and on a busy machine spinning threads make a
    step tens of times slower; one thread keeps the tests quick and steady.
    """
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python <args>` in the repository root and capture its output."""
    return subprocess.run(
        python_command(*args),
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run in-process training on one intra-op thread (see cli_env), restoring the count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
