"""The GUI's thin adapter over app.sources, app.pipeline and app.annotate (no Qt in here)."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

import weights
from app.annotate import annotate_frame, draw_top, video_writer
from app.pipeline import FramePipeline, Prediction, build_pipeline, load_config
from app.sources import CameraSource, Frame, open_source
from common.errors import UserError
from common.yaml_files import deep_merge

GUI_DEFAULTS = Path(__file__).resolve().parent / "gui.yaml"
MAX_REPEATS = 30  # a recording fills at most this many frames for one shown frame


def gui_defaults() -> dict[str, Any]:
    """The GUI's own defaults (threshold, chart size, refresh), from app/gui/gui.yaml."""
    return yaml.safe_load(GUI_DEFAULTS.read_text(encoding="utf-8"))


@dataclass
class RunSettings:
    """What one run uses: the source, the checkpoint, the device, the window, the threshold,
    whether the source is a mirror image and whether either hand reads alike."""

    source: str
    weights: str
    device: str
    window: int
    threshold: float
    mirror: bool
    either_hand: bool
    pipeline: dict[str, Any] = field(default_factory=load_config)  # what the fields above override

    @classmethod
    def defaults(cls, pipeline: dict[str, Any] | None = None) -> RunSettings:
        """Settings from the pipeline settings (default: the pipeline YAML's) and the GUI's YAML."""
        pipeline, gui = pipeline or load_config(), gui_defaults()
        return cls(source=str(gui["source"]), weights=str(pipeline["weights"]),
                   device=str(pipeline["device"]), window=int(pipeline["classifier"]["window"]),
                   threshold=float(gui["threshold"]), mirror=bool(pipeline["tracker"]["mirror"]),
                   either_hand=bool(pipeline["classifier"]["either_hand"]), pipeline=pipeline)


class LiveSource:
    """A frame source as the GUI plays it: a video at its own frame rate, a camera as it comes."""

    def __init__(self, spec: str, realtime: bool = True) -> None:
        self.spec = spec
        self.source = open_source(spec)
        self.is_camera = isinstance(self.source, CameraSource)
        self.realtime = realtime
        self.count = 0

    @property
    def fps(self) -> float:
        """The source's nominal frame rate."""
        return float(self.source.fps)

    def describe(self) -> str:
        """One line on what is playing."""
        if self.is_camera:
            return f"camera {self.spec} @ {self.fps:.0f} fps"
        w, h = self.source.size
        return f"{Path(self.spec).name} {w}x{h} @ {self.fps:.0f} fps"

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """The source's frames; a video waits for each frame's time so it plays like a camera."""
        began = time.perf_counter()
        for frame in self.source:
            if stop.is_set():
                return
            if self.realtime and not self.is_camera:
                delay = began + frame.timestamp - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    return
            self.count += 1
            yield frame

    def end_message(self) -> tuple[str, str]:
        """(kind, text) once the frames ran out: a video ends, a camera is lost."""
        if self.is_camera:
            return "error", (f"camera {self.spec} stopped delivering frames after {self.count} "
                             f"(unplugged or taken by another program); reconnect it, press Start")
        return "info", f"video ended after {self.count} frames; press Start to play it again"

    def close(self) -> None:
        """Release the camera or file."""
        self.source.close()


@dataclass
class EngineOutput:
    """One processed frame as the GUI shows it."""

    annotated: np.ndarray  # the frame with skeletons drawn
    people: int  # people found in the frame
    top: list[tuple[str, float]] | None  # a new prediction's best classes, or None
    window_end: float | None  # timestamp of the new prediction's last frame
    raw_top: list[dict[str, Any]] = field(default_factory=list)  # app.pipeline's top-k records


