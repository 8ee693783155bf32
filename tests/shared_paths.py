"""Where the shared fixtures live (../shared beside the checkout); a skip when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
OFFICIAL_WEIGHTS = SHARED / "weights" / "official"


def require_shared(*relative: str) -> Path:
    """Path under ../shared, or skip the test saying it is missing (as in a user's clone)."""
    return require(SHARED.joinpath(*relative))


def require(path: Path) -> Path:
    """`path` (under ../shared), or skip: shared fixtures exist only beside the team's checkout."""
    if not path.exists():
        pytest.skip(f"{path} is absent: shared fixtures exist only beside the team's checkout")
    return path
