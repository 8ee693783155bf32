"""Frames -> people -> NTU skeletons -> action probabilities: the one pipeline behind the GUI and
classify_video. Thread-agnostic and free of Qt: callers drive it one frame at a time."""
from __future__ import annotations

import copy
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.errors import UserError
from common.limits import MAX_PAD, MAX_WINDOW, check_size
from common.yaml_files import read_yaml
from model.preprocess import make_stream, mirror, normalize_sample
from model.runtime import make_runtime
from ntu.joints import NUM_BODIES, NUM_JOINTS
from pose import BodyTracker, Person, PoseEstimator, make_estimator

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "pipeline.yaml"
NTU_FPS = 30.0  # the frame rate of NTU RGB+D recordings
NTU_LENGTH = 300  # the length the released models' training samples were looped to


# ----------------------------------------------------------------------------- configuration
def _merge(base: dict[str, Any], override: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Recursively overlay `override` on `base`, refusing keys the defaults do not have and
    values of another kind than the default's (window: "abc" is one line, not a traceback)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise UserError(f"unknown configuration key {key!r}; known: {', '.join(base)}")
        default = base[key]
        if not _same_kind(default, value):
            raise UserError(f"configuration {where}{key}: {value!r} is not {_KINDS[type(default)]}"
                            f" (the default is {default!r})")
        out[key] = _merge(default, value, f"{where}{key}.") if isinstance(default, dict) else value
    return out


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
          dict: "a mapping of keys to values"}


def _same_kind(default: Any, value: Any) -> bool:
    """Whether `value` may replace `default`: the same type; an int for a float; anything for
    a default of None (an optional path)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """Pipeline settings: app/configs/pipeline.yaml, overlaid by a user YAML file and overrides."""
    config = read_yaml(DEFAULT_CONFIG)
    if path is not None:
        config = _merge(config, read_yaml(path))
    return _merge(config, overrides or {})


# ----------------------------------------------------------------------------- classifier
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
    return [{"index": int(i),
             "label": class_names[i] if class_names else f"class {int(i)}",
             "score": float(probs[i])} for i in order]


def prepare_window(frames: np.ndarray, pad_to: int, stream: str) -> np.ndarray:
    """(T, 3, 25, 2) skeletons -> the network's (3, T', 25, 2) input, normalised as in training.

    With pad_to > 0 the window is placed at the start of `pad_to` empty frames, so the published
    normalisation loops it to that length, as the released models saw their samples.
    """
    window = np.ascontiguousarray(np.transpose(frames, (1, 0, 2, 3)), dtype=np.float32)
    length = window.shape[1]
    if pad_to and pad_to > length:
        padded = np.zeros((3, pad_to, NUM_JOINTS, NUM_BODIES), dtype=np.float32)
        padded[:, :length] = window
        window = padded
    return make_stream(normalize_sample(window), stream)


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

MAX_BACKLOG = 4  # windows queued for the model at most when none may be dropped (a video)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of one window's logits (num_class,)."""
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


# Niceness added to the inference thread: on a small CPU, pose on every frame comes first and the
# model uses what is left (windows it cannot take in time are skipped, the newest wins).
INFERENCE_NICENESS = 10


def _yield_to_pose() -> None:
    """Lower the calling thread's scheduling priority (Linux threads have their own niceness) and,
    when the model runs on one thread, keep it on the last CPU so that pose has the others to
    itself (on 2 cores: 29.3-29.5 frames/s processed of 30 against 28.7-29.2 unpinned)."""
    try:
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + INFERENCE_NICENESS))
        cpus = sorted(os.sched_getaffinity(0))
        if torch.get_num_threads() == 1 and len(cpus) > 1:  # pinned threads would share one CPU
            os.sched_setaffinity(thread, {cpus[-1]})
    except (AttributeError, OSError):  # not Linux, or not allowed: run as scheduled
        pass