class Engine:
    """A FramePipeline built from RunSettings, with the checkpoint fetched (with progress) first."""

    def __init__(self, settings: RunSettings,
                 progress: Callable[[int, int | None], None] | None = None) -> None:
        self.settings = settings
        gui = gui_defaults()
        self.top_k = int(gui["top_k"])
        self.recorded_top_k = int(gui["recorded_top_k"])
        checkpoint = weights.resolve(settings.weights, progress=progress)
        config = deep_merge(settings.pipeline, {
            "weights": str(checkpoint), "device": settings.device,
            "tracker": {"mirror": settings.mirror},
            "classifier": {"window": settings.window, "either_hand": settings.either_hand}})
        background = bool(config["live"]["background_inference"])
        self.pipeline: FramePipeline = build_pipeline(config, background=background)
        self.classifier = self.pipeline.classifier
        self._last_top: list[dict[str, Any]] = []

    def describe(self) -> str:
        """A few lines on the loaded model: name, training data, reported accuracy, how it runs."""
        names = self.classifier.class_names or []
        lines = [Path(self.settings.weights).name]
        entry = _registered(self.settings.weights)
        if entry is not None:
            accuracy = f" · top-1 {entry.accuracy:.1f} % reported" if entry.accuracy else ""
            lines.append(f"{entry.dataset.upper()} {entry.benchmark}{accuracy}")
        lines.append(f"{len(names) or '?'} classes · {self.classifier.stream} stream")
        lines.append(f"window {self.classifier.window} frames · {self.classifier.device}")
        return "\n".join(lines)

    def process(self, frame: Frame) -> EngineOutput:
        """Pose, tracking and (every stride frames) inference on one frame, then the drawing."""
        result = self.pipeline.process(frame.image, frame.timestamp, frame.capture_ms)
        annotated = annotate_frame(frame.image, result.people, result.slots, None)
        top = window_end = None
        if result.new_prediction and result.prediction is not None:
            top, window_end = self._shown(result.prediction)
        return EngineOutput(annotated, len(result.people), top, window_end, self._last_top)

    def finish(self) -> tuple[list[tuple[str, float]], float] | None:
        """The source ran out: (best classes, window end) of the prediction over its last frames
        not classified yet, or None; a short clip thus always ends on a prediction."""
        prediction = self.pipeline.finish()
        return None if prediction is None else self._shown(prediction)

    def _shown(self, prediction: Prediction) -> tuple[list[tuple[str, float]], float]:
        """A new prediction as the GUI shows it (best classes, window end); kept for recording."""
        self._last_top = prediction.top(max(self.top_k, self.recorded_top_k))
        top = [(t["label"], t["score"]) for t in self._last_top[: self.top_k]]
        return top, prediction.timestamp

    def recorded_frame(self, output: EngineOutput) -> np.ndarray:
        """The frame as written to a recording: skeletons plus the top classes."""
        if not output.raw_top:
            return output.annotated
        frame = output.annotated.copy()
        draw_top(frame, output.raw_top[: self.recorded_top_k])
        return frame

    def close(self) -> None:
        """Release the pose backend and the inference thread."""
        self.pipeline.close()


def _registered(name: str) -> weights.WeightEntry | None:
    """The registry entry for a checkpoint name, None for a file path or an unknown name."""
    try:
        return weights.get(name)
    except UserError:
        return None


class Recorder:
    """An annotated video being written (with `raw`, the camera's frames as they came: a Teach
    clip); the file appears whole when closed (app.annotate)."""

    def __init__(self, path: Path, fps: float, raw: bool = False) -> None:
        self.path = path
        self.fps = fps
        self.raw = raw
        self._stack: contextlib.ExitStack | None = None
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self._last = 0.0
        self.frames = 0

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        """Append a frame, repeated to fill the time since the last one (frames the GUI skipped)."""
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self._stack = contextlib.ExitStack()
            self._writer = self._stack.enter_context(video_writer(self.path, self.fps, size))
            self._size, self._last = size, timestamp
        if size != self._size:
            raise UserError(f"recording {self.path}: frame size changed from {self._size} "
                            f"to {size}")
        repeats = min(max(1, round((timestamp - self._last) * self.fps)), MAX_REPEATS)
        for _ in range(repeats):
            self._writer.write(frame)
        self._last = timestamp
        self.frames += repeats

    def close(self) -> None:
        """Finish the file (nothing is left when no frame was written)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
