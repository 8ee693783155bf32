"""Training on several processes (torchrun): joining the process group, and what the processes
share (sums, the validation scores, rank 0's BatchNorm statistics). One process is rank 0 of 1
and every function is then the identity."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from common.device import select_device


@dataclass
class Cluster:
    """This process's place among the DDP processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and shows progress."""
        return self.rank == 0


def join_cluster(device_name: str) -> tuple[Cluster, torch.device]:
    """Join the torchrun process group (NCCL on CUDA, gloo on CPU); pick this process's device."""
    device = select_device(device_name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Cluster(), device
    cluster = Cluster(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", cluster.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return cluster, device


def leave_cluster() -> None:
    """Tear the process group down at the end of a distributed run (or when it fails)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gather_predictions(
    cluster: Cluster, scores: np.ndarray, indices: np.ndarray, loss_sum: float
) -> tuple[np.ndarray, float]:
    """Every process's share of the validation set, put back in dataset order (on every process)."""
    if cluster.world > 1:
        parts: list[Any] = [None] * cluster.world
        dist.all_gather_object(parts, (scores, indices, loss_sum))
        scores = np.concatenate([p[0] for p in parts])
        indices = np.concatenate([p[1] for p in parts])
        loss_sum = sum(p[2] for p in parts)
    ordered = np.empty_like(scores)
    ordered[indices] = scores
    return ordered, loss_sum


def share_buffers(cluster: Cluster, model: nn.Module) -> None:
    """Give every process rank 0's BatchNorm statistics: all score the network rank 0 saves."""
    if cluster.world > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def all_sum(cluster: Cluster, *values: float) -> list[float]:
    """Sum numbers over the processes (identity for one process)."""
    if cluster.world == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()