class StreamingClassifier:
    """Takes one skeleton per frame and every `stride` frames classifies the last `window`.

    The window is resampled to `fps` by timestamps (the nearest earlier frame), so the model
    sees NTU's frame rate whatever the source's. `background=True` runs the model in its own
    thread: push() never waits for it and returns each new prediction once, when ready. There,
    `drop_late=True` (live) skips windows that come while the model is busy, the newest wins;
    `drop_late=False` (a video) queues every window. With `keep_history`, `history` keeps every
    prediction in order (a video's segments). `runtime` computes the logits (torch or onnx,
    model.runtime); with `looped` the torch runtime computes a window looped to `pad_to` on its
    own frames (ShiftGCN's `loop_to`). With `either_hand`, each window is classified together
    with its mirror image and the two predictions averaged, so that an action done with the left
    hand reads as the same action done with the right. The tunable defaults live in the
    pipeline YAML.
    """

    def __init__(self, model: torch.nn.Module, *, window: int, stride: int,
                 device: str | torch.device = "cpu", smoothing: float = 0.0,
                 fps: float = NTU_FPS, pad_to: int = NTU_LENGTH, min_frames: int = 1,
                 either_hand: bool = False, background: bool = False, drop_late: bool = True,
                 keep_history: bool = False, runtime: str = "torch",
                 looped: bool = True) -> None:
        for name, value, low, high in (("window", window, 4, MAX_WINDOW),
                                       ("stride", stride, 1, MAX_WINDOW),
                                       ("pad_to", pad_to, 0, MAX_PAD),
                                       ("min_frames", min_frames, 0, MAX_WINDOW)):
            check_size(f"bad classifier settings: {name}", value, low, high)
        if not all(isinstance(v, (int, float)) for v in (fps, smoothing)):
            raise UserError(f"bad classifier settings: fps={fps!r} and smoothing={smoothing!r} "
                            "must be numbers")
        if not 0 < fps <= 1000 or not 0.0 <= smoothing < 1.0:
            raise UserError(f"bad classifier settings: fps={fps} (in (0, 1000]), "
                            f"smoothing={smoothing} (in [0, 1))")
        self.model = model
        self.device = torch.device(device)
        self._logits = make_runtime(model, runtime, self.device, looped)
        self.window, self.stride, self.fps = int(window), int(stride), float(fps)
        self.smoothing, self.pad_to = float(smoothing), int(pad_to)
        self.min_frames = int(min_frames)
        self.either_hand = bool(either_hand)
        self.class_names: list[str] | None = getattr(model, "class_names", None)
        self.stream: str = getattr(model, "stream", "joint")
        self.latest: Prediction | None = None
        self._buffer: deque[tuple[float, np.ndarray | None]] = deque()
        self._since = 0
        self._smoothed: np.ndarray | None = None
        self._lock = threading.Lock()
        self._executor = (ThreadPoolExecutor(1, "inference", initializer=_yield_to_pose)
                          if background else None)
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

    def push(self, skeleton: np.ndarray | None, timestamp: float,
             arrival: float | None = None) -> Prediction | None:
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
        x = prepare_window(frames, self.pad_to, self.stream)
        raw = softmax(self._logits(x))
        if self.either_hand:
            raw = (raw + softmax(self._logits(mirror(x)))) / 2
        done = time.perf_counter()
        with self._lock:
            if self._smoothed is None or self.smoothing == 0:
                self._smoothed = raw
            else:
                self._smoothed = self.smoothing * self._smoothed + (1 - self.smoothing) * raw
            seen = int(np.count_nonzero(frames.reshape(len(frames), -1).any(axis=1)))
            self.latest = self._fresh = prediction = Prediction(
                probs=self._smoothed.copy(), raw_probs=raw, start=start, timestamp=end,
                frames=seen, motion=window_motion(frames, self.fps),
                inference_ms=1000 * (done - began), latency_ms=1000 * (done - arrival),
                class_names=self.class_names)
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


# ----------------------------------------------------------------------------- frame pipeline
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

    def __init__(self, estimator: PoseEstimator, tracker: BodyTracker,
                 classifier: StreamingClassifier) -> None:
        self.estimator, self.tracker, self.classifier = estimator, tracker, classifier
        self._index = 0

    def process(self, frame_bgr: np.ndarray, timestamp: float, capture_ms: float = 0.0
                ) -> FrameResult:
        """Run every stage on one frame (timestamp in seconds) and report what each took."""
        t0 = time.perf_counter()
        people = self.estimator.estimate(frame_bgr)
        t1 = time.perf_counter()
        skeleton = self.tracker.update(people, timestamp)
        t2 = time.perf_counter()
        fresh = self.classifier.push(skeleton if np.any(skeleton) else None, timestamp, t0)
        t3 = time.perf_counter()
        latest = self.classifier.latest
        timings = {"capture_ms": capture_ms, "pose_ms": 1000 * (t1 - t0),
                   "track_ms": 1000 * (t2 - t1), "classify_ms": 1000 * (t3 - t2),
                   "inference_ms": latest.inference_ms if latest else float("nan"),
                   "latency_ms": latest.latency_ms if latest else float("nan")}
        result = FrameResult(index=self._index, timestamp=timestamp, people=people,
                             slots=self.tracker.people, identities=self.tracker.identities,
                             skeleton=skeleton, prediction=latest, new_prediction=fresh is not None,
                             timings=timings)
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


def build_pipeline(config: dict[str, Any], model: torch.nn.Module | None = None,
                   background: bool = False, drop_late: bool = True,
                   keep_history: bool = False) -> FramePipeline:
    """A FramePipeline from settings (see load_config); loads the weights unless given."""
    from common.device import select_device
    from model import load_model

    device = select_device(str(config["device"]))
    if model is None:
        model = load_model(config["weights"], device=device)
    if background and config["live"]["torch_threads"]:
        torch.set_num_threads(int(config["live"]["torch_threads"]))
    classifier = StreamingClassifier(model, device=device, background=background,
                                     drop_late=drop_late, keep_history=keep_history,
                                     runtime=str(config["runtime"]),
                                     **config["classifier"])  # its settings checked before pose
    estimator, tracker = build_pose_stages(config)
    return FramePipeline(estimator, tracker, classifier)


def build_pose_stages(config: dict[str, Any]) -> tuple[PoseEstimator, BodyTracker]:
    """The pose estimator and body tracker of the `pose` and `tracker` settings: pixels -> the
    (3, 25, 2) skeletons the classifier gets (also what train.from_videos extracts with)."""
    pose_cfg = dict(config["pose"])
    estimator = make_estimator(pose_cfg.pop("backend"), pose_cfg.pop("model_path"),
                               pose_cfg.pop("max_people"), **pose_cfg)
    return estimator, BodyTracker(**config["tracker"])
