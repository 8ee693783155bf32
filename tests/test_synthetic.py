"""train.synthetic: valid NTU files, every class in both halves of every split, separable."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest

from common.errors import UserError
from ntu.splits import DATASETS, is_training, parse_sample_name
from train import synthetic
from train.gendata import generate as gendata
from train.skeleton import read_skeleton


def test_files_are_valid_ntu_samples_in_kinect_space(tmp_path):
    paths = synthetic.generate(tmp_path, classes=4, per_class=3, seed=5, progress=False)
    assert len(paths) == 12 and len({p.name for p in paths}) == 12
    for path in paths:
        sample = parse_sample_name(path.name)
        assert sample is not None and 1 <= sample.action <= 4
        raw = read_skeleton(path)
        frames = np.flatnonzero(np.abs(raw[..., 0]).sum(axis=(0, 2)))
        assert 2 * synthetic.FPS <= len(frames) <= 4 * synthetic.FPS
        assert not np.any(raw[..., 1])  # one performer
        body = raw[..., 0][:, frames]  # (3, frames, 25)
        assert np.all((body[2] > 1.5) & (body[2] < 4.5))  # metres in front of the sensor
        height = body[1, :, 3] - body[1, :, [15, 19]].min(axis=0)  # head above the feet
        assert 1.0 < np.median(height) < 2.1


def test_same_seed_same_files(tmp_path):
    first = synthetic.generate(tmp_path / "a", classes=2, per_class=2, seed=3, progress=False)
    second = synthetic.generate(tmp_path / "b", classes=2, per_class=2, seed=3, progress=False)
    assert [p.read_text() for p in first] == [p.read_text() for p in second]


@pytest.mark.parametrize("per_class", [2, 5])
def test_every_class_lands_in_train_and_val_of_every_benchmark(per_class):
    for dataset, spec in DATASETS.items():
        for bench in spec.benchmarks:
            for label in range(0, 120, 7):
                names = synthetic.sample_names(label, per_class)
                assert len(set(names)) == per_class
                halves = Counter(is_training(n, dataset, bench) for n in names)
                assert halves[True] and halves[False], (dataset, bench, label, per_class)


def test_names_stay_distinct_for_large_sets():
    names = synthetic.sample_names(0, synthetic.MAX_PER_CLASS)
    assert len({str(n) for n in names}) == synthetic.MAX_PER_CLASS


def test_classes_are_separable_after_gendata(tmp_path):
    """A nearest-centroid classifier on simple joint statistics already tells classes apart."""
    classes = 14  # all 12 motions plus two posture variants
    synthetic.generate(tmp_path / "raw", classes=classes, per_class=6, seed=2, progress=False)
    gendata(
        "ntu60", tmp_path / "raw", tmp_path / "data", benchmarks=["xsub"], workers=1, progress=False
    )
    features, labels = {}, {}
    for split in ("train", "val"):
        joint = np.load(tmp_path / "data" / "xsub" / f"{split}_data_joint.npy")[..., 0]
        features[split] = np.concatenate([joint.mean(axis=2), joint.std(axis=2)], axis=1)
        features[split] = features[split].reshape(len(joint), -1)
        with open(tmp_path / "data" / "xsub" / f"{split}_label.pkl", "rb") as f:
            labels[split] = np.asarray(pickle.load(f)[1])
    centroids = np.stack([features["train"][labels["train"] == k].mean(0) for k in range(classes)])
    distances = ((features["val"][:, None] - centroids[None]) ** 2).sum(-1)
    accuracy = (distances.argmin(axis=1) == labels["val"]).mean()
    assert accuracy >= 0.9


def test_class_names_and_limits(tmp_path, capsys):
    names = synthetic.class_names(14)
    assert names[:4] == ["waving", "jumping", "squatting", "clapping"]
    assert len(set(names)) == 14
    with pytest.raises(UserError):
        synthetic.generate(tmp_path, classes=synthetic.MAX_CLASSES + 1, per_class=1)
    assert synthetic.main(["--out", str(tmp_path), "--classes", "0", "--per-class", "3"]) == 1
    assert capsys.readouterr().err.startswith("error:")
    assert synthetic.main(["--out", str(tmp_path), "--classes", "2", "--per-class", "2"]) == 0
    assert len(list(tmp_path.glob("*.skeleton"))) == 4
