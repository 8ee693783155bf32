"""A video's summary from its windows' predictions: the video-level probabilities (each window
weighted by how much of the action it saw, mixed with each class's clearest stretch) and where
in the video an action is clearest. Shared by classify_video and own-action evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np

from .prediction import Prediction
from .settings import SummarySettings

# A window in which the person moved least still counts this fraction of the liveliest one.
MIN_MOTION_WEIGHT = 0.25


def time_range(prediction: Prediction, fps: float) -> dict[str, Any]:
    """A window's time range in seconds and frames."""
    return {
        "start": round(prediction.start, 3),
        "end": round(prediction.timestamp, 3),
        "start_frame": int(round(prediction.start * fps)),
        "end_frame": int(round(prediction.timestamp * fps)),
    }


def window_weights(predictions: list[Prediction], window: int) -> np.ndarray:
    """How much each window counts in the video's top-5: the share of its frames that show a
    person, times how fast the person moved in it relative to the video's liveliest window (at
    least MIN_MOTION_WEIGHT). A window of the first half-second, or a still stretch (waiting,
    lying after a fall), then does not outweigh the windows that saw the action."""
    seen = np.array([p.frames for p in predictions], dtype=np.float64) / window
    motion = np.array([p.motion for p in predictions], dtype=np.float64)
    if motion.max() <= 0:
        return seen
    return seen * np.clip(motion / motion.max(), MIN_MOTION_WEIGHT, 1.0)


def stretch_scores(predictions: list[Prediction], window: int, span: float) -> np.ndarray:
    """(windows, classes): for each window, the mean probabilities of the stretch of windows
    ending within `span` seconds from its end, each window's counted by the share of its frames
    that show a person (a stretch of half-empty windows cannot be clear)."""
    ends = np.array([p.timestamp for p in predictions])
    seen = np.array([p.frames for p in predictions], dtype=np.float64) / window
    probs = np.array([p.raw_probs for p in predictions], dtype=np.float64) * seen[:, None]
    last = np.searchsorted(ends, ends + span + 1e-6, side="right")
    totals = np.vstack([np.zeros(probs.shape[1]), np.cumsum(probs, axis=0)])
    counts = (last - np.arange(len(ends)))[:, None]
    return (totals[last] - totals[:-1]) / counts


def video_probabilities(
    predictions: list[Prediction], window: int, summary: SummarySettings | None = None
) -> np.ndarray:
    """The video's class probabilities: the windows' own averaged with window_weights, mixed
    with each class's clearest stretch (stretch_scores) by summary.peak_weight, so that an
    action of a second or two that the windows around it clearly show is named even when the
    rest of the video is something else (the person then lies, walks or stands)."""
    summary = summary or SummarySettings()
    mean = np.average(
        [p.raw_probs for p in predictions], axis=0, weights=window_weights(predictions, window)
    )
    if summary.peak_weight == 0:
        return mean
    peak = stretch_scores(predictions, window, summary.peak_span).max(axis=0)
    mixed = (1 - summary.peak_weight) * mean + summary.peak_weight * peak
    return mixed / mixed.sum()


def action_at(
    predictions: list[Prediction],
    index: int,
    fps: float,
    window: int,
    summary: SummarySettings | None = None,
) -> dict[str, Any]:
    """Where in the video class `index` is clearest: the stretch of windows (stretch_scores)
    where it scores highest, its time range and that score."""
    summary = summary or SummarySettings()
    scores = stretch_scores(predictions, window, summary.peak_span)[:, index]
    first = int(np.argmax(scores))
    ends = np.array([p.timestamp for p in predictions])
    last = int(np.searchsorted(ends, ends[first] + summary.peak_span + 1e-6, side="right")) - 1
    start = time_range(predictions[first], fps)
    end = time_range(predictions[last], fps)
    return {
        "start": start["start"],
        "end": end["end"],
        "start_frame": start["start_frame"],
        "end_frame": end["end_frame"],
        "score": float(scores[first]),
    }
