"""The streaming classifier: one skeleton per frame in, a prediction every `stride` frames out,
over the last `window` frames resampled to the model's frame rate."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from common.errors import UserError
from common.limits import MAX_PAD, MAX_WINDOW, check_size
from common.smoothing import exponential_average
from model.card import ModelCard
from ntu.recording import FPS, SAMPLE_LENGTH

from .prediction import Prediction
from .priority import yield_to_pose
from .resampling import window_motion
from .windows import Member, Window, WindowClassifier, WindowCutter

MAX_BACKLOG = 4  # windows queued for the model at most when none may be dropped (a video)
MAX_ROTATIONS = 8  # test-time turns of a window at most (each one more network run)
MAX_SPEEDUPS = 4  # test-time faster views of a window at most (each one more network run)
MAX_SPEEDUP = 4.0  # the fastest a faster view may play (a window then spans 4 windows' time)


@dataclass
class ClassifierSettings:
    """The streaming classifier's settings; the defaults are the product's, a YAML `classifier:`
    section overrides them (load_settings)."""

    window: int = 64  # frames (at `fps`) per prediction (see bench.real_set and --window-study)
    stride: int = 15  # pushed frames between predictions
    fps: float = FPS  # the rate the window is resampled to (NTU's)
    # loop the window to this many frames as training did (0: none); must be the model card's
    # loop_to (a checkpoint whose card says otherwise is refused)
    pad_to: int = SAMPLE_LENGTH
    # compute a looped window on its own frames (runtime torch; the same top-1 as unlooped:
    # python -m bench.looped_windows)
    looped: bool = True
    min_frames: int = 16  # frames with a person needed before the first prediction
    smoothing: float = 0.0  # moving-average weight of the past on probabilities (0 = off)
    # also classify each window's mirror image and average, so that left- and right-handed
    # actions read alike (twice the model's work; on the three real sets of docs/accuracy.md
    # it lost more than it gained)
    either_hand: bool = False
    # also classify each window turned by these angles (degrees) about the body's upright axis
    # and average, as if seen by cameras beside this one (one more network run a window each;
    # on the real set [-15, 15] gained nothing: docs/accuracy.md)
    rotations: list[float] = field(default_factory=list)
    # also classify each window played this many times faster (the last window x speed
    # frames' time, resampled to `window` frames) and average, so that a slow performer or
    # slow-motion footage moves at NTU's pace in one view (one more network run a window each);
    # None: the checkpoint's registered ones ([2] for the NTU-60 pair), else none (a model of
    # your own actions learnt them at your pace)
    faster: list[float] | None = None
    # the logits are divided by this before the softmax: above 1, probabilities that mean what
    # they say on real people (python -m bench.real_set --calibrate fits it); None: the
    # checkpoint's calibrated one from the registry (3 for the NTU-60 pair), else 1
    temperature: float | None = None
    # other checkpoints (registry names or files) whose probabilities are averaged with the
    # model's, class by class by name: one that does not name every class of the model (or is
    # the model itself) is left out (pipeline.build); each costs one network run a window
    ensemble: list[str] = field(default_factory=lambda: ["ntu60-xview-joint"])

    def __post_init__(self) -> None:
        for name, low, high in (
            ("window", 4, MAX_WINDOW),
            ("stride", 1, MAX_WINDOW),
            ("pad_to", 0, MAX_PAD),
            ("min_frames", 0, MAX_WINDOW),
        ):
            check_size(f"bad classifier settings: {name}", getattr(self, name), low, high)
        numbers = (self.fps, self.smoothing, 1.0 if self.temperature is None else self.temperature)
        if not all(isinstance(v, (int, float)) for v in numbers):
            raise UserError(
                f"bad classifier settings: fps={self.fps!r}, smoothing={self.smoothing!r} and "
                f"temperature={self.temperature!r} must be numbers"
            )
        if (
            not isinstance(self.rotations, list)
            or len(self.rotations) > MAX_ROTATIONS
            or not all(
                isinstance(angle, (int, float)) and -90 <= angle <= 90 for angle in self.rotations
            )
        ):
            raise UserError(
                f"bad classifier settings: rotations={self.rotations!r} must be a list of at most "
                f"{MAX_ROTATIONS} angles in degrees, each in [-90, 90]"
            )
        if self.faster is not None and (
            not isinstance(self.faster, list)
            or len(self.faster) > MAX_SPEEDUPS
            or not all(
                isinstance(speed, (int, float)) and 1 < speed <= MAX_SPEEDUP
                for speed in self.faster
            )
        ):
            raise UserError(
                f"bad classifier settings: faster={self.faster!r} must be a list of at most "
                f"{MAX_SPEEDUPS} speeds, each above 1 and at most {MAX_SPEEDUP:g}"
            )
        if not isinstance(self.ensemble, list) or not all(
            isinstance(name, str) and name for name in self.ensemble
        ):
            raise UserError(
                f"bad classifier settings: ensemble={self.ensemble!r} must be a list of "
                "checkpoint names or files"
            )
        if (
            not 0 < self.fps <= 1000
            or not 0.0 <= self.smoothing < 1.0
            or not 0.05 <= numbers[2] <= 100
        ):
            raise UserError(
                f"bad classifier settings: fps={self.fps} (in (0, 1000]), "
                f"smoothing={self.smoothing} (in [0, 1)), temperature={self.temperature} "
                "(in [0.05, 100])"
            )


def check_fits(card: ModelCard, settings: ClassifierSettings, members: Sequence[Member]) -> None:
    """Refuse, in one line, settings that fill or time windows otherwise than the model was
    trained, and an ensemble member whose input differs from the model's. (A window of another
    length than the training windows is filled the same way: allowed.)"""
    where = "the classifier section of the pipeline settings"
    card.require("the model", where, loop_to=settings.pad_to, fps=settings.fps)
    for member in members:
        other = member.card
        card.require(
            "the model",
            f"ensemble member {member.name}",
            hint="leave that member out of classifier.ensemble",
            loop_to=other.loop_to,
            fps=other.fps,
            skeleton_format=other.skeleton_format,
        )


class StreamingClassifier:
    """Takes one skeleton per frame and every `stride` frames classifies the last `window`
    (see ClassifierSettings).

    The window is cut by pipeline.windows' WindowCutter, resampled to `fps` by timestamps (the
    nearest earlier frame), so the model sees NTU's frame rate whatever the source's, and
    classified by its WindowClassifier (`window_classifier`: the test-time options below).
    `background=True` runs the model in its own thread: push() never waits for it and returns
    each new prediction once, when ready. There,
    `drop_late=True` (live) skips windows that come while the model is busy, the newest wins;
    `drop_late=False` (a video) queues every window. With `keep_history`, `history` keeps every
    prediction in order (a video's segments). `runtime` computes the logits (torch or onnx,
    model.runtime); with `looped` the torch runtime computes a window looped to `pad_to` on its
    own frames (ShiftGCN's `loop_to`). With `faster` speeds each window is classified together
    with the same moment played faster, and with `either_hand` with its mirror image; the
    predictions are averaged (pipeline.windows.WindowClassifier). `members` (Member: another
    network and where each of the model's classes is among its outputs) vote too: the
    probabilities of all are averaged, each restricted to the model's classes. `card` (the
    model's ModelCard) names the classes and the stream; settings or a member it does not fit
    are refused in one line.
    `calibration(stream)` gives the windows that calibrate runtime int8 (model.runtime).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        settings: ClassifierSettings,
        *,
        card: ModelCard,
        device: str | torch.device,
        runtime: str,
        background: bool = False,
        drop_late: bool = True,
        keep_history: bool = False,
        members: Sequence[Member] = (),
        calibration: Callable[[str], Sequence[np.ndarray]] | None = None,
    ) -> None:
        check_fits(card, settings, members)
        self.model, self.card = model, card
        self.settings = settings
        self.device = torch.device(device)
        self.window, self.stride, self.fps = settings.window, settings.stride, settings.fps
        self.smoothing, self.pad_to = settings.smoothing, settings.pad_to
        self.min_frames = settings.min_frames
        self.either_hand = settings.either_hand
        self.temperature = 1.0 if settings.temperature is None else settings.temperature
        self.window_classifier = WindowClassifier(
            model,
            card=card,
            pad_to=settings.pad_to,
            either_hand=settings.either_hand,
            rotations=settings.rotations,
            faster=settings.faster or [],
            temperature=self.temperature,
            members=members,
            runtime=runtime,
            device=self.device,
            looped=settings.looped,
            calibration=calibration,
        )
        self.members = self.window_classifier.members
        self.class_names: list[str] = card.labels()
        self.stream: str = card.stream
        self.latest: Prediction | None = None
        self._cutter = WindowCutter(
            settings.window,
            settings.stride,
            settings.fps,
            settings.min_frames,
            settings.faster or [],
        )
        self._smoothed: np.ndarray | None = None
        self._lock = threading.Lock()
        self._executor = (
            ThreadPoolExecutor(1, "inference", initializer=yield_to_pose) if background else None
        )
        self._drop_late, self._keep_history = drop_late, keep_history
        self._running: Future | None = None  # the last window handed to the worker
        self._queued: deque[Future] = deque()  # windows handed out and not done (drop_late=False)
        self._fresh: Prediction | None = None
        self.history: list[Prediction] = []

    def reset(self) -> None:
        """Forget the buffer and the smoothing (a new video, or the person left)."""
        self.flush()
        self._cutter.clear()
        with self._lock:
            self._smoothed, self.latest, self._fresh = None, None, None
            self.history = []

    def push(
        self, skeleton: np.ndarray | None, timestamp: float, arrival: float | None = None
    ) -> Prediction | None:
        """Add one frame's (3, 25, 2) skeleton (None: nobody); return a new prediction or None.

        `arrival` is when the frame reached the pipeline (time.perf_counter()), so that the
        latency includes the stages before this one; by default, now.
        """
        arrival = time.perf_counter() if arrival is None else arrival
        self._cutter.add(skeleton, timestamp)
        if self._cutter.due:
            window = self._cutter.cut()
            if window is not None and self._submit(window, arrival):
                self._cutter.taken()
        return self._take_fresh()

    def finish(self) -> Prediction | None:
        """At the end of a source: wait for the windows handed out, then classify the frames
        pushed since the last window (skipped or not yet due) when min_frames of them show a
        person, so that a clip always ends on a prediction of its last frames. Returns the newest
        prediction not yet returned by push(), or None."""
        flushed = self.flush()
        window = self._cutter.cut() if self._cutter.pending else None
        if window is None:
            return flushed
        self._classify(window, time.perf_counter())
        self._cutter.taken()
        return self._take_fresh()

    def _submit(self, window: Window, arrival: float) -> bool:
        """Classify now (foreground) or hand to the worker if it is idle; False when busy."""
        if self._executor is None:
            self._classify(window, arrival)
            return True
        if self._running is not None and self._running.done():
            self._running.result()  # an error in the worker surfaces here, in the caller
        if self._drop_late and self._running is not None and not self._running.done():
            return False
        self._wait_for_backlog()
        self._running = self._executor.submit(self._classify, window, arrival)
        self._queued.append(self._running)
        return True

    def _wait_for_backlog(self) -> None:
        """Keep at most MAX_BACKLOG windows waiting for the model: where it is slower than pose,
        the caller waits instead of queueing windows without bound (a long video's memory
        would otherwise grow with its length; the total time is the same)."""
        while self._queued and self._queued[0].done():
            self._queued.popleft().result()
        while len(self._queued) >= MAX_BACKLOG:
            self._queued.popleft().result()

    def _classify(self, window: Window, arrival: float) -> None:
        """Classify one window (WindowClassifier), smooth, and publish the prediction."""
        began = time.perf_counter()
        raw = self.window_classifier(window.frames, window.faster)
        done = time.perf_counter()
        with self._lock:
            self._smoothed = (
                raw
                if self._smoothed is None or self.smoothing == 0
                else exponential_average(self._smoothed, raw, self.smoothing)
            )
            self.latest = self._fresh = prediction = Prediction(
                probs=self._smoothed.copy(),
                raw_probs=raw,
                start=window.start,
                timestamp=window.end,
                frames=window.seen,
                motion=window_motion(window.frames, self.fps),
                inference_ms=1000 * (done - began),
                latency_ms=1000 * (done - arrival),
                class_names=self.class_names,
            )
            if self._keep_history:
                self.history.append(prediction)

    def _take_fresh(self) -> Prediction | None:
        """The prediction finished since the last call, once."""
        with self._lock:
            fresh, self._fresh = self._fresh, None
        return fresh

    def flush(self) -> Prediction | None:
        """Wait for the background inferences handed out so far; return the newest result."""
        if self._running is not None:
            self._running.result()
            self._queued.clear()  # the worker runs windows in order: all are done
        return self._take_fresh()

    def close(self) -> None:
        """Stop the worker thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
