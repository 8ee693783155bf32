"""Timing that survives a busy machine: the best of several repeats."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch


def best_seconds(
    fn: Callable[[], object],
    repeats: int = 5,
    inner: int = 10,
    warmup: int = 2,
    budget: float | None = None,
) -> float:
    """Seconds per call of `fn`: the fastest of `repeats` runs of `inner` calls each.

    Other processes only ever add time, so the minimum is the least disturbed estimate. With a
    `budget` in seconds, slow calls get fewer repeats (at least one, after one warm-up call).
    """
    began = time.perf_counter()
    fn()
    first = time.perf_counter() - began
    for _ in range(warmup - 1):
        fn()
    if budget is not None:
        inner = max(1, min(inner, int(budget / max(first, 1e-6) / repeats)))
        repeats = max(1, min(repeats, int(budget / max(first * inner, 1e-6))))
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        began = time.perf_counter()
        for _ in range(inner):
            fn()
        synchronize()
        best = min(best, (time.perf_counter() - began) / inner)
    return best


def synchronize(device: torch.device | None = None) -> None:
    """Wait for the GPU work queued on `device` (default: the current CUDA device, if any), so
    that a timer measures it."""
    cuda = torch.cuda.is_available() if device is None else device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), as lscpu prints it; else platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """What timings were taken on: the CPU, its cores and the load average (1, 5, 15 min)."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load}"
