"""Model configuration: the one home of the network's defaults; YAML files override them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import UserError
from common.limits import check_size
from common.yaml_files import deep_merge, read_yaml

PLACEMENTS = ("none", "series", "parallel")
MAX_CLASSES = 100_000
MAX_CHANNELS = 4096  # per unit (the released network's widest has 256)
MAX_STRIDE = 8


@dataclass
class ExcitationConfig:
    """Where an excitation block sits in a unit: nowhere, after it, or beside its temporal conv."""

    placement: str = "none"
    reduction: int = 16
    temporal_conv: bool = (
        True  # channel excitation only: the kernel-3 conv over the squeezed channels
    )

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise UserError(
                f"excitation placement {self.placement!r} is not one of {', '.join(PLACEMENTS)}"
            )


@dataclass
class ModelConfig:
    """Shift-GCN hyper-parameters; the defaults are the released network."""

    num_class: int = 60
    num_point: int = 25
    num_person: int = 2
    in_channels: int = 3
    channels: tuple[int, ...] = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
    strides: tuple[int, ...] = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
    motion_excitation: ExcitationConfig = field(default_factory=ExcitationConfig)
    channel_excitation: ExcitationConfig = field(default_factory=ExcitationConfig)

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        self.strides = tuple(self.strides)
        if len(self.channels) != len(self.strides):
            raise UserError("model config: 'channels' and 'strides' must have the same length")
        check_size("model config: num_class", self.num_class, 1, MAX_CLASSES)
        if not self.channels:
            raise UserError("model config: 'channels' must list at least one unit")
        for channels, stride in zip(self.channels, self.strides):
            check_size("model config: channels", channels, 1, MAX_CHANNELS)
            check_size("model config: strides", stride, 1, MAX_STRIDE)
        for name in ("motion_excitation", "channel_excitation"):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, ExcitationConfig(**value))

    @property
    def temporal_reduction(self) -> int:
        """How many input frames make one frame at the network's end (4 for the released model)."""
        product = 1
        for stride in self.strides:
            product *= stride
        return product

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, for YAML files and checkpoints."""
        data = dataclasses.asdict(self)
        data["channels"] = list(self.channels)
        data["strides"] = list(self.strides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ModelConfig:
        """Build from a mapping (a YAML `model:` section); unknown keys are an error."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(
                f"model config: unknown keys {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        try:
            return cls(**data)
        except TypeError as err:
            raise UserError(f"model config: {err}") from None

    @classmethod
    def from_yaml(
        cls, path: str | Path | None, overrides: dict[str, Any] | None = None
    ) -> ModelConfig:
        """Read the `model:` section of a YAML file (following `_base_`; None: no file) with
        `overrides` (keys of the whole file, as --set gives them); absent, the defaults."""
        data = deep_merge(read_yaml(path) if path is not None else {}, overrides or {})
        section = data.get("model") or {}
        if not isinstance(section, dict):
            raise UserError(
                f"config {path or '--set'}: 'model' must be a mapping of keys to values"
            )
        return cls.from_dict(section)
