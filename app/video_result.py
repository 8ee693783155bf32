"""What classifying one video gives, as typed records: each classified window, the timeline of
segments merged from them, and the video's result (its top-5 from pipeline.summary's math).

Their `to_json()` is the JSON report's objects, key for key; app.video_reports writes them.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline import Prediction, top_k
from pipeline.summary import time_range

TOP = 5  # classes reported per video and per window


@dataclass(frozen=True)
class Window:
    """One classified window: its time range (seconds and frames) and its own top-5
    ([{"index", "label", "score"}], best first)."""

    start: float
    end: float
    start_frame: int
    end_frame: int
    top5: list[dict[str, Any]]

    @classmethod
    def of(cls, prediction: Prediction, fps: float, class_names: list[str] | None) -> Window:
        """The window a prediction of the streaming classifier describes."""
        return cls(**time_range(prediction, fps), top5=top_k(prediction.probs, TOP, class_names))

    @property
    def best(self) -> dict[str, Any]:
        """The window's top-1: {"index", "label", "score"}."""
        return self.top5[0]

    def to_json(self) -> dict[str, Any]:
        """The window's JSON object: start, end, start_frame, end_frame, top5."""
        return asdict(self)


@dataclass(frozen=True)
class Segment:
    """Consecutive windows with the same best class: one stretch of the video's timeline."""

    start: float
    end: float
    start_frame: int
    end_frame: int
    index: int
    label: str
    score: float  # the class's mean probability over the segment's windows
    windows: int

    def to_json(self) -> dict[str, Any]:
        """The segment's JSON object (and CSV row, less the video and its number)."""
        return asdict(self)


def merge_windows(windows: list[Window]) -> list[Segment]:
    """Consecutive windows with the same best class as one segment: the video's timeline.

    A segment runs from its first window's start (or, as windows overlap, the previous
    segment's end) to its last window's end; its score is its class's mean probability over
    its windows.
    """
    segments: list[Segment] = []
    for index, run in itertools.groupby(windows, key=lambda window: window.best["index"]):
        run = list(run)
        start, start_frame = run[0].start, run[0].start_frame
        if segments and start < segments[-1].end:
            start, start_frame = segments[-1].end, segments[-1].end_frame
        segments.append(
            Segment(
                start=start,
                end=run[-1].end,
                start_frame=start_frame,
                end_frame=run[-1].end_frame,
                index=index,
                label=run[0].best["label"],
                score=float(np.mean([window.best["score"] for window in run])),
                windows=len(run),
            )
        )
    return segments


@dataclass
class VideoResult:
    """What classifying one video gave: the JSON fields, and the skeletons for --save-skeleton."""

    video: str
    fps: float
    frames: int
    frames_with_person: int
    top5: list[dict[str, Any]]
    windows: list[Window]
    action_at: dict[str, Any]  # the window where the video's likeliest action scored highest
    segments: list[Segment]
    skeleton: np.ndarray = field(repr=False)  # (3, T, 25, 2)
    probs: np.ndarray = field(repr=False)  # (num_class,) the video's, whose top-5 is `top5`
    window_probs: np.ndarray = field(repr=False)  # (windows, num_class) each window's own
    seconds: float = 0.0  # how long classifying (and annotating) took
    known: bool = True  # the top-1 scores at least summary.unknown_below: an action it knows

    @property
    def verdict(self) -> str:
        """What the video shows in words: its top-1, or 'no known action' below the threshold."""
        return self.top5[0]["label"] if self.known else "no known action"

    def to_json(self) -> dict[str, Any]:
        """The JSON object for this video."""
        return {
            "video": self.video,
            "fps": self.fps,
            "frames": self.frames,
            "frames_with_person": self.frames_with_person,
            "top5": self.top5,
            "known": self.known,
            "verdict": self.verdict,
            "action_at": self.action_at,
            "windows": [window.to_json() for window in self.windows],
            "segments": [segment.to_json() for segment in self.segments],
        }
