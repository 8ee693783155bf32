"""Fine-tuning from a trained checkpoint: its weights under a new head, frozen first units, and
the BatchNorm statistics kept, learnt or re-estimated (TrainConfig.base_weights, frozen_units,
batchnorm)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from common.errors import UserError
from model.card import ModelCard

BATCHNORM_MODES = ("train", "frozen", "recalibrate")
HEAD = "fc."


def load_base_weights(model: nn.Module, name_or_path: str, stream: str) -> ModelCard:
    """Copy a checkpoint's weights (a registered name or a file) into `model`, all but the
    classifier head, which starts near zero so that the first loss is that of a uniform guess;
    return its model card. A base of another input stream than `stream` is refused."""
    from weights import load_model

    base, card = load_model(name_or_path)
    card.require(f"base weights {name_or_path}", "the training config", stream=stream)
    state = {k: v for k, v in base.state_dict().items() if not k.startswith(HEAD)}
    own = model.state_dict()
    misfit = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    missing = [k for k in own if k not in state and not k.startswith(HEAD)]
    if misfit or missing:
        key = (misfit or missing)[0]
        raise UserError(
            f"base weights {name_or_path} do not fit the network being trained ({key}); "
            "fine-tune with the base checkpoint's model config (no model: overrides)"
        )
    model.load_state_dict(state, strict=False)
    nn.init.normal_(model.fc.weight, 0.0, 0.01)
    nn.init.zeros_(model.fc.bias)
    return card


def frozen_modules(model: nn.Module, units: int) -> list[nn.Module]:
    """The input BatchNorm and the first `units` units: the part that keeps the base weights."""
    count = len(model.units)
    if not 0 <= units <= count:
        raise UserError(f"config: frozen_units must be between 0 and {count}, got {units}")
    return [model.data_bn, *model.units[:units]] if units else []


def freeze(model: nn.Module, units: int) -> None:
    """Stop the gradients of the frozen part (the optimiser then leaves it out)."""
    for module in frozen_modules(model, units):
        module.requires_grad_(False)


def batchnorms(modules: list[nn.Module]) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer inside `modules`."""
    return [
        m
        for module in modules
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]


def set_train_mode(model: nn.Module, units: int, batchnorm: str) -> None:
    """model.train(), except the BatchNorm layers that keep their running statistics: those of
    the frozen part always, and all of them with batchnorm="frozen"."""
    model.train()
    kept = [model] if batchnorm == "frozen" else frozen_modules(model, units)
    for layer in batchnorms(kept):
        layer.eval()


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, units: int, loader: DataLoader, device: torch.device
) -> None:
    """Re-estimate the learning layers' BatchNorm statistics with the current weights: a pass
    over the training data with each layer's running mean and variance averaged over all batches
    (momentum None), since on a small set the running averages lag the weights' last steps."""
    learning = [m for m in [model.data_bn, *model.units] if m not in frozen_modules(model, units)]
    layers = batchnorms(learning)
    if not layers:
        return
    set_train_mode(model, units, "train")
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    for x, _, _ in loader:
        model(x.to(device, non_blocking=True))
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum
    model.eval()
