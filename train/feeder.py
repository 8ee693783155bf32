"""The training dataset: memory-mapped `<split>_data_<stream>.npy` and `<split>_label.pkl`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from common.errors import UserError
from common.limits import MAX_FILE_FRAMES, check_size
from ntu.joints import NUM_BODIES, NUM_JOINTS

from .gendata import data_file, label_file
from .safe_pickle import load_data_pickle


def read_labels(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a pickled (sample_names, labels) pair; labels come back as an int64 array."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"label file {path} does not exist (run python -m train.gendata first)")
    try:
        names, labels = load_data_pickle(path)
        names = [str(n) for n in names]
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except Exception as err:  # a pickle can fail in many ways; all mean "not a label file"
        raise UserError(f"label file {path} is not a pickled (names, labels) pair: {err}") from None
    if len(names) != len(labels):
        raise UserError(f"label file {path} has {len(names)} names but {len(labels)} labels")
    if len(labels) and labels.min() < 0:
        raise UserError(f"label file {path} has negative labels")
    return names, labels


def open_array(path: Path) -> np.ndarray:
    """Memory-map a (N, 3, T, 25, 2) float array, checking its shape without reading it."""
    if not path.is_file():
        raise UserError(f"data file {path} does not exist (run python -m train.gendata first)")
    try:
        data = np.load(path, mmap_mode="r")
    except Exception as err:  # numpy raises ValueError, OSError, EOFError... for a bad file
        raise UserError(f"data file {path} is not a readable .npy array: {err}") from None
    if data.ndim != 5 or data.shape[1] != 3 or data.shape[3:] != (NUM_JOINTS, NUM_BODIES):
        raise UserError(
            f"data file {path} has shape {tuple(data.shape)}; "
            f"expected (N, 3, T, {NUM_JOINTS}, {NUM_BODIES})"
        )
    check_size(f"data file {path}: frames per sample", int(data.shape[2]), 1, MAX_FILE_FRAMES)
    return data


class SkeletonFeeder(Dataset):
    """One split of one stream; items are (sample (3, T, 25, 2) float32 tensor, label, index)."""

    def __init__(self, data_dir: str | Path, split: str, stream: str) -> None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise UserError(
                f"data dir {data_dir} does not exist "
                "(run python -m train.gendata, or give --data-dir)"
            )
        self.path = data_file(data_dir, split, stream)
        self._data: np.ndarray | None = open_array(self.path)
        self.names, self.labels = read_labels(label_file(data_dir, split))
        if len(self.names) != len(self._data):
            raise UserError(
                f"{self.path} has {len(self._data)} samples "
                f"but {label_file(data_dir, split)} has {len(self.names)} labels"
            )

    @property
    def data(self) -> np.ndarray:
        """The memory-mapped array, opened again in each loader process."""
        if self._data is None:
            self._data = np.load(self.path, mmap_mode="r")
        return self._data

    def __getstate__(self) -> dict:
        """Pickle the path, not the array (spawned loader workers would copy the whole split)."""
        return {**self.__dict__, "_data": None}

    @property
    def num_frames(self) -> int:
        """Frames per sample (300 for NTU)."""
        return int(self.data.shape[2])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        sample = np.array(self.data[index], dtype=np.float32)  # copy out of the memory map
        return torch.from_numpy(sample), int(self.labels[index]), index
