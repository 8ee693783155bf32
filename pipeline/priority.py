"""The inference thread's place on a small CPU: pose on every frame comes first, the model uses
what is left (windows it cannot take in time are skipped, the newest wins)."""

from __future__ import annotations

import os
import threading

import torch

INFERENCE_NICENESS = 10  # niceness added to the inference thread


def yield_to_pose() -> None:
    """Lower the calling thread's scheduling priority (Linux threads have their own niceness) and,
    when the model runs on one thread, keep it on the last CPU so that pose has the others to
    itself (compare the processed frames/s of python -m bench.pipeline with and without)."""
    try:
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + INFERENCE_NICENESS))
        cpus = sorted(os.sched_getaffinity(0))
        if torch.get_num_threads() == 1 and len(cpus) > 1:  # pinned threads would share one CPU
            os.sched_setaffinity(thread, {cpus[-1]})
    except (AttributeError, OSError):  # not Linux, or not allowed: run as scheduled
        pass
