"""NTU RGB+D class names in label order, from the label files shipped in ntu/labels/."""

from __future__ import annotations

from pathlib import Path

from common.errors import UserError
from ntu.splits import DATASETS

LABELS_DIR = Path(__file__).resolve().parent / "labels"


def class_names(dataset: str) -> list[str]:
    """Class names of `dataset` (ntu60, ntu120) in label order."""
    path = LABELS_DIR / f"{dataset}.txt"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in LABELS_DIR.glob("*.txt")))
        raise UserError(f"no class names for dataset '{dataset}' in {LABELS_DIR}; known: {known}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dataset_of(num_class: int) -> str | None:
    """The NTU dataset with `num_class` classes (a released checkpoint's), None for others."""
    return next((name for name, spec in DATASETS.items() if spec.num_class == num_class), None)
