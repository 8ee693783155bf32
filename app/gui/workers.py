"""The run's two workers, each in its own QThread, talking to the window only through signals:
capture (reads the source into a FrameBuffer) and the pipeline (pose, tracking, inference).

Capture keeps a thread of its own so that the source is read at its own pace while pose runs:
a camera's driver queues frames while nobody reads, and a video plays by the clock; the buffer
drops the oldest waiting frame, so the pipeline always takes a fresh one.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtGui import QImage

import weights
from app.annotate import annotate_frame, draw_top
from app.api import Recognizer
from app.events import Event, EventDetector, EventLog, EventRule, FrameRing
from app.gui.media import LiveSource, Recorder
from app.gui.settings import RunSettings
from common.errors import UserError
from pipeline import FramePipeline, PipelineSettings, Prediction
from pipeline.sources import Frame, FrameBuffer
from weights import DownloadFailed


@dataclass
class EventSettings:
    """The run's action event rules and the JSON-lines log their events are appended to."""

    rules: list[EventRule] = field(default_factory=list)
    log: Path | None = None


@dataclass
class Captured:
    """One frame from the source and when it was read (perf_counter), for the latency figure."""

    frame: Frame
    read_at: float


class RateMeter:
    """Events per second over a sliding window of the last few seconds."""

    def __init__(self, span_s: float = 10.0) -> None:
        self._span = span_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        """Record one event."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self._span:
                self._times.popleft()

    def rate(self) -> float | None:
        """Events per second, or None before two events."""
        with self._lock:
            if len(self._times) < 2:
                return None
            elapsed = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / elapsed if elapsed > 0 else None


def to_qimage(frame_bgr: np.ndarray) -> QImage:
    """A deep-copied QImage of a BGR uint8 frame (safe to hand to the GUI thread)."""
    frame = np.ascontiguousarray(frame_bgr)
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, frame.strides[0], QImage.Format_BGR888).copy()


class CaptureWorker(QObject):
    """Reads frames from the source into a FrameBuffer until stopped, the source ends or fails."""

    message = pyqtSignal(str, str)  # kind ("error" | "info" | "status"), one line
    finished = pyqtSignal()

    def __init__(
        self,
        open_source: Callable[[Callable[[str], None]], LiveSource],
        buffer: FrameBuffer[Captured],
        meter: RateMeter,
    ) -> None:
        super().__init__()
        self._open_source = open_source
        self._buffer = buffer
        self._meter = meter
        self._stop = threading.Event()
        self.fps: float | None = None

    def stop(self) -> None:
        """Ask the loop to end (thread-safe)."""
        self._stop.set()

    def run(self) -> None:
        """Open the source, then read and hand over frames; always close the buffer at the end."""
        try:
            self._capture()
        except UserError as err:
            self.message.emit("error", str(err))
        except Exception as err:  # a worker must not take the window down; show what happened
            self.message.emit("error", f"capture stopped: {type(err).__name__}: {err}")
        finally:
            self._buffer.close()
            self.finished.emit()

    def _capture(self) -> None:
        """The capture loop proper: no camera and unreadable files raise UserError on opening;
        a network stream's drops and reconnections are shown as they happen."""
        source = self._open_source(lambda text: self.message.emit("info", text))
        try:
            self.fps = source.fps
            self.message.emit("status", f"playing {source.describe()}")
            for frame in source.frames(self._stop):
                self._meter.tick()
                self._buffer.put(Captured(frame, time.perf_counter()))
            if not self._stop.is_set():
                self.message.emit(*source.end_message())
        finally:
            source.close()


def build_live_pipeline(
    settings: RunSettings,
    config: PipelineSettings,
    progress: Callable[[int, int | None], None] | None = None,
) -> FramePipeline:
    """The run's FramePipeline, the Python API's live one (app.api.Recognizer): the checkpoint
    resolved (a released one downloaded, with progress), the model in a background thread when
    the config's `live` section says so."""
    checkpoint = weights.resolve(settings.weights, progress=progress)
    return Recognizer(dataclasses.replace(config, weights=str(checkpoint)), live=True).pipeline


def describe_model(name: str, pipeline: FramePipeline) -> str:
    """A few lines on the loaded model: name, its model card's key facts (classes, stream, how
    windows are filled, skeletons, where it came from and its accuracy), how it runs."""
    classifier = pipeline.classifier
    lines = [Path(name).name, *classifier.card.summary()]
    lines.append(f"window {classifier.window} frames · {classifier.device}")
    if classifier.members:
        lines.append(f"with {', '.join(Path(m).name for m in classifier.members)} voting")
    return "\n".join(lines)


