"""Loading the released Shift-GCN state_dicts and the project's checkpoints; saving the latter."""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.errors import UserError, printable
from common.fileio import atomic_write
from model.preprocess import STREAMS
from ntu.labels import class_names as class_names_of
from ntu.labels import dataset_of

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


def load_model(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    config: ModelConfig | None = None,
    *,
    class_names: list[str] | None = None,
    stream: str | None = None,
) -> nn.Module:
    """Load a checkpoint file into a ShiftGCN in eval mode on `device`.

    Released files are plain state_dicts: the class count comes from `fc.weight`, and
    `class_names`/`stream` (a registry entry's metadata, see `weights.load_model`) say what the
    file does not; without them an NTU class count gets NTU's names and the stream is `joint`.
    Project files carry their config, class names and stream, which must agree with the given
    ones. A `config` with excitation blocks loads the shared part of a plain checkpoint; the new
    keys are listed in `model.load_report`.
    """
    path = Path(path).expanduser()
    data = _read(path)
    if data.get("format") == CHECKPOINT_FORMAT:
        state = data.get("state_dict")
        saved_config = ModelConfig.from_dict(data.get("model_config"))
        saved_names, saved_stream = data.get("class_names"), data.get("stream", "joint")
    else:
        state, saved_config, saved_names, saved_stream = data, None, None, None
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise UserError(f"{path} is not a Shift-GCN checkpoint: it has no 'fc.weight' entry")
    num_class = int(state["fc.weight"].shape[0])
    strict = config is None  # a caller's config may add blocks the file lacks
    config = config or saved_config or ModelConfig(num_class=num_class)
    if config.num_class != num_class:
        raise UserError(
            f"{path} has {num_class} classes but the model config asks for {config.num_class}; "
            "use a checkpoint for that class count or change num_class"
        )
    names = _one_of(path, "class names", saved_names, class_names) or _ntu_names(num_class)
    stream = _one_of(path, "stream", saved_stream, stream)
    if saved_config is None:  # a released state_dict: the joint stream unless told otherwise
        stream = stream or "joint"
    _check_consistent(path, num_class, names, stream)
    model = ShiftGCN(config)
    report = _load_state(model, state, path, strict)
    model.load_report = report
    # a name is shown on terminals and in the GUI: its control characters come out escaped
    model.class_names = [printable(n) for n in names] if names else None
    model.stream = stream
    return model.to(device).eval()


def _one_of(path: Path, what: str, saved: Any, given: Any) -> Any:
    """The file's own value, else the given one; a UserError when both exist and differ."""
    if saved and given and saved != given:
        raise UserError(
            f"{path} carries other {what} than those given for it (by --stream or "
            "its registry entry); leave them out, or register the file again"
        )
    return saved or given


def _ntu_names(num_class: int) -> list[str] | None:
    dataset = dataset_of(num_class)
    return class_names_of(dataset) if dataset else None


def _check_consistent(path: Path, num_class: int, class_names: Any, stream: Any) -> None:
    """A project checkpoint's parts must agree: one name per output of the head, a known stream."""
    if class_names is not None and (
        not isinstance(class_names, (list, tuple))
        or not all(isinstance(n, str) for n in class_names)
    ):
        raise UserError(f"{path}: its class_names are not a list of strings; save it again")
    if class_names and len(class_names) != num_class:
        raise UserError(
            f"{path} disagrees with itself: its head has {num_class} classes but it "
            f"names {len(class_names)}; save it again with matching class names"
        )
    if stream not in STREAMS:
        raise UserError(
            f"{path} has stream {stream!r}, not one of {', '.join(STREAMS)}; "
            "save it again with its real stream"
        )


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
    *,
    class_names: list[str] | None = None,
    stream: str = "joint",
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a project checkpoint atomically: weights, config, class names, stream and `extra`."""
    module = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if isinstance(module, FusedShiftGCN):
        raise TypeError(
            "a fused network's weights are folded (model.fuse_for_inference); "
            "save the network it was fused from"
        )
    data = {
        "format": CHECKPOINT_FORMAT,
        "model_config": module.config.to_dict(),
        "state_dict": module.state_dict(),
        "class_names": list(class_names) if class_names else None,
        "stream": stream,
        **(extra or {}),
    }
    buffer = io.BytesIO()  # torch's own file writer turns a full disk into an opaque RuntimeError
    torch.save(data, buffer)
    with atomic_write(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
