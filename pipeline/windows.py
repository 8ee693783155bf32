"""The window stage, in one place: how windows are cut from a stream of skeletons, and how a
window becomes class probabilities with the test-time options.

Cutting: `cut_window` is the one cutter (the last `window` frames before an end time, resampled
to the model's frame rate by timestamps, the nearest earlier frame). `WindowCutter` feeds it a
live stream (the streaming classifier), `stream_windows` replays a whole clip as the live
classifier takes it, `clip_windows` gives the training windows of own-action clips. With
`faster` speeds a window also carries the same moment played faster: the last window x speed
frames' time resampled to `window` frames, so that a slow performer or slow-motion footage
moves at NTU's pace in one of them.

Classifying: `WindowClassifier` turns one (T, 3, 25, 2) window (and its faster views) into
probabilities: each filled to `pad_to` frames (model.preprocess.prepare_window), every
network's vote (the model and the ensemble's members), each on the window and, with
`either_hand`, its mirror image, at a temperature.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from model.card import ModelCard
from model.preprocess import mirror, prepare_window, rotate_upright
from model.runtime import Runtime, make_runtime
from ntu.joints import NUM_BODIES, NUM_JOINTS
from ntu.recording import FPS

from .prediction import softmax
from .resampling import resample_index

EMPTY_FRAME = np.zeros((3, NUM_JOINTS, NUM_BODIES), dtype=np.float32)  # nobody in view


@dataclass(frozen=True)
class Window:
    """A window to classify: (T, 3, 25, 2) skeletons at the model's rate (zeros where nobody
    was seen), the timestamps of its first frame and of its end, frames showing someone, and
    the same end played at each of the cutter's faster speeds (those showing someone enough)."""

    frames: np.ndarray
    start: float
    end: float
    seen: int
    faster: tuple[np.ndarray, ...] = ()


def cut_window(
    times: np.ndarray,
    skeletons: Sequence[np.ndarray | None] | np.ndarray,
    end: float,
    window: int,
    fps: float,
    min_frames: int = 0,
) -> Window | None:
    """The `window` frames at `fps` that end at `end`: for each tick, the skeleton of the
    nearest frame at or before it (ticks before the first frame are left out, so an early
    window is shorter). None (nothing to classify) while fewer than min(min_frames, window)
    frames show someone. `skeletons[i]` (None or zeros: nobody) was taken at `times[i]`."""
    index = resample_index(np.asarray(times), end - np.arange(window - 1, -1, -1) / fps)
    if not len(index):
        return None
    if isinstance(skeletons, np.ndarray):
        frames = skeletons[index]
    else:
        frames = np.stack([EMPTY_FRAME if skeletons[i] is None else skeletons[i] for i in index])
    seen = int(np.count_nonzero(frames.reshape(len(frames), -1).any(axis=1)))
    if seen < min(min_frames, window):
        return None
    return Window(frames, float(times[index[0]]), float(end), seen)


