"""What the classifier publishes: a window's class probabilities, and their top-k."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Prediction:
    """Class probabilities for the window that ends at `timestamp`."""

    probs: np.ndarray  # (num_class,), smoothed when smoothing is on
    raw_probs: np.ndarray  # (num_class,), this window alone
    start: float  # timestamp of the window's first frame (seconds)
    timestamp: float  # timestamp of its last frame
    frames: int  # frames with a person in the window
    motion: float  # how fast the main body's joints moved in the window, metres per second
    inference_ms: float  # normalisation + network
    latency_ms: float  # from the last frame's arrival (before pose) to these probabilities
    class_names: list[str] | None = None

    def top(self, k: int = 5, smoothed: bool = True) -> list[dict[str, Any]]:
        """The k best classes as [{"index", "label", "score"}], best first."""
        return top_k(self.probs if smoothed else self.raw_probs, k, self.class_names)


def top_k(probs: np.ndarray, k: int, class_names: list[str] | None) -> list[dict[str, Any]]:
    """The k largest probabilities as [{"index", "label", "score"}], best first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [
        {
            "index": int(i),
            "label": class_names[i] if class_names else f"class {int(i)}",
            "score": float(probs[i]),
        }
        for i in order
    ]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of one window's logits (num_class,). Logits that are not finite give
    NaN, without a warning: the callers refuse such scores in one line of their own."""
    with np.errstate(over="ignore", invalid="ignore"):
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()