class PipelineWorker(QObject):
    """The one worker over pipeline: loads the checkpoint, then runs each buffered frame
    through the FramePipeline, emitting the frame with its skeletons drawn and each new
    Prediction as the pipeline made it; writes the recording when one runs."""

    download_progress = pyqtSignal(int, int)  # bytes done, bytes total (0 when unknown)
    loaded = pyqtSignal(str)  # a few lines on the model that was loaded
    load_failed = pyqtSignal(str, str, str)  # why; a URL to fetch by hand and where ('' if none)
    message = pyqtSignal(str, str)  # kind ("error" | "status"), one line
    frame_ready = pyqtSignal(QImage, int)  # the frame with skeletons drawn, people in view
    prediction_ready = pyqtSignal(object)  # pipeline.Prediction
    event_ready = pyqtSignal(object)  # app.events.Event, logged (its snapshot saved)
    finished = pyqtSignal()

    def __init__(
        self,
        settings: RunSettings,
        config: PipelineSettings,
        recorded_top_k: int,
        buffer: FrameBuffer[Captured],
        meters: dict[str, RateMeter],
        build: Callable[..., FramePipeline] = build_live_pipeline,
        events: EventSettings | None = None,
    ) -> None:
        super().__init__()
        self._settings, self._config, self._build = settings, config, build
        self._recorded_top_k = recorded_top_k
        self._buffer = buffer
        self._meters = meters
        self._stop = threading.Event()
        self._recorder_lock = threading.Lock()
        self._recorder: Recorder | None = None
        self._pipeline: FramePipeline | None = None
        self._shown: Prediction | None = None  # the newest prediction emitted
        self._events = events or EventSettings()
        self._detector: EventDetector | None = None
        self._event_log: EventLog | None = None
        self._frames = FrameRing()  # recent drawn frames, for an event's snapshot
        self._person = -1  # the tracker's identity of body slot 0 in the newest frame

    def stop(self) -> None:
        """Ask the loop to end (thread-safe)."""
        self._stop.set()

    def set_recorder(self, recorder: Recorder | None) -> None:
        """Start (a Recorder) or stop (None) writing frames from the next one on; thread-safe."""
        with self._recorder_lock:
            old, self._recorder = self._recorder, recorder
        if old is not None:
            self._finish_recording(old)
        if recorder is not None:
            self.message.emit("status", f"recording to {recorder.path}")

    def run(self) -> None:
        """Build the pipeline (may download), then process frames until the source is done."""
        try:
            try:
                self._pipeline = self._build(self._settings, self._config, self._report_download)
            except UserError as err:
                manual = isinstance(err, DownloadFailed)
                self.load_failed.emit(
                    str(err), err.url if manual else "", str(err.dest) if manual else ""
                )
                return
            self.loaded.emit(describe_model(self._settings.weights, self._pipeline))
            self._start_events()
            self._loop()
        except UserError as err:
            self.message.emit("error", str(err))
        except Exception as err:  # keep the window alive and say what broke
            self.message.emit("error", f"processing stopped: {type(err).__name__}: {err}")
        finally:
            self.set_recorder(None)
            if self._detector is not None:
                self._log_events(self._detector.finish())
            if self._pipeline is not None:
                self._pipeline.close()
            self.finished.emit()

    def _start_events(self) -> None:
        """Event detection for the run's rules, once the model's classes are known; a rule that
        names no class, or a log that cannot be written, is shown and the run goes on without."""
        if not self._events.rules:
            return
        try:
            names = self._pipeline.classifier.class_names
            self._detector = EventDetector(self._events.rules, names, self._settings.source)
            if self._events.log is not None:
                self._event_log = EventLog(self._events.log)
        except UserError as err:
            self._detector = None
            self.message.emit("error", f"no action events: {err}")

    def _log_events(self, events: list[Event]) -> None:
        """Write each event (snapshot, log line) and hand it to the window."""
        for event in events:
            if self._event_log is not None:
                try:
                    self._event_log.write(event)
                except (UserError, OSError) as err:
                    self.message.emit("error", f"event not logged: {err}")
            self.event_ready.emit(event)

    def _report_download(self, done: int, total: int | None) -> None:
        """Forward download progress; raising here cancels the download when stopping."""
        if self._stop.is_set():
            raise UserError("download cancelled")
        self.download_progress.emit(done, total or 0)

    def _loop(self) -> None:
        """Take the next buffered frame, process it, emit the picture and any new prediction;
        when the source runs out (not when stopped), emit the prediction over its last frames."""
        while not self._stop.is_set():
            item = self._buffer.take(timeout=0.1)
            if item is None:
                if self._buffer.closed:
                    final = self._pipeline.finish()
                    if final is not None:
                        self._publish(final)
                    return
                continue
            frame = item.frame
            result = self._pipeline.process(
                frame.image, frame.timestamp, frame.capture_ms, arrival=item.read_at
            )
            self._meters["pose"].tick()
            self._person = result.identities[0] if result.identities else -1
            drawn = annotate_frame(frame.image, result.people, result.slots, None)
            if self._detector is not None:
                self._frames.add(frame.timestamp, drawn)
            if result.new_prediction and result.prediction is not None:
                self._publish(result.prediction)
            self.frame_ready.emit(to_qimage(drawn), len(result.people))
            self._record(frame, drawn)

    def _publish(self, prediction: Prediction) -> None:
        """Count and emit a new prediction; recordings show it from now on."""
        self._meters["inference"].tick()
        self._shown = prediction
        self.prediction_ready.emit(prediction)
        if self._detector is not None:
            frame = self._frames.at(prediction.timestamp)
            self._log_events(self._detector.update(prediction, self._person, frame))

    def _record(self, frame: Frame, drawn: np.ndarray) -> None:
        """Write the frame to the recording, if one runs: as captured (raw), else with skeletons
        and the shown prediction's best classes; a failure stops it, visibly."""
        with self._recorder_lock:
            recorder = self._recorder
            if recorder is None:
                return
            if recorder.raw or self._shown is None:
                image = frame.image if recorder.raw else drawn
            else:
                image = drawn.copy()
                draw_top(image, self._shown.top(self._recorded_top_k))
            try:
                recorder.write(image, frame.timestamp)
            except UserError as err:
                self._recorder = None
                self.message.emit("error", str(err))

    def _finish_recording(self, recorder: Recorder) -> None:
        """Close a recording and say where it went."""
        try:
            recorder.close()
        except (UserError, OSError) as err:
            self.message.emit("error", f"recording {recorder.path} failed: {err}")
            return
        if recorder.frames:
            self.message.emit(
                "status", f"recording saved: {recorder.path} ({recorder.frames} frames)"
            )