class WindowCutter:
    """A stream's recent frames, and every `stride` frames the window that ends at the newest
    one (cut_window), with its views at the `faster` speeds: the streaming classifier's and
    stream_windows' windows. A window that is not taken (too few frames with a person, or the
    model busy) is due again on the next frame.
    """

    def __init__(
        self, window: int, stride: int, fps: float, min_frames: int, faster: Sequence[float] = ()
    ) -> None:
        self.window, self.stride, self.fps, self.min_frames = window, stride, fps, min_frames
        self.faster = [float(speed) for speed in faster]
        self._span = (window + 1) * max([1.0, *self.faster]) / fps  # seconds of frames kept
        self._frames: deque[tuple[float, np.ndarray | None]] = deque()
        self._since = 0  # frames added since the last window taken

    def add(self, skeleton: np.ndarray | None, timestamp: float) -> None:
        """One frame's (3, 25, 2) skeleton (None or zeros: nobody); frames older than a window
        are forgotten."""
        if skeleton is not None and not np.any(skeleton):
            skeleton = None
        self._frames.append((float(timestamp), skeleton))
        horizon = timestamp - self._span
        while self._frames and self._frames[0][0] < horizon:
            self._frames.popleft()
        self._since += 1

    @property
    def due(self) -> bool:
        """Whether `stride` frames came since the last window taken."""
        return self._since >= self.stride

    @property
    def pending(self) -> bool:
        """Whether frames came since the last window taken (the end of a source)."""
        return self._since > 0 and bool(self._frames)

    def cut(self) -> Window | None:
        """The window ending at the newest frame with its faster views, or None while too few
        frames show someone; a faster view with too few is left out."""
        if not self._frames:
            return None
        times = np.array([t for t, _ in self._frames])
        skeletons = [s for _, s in self._frames]
        plain = cut_window(times, skeletons, times[-1], self.window, self.fps, self.min_frames)
        if plain is None or not self.faster:
            return plain
        views = (
            cut_window(times, skeletons, times[-1], self.window, self.fps / speed, self.min_frames)
            for speed in self.faster
        )
        return replace(plain, faster=tuple(view.frames for view in views if view is not None))

    def taken(self) -> None:
        """The window just cut is classified: the next is due `stride` frames from now."""
        self._since = 0

    def clear(self) -> None:
        """Forget every frame (a new source)."""
        self._frames.clear()
        self._since = 0


def stream_windows(
    skeletons: np.ndarray,
    window: int,
    stride: int,
    min_frames: int,
    fps: float = FPS,
    times: np.ndarray | None = None,
    faster: Sequence[float] = (),
) -> Iterator[Window]:
    """The windows a live classifier that keeps up takes of a (T, 3, 25, 2) clip taken at
    `times` (default: one frame every 1/fps s), in order, with their `faster` views."""
    times = np.arange(len(skeletons)) / fps if times is None else times
    cutter = WindowCutter(window, stride, fps, min_frames, faster)
    for stamp, skeleton in zip(times, skeletons):
        cutter.add(skeleton, stamp)
        if cutter.due and (cut := cutter.cut()) is not None:
            cutter.taken()
            yield cut


def clip_windows(
    skeleton: np.ndarray, window: int, stride: int, min_frames: int, fps: float = FPS
) -> list[tuple[int, np.ndarray]]:
    """(start, frames) training windows of a clip's (T, 3, 25, 2) skeletons at `fps`: `window`
    frames starting every `stride` (the last one ends with the clip), or the whole of a shorter
    clip; windows with fewer than `min_frames` frames showing someone are left out."""
    length = len(skeleton)
    starts = list(range(0, max(length - window, 0) + 1, stride))
    if length > window and starts[-1] != length - window:
        starts.append(length - window)
    times = np.arange(length) / fps
    out = []
    for start in starts:
        last = min(start + window, length) - 1
        cut = cut_window(times, skeleton, times[last], window, fps, min_frames)
        if cut is not None:
            out.append((start, cut.frames))
    return out


def calibration_windows(
    skeletons: Iterable[np.ndarray],
    window: int,
    stride: int,
    pad_to: int,
    stream: str = "joint",
    mirrored: bool = True,
    faster: Sequence[float] = (),
) -> list[np.ndarray]:
    """The network inputs of the training windows (clip_windows) of raw (3, T, 25, 2) skeleton
    sequences at NTU's rate (`classify_video --save-skeleton`), filled and normalised as the live
    classifier prepares them, with their views at the `faster` speeds and, when `mirrored`, the
    mirror images of all: what calibrates the int8 runtime (model.quantize)."""
    inputs = []
    for skeleton in skeletons:
        frames = np.transpose(np.asarray(skeleton, np.float32), (1, 0, 2, 3))  # (T, 3, 25, 2)
        times = np.arange(len(frames)) / FPS
        for start, cut in clip_windows(frames, window, stride, min_frames=1):
            end = times[min(start + window, len(frames)) - 1]
            views = [cut_window(times, frames, end, window, FPS / speed, 1) for speed in faster]
            for view in [cut, *(v.frames for v in views if v is not None)]:
                x = prepare_window(view, pad_to, stream)
                inputs += [x, mirror(x)] if mirrored else [x]
    return inputs


