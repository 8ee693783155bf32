"""What a training checkpoint holds besides the network, and resuming from it: the run's state
(epoch, history, best), the optimiser, schedule and scaler, every RNG's state (in
checkpoint-safe types) and the config; `resume` checks the saved run matches this one first.
The checkpoint itself is written atomically by model.save_checkpoint."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from common.errors import UserError

from .config import TrainConfig, resume_changes
from .optim import load_scheduler_state


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run is repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG's state in checkpoint-safe types (tensors, lists, numbers)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class RunState:
    """What changes from epoch to epoch and is saved in every checkpoint."""

    epoch: int = 0  # epochs finished
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_top1: float = -1.0


def training_state(
    state: RunState,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    config: TrainConfig,
) -> dict[str, Any]:
    """The checkpoint's `extra`: {"train": the run state, optimiser, schedule, scaler, RNG and
    config}, all in types torch.load(weights_only=True) reads back."""
    return {
        "train": {
            "epoch": state.epoch,
            "history": state.history,
            "best_epoch": state.best_epoch,
            "best_top1": state.best_top1,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
            "config": config.to_dict(),
        }
    }


def resume(
    path: Path,
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> RunState:
    """Continue from `path` (last.pt): weights, optimiser, schedule, scaler, RNG and metrics
    history; a UserError when it is no training checkpoint or was made with other settings."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        saved = data["train"]
    except Exception:  # torch and a missing key both mean this is not our last.pt
        raise UserError(
            f"{path} is not a training checkpoint of train.run; start without --resume"
        ) from None
    saved_classes = int(data["state_dict"]["fc.weight"].shape[0])
    if saved_classes != config.classes:
        raise UserError(
            f"{path} has {saved_classes} classes but this run has {config.classes}; "
            "resume with the same config"
        )
    changed = resume_changes(saved.get("config") or {}, config)
    if changed:
        raise UserError(
            f"--resume: this run was started with other settings ({'; '.join(changed)}); "
            "resume with those, or start a new run in another --work-dir"
        )
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError:
        raise UserError(
            f"{path} was trained with another model config; resume with the same config"
        ) from None
    optimizer.load_state_dict(saved["optimizer"])
    load_scheduler_state(scheduler, saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    restore_rng_state(saved["rng"])
    return RunState(saved["epoch"], list(saved["history"]), saved["best_epoch"], saved["best_top1"])
