"""Accuracy helpers, score files and the weighted ensemble of streams."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from common.errors import UserError
from train import ensemble as ensemble_cli
from train.ensemble import ensemble
from train.metrics import confusion_matrix, load_scores, save_scores, topk_accuracy


def test_topk_and_confusion():
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
    labels = np.array([1, 1, 2, 2])
    assert topk_accuracy(scores, labels, 1) == 50.0
    assert topk_accuracy(scores, labels, 2) == 75.0
    assert topk_accuracy(scores, labels, 5) == 100.0  # k above the class count means all
    matrix = confusion_matrix(scores.argmax(1), labels, 3)
    assert matrix.tolist() == [[0, 0, 0], [1, 1, 0], [1, 0, 1]]


@pytest.fixture
def two_streams(tmp_path):
    """Two streams that are each right on half the samples, and right together on all."""
    names = [f"s{i}" for i in range(4)]
    labels = [0, 1, 0, 1]
    a = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.5], [0.5, 0.0]])  # sure of 0,1; wrong on 2,3
    b = np.array([[0.0, 0.5], [0.5, 0.0], [2.0, 0.0], [0.0, 2.0]])  # the other way round
    save_scores(tmp_path / "a.pkl", names, a)
    save_scores(tmp_path / "b" / "scores.pkl", names[::-1], b[::-1])  # order must not matter
    with (tmp_path / "val_label.pkl").open("wb") as f:
        pickle.dump((names, labels), f)
    return tmp_path


def test_summed_streams_beat_each_stream(two_streams):
    result = ensemble([two_streams / "a.pkl", two_streams / "b"], two_streams / "val_label.pkl")
    assert result.single_top1 == [50.0, 50.0]
    assert (result.top1, result.samples) == (100.0, 4)
    weighted = ensemble(
        [two_streams / "a.pkl", two_streams / "b"], two_streams / "val_label.pkl", [1, 0]
    )
    assert weighted.top1 == 50.0


def test_cli_prints_the_ensemble(two_streams, capsys):
    status = ensemble_cli.main(
        [
            "--scores",
            str(two_streams / "a.pkl"),
            str(two_streams / "b"),
            "--labels",
            str(two_streams / "val_label.pkl"),
            "--alphas",
            "1",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0 and "top-1 100.00%  top-5 100.00%" in out


def test_scores_round_trip_as_float32(tmp_path):
    save_scores(tmp_path / "s.pkl", ["x", "y"], np.array([[1.5, 2.5], [3.0, 4.0]]))
    with (tmp_path / "s.pkl").open("rb") as f:
        raw = pickle.load(f)
    assert raw["x"].dtype == np.float32 and list(raw) == ["x", "y"]
    assert load_scores(tmp_path / "s.pkl")["y"].tolist() == [3.0, 4.0]


def test_mismatches_are_one_clear_error(two_streams, capsys):
    labels = two_streams / "val_label.pkl"
    with pytest.raises(UserError, match="2 alphas for 1 scores files"):
        ensemble([two_streams / "a.pkl"], labels, [1, 1])
    save_scores(two_streams / "other.pkl", ["t0", "t1"], np.zeros((2, 2)))
    with pytest.raises(UserError, match="lacks 4 of the 4 labelled samples"):
        ensemble([two_streams / "other.pkl"], labels)
    save_scores(two_streams / "wide.pkl", [f"s{i}" for i in range(4)], np.zeros((4, 3)))
    with pytest.raises(UserError, match="different numbers of classes"):
        ensemble([two_streams / "a.pkl", two_streams / "wide.pkl"], labels)
    (two_streams / "junk.pkl").write_bytes(b"junk")
    assert (
        ensemble_cli.main(["--scores", str(two_streams / "junk.pkl"), "--labels", str(labels)]) == 1
    )
    assert "error: scores file" in capsys.readouterr().err
