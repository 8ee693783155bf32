"""Checkpoint registry: released and project-trained Shift-GCN weights, class names, downloads."""
from common.download import DownloadFailed
from weights.registry import (
    WeightEntry,
    class_names,
    default_name,
    entries,
    fetch_checkpoint,
    get,
    register,
    resolve,
    verify,
    weights_dir,
)

__all__ = [
    "DownloadFailed", "WeightEntry", "class_names", "default_name", "entries",
    "fetch_checkpoint", "get", "register", "resolve", "verify", "weights_dir",
]