@dataclass
class Member:
    """A network that votes with the model (ClassifierSettings.ensemble): its name, its model
    card (its input stream), and the index of each of the model's classes among its outputs."""

    name: str
    model: torch.nn.Module
    card: ModelCard
    outputs: np.ndarray


class WindowClassifier:
    """A (T, 3, 25, 2) window -> the model's class probabilities, with the test-time options.

    The window is filled to `pad_to` frames as training filled its samples (0: as it is);
    `runtime` computes the logits (torch or onnx, model.runtime; `looped`: a looped window on
    its own frames). The window's faster views (Window.faster, cut at the `faster` speeds) are
    classified too and averaged with it. With `either_hand` each network also classifies each
    view's mirror image and the two are averaged, so that a left-handed action reads as the
    right-handed one. With `rotations` (degrees) it also classifies each view turned by each
    angle about the body's upright axis, and averages those too.
    `members` vote too: the probabilities of all are averaged, each restricted to the model's
    classes and renormalised. Logits are divided by `temperature` before the softmax.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        card: ModelCard,
        pad_to: int,
        either_hand: bool = False,
        rotations: Sequence[float] = (),
        faster: Sequence[float] = (),
        temperature: float = 1.0,
        members: Sequence[Member] = (),
        runtime: str = "torch",
        device: str | torch.device = "cpu",
        looped: bool = True,
        calibration: Callable[[str], Sequence[np.ndarray]] | None = None,
    ) -> None:
        device = torch.device(device)
        self.pad_to, self.either_hand, self.temperature = pad_to, either_hand, temperature
        self.rotations = [float(angle) for angle in rotations if angle]
        self.faster = [float(speed) for speed in faster]
        self.stream: str = card.stream
        self.class_names: list[str] = card.labels()
        self.members = [m.name for m in members]

        def run(net: torch.nn.Module, stream: str) -> Runtime:
            windows = partial(calibration, stream) if calibration else None
            return make_runtime(net, runtime, device, looped, windows)

        self._votes = [(run(model, self.stream), self.stream, None)] + [
            (run(m.model, m.card.stream), m.card.stream, m.outputs) for m in members
        ]

    @property
    def views(self) -> int:
        """Network runs a window costs at most: one per network and view (the window and each
        faster view, their mirror images with either_hand, and each of those turned by each
        of `rotations`)."""
        speeds = 1 + len(self.faster)
        return (
            len(self._votes) * speeds * (2 if self.either_hand else 1) * (1 + len(self.rotations))
        )

    @torch.no_grad()
    def __call__(self, frames: np.ndarray, faster: Sequence[np.ndarray] = ()) -> np.ndarray:
        """The class probabilities (num_class,), summing to 1, of a window and its faster views
        (Window.faster)."""
        inputs: dict[str, list[np.ndarray]] = {}
        votes = []
        for logits, stream, outputs in self._votes:
            if stream not in inputs:
                inputs[stream] = [
                    prepare_window(clip, self.pad_to, stream) for clip in (frames, *faster)
                ]
            views = list(inputs[stream])
            views += [mirror(x) for x in views] if self.either_hand else []
            views += [rotate_upright(view, angle) for angle in self.rotations for view in views]
            probs = np.mean([softmax(logits(view) / self.temperature) for view in views], axis=0)
            if outputs is not None:
                probs = probs[outputs]
                probs = probs / max(float(probs.sum()), 1e-12)
            votes.append(probs)
        return np.mean(votes, axis=0)
