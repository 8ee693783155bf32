"""The streaming classifier: one skeleton per frame in, a prediction every `stride` frames out,
over the last `window` frames resampled to the model's frame rate."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from common.errors import UserError
from common.limits import MAX_PAD, MAX_WINDOW, check_size
from common.smoothing import exponential_average
from model.preprocess import mirror, prepare_window
from model.runtime import make_runtime
from ntu.joints import NUM_BODIES, NUM_JOINTS
from ntu.recording import FPS, SAMPLE_LENGTH

from .prediction import Prediction, softmax
from .priority import yield_to_pose
from .resampling import resample_index, window_motion

MAX_BACKLOG = 4  # windows queued for the model at most when none may be dropped (a video)


@dataclass
class ClassifierSettings:
    """The streaming classifier's settings; the defaults are the product's, a YAML `classifier:`
    section overrides them (load_settings)."""

    window: int = 64  # frames (at `fps`) per prediction (see bench.real_set and --window-study)
    stride: int = 15  # pushed frames between predictions
    fps: float = FPS  # the rate the window is resampled to (NTU's)
    pad_to: int = SAMPLE_LENGTH  # loop the window to this many frames as training did (0: none)
    # compute a looped window on its own frames (runtime torch; the same top-1 as unlooped:
    # python -m bench.looped_windows)
    looped: bool = True
    min_frames: int = 16  # frames with a person needed before the first prediction
    smoothing: float = 0.0  # moving-average weight of the past on probabilities (0 = off)
    # also classify each window's mirror image and average, so that left- and right-handed
    # actions read alike (twice the model's work)
    either_hand: bool = True
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


@dataclass
class Member:
    """A network that votes with the model (ClassifierSettings.ensemble): its name, its input
    stream, and the index of each of the model's classes among its outputs."""

    name: str
    model: torch.nn.Module
    stream: str
    outputs: np.ndarray


