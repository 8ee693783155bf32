"""Workers in their own QThreads: capture, and pose + inference; they talk only through signals."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtGui import QImage

from app.gui.engine import Engine, EngineOutput, LiveSource, Recorder
from app.sources import Frame, FrameBuffer
from common.errors import UserError
from weights import DownloadFailed


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

    opened = pyqtSignal(str)  # what was opened, e.g. "video.mp4 640x480 @ 30 fps"
    message = pyqtSignal(str, str)  # kind ("error" | "info"), one line
    finished = pyqtSignal()

    def __init__(self, open_source: Callable[[], LiveSource], buffer: FrameBuffer[Captured],
                 meter: RateMeter) -> None:
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
        """The capture loop proper: no camera and unreadable files raise UserError on opening."""
        source = self._open_source()
        try:
            self.fps = source.fps
            self.opened.emit(source.describe())
            for frame in source.frames(self._stop):
                self._meter.tick()
                self._buffer.put(Captured(frame, time.perf_counter()))
            if not self._stop.is_set():
                self.message.emit(*source.end_message())
        finally:
            source.close()


class PipelineWorker(QObject):
    """Loads the checkpoint, then runs pose + inference on the buffered frames, emitting results."""

    download_progress = pyqtSignal(int, int)  # bytes done, bytes total (0 when unknown)
    loaded = pyqtSignal(str)  # a few lines on the model that was loaded
    load_failed = pyqtSignal(str, str, str)  # why; a URL to fetch by hand and where ('' if none)
    message = pyqtSignal(str, str)  # kind, one line
    frame_ready = pyqtSignal(QImage, int)  # annotated frame, people in view
    prediction_ready = pyqtSignal(list)  # [(class name, probability)] best first
    finished = pyqtSignal()

    def __init__(self, build: Callable[[Callable[[int, int | None], None]], Engine],
                 buffer: FrameBuffer[Captured], meters: dict[str, RateMeter],
                 latency: deque) -> None:
        super().__init__()
        self._build = build
        self._buffer = buffer
        self._meters = meters
        self._latency = latency
        self._stop = threading.Event()
        self._recorder_lock = threading.Lock()
        self._recorder: Recorder | None = None
        self._engine: Engine | None = None
        self._read_at: deque[tuple[float, float]] = deque(maxlen=512)  # (timestamp, read_at)

    def stop(self) -> None:
        """Ask the loop to end (thread-safe)."""
        self._stop.set()

    def set_recorder(self, recorder: Recorder | None) -> None:
        """Start (a Recorder) or stop (None) writing annotated frames; thread-safe."""
        with self._recorder_lock:
            old, self._recorder = self._recorder, recorder
        if old is not None:
            self._finish_recording(old)

    def run(self) -> None:
        """Build the engine (may download), then process frames until the source is done."""
        try:
            try:
                self._engine = self._build(self._report_download)
            except UserError as err:
                manual = isinstance(err, DownloadFailed)
                self.load_failed.emit(str(err), err.url if manual else "",
                                      str(err.dest) if manual else "")
                return
            self.loaded.emit(self._engine.describe())
            self._loop()
        except UserError as err:
            self.message.emit("error", str(err))
        except Exception as err:  # keep the window alive and say what broke
            self.message.emit("error", f"processing stopped: {type(err).__name__}: {err}")
        finally:
            self.set_recorder(None)
            if self._engine is not None:
                self._engine.close()
            self.finished.emit()

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
                    final = self._engine.finish()
                    if final is not None:
                        self._publish(*final)
                    return
                continue
            self._read_at.append((item.frame.timestamp, item.read_at))
            output = self._engine.process(item.frame)
            self._meters["pose"].tick()
            if output.top is not None:
                self._publish(output.top, output.window_end)
            self.frame_ready.emit(to_qimage(output.annotated), output.people)
            self._record(output, item.frame)

    def _publish(self, top: list[tuple[str, float]], window_end: float | None) -> None:
        """Count and emit a new prediction."""
        self._meters["inference"].tick()
        self._note_latency(window_end)
        self.prediction_ready.emit(top)

    def _note_latency(self, window_end: float | None) -> None:
        """Seconds from reading the window's last frame to its prediction reaching the GUI."""
        for timestamp, read_at in reversed(self._read_at):
            if timestamp == window_end:
                self._latency.append(time.perf_counter() - read_at)
                return

    def _record(self, output: EngineOutput, frame: Frame) -> None:
        """Write the frame (annotated, or as captured for a raw recording) to the recording, if
        one is running; a failure stops it, visibly."""
        with self._recorder_lock:
            recorder = self._recorder
            if recorder is None:
                return
            try:
                image = frame.image if recorder.raw else self._engine.recorded_frame(output)
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
            self.message.emit("status",
                              f"recording saved: {recorder.path} ({recorder.frames} frames)")
