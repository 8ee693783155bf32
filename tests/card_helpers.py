"""Synthetic project checkpoints for tests: a network saved with the card of what it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model import ModelCard, save_checkpoint


def save_plain(
    path: Path,
    net: Any,
    class_names: list[str] | None = None,
    stream: str = "joint",
    extra: dict[str, Any] | None = None,
) -> None:
    """Save `net` with ModelCard.known: its class names (NTU's for an NTU class count when
    none are given), its stream, NTU's input."""
    card = ModelCard.known(net.num_class, class_names, stream)
    save_checkpoint(path, net, card, extra=extra)
