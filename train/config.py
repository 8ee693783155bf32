"""Training configuration: defaults in one dataclass; YAML files (`_base_`) and flags override."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.device import DEVICE_CHOICES, is_device_name
from common.errors import UserError, excerpt
from common.limits import MAX_BATCH, MAX_EPOCHS, check_number, check_size, max_workers
from common.yaml_files import deep_merge, read_yaml
from model.card import ModelCard
from model.config import ModelConfig
from model.preprocess import STREAMS
from ntu.splits import DATASETS

from .finetune import BATCHNORM_MODES

RECIPES = ("sgd", "frozen")  # TrainConfig.recipe
SYNTHETIC = "synthetic"  # train.synthetic's actions; any other non-NTU name works with num_class
OWN_VIDEOS = "videos"  # train.from_videos' dataset: a user's own clips, a folder a class


@dataclass
class TrainConfig:
    """Everything a training run needs; the defaults are the released Shift-GCN recipe."""

    name: str = "shiftgcn"  # the run's name: the config file's stem unless set
    dataset: str = "ntu60"  # ntu60, ntu120, synthetic or any other name (then give num_class)
    benchmark: str = "xsub"
    stream: str = "joint"
    data_dir: str | None = None  # default: data/<dataset>/<benchmark> (what train.gendata writes)
    work_dir: str | None = None  # default: work_dir/<name>
    num_class: int | None = None  # default: from the dataset (60 or 120)
    class_names: list[str] | None = None  # default: the dataset's label list, where known
    epochs: int = 140
    batch_size: int = 64  # global: divided among DDP processes
    test_batch_size: int = 64
    base_lr: float = 0.1
    lr_steps: list[int] = field(default_factory=lambda: [60, 80, 100])
    lr_gamma: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    # parameters whose name contains a key get that weight decay instead
    weight_decay_by_name: dict[str, float] = field(
        default_factory=lambda: {"Linear_weight": 1e-3, "Feature_Mask": 0.0}
    )
    seed: int = 1
    num_workers: int = 4
    device: str = "auto"  # common.device.DEVICE_CHOICES or cuda:N
    amp: bool = False  # mixed precision (CUDA only)
    model: dict[str, Any] = field(default_factory=dict)  # overrides of model.ModelConfig
    # Fine-tuning (train/configs/finetune.yaml sets the recipe measured for small data)
    base_weights: str | None = None  # start from this checkpoint (name or file); the head is new
    frozen_units: int = 0  # the input BatchNorm and the first n units keep the base weights
    batchnorm: str = "train"  # train | frozen (keep the running statistics) | recalibrate
    warmup_epochs: int = 0  # the learning rate rises linearly over these first epochs
    # A run stops at the first loss (training batch or validation) that is not finite or above
    # loss_limit times the larger of the first loss of its kind and max(ln(classes), 2)
    # (ln(classes) is a uniform guess's loss); 0 = only a loss that is not finite stops it
    loss_limit: float = 10.0
    # How the network learns: "sgd" trains it (the trainer; the settings above), "frozen" keeps
    # base_weights and fits a new head on its features (train.few_shot; few_shot: its settings)
    recipe: str = "sgd"
    few_shot: dict[str, Any] = field(default_factory=dict)  # train.few_shot.FewShotSettings keys

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        """Refuse values that would only fail later, deep inside a run."""
        for name, hint in typing.get_type_hints(TrainConfig).items():
            value = getattr(self, name)
            if not _conforms(value, hint):
                raise UserError(
                    f"config: {name} is {excerpt(value)}, not of type {_describe(hint)}"
                )
        for key in ("batch_size", "test_batch_size"):
            check_size(f"config: {key}", getattr(self, key), 1, MAX_BATCH)
        check_size("config: epochs", self.epochs, 1, MAX_EPOCHS)
        check_size("config: num_workers", self.num_workers, 0, max_workers())
        if self.stream not in STREAMS:
            raise UserError(
                f"config: stream {excerpt(self.stream)} is not one of {', '.join(STREAMS)}"
            )
        if self.num_class is None and self.dataset not in DATASETS:
            raise UserError(
                f"config: dataset {excerpt(self.dataset)} is not NTU; "
                "give num_class (--num-class K)"
            )
        if self.dataset in DATASETS and self.benchmark not in DATASETS[self.dataset].benchmarks:
            known = ", ".join(DATASETS[self.dataset].benchmarks)
            raise UserError(
                f"config: {self.dataset} has no benchmark {excerpt(self.benchmark)} ({known})"
            )
        if self.batchnorm not in BATCHNORM_MODES:
            raise UserError(
                f"config: batchnorm {excerpt(self.batchnorm)} is not one of "
                f"{', '.join(BATCHNORM_MODES)}"
            )
        if self.recipe not in RECIPES:
            raise UserError(f"config: recipe {self.recipe!r} is not one of {', '.join(RECIPES)}")
        check_size("config: warmup_epochs", self.warmup_epochs, 0, MAX_EPOCHS)
        check_number("config: base_lr", self.base_lr, 0.0, 1e6, above_low=True)
        check_number("config: momentum", self.momentum, 0.0, 1.0)
        check_number("config: weight_decay", self.weight_decay, 0.0, 1.0)
        for key, decay in self.weight_decay_by_name.items():
            check_number(f"config: weight_decay_by_name.{key}", decay, 0.0, 1.0)
        check_number("config: lr_gamma", self.lr_gamma, 0.0, 1e9, above_low=True)
        check_number("config: loss_limit", self.loss_limit, 0.0, 1e9)  # NaN would disable it
        check_size("config: seed", self.seed, 0, 2**32 - 1)
        for step in self.lr_steps:
            check_size("config: lr_steps", step, 0, MAX_EPOCHS)
        if self.num_class is not None and int(self.num_class) < 2:
            raise UserError("config: num_class must be at least 2")
        if not is_device_name(self.device):
            known = ", ".join(DEVICE_CHOICES)
            raise UserError(
                f"config: device {excerpt(self.device)} is not one of {known} or cuda:N"
            )

    @property
    def classes(self) -> int:
        """The number of classes the network predicts."""
        return int(self.num_class or DATASETS[self.dataset].num_class)

    @property
    def data_path(self) -> Path:
        """The folder with {train,val}_data_<stream>.npy and {train,val}_label.pkl."""
        return (
            Path(self.data_dir) if self.data_dir else Path("data") / self.dataset / self.benchmark
        )

    @property
    def work_path(self) -> Path:
        """The folder this run writes to."""
        return Path(self.work_dir) if self.work_dir else Path("work_dir") / self.name

    def describe(self) -> str:
        """What this run trains, for plot titles: its work dir, data, classes and stream (the
        config's name alone misleads once flags change the dataset or the class count)."""
        if self.dataset in DATASETS:  # only NTU has benchmarks (xsub, xview, xset)
            data = f"{self.dataset} {self.benchmark}"
        else:
            data = "your own videos" if self.dataset == OWN_VIDEOS else self.dataset
        return f"{self.work_path.name}: {data}, {self.classes} classes, {self.stream} stream"

    def model_config(self) -> ModelConfig:
        """The network's configuration: the `model:` section with this run's class count."""
        return ModelConfig.from_dict({**self.model, "num_class": self.classes})

    def resolved_class_names(self) -> list[str] | None:
        """Class names for checkpoints and plots: the config's, else the dataset's, else None."""
        names = self.class_names
        if names is None and self.dataset in DATASETS:
            from ntu.labels import class_names

            names = class_names(self.dataset)
        elif names is None and self.dataset == SYNTHETIC:
            from .synthetic import class_names

            names = class_names(self.classes)
        if names is not None and len(names) != self.classes:
            return None
        return list(names) if names is not None else None

    def model_card(self, **known: Any) -> ModelCard:
        """The model card of this run's checkpoints: its classes, stream and origin; NTU's input
        (whole samples looped to 300 frames at 30 fps, Kinect skeletons) unless `known` says
        otherwise (train.from_videos: the live classifier's windows, pose's skeletons)."""
        return ModelCard(
            num_class=self.classes,
            class_names=self.resolved_class_names(),
            stream=self.stream,
            source="fine-tuned" if self.base_weights else "trained",
            dataset=self.dataset,
            benchmark=self.benchmark if self.dataset in DATASETS else "",
            base=self.base_weights,
            **known,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, for the work dir's config.yaml and for checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys are an error naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(
                f"config: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise UserError(f"config: {err}") from None


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a field's type hint (an int is a float; a bool is no number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (types.UnionType, typing.Union):
        return any(_conforms(value, option) for option in args)
    if hint is type(None):
        return value is None
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(_conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()
        )
    if isinstance(value, bool) and hint is not bool:
        return False
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    """A type hint as written in the dataclass ('int', 'str | None', 'list[int]')."""
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


# Settings a resumed run may change: they do not alter what the saved state means.
FREE_ON_RESUME = frozenset(
    {"name", "work_dir", "epochs", "device", "num_workers", "test_batch_size"}
)


def resume_changes(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """What `config` changes of the settings a run was started with (`saved`), as 'key old ->
    new', leaving out those free to change on resume and keys the saved run did not have."""
    current = config.to_dict()
    return [
        f"{key} {excerpt(saved[key])} -> {excerpt(value)}"
        for key, value in current.items()
        if key not in FREE_ON_RESUME and key in saved and saved[key] != value
    ]


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The defaults, then the YAML file (and its bases), then `overrides` (flags)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        data = {"name": path.stem, **read_yaml(path)}
    config = TrainConfig.from_dict(deep_merge(data, overrides or {}))
    config.model_config()  # refuse a bad `model:` section now, with its own message
    return config