class StreamingClassifier:
    """Takes one skeleton per frame and every `stride` frames classifies the last `window`
    (see ClassifierSettings).

    The window is resampled to `fps` by timestamps (the nearest earlier frame), so the model
    sees NTU's frame rate whatever the source's. `background=True` runs the model in its own
    thread: push() never waits for it and returns each new prediction once, when ready. There,
    `drop_late=True` (live) skips windows that come while the model is busy, the newest wins;
    `drop_late=False` (a video) queues every window. With `keep_history`, `history` keeps every
    prediction in order (a video's segments). `runtime` computes the logits (torch or onnx,
    model.runtime); with `looped` the torch runtime computes a window looped to `pad_to` on its
    own frames (ShiftGCN's `loop_to`). With `either_hand`, each window is classified together
    with its mirror image and the two predictions averaged, so that an action done with the left
    hand reads as the same action done with the right. `members` (Member: another network and
    where each of the model's classes is among its outputs) vote too: the probabilities of all
    are averaged, each restricted to the model's classes. `calibration(stream)` gives the windows
    that calibrate runtime int8 (model.runtime.make_runtime).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        settings: ClassifierSettings,
        *,
        device: str | torch.device,
        runtime: str,
        background: bool = False,
        drop_late: bool = True,
        keep_history: bool = False,
        members: Sequence[Member] = (),
        calibration: Callable[[str], Sequence[np.ndarray]] | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.device = torch.device(device)
        run = partial(
            make_runtime, device=self.device, looped=settings.looped, calibration=calibration
        )
        self._logits = run(model, runtime)
        self._votes = [(self._logits, getattr(model, "stream", "joint"), None)] + [
            (run(m.model, runtime), m.stream, m.outputs) for m in members
        ]
        self.members = [m.name for m in members]
        self.window, self.stride, self.fps = settings.window, settings.stride, settings.fps
        self.smoothing, self.pad_to = settings.smoothing, settings.pad_to
        self.min_frames = settings.min_frames
        self.either_hand = settings.either_hand
        self.temperature = 1.0 if settings.temperature is None else settings.temperature
        self.class_names: list[str] | None = getattr(model, "class_names", None)
        self.stream: str = getattr(model, "stream", "joint")
        self.latest: Prediction | None = None
        self._buffer: deque[tuple[float, np.ndarray | None]] = deque()
        self._since = 0
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
        self._buffer.clear()
        self._since = 0
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
        if skeleton is not None and not np.any(skeleton):
            skeleton = None
        self._buffer.append((float(timestamp), skeleton))
        horizon = timestamp - (self.window + 1) / self.fps
        while self._buffer and self._buffer[0][0] < horizon:
            self._buffer.popleft()
        self._since += 1
        if self._since >= self.stride:
            job = self._due_window()
            if job is not None and self._submit(job, arrival):
                self._since = 0
        return self._take_fresh()

    def finish(self) -> Prediction | None:
        """At the end of a source: wait for the windows handed out, then classify the frames
        pushed since the last window (skipped or not yet due) when min_frames of them show a
        person, so that a clip always ends on a prediction of its last frames. Returns the newest
        prediction not yet returned by push(), or None."""
        flushed = self.flush()
        job = self._due_window() if self._since and self._buffer else None
        if job is None:
            return flushed
        self._classify(*job, time.perf_counter())
        self._since = 0
        return self._take_fresh()

    def _due_window(self) -> tuple[np.ndarray, float, float] | None:
        """The window to classify now, resampled to `fps`: (frames, start, end), or None while
        fewer than min_frames of its frames show a person."""
        times = np.array([t for t, _ in self._buffer])
        end = times[-1]
        index = resample_index(times, end - np.arange(self.window - 1, -1, -1) / self.fps)
        skeletons = [self._buffer[i][1] for i in index]
        seen = [s for s in skeletons if s is not None]
        if len(seen) < min(self.min_frames, self.window):
            return None
        empty = np.zeros((3, NUM_JOINTS, NUM_BODIES), dtype=np.float32)
        frames = np.stack([empty if s is None else s for s in skeletons])
        return frames, float(times[index[0]]), float(end)

    def _submit(self, job: tuple[np.ndarray, float, float], arrival: float) -> bool:
        """Classify now (foreground) or hand to the worker if it is idle; False when busy."""
        if self._executor is None:
            self._classify(*job, arrival)
            return True
        if self._running is not None and self._running.done():
            self._running.result()  # an error in the worker surfaces here, in the caller
        if self._drop_late and self._running is not None and not self._running.done():
            return False
        self._wait_for_backlog()
        self._running = self._executor.submit(self._classify, *job, arrival)
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

    @torch.no_grad()
    def _classify(self, frames: np.ndarray, start: float, end: float, arrival: float) -> None:
        """Normalise, run the network, smooth, and publish the prediction."""
        began = time.perf_counter()
        raw = self.probabilities(frames)
        done = time.perf_counter()
        with self._lock:
            self._smoothed = (
                raw
                if self._smoothed is None or self.smoothing == 0
                else exponential_average(self._smoothed, raw, self.smoothing)
            )
            seen = int(np.count_nonzero(frames.reshape(len(frames), -1).any(axis=1)))
            self.latest = self._fresh = prediction = Prediction(
                probs=self._smoothed.copy(),
                raw_probs=raw,
                start=start,
                timestamp=end,
                frames=seen,
                motion=window_motion(frames, self.fps),
                inference_ms=1000 * (done - began),
                latency_ms=1000 * (done - arrival),
                class_names=self.class_names,
            )
            if self._keep_history:
                self.history.append(prediction)

    @torch.no_grad()
    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """A (T, 3, 25, 2) window's class probabilities: every network's vote (the model's and
        the ensemble's), each on the window and, with either_hand, its mirror image."""
        inputs: dict[str, np.ndarray] = {}
        votes = []
        for logits, stream, outputs in self._votes:
            if stream not in inputs:
                inputs[stream] = prepare_window(frames, self.pad_to, stream)
            votes.append(self._probabilities(logits, inputs[stream], outputs))
        return np.mean(votes, axis=0)

    def _probabilities(
        self, logits: Callable[[np.ndarray], np.ndarray], x: np.ndarray, outputs: np.ndarray | None
    ) -> np.ndarray:
        """One network's class probabilities for input x (with its mirror image's when
        either_hand), at the temperature, restricted to the model's classes (`outputs`)."""
        views = (x, mirror(x)) if self.either_hand else (x,)
        probs = np.mean([softmax(logits(view) / self.temperature) for view in views], axis=0)
        if outputs is None:
            return probs
        probs = probs[outputs]
        return probs / max(float(probs.sum()), 1e-12)

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
