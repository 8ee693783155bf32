"""Bounds on the sizes a user gives (window, stride, batch, workers, frames in a file): checked
before any memory is taken, so that a typo such as --window 1000000000 is one line, not a machine
brought down by the allocation."""

from __future__ import annotations

import math
import os
from numbers import Integral, Real

from .errors import UserError, excerpt

MAX_WINDOW = 3000  # frames a classified window may span: 100 s at NTU's 30 fps
MAX_PAD = 3000  # frames a window may be loop-padded to (the released models saw 300)
MAX_BATCH = 4096  # samples per batch (a 300-frame NTU batch of 4096 is 0.74 GB of float32 input)
MAX_FILE_FRAMES = 10_000  # frames per sample in a data file (NTU's are 300)
MAX_EPOCHS = 100_000


def max_workers() -> int:
    """Worker processes a command may start: four per CPU core."""
    return 4 * (os.cpu_count() or 1)


def check_size(what: str, value: object, low: int, high: int) -> int:
    """`value` as an int in [low, high], or a UserError naming the bound."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise UserError(f"{what} must be a whole number from {low} to {high}, got {excerpt(value)}")
    if not low <= value <= high:
        raise UserError(f"{what} {value} is out of bounds: give a number from {low} to {high}")
    return int(value)


def check_number(
    what: str, value: object, low: float, high: float, *, above_low: bool = False
) -> float:
    """`value` as a finite float in [low, high] ((low, high] with `above_low`), or a UserError
    naming the range (NaN and infinities fail every comparison, so they are named too)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise UserError(f"{what} must be a number, got {excerpt(value)}")
    number = float(value)
    inside = (low < number if above_low else low <= number) and number <= high
    if not (math.isfinite(number) and inside):
        bound = f"({low:g}, {high:g}]" if above_low else f"[{low:g}, {high:g}]"
        raise UserError(f"{what} {value} is out of range: give a finite number in {bound}")
    return number
