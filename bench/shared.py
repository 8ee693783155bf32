"""Where the benchmarks find the team's shared fixtures: ../shared beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import UserError

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
OFFICIAL = SHARED / "weights" / "official"
ARMWRESTLING = FIXTURES / "video" / "armwrestling_340x256.mp4"
PAIRED = FIXTURES / "paired"  # an NTU RGB+D clip beside its Kinect skeleton
SKELETONS = FIXTURES / "skeletons"


def require_shared(*paths: Path) -> None:
    """One clear line for the first of `paths` (under ../shared) that is absent."""
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} is absent: the benchmark needs ../shared beside the checkout")


def use_released_weights() -> None:
    """Let the weights registry find the released checkpoints in ../shared, when it is there."""
    if OFFICIAL.is_dir():
        os.environ.setdefault("SHIFTGCN_WEIGHTS_DIR", str(OFFICIAL))
