"""The released recipe's optimiser and learning-rate schedule."""

from __future__ import annotations

from collections import Counter
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


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.MultiStepLR:
    """Divide the learning rate by 1/lr_gamma at each of `lr_steps` (stepped once per epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=config.lr_steps, gamma=config.lr_gamma
    )


def scheduler_state(scheduler: torch.optim.lr_scheduler.MultiStepLR) -> dict[str, Any]:
    """The scheduler's state in plain types (its Counter of milestones becomes a dict)."""
    state = scheduler.state_dict()
    state["milestones"] = dict(state["milestones"])
    return state


def load_scheduler_state(
    scheduler: torch.optim.lr_scheduler.MultiStepLR, state: dict[str, Any]
) -> None:
    """Restore what `scheduler_state` saved."""
    scheduler.load_state_dict({**state, "milestones": Counter(state["milestones"])})
