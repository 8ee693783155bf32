"""Frames in time: a source's frames resampled to the model's rate, and how much a window moved."""

from __future__ import annotations

import numpy as np


def resample_index(times: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each wanted time, the index of the nearest frame at or before it (frames that come
    before the first one are left out): how a source's frames are resampled to the model's fps."""
    index = np.searchsorted(times, wanted + 1e-6, side="right") - 1
    return index[index >= 0]


def resample_clip(times: np.ndarray, fps: float) -> np.ndarray:
    """Indices of a whole clip's frames at `fps` (ticks back from its last frame, as the live
    window is taken), so training clips see the frame rate the live classifier gives the model."""
    count = int(np.floor((times[-1] - times[0]) * fps + 1e-6)) + 1
    return resample_index(times, times[-1] - np.arange(count - 1, -1, -1) / fps)


def window_motion(frames: np.ndarray, fps: float) -> float:
    """Mean speed (metres per second) of body 0's joints over consecutive frames that both show
    it in a (T, 3, 25, 2) window: how much the person moved."""
    body = frames[..., 0]
    present = body.reshape(len(body), -1).any(axis=1)
    both = present[1:] & present[:-1]
    if not both.any():
        return 0.0
    step = np.linalg.norm(body[1:] - body[:-1], axis=1)  # (T - 1, 25)
    return float(step[both].mean() * fps)
