"""Device choice shared by every command: auto picks CUDA where there is one."""

from __future__ import annotations

import torch

from .errors import UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(name: str = "auto") -> torch.device:
    """Turn auto|cpu|cuda[:N] into a torch.device, with one clear line when CUDA is missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"--device {name}: no CUDA GPU is visible to PyTorch; use --device cpu or auto"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not one of {', '.join(DEVICE_CHOICES)}") from None
