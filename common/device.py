"""Device choice shared by every command: auto picks CUDA where there is one."""

from __future__ import annotations

import re

import torch

from .errors import UserError, excerpt

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # and cuda:N, a GPU by its index


def is_device_name(name: str) -> bool:
    """Whether `name` is one of DEVICE_CHOICES or cuda:N: what select_device and --device take."""
    return name in DEVICE_CHOICES or re.fullmatch(r"cuda:\d+", name) is not None


def select_device(name: str = "auto") -> torch.device:
    """Turn auto|cpu|cuda[:N] into a torch.device, with one clear line when CUDA is missing."""
    if not is_device_name(name):
        known = ", ".join(DEVICE_CHOICES)
        raise UserError(f"device {excerpt(name)} is not one of {known} or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"--device {name}: no CUDA GPU is visible to PyTorch; use --device cpu or auto"
        )
    return torch.device(name)
