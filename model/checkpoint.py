"""Loading the released Shift-GCN state_dicts and the project's checkpoints; saving the latter."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.errors import UserError
from common.fileio import atomic_write
from model.preprocess import STREAMS

from .card import ModelCard
from .config import ModelConfig
from .fuse import FusedShiftGCN
from .shift_gcn import ShiftGCN

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "shiftgcn-live/1"


@dataclass
class LoadReport:
    """What a variant's state_dict lacked (new blocks) or had in excess, after a non-strict load."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(
            f"checkpoint file {path} not found; give an existing .pt file "
            "(or a registered name where the command takes one)"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a truncated or foreign file
        raise UserError(
            f"{path} is not a readable PyTorch checkpoint (truncated, or another kind of file); "
            "download or train it again"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"{path} holds a {type(data).__name__}, not a Shift-GCN checkpoint")
    return data


@dataclass(frozen=True)
class LoadedModel:
    """A loaded checkpoint: the network (eval mode), its model card, and what a variant's
    state_dict lacked. Unpacks as `net, card = load_model(path)`."""

    net: nn.Module
    card: ModelCard
    report: LoadReport

    def __iter__(self) -> Iterator[Any]:
        return iter((self.net, self.card))


def load_model(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    config: ModelConfig | None = None,
    *,
    card: ModelCard | None = None,
    stream: str | None = None,
) -> LoadedModel:
    """Load a checkpoint file into a ShiftGCN in eval mode on `device`, with its model card.

    Project files carry their card; `card` (the registry's, for a released file) or `stream`
    (what a caller knows of a file's stream) must agree with it. A file without one (a released
    state_dict, an older project file) gets `card`, else one built from what it holds: its
    class names or NTU's for an NTU class count, its stream (`joint` unless told), NTU's input.
    A `config` with excitation blocks loads the shared part of a plain checkpoint; the new keys
    are listed in the result's `report`.
    """
    path = Path(path).expanduser()
    data = _read(path)
    project = data.get("format") == CHECKPOINT_FORMAT
    state = data.get("state_dict") if project else data
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise UserError(f"{path} is not a Shift-GCN checkpoint: it has no 'fc.weight' entry")
    num_class = int(state["fc.weight"].shape[0])
    saved_config = ModelConfig.from_dict(data.get("model_config")) if project else None
    strict = config is None  # a caller's config may add blocks the file lacks
    config = config or saved_config or ModelConfig(num_class=num_class)
    if config.num_class != num_class:
        raise UserError(
            f"{path} has {num_class} classes but the model config asks for {config.num_class}; "
            "use a checkpoint for that class count or change num_class"
        )
    own = _card_of(path, data, num_class) if project else None
    if own is not None:
        own = _agreed(path, own, stream or (card.stream if card else None), card)
    card = own or card or ModelCard.known(num_class, stream=stream or "joint", source="unknown")
    if card.num_class != num_class:
        raise UserError(
            f"{path} has {num_class} classes but its model card says {card.num_class}; "
            "use the card of this file (register it again), or save it again"
        )
    model = ShiftGCN(config)
    report = _load_state(model, state, path, strict)
    return LoadedModel(model.to(device).eval(), card, report)


def _agreed(path: Path, own: ModelCard, stream: str | None, given: ModelCard | None) -> ModelCard:
    """A file's own card, which must say what its registry entry (or --stream) says of it; the
    entry's class names where the file names none."""
    names = given.class_names if given else None
    pairs = (("stream", stream, own.stream), ("class names", names, own.class_names))
    for what, said, carried in pairs:
        if said is not None and carried is not None and said != carried:
            raise UserError(
                f"{path} carries other {what} than those given for it (by --stream or its "
                "registry entry); leave them out, or register the file again"
            )
    return own if own.class_names or not names else dataclasses.replace(own, class_names=names)


def _card_of(path: Path, data: dict[str, Any], num_class: int) -> ModelCard:
    """A project file's card: the stored one, else one built from its older fields."""
    if "card" in data:
        return ModelCard.from_dict(data["card"], str(path))
    names, stream = data.get("class_names"), data.get("stream", "joint")
    if names is not None and (
        not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names)
    ):
        raise UserError(f"{path}: its class_names are not a list of strings; save it again")
    if names and len(names) != num_class:
        raise UserError(
            f"{path} disagrees with itself: its head has {num_class} classes but it "
            f"names {len(names)}; save it again with matching class names"
        )
    if stream not in STREAMS:
        raise UserError(
            f"{path} has stream {stream!r}, not one of {', '.join(STREAMS)}; "
            "save it again with its real stream"
        )
    return ModelCard.known(num_class, names or None, stream)


def _load_state(model: nn.Module, state: dict[str, Any], path: Path, strict: bool) -> LoadReport:
    expected = model.state_dict()
    for key, value in state.items():
        if key in expected and tuple(expected[key].shape) != tuple(value.shape):
            raise UserError(
                f"{path} does not fit this Shift-GCN: {key} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
    for key, value in state.items():
        if (
            torch.is_tensor(value)
            and value.is_floating_point()
            and not bool(value.isfinite().all())
        ):
            raise UserError(
                f"{path} holds non-finite weights (NaN or infinity in {key}): it is damaged or "
                "from a training run that diverged; use another checkpoint"
            )
    result = model.load_state_dict(state, strict=False)
    report = LoadReport(list(result.missing_keys), list(result.unexpected_keys))
    if strict and (report.missing or report.unexpected):
        keys = report.missing or report.unexpected
        what = "lacks" if report.missing else "has unknown"
        raise UserError(
            f"{path} does not fit Shift-GCN: it {what} {len(keys)} keys (e.g. {keys[0]}); "
            "is it a checkpoint of another network?"
        )
    if report.unexpected:
        raise UserError(f"{path} has keys this model does not know, e.g. {report.unexpected[0]}")
    if report.missing:
        log.info(
            "%s: %d new parameters start from initial values (%s ...)",
            path,
            len(report.missing),
            report.missing[0],
        )
    return report


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    card: ModelCard,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a project checkpoint atomically: weights, config, model card and `extra`."""
    module = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if isinstance(module, FusedShiftGCN):
        raise TypeError(
            "a fused network's weights are folded (model.fuse_for_inference); "
            "save the network it was fused from"
        )
    if card.num_class != module.num_class:
        raise ValueError(f"a {card.num_class}-class card for a {module.num_class}-class network")
    data = {
        "format": CHECKPOINT_FORMAT,
        "model_config": module.config.to_dict(),
        "state_dict": module.state_dict(),
        "card": card.to_dict(),
        # what format shiftgcn-live/1 held before cards, for older versions of the program
        "class_names": list(card.class_names) if card.class_names else None,
        "stream": card.stream,
        **(extra or {}),
    }
    buffer = io.BytesIO()  # torch's own file writer turns a full disk into an opaque RuntimeError
    torch.save(data, buffer)
    with atomic_write(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
