"""Checkpoint registry: released and project-trained Shift-GCN weights, class names, downloads."""

from common.download import DownloadFailed
from weights.registry import (
    WeightEntry,
    default_name,
    entries,
    fetch_checkpoint,
    get,
    load_model,
    register,
    resolve,
    verify,
    weights_dir,
)

__all__ = [
    "DownloadFailed",
    "WeightEntry",
    "default_name",
    "entries",
    "fetch_checkpoint",
    "get",
    "load_model",
    "register",
    "resolve",
    "verify",
    "weights_dir",
]
