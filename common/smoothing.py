"""Exponential moving averages: joints, limb speeds and class probabilities steadied over time."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

Value = TypeVar("Value", float, np.ndarray)


def exponential_average(past: Value, new: Value, memory: float) -> Value:
    """`memory` of the past plus the rest of the new value (memory 0: the new value itself)."""
    return memory * past + (1.0 - memory) * new
