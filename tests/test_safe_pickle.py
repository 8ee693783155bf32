"""Label and score pickles are data: a crafted one must not run code under train.ensemble or
train.evaluate, and every format the project or the original code writes still loads."""

from __future__ import annotations

import os
import pickle
import subprocess

import numpy as np
import pytest

from train import ensemble as ensemble_cli
from train.feeder import read_labels
from train.metrics import load_scores, save_scores
from train.safe_pickle import UnsafePickleError, load_data_pickle


class _Exploit:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _write(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def test_a_malicious_label_pickle_does_not_run(tmp_path, capsys):
    """train.ensemble with a label pickle that would run `touch`: refused, nothing runs."""
    marker = tmp_path / "pwned"
    labels = _write(tmp_path / "val_label.pkl", (["s0"], [_Exploit(marker)]))
    save_scores(tmp_path / "scores.pkl", ["s0"], np.array([[1.0, 0.0]]))
    status = ensemble_cli.main(["--scores", str(tmp_path / "scores.pkl"), "--labels", str(labels)])
    err = capsys.readouterr().err
    assert not marker.exists()
    assert status == 1 and "posix.system" in err and err.count("\n") == 1


def test_a_malicious_scores_pickle_does_not_run(tmp_path):
    """load_scores (train.ensemble, train.evaluate's output) refuses a code-running pickle."""
    marker = tmp_path / "pwned"
    scores = _write(tmp_path / "scores.pkl", {"s0": _Exploit(marker)})
    with pytest.raises(Exception, match="not data"):
        load_scores(scores)
    assert not marker.exists()


@pytest.mark.parametrize(
    "forbidden",
    [
        (os.system, ("true",)),
        (eval, ("1",)),
        (subprocess.call, (["true"],)),
    ],
)
def test_any_other_callable_is_refused(tmp_path, forbidden):
    """Builtins and modules outside the allow-list are refused by name."""

    class Reduce:
        def __reduce__(self):
            return forbidden

    with pytest.raises(UnsafePickleError):
        load_data_pickle(_write(tmp_path / "x.pkl", [Reduce()]))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_the_formats_the_project_writes_still_load(tmp_path, protocol):
    """(names, labels) with int or numpy labels, and {name: float32 array} scores."""
    names = ["S001C001P001R001A001.skeleton", "S001C001P001R001A002.skeleton"]
    for labels in ([0, 1], np.array([0, 1]), [np.int64(0), np.int64(1)]):
        path = _write(tmp_path / "l.pkl", (names, labels), protocol)
        assert read_labels(path)[1].tolist() == [0, 1]
    table = {n: np.arange(3, dtype=np.float32) + i for i, n in enumerate(names)}
    path = _write(tmp_path / "s.pkl", table, protocol)
    assert load_scores(path)[names[1]].tolist() == [1.0, 2.0, 3.0]
