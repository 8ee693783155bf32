"""The run's worker, in its own QThread, talking to the window only through signals: it loads
the model, then runs the live loop (pipeline.live: a capture thread, the frame buffer, pose,
tracking, inference) and turns the loop's callbacks into signals, drawing the frames, detecting
action events and writing the recording on the way.
"""

from __future__ import annotations

import dataclasses
import threading
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
from app.gui.media import Recorder
from app.gui.settings import RunSettings
from common.errors import UserError
from pipeline import FramePipeline, FrameResult, PipelineSettings, Prediction
from pipeline.live import Captured, LiveCallbacks, LiveLoop, RateMeter, SourceOpener
from pipeline.sources import Frame, FrameBuffer
from weights import DownloadFailed


@dataclass
class EventSettings:
    """The run's action event rules and the JSON-lines log their events are appended to."""

    rules: list[EventRule] = field(default_factory=list)
    log: Path | None = None


def to_qimage(frame_bgr: np.ndarray) -> QImage:
    """A deep-copied QImage of a BGR uint8 frame (safe to hand to the GUI thread)."""
    frame = np.ascontiguousarray(frame_bgr)
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, frame.strides[0], QImage.Format_BGR888).copy()


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
    """The run's worker: loads the checkpoint, then runs the live loop (pipeline.live.LiveLoop:
    capture in a thread of its own when `open_source` is given, else frames put into `buffer`
    from elsewhere), emitting each frame with its skeletons drawn and each new Prediction as the
    pipeline made it; writes the recording when one runs."""

    download_progress = pyqtSignal(int, int)  # bytes done, bytes total (0 when unknown)
    loaded = pyqtSignal(str)  # a few lines on the model that was loaded
    load_failed = pyqtSignal(str, str, str)  # why; a URL to fetch by hand and where ('' if none)
    message = pyqtSignal(str, str)  # kind ("error" | "info" | "status"), one line
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
        open_source: SourceOpener | None = None,
    ) -> None:
        super().__init__()
        self._settings, self._config, self._build = settings, config, build
        self._recorded_top_k = recorded_top_k
        callbacks = LiveCallbacks(
            frame=self._show_frame,
            prediction=self._publish,
            message=self.message.emit,
            end=self._end_events,
        )
        self.loop = LiveLoop(buffer, callbacks, meters, open_source)
        self._recorder_lock = threading.Lock()
        self._recorder: Recorder | None = None
        self._pipeline: FramePipeline | None = None
        self._shown: Prediction | None = None  # the newest prediction shown
        self._events = events or EventSettings()
        self._detector: EventDetector | None = None
        self._event_log: EventLog | None = None
        self._frames = FrameRing()  # recent drawn frames, for an event's snapshot
        self._person = -1  # the tracker's identity of body slot 0 in the newest frame

    @property
    def source_fps(self) -> float | None:
        """The source's frame rate, once it is open."""
        return self.loop.fps

    def stop(self) -> None:
        """Ask the run to end, a download included (thread-safe)."""
        self.loop.stop()

    def set_recorder(self, recorder: Recorder | None) -> None:
        """Start (a Recorder) or stop (None) writing frames from the next one on; thread-safe."""
        with self._recorder_lock:
            old, self._recorder = self._recorder, recorder
        if old is not None:
            self._finish_recording(old)
        if recorder is not None:
            self.message.emit("status", f"recording to {recorder.path}")

    def run(self) -> None:
        """Build the pipeline (may download), then run the live loop until the source is done."""
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
            self.loop.run(self._pipeline)
        except UserError as err:
            self.message.emit("error", str(err))
        except Exception as err:  # keep the window alive and say what broke
            self.message.emit("error", f"processing stopped: {type(err).__name__}: {err}")
        finally:
            self.loop.stop()
            self.set_recorder(None)
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

    def _end_events(self) -> None:
        """The loop is over: close the events still open."""
        if self._detector is not None:
            self._log_events(self._detector.finish())

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
        if self.loop.stopped:
            raise UserError("download cancelled")
        self.download_progress.emit(done, total or 0)

    def _show_frame(self, frame: Frame, result: FrameResult) -> None:
        """A processed frame: draw its skeletons, keep it for event snapshots, emit it, and
        record it with the prediction it brought (if any) on it."""
        self._person = result.identities[0] if result.identities else -1
        drawn = annotate_frame(frame.image, result.people, result.slots, None)
        if self._detector is not None:
            self._frames.add(frame.timestamp, drawn)
        if result.new_prediction and result.prediction is not None:
            self._shown = result.prediction
        self.frame_ready.emit(to_qimage(drawn), len(result.people))
        self._record(frame, drawn)

    def _publish(self, prediction: Prediction) -> None:
        """Emit a new prediction (recordings show it from now on) and its events."""
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
