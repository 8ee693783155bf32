"""One epoch's passes over the data: SGD over the training set and scoring the validation set
(mixed precision on CUDA), each loss checked by the LossGuard."""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from common.progress import progress_bar

from .distributed import Cluster, all_sum


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """float16 autocast on CUDA when mixed precision is on; a no-op otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


class LossExploded(Exception):
    """A loss that is not finite or passed the limit: the run must stop."""

    def __init__(self, where: str, value: float, limit: float) -> None:
        super().__init__(f"the {where} loss is {value:.4g} (limit {limit:.3g})")
        self.where, self.value, self.limit = where, value, limit


class LossGuard:
    """Checks every loss against `factor` times a reference: the larger of the first loss of
    the same kind (training batch, validation) this run saw, and max(ln(classes), 2), a uniform
    guess's loss floored for two or three classes. A fresh network's first loss can be many
    times ln(classes), and its first validation (BatchNorm statistics still far behind the
    weights) far more: a run is judged against where it started, so only a loss that grows
    stops it. A loss that is not finite always stops the run; all DDP processes stop together."""

    def __init__(self, factor: float, classes: int, cluster: Cluster) -> None:
        self.factor = factor
        self.floor = max(math.log(classes), 2.0)
        self.first: dict[str, float] = {}  # kind of loss -> the first finite one seen
        self.cluster = cluster

    def limit(self, where: str) -> float:
        """The largest `where` loss allowed now (inf when the factor is 0: only non-finite)."""
        if self.factor <= 0:
            return math.inf
        return self.factor * max(self.floor, self.first.get(where, 0.0))

    def check(self, where: str, value: float) -> None:
        """Raise LossExploded when `value` (on any process) is not finite or above the limit;
        the first finite loss of each kind becomes that kind's reference."""
        if where not in self.first and math.isfinite(value):
            self.first[where] = value
        limit = self.limit(where)
        bad = not math.isfinite(value) or value > limit
        if self.cluster.world > 1:
            bad = all_sum(self.cluster, float(bad))[0] > 0
        if bad:
            raise LossExploded(where, value, limit)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    amp: bool,
    show: bool,
    guard: LossGuard | None = None,
    train_mode: Callable[[], None] | None = None,
) -> tuple[float, int]:
    """One epoch of SGD; returns (sum of per-sample losses, number of samples) of this process.

    `train_mode` puts the model in training mode (default model.train(); fine-tuning keeps some
    BatchNorm layers in eval); a batch whose loss fails `guard` stops the epoch before its step.
    """
    (train_mode or model.train)()
    loss_sum, count = 0.0, 0
    for x, y, _ in progress_bar(loader, desc="train", leave=False, enabled=show):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            loss = F.cross_entropy(model(x), y)
        if guard is not None:
            guard.check("training", float(loss.detach()))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss_sum += float(loss.detach()) * len(y)
        count += len(y)
    return loss_sum, count


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, device: torch.device, amp: bool, show: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Score every sample in `loader`: (scores (n, classes) float32, dataset indices, loss sum).

    Validation passes the unfused network (eval-mode BatchNorms); train.evaluate the fused one."""
    model.eval()
    scores, indices, loss_sum = [], [], 0.0
    for x, y, index in progress_bar(loader, desc="eval", leave=False, enabled=show):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            out = model(x).float()
        loss_sum += float(F.cross_entropy(out, y, reduction="sum"))
        scores.append(out.cpu().numpy())
        indices.append(index.numpy())
    classes = getattr(model, "num_class", 0)
    if not scores:
        return np.zeros((0, classes), np.float32), np.zeros(0, np.int64), 0.0
    return np.concatenate(scores), np.concatenate(indices), loss_sum
