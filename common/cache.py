"""The user's cache folder for what the project fetches or computes once (pose models, the demo
clip, checkpoint digests): never the repository or the weights folder, which may be read-only."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "shiftgcn-live"


def user_cache_dir(*parts: str) -> Path:
    """$XDG_CACHE_HOME/shiftgcn-live/<parts> (XDG's default ~/.cache where it is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).joinpath(APP_NAME, *parts)
