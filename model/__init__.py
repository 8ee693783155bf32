"""Shift-GCN: the network, its input conventions and checkpoints. Imports no MediaPipe, OpenCV or Qt."""
from .checkpoint import LoadReport, load_model, save_checkpoint
from .config import ExcitationConfig, ModelConfig
from .device import select_device
from .errors import UserError
from .shift_gcn import ShiftGCN


def build_model(config: ModelConfig | None = None) -> ShiftGCN:
    """A freshly initialised Shift-GCN (the released architecture by default)."""
    return ShiftGCN(config)


__all__ = [
    "ExcitationConfig", "LoadReport", "ModelConfig", "ShiftGCN", "UserError",
    "build_model", "load_model", "save_checkpoint", "select_device",
]
