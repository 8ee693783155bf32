"""The frame pipeline: pose estimator -> body tracker -> streaming classifier, one frame at a
time, with what each stage took."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pose import BodyTracker, Person, PoseEstimator

from .classifier import StreamingClassifier
from .prediction import Prediction


@dataclass
class FrameResult:
    """What one frame produced: people to draw, the NTU skeleton, the latest prediction, timings."""

    index: int
    timestamp: float
    people: list[Person]  # everyone the pose estimator found
    slots: list[Person | None]  # who is in body slot 0 and 1 (None: empty or held)
    identities: list[int]  # a stable number per slot occupant (-1: empty)
    skeleton: np.ndarray  # (3, 25, 2) as fed to the classifier
    prediction: Prediction | None  # the latest prediction (from this frame or earlier)
    new_prediction: bool  # whether `prediction` was produced by this frame
    timings: dict[str, float] = field(default_factory=dict)  # per stage, ms

    @property
    def has_person(self) -> bool:
        """Whether anyone was seen in this frame."""
        return bool(self.people)


class FramePipeline:
    """Pose estimator -> body tracker -> streaming classifier, one frame at a time."""

    def __init__(
        self, estimator: PoseEstimator, tracker: BodyTracker, classifier: StreamingClassifier
    ) -> None:
        self.estimator, self.tracker, self.classifier = estimator, tracker, classifier
        self._index = 0

    def process(
        self,
        frame_bgr: np.ndarray,
        timestamp: float,
        capture_ms: float = 0.0,
        arrival: float | None = None,
    ) -> FrameResult:
        """Run every stage on one frame (timestamp in seconds) and report what each took;
        `arrival` (perf_counter) is when the frame was read, so latency includes its wait for
        pose (by default, now)."""
        t0 = time.perf_counter()
        people = self.estimator.estimate(frame_bgr)
        t1 = time.perf_counter()
        skeleton = self.tracker.update(people, timestamp)
        t2 = time.perf_counter()
        fresh = self.classifier.push(
            skeleton if np.any(skeleton) else None, timestamp, t0 if arrival is None else arrival
        )
        t3 = time.perf_counter()
        latest = self.classifier.latest
        timings = {
            "capture_ms": capture_ms,
            "pose_ms": 1000 * (t1 - t0),
            "track_ms": 1000 * (t2 - t1),
            "classify_ms": 1000 * (t3 - t2),
            "inference_ms": latest.inference_ms if latest else float("nan"),
            "latency_ms": latest.latency_ms if latest else float("nan"),
        }
        result = FrameResult(
            index=self._index,
            timestamp=timestamp,
            people=people,
            slots=self.tracker.people,
            identities=self.tracker.identities,
            skeleton=skeleton,
            prediction=latest,
            new_prediction=fresh is not None,
            timings=timings,
        )
        self._index += 1
        return result

    def finish(self) -> Prediction | None:
        """The source ended: the prediction over its last frames not classified yet, if any
        (see StreamingClassifier.finish)."""
        return self.classifier.finish()

    def reset(self) -> None:
        """Start over (a new video): forget tracked people and the window."""
        self.estimator.reset()
        self.tracker.reset()
        self.classifier.reset()
        self._index = 0

    def close(self) -> None:
        """Release the pose backend and the inference thread."""
        self.estimator.close()
        self.classifier.close()
