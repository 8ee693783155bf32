"""Checkpoint registry: released and project-trained Shift-GCN weights, class names, downloads."""
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
    "WeightEntry", "class_names", "default_name", "entries", "fetch_checkpoint", "get",
    "register", "resolve", "verify", "weights_dir",
]
