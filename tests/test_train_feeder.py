"""The dataset over gendata's memory-mapped arrays, and its one-line errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from train_helpers import write_tiny_dataset

from common.errors import UserError
from train.feeder import SkeletonFeeder, read_labels


def test_items_are_samples_labels_and_indices(tmp_path):
    write_tiny_dataset(tmp_path, classes=3, per_class=(4, 2), frames=16)
    feeder = SkeletonFeeder(tmp_path, "train", "bone")
    assert len(feeder) == 12 and feeder.num_frames == 16
    assert isinstance(feeder.data, np.memmap)  # never the whole split in memory
    x, label, index = feeder[5]
    assert x.dtype == torch.float32 and x.shape == (3, 16, 25, 2)
    assert (label, index) == (1, 5)
    np.testing.assert_array_equal(x.numpy(), np.load(tmp_path / "train_data_bone.npy")[5])
    clone = pickle.loads(pickle.dumps(feeder))  # what a spawned loader worker gets
    assert len(pickle.dumps(feeder)) < x.numel() * 4 and torch.equal(clone[5][0], x)
    names, labels = read_labels(tmp_path / "val_label.pkl")
    assert names[0].startswith("S001") and labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        SkeletonFeeder(tmp_path / "nowhere", "train", "joint")
    write_tiny_dataset(tmp_path, frames=8)
    (tmp_path / "val_data_joint.npy").unlink()
    with pytest.raises(UserError, match="val_data_joint.npy does not exist"):
        SkeletonFeeder(tmp_path, "val", "joint")


def test_wrong_shape_is_refused(tmp_path):
    write_tiny_dataset(tmp_path, frames=8)
    np.save(tmp_path / "train_data_joint.npy", np.zeros((18, 3, 8, 17, 2), np.float32))
    with pytest.raises(UserError, match=r"shape \(18, 3, 8, 17, 2\); expected \(N, 3, T, 25, 2\)"):
        SkeletonFeeder(tmp_path, "train", "joint")


def test_labels_must_match_the_array(tmp_path):
    write_tiny_dataset(tmp_path, frames=8)
    with (tmp_path / "train_label.pkl").open("wb") as f:
        pickle.dump((["a", "b"], [0, 1]), f)
    with pytest.raises(UserError, match="18 samples but .* 2 labels"):
        SkeletonFeeder(tmp_path, "train", "joint")


@pytest.mark.parametrize(
    "content", [b"not a pickle", pickle.dumps({"a": 1}), pickle.dumps((["a"], [0, 1]))]
)
def test_corrupt_label_files_are_refused(tmp_path, content):
    path = tmp_path / "val_label.pkl"
    path.write_bytes(content)
    with pytest.raises(UserError, match="val_label.pkl"):
        read_labels(path)


def test_corrupt_array_is_refused(tmp_path):
    write_tiny_dataset(tmp_path, frames=8)
    (tmp_path / "train_data_joint.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(UserError, match="not a readable .npy"):
        SkeletonFeeder(tmp_path, "train", "joint")
