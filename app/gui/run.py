"""One run of the live pipeline: two worker threads (capture; pose + inference), their signals."""
from __future__ import annotations

from collections import deque
from pathlib import Path

from PyQt5.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal
from PyQt5.QtGui import QImage

from app.gui.engine import Engine, LiveSource, Recorder, RunSettings, gui_defaults
from app.gui.workers import CaptureWorker, PipelineWorker, RateMeter
from app.sources import FrameBuffer


class PipelineRun(QObject):
    """Starts and stops the workers of one run and forwards what they report to the window.

    Everything the window learns arrives through these signals (queued across threads), so the
    event loop never waits on the camera, MediaPipe or the network.
    """

    frame_ready = pyqtSignal(QImage, int)
    prediction_ready = pyqtSignal(list)
    stats_ready = pyqtSignal(dict)
    message = pyqtSignal(str, str)  # text, kind: "error" | "info" | "status"
    download_progress = pyqtSignal(int, int)
    model_loaded = pyqtSignal(str)  # a few lines on the model that runs
    load_failed = pyqtSignal(str, str, str)  # why the checkpoint did not load; URL, file or ''
    finished = pyqtSignal(str)  # why the run ended

    def __init__(self, settings: RunSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        defaults = gui_defaults()
        self._buffer = FrameBuffer(int(settings.pipeline["live"]["frame_buffer"]))
        self._meters = {name: RateMeter() for name in ("capture", "pose", "inference")}
        self._latency: deque[float] = deque(maxlen=20)
        self._reason = "stopped"
        self._alive = 0
        self._stopping = False
        realtime = bool(defaults["realtime_video"])
        self._capture = CaptureWorker(lambda: LiveSource(settings.source, realtime),
                                      self._buffer, self._meters["capture"])
        self._pipeline = PipelineWorker(lambda progress: Engine(settings, progress),
                                        self._buffer, self._meters, self._latency)
        self._capture_thread = self._in_thread(self._capture, "capture")
        self._pipeline_thread = self._in_thread(self._pipeline, "pose+inference")
        self._connect()
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(int(defaults["stats_interval_ms"]))
        self._stats_timer.timeout.connect(self._emit_stats)

    def _in_thread(self, worker: QObject, name: str) -> QThread:
        """Move a worker to a new QThread that runs worker.run() once started."""
        thread = QThread(self)
        thread.setObjectName(name)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit() is thread-safe, and a queued call would deadlock a GUI thread in wait().
        worker.finished.connect(thread.quit, type=Qt.DirectConnection)
        thread.finished.connect(self._thread_done)
        return thread

    def _connect(self) -> None:
        """Forward the workers' signals; faults also record why the run ends."""
        self._capture.opened.connect(self._on_opened)
        self._capture.message.connect(self._on_message)
        self._pipeline.message.connect(self._on_message)
        self._pipeline.loaded.connect(self._on_loaded)
        self._pipeline.load_failed.connect(self._on_load_failed)
        self._pipeline.frame_ready.connect(self.frame_ready)
        self._pipeline.prediction_ready.connect(self.prediction_ready)
        self._pipeline.download_progress.connect(self.download_progress)
        # The processing worker ends once capture is over and the last frame is processed; a
        # model failure ends capture. Direct: stop() only sets an event, safe from any thread.
        self._pipeline.finished.connect(self._capture.stop, type=Qt.DirectConnection)

    def _on_opened(self, text: str) -> None:
        """The source is open."""
        self.message.emit(f"playing {text}", "status")

    def _on_loaded(self, text: str) -> None:
        """The checkpoint is loaded and the pipeline built: now open the source, so a video
        plays from its first frame instead of running on while the model loads."""
        self.model_loaded.emit(text)
        if not self._stopping:
            self._start_thread(self._capture_thread)

    def _on_load_failed(self, text: str, url: str, dest: str) -> None:
        """The checkpoint did not load: the run ends there, and says why."""
        self._reason = text
        self.load_failed.emit(text, url, dest)

    def _on_message(self, kind: str, text: str) -> None:
        """Pass a worker's message on; errors and end-of-video become the run's end reason."""
        if kind in ("error", "info"):
            self._reason = text
        self.message.emit(text, kind)

    def start(self) -> None:
        """Start the processing worker (it loads the model) and the figures' refresh."""
        self.message.emit(f"starting {self.settings.source} with {self.settings.weights}",
                          "status")
        self._start_thread(self._pipeline_thread)
        self._stats_timer.start()

    def _start_thread(self, thread: QThread) -> None:
        """Start one worker thread, counted so `finished` comes after the last one ends."""
        self._alive += 1
        thread.start()

    def stop(self) -> None:
        """Ask both workers to finish; `finished` follows once the started threads have ended."""
        self._stopping = True
        self._capture.stop()
        self._pipeline.stop()

    def shutdown(self) -> None:
        """Stop and wait for the threads (each blocking step in them is bounded): window closing."""
        self.stop()
        for thread in (self._capture_thread, self._pipeline_thread):
            thread.wait()

    def start_recording(self, path: Path, raw: bool = False) -> None:
        """Write annotated frames (with `raw`, the frames as captured) to `path` from the next
        processed frame on."""
        fps = self._capture.fps or 30.0
        self._pipeline.set_recorder(Recorder(path, fps, raw))
        self.message.emit(f"recording to {path}", "status")

    def stop_recording(self) -> None:
        """Close the recording; the worker reports where it was saved."""
        self._pipeline.set_recorder(None)

    def _emit_stats(self) -> None:
        """Rates of capture, pose and inference, and the mean recent latency in ms."""
        stats = {name: meter.rate() for name, meter in self._meters.items()}
        latency = list(self._latency)
        stats["latency"] = 1000 * sum(latency) / len(latency) if latency else None
        stats["dropped"] = self._buffer.dropped
        self.stats_ready.emit(stats)

    def _thread_done(self) -> None:
        """When the started threads are over, the run is: say why."""
        self._alive -= 1
        if self._alive == 0:
            self._stats_timer.stop()
            self._emit_stats()
            self.finished.emit(self._reason)


