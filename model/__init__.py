"""Shift-GCN: the network, its input conventions and checkpoints (no MediaPipe, OpenCV or Qt).

The network's names are loaded on first use, so that `import model.preprocess` (numpy only)
does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelCard": "card",
    "LoadedModel": "checkpoint",
    "LoadReport": "checkpoint",
    "load_model": "checkpoint",
    "save_checkpoint": "checkpoint",
    "ExcitationConfig": "config",
    "ModelConfig": "config",
    "fuse_for_inference": "fuse",
    "ShiftGCN": "shift_gcn",
    "build_model": "shift_gcn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
