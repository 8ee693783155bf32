"""NTU RGB+D sample names (SsssCcccPpppRrrrAaaa) and the published train/val splits."""

from __future__ import annotations

import re
from dataclasses import dataclass

NTU60_XSUB_TRAIN_PERFORMERS = frozenset(
    (
        1,
        2,
        4,
        5,
        8,
        9,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        25,
        27,
        28,
        31,
        34,
        35,
        38,
    )
)
NTU120_XSUB_TRAIN_PERFORMERS = NTU60_XSUB_TRAIN_PERFORMERS | frozenset(
    (
        45,
        46,
        47,
        49,
        50,
        52,
        53,
        54,
        55,
        56,
        57,
        58,
        59,
        70,
        74,
        78,
        80,
        81,
        82,
        83,
        84,
        85,
        86,
        89,
        91,
        92,
        93,
        94,
        95,
        97,
        98,
        100,
        103,
    )
)
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))


@dataclass(frozen=True)
class DatasetSpec:
    """What sets one NTU release apart: its classes, its setups and its benchmarks."""

    num_class: int
    num_setups: int
    benchmarks: tuple[str, ...]


DATASETS = {
    "ntu60": DatasetSpec(num_class=60, num_setups=17, benchmarks=("xsub", "xview")),
    "ntu120": DatasetSpec(num_class=120, num_setups=32, benchmarks=("xsub", "xset")),
}

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class SampleName:
    """The fields of an NTU file name; `label` is the 0-based class."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """0-based class index (action - 1)."""
        return self.action - 1

    def __str__(self) -> str:
        return (
            f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
            f"R{self.replication:03d}A{self.action:03d}"
        )


def parse_sample_name(name: str) -> SampleName | None:
    """The fields of a name like S001C002P003R002A023(.skeleton), or None if it is not one."""
    match = _NAME.match(name)
    return SampleName(*(int(g) for g in match.groups())) if match else None


def in_dataset(sample: SampleName, dataset: str) -> bool:
    """True when the sample belongs to the release (NTU-60 is setups 1-17, actions 1-60)."""
    spec = DATASETS[dataset]
    return 1 <= sample.setup <= spec.num_setups and 1 <= sample.action <= spec.num_class


def is_training(sample: SampleName, dataset: str, benchmark: str) -> bool:
    """True when the sample is in the training split of the benchmark, as published."""
    if benchmark not in DATASETS[dataset].benchmarks:
        raise ValueError(f"{dataset} has no benchmark {benchmark!r}")
    if benchmark == "xview":
        return sample.camera in XVIEW_TRAIN_CAMERAS
    if benchmark == "xset":
        return sample.setup % 2 == 0
    performers = NTU60_XSUB_TRAIN_PERFORMERS if dataset == "ntu60" else NTU120_XSUB_TRAIN_PERFORMERS
    return sample.performer in performers
