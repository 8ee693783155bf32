"""Accuracy, confusion matrices and the per-epoch metrics table."""

from __future__ import annotations

import csv
import io
import pickle
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.fileio import atomic_write

from .safe_pickle import load_data_pickle

METRIC_COLUMNS = ("epoch", "train_loss", "val_loss", "top1", "top5", "lr", "seconds")


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Percentage of samples whose label is among the k highest scores."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(100.0 * np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_class: int) -> np.ndarray:
    """Counts of (true label, predicted label) pairs, rows are true labels."""
    matrix = np.zeros((num_class, num_class), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def write_metrics_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Rewrite the whole metrics table atomically (so it always matches the last checkpoint)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path) as tmp:
        tmp.write_text(buffer.getvalue())


def read_metrics_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a metrics.csv, as strings."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def save_scores(path: Path, names: list[str], scores: np.ndarray) -> None:
    """Write per-sample scores as a pickled {sample_name: float32 scores} dict (for ensembles)."""
    table = {name: row.astype(np.float32) for name, row in zip(names, scores)}
    with atomic_write(path) as tmp, tmp.open("wb") as f:
        pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_scores(path: str | Path) -> dict[str, np.ndarray]:
    """Read a {sample_name: scores} pickle (train.run, train.evaluate or the original code)."""
    path = Path(path)
    if path.is_dir():
        path = path / "scores.pkl"
    if not path.is_file():
        raise UserError(f"scores file {path} does not exist")
    try:
        table = load_data_pickle(path)
        table = {
            str(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in dict(table).items()
        }
    except Exception as err:  # any unpickling failure means the file is not a score table
        raise UserError(
            f"scores file {path} is not a pickled {{sample_name: scores}} dict: {err}"
        ) from None
    if len({v.shape for v in table.values()}) > 1:
        raise UserError(f"scores file {path} has score vectors of different lengths")
    return table
