"""The optimiser and the learning-rate schedule (the released recipe, with an optional warm-up)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import TrainConfig


def weight_decay_for(name: str, config: TrainConfig) -> float:
    """A parameter's weight decay: that of the first `weight_decay_by_name` key in its name."""
    for key, decay in config.weight_decay_by_name.items():
        if key in name:
            return float(decay)
    return float(config.weight_decay)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with Nesterov momentum and one parameter group per weight-decay value."""
    groups: dict[float, list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault(weight_decay_for(name, config), []).append(param)
    return torch.optim.SGD(
        [{"params": params, "weight_decay": decay} for decay, params in groups.items()],
        lr=config.base_lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )


class StepSchedule:
    """The learning-rate factor of an epoch: a linear warm-up over `warmup` epochs, then times
    `gamma` at each of `steps` (a class, not a lambda, so that its state is saved with the run)."""

    def __init__(self, warmup: int, steps: list[int], gamma: float) -> None:
        self.warmup, self.steps, self.gamma = int(warmup), [int(s) for s in steps], float(gamma)

    def __call__(self, epoch: int) -> float:
        rise = (epoch + 1) / (self.warmup + 1) if epoch < self.warmup else 1.0
        return rise * self.gamma ** sum(epoch >= step for step in self.steps)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm up over `warmup_epochs`, then divide the learning rate by 1/lr_gamma at each of
    `lr_steps` (stepped once per epoch)."""
    schedule = StepSchedule(config.warmup_epochs, config.lr_steps, config.lr_gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def load_scheduler_state(
    scheduler: torch.optim.lr_scheduler.LambdaLR, state: dict[str, Any]
) -> None:
    """Restore a saved schedule, also one saved as a MultiStepLR (runs started before the warm-up
    schedule): the factor is a function of the epoch, so the epoch count is all it needs."""
    if "lr_lambdas" not in state:
        state = {
            **scheduler.state_dict(),
            "last_epoch": state["last_epoch"],
            "_step_count": state["_step_count"],
            "_last_lr": state["_last_lr"],
        }
    scheduler.load_state_dict(state)
