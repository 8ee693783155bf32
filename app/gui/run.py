"""One run of the live pipeline: the capture and pipeline workers in their threads, started and
stopped together; the window connects to the workers' signals directly."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal

from app.gui.media import LiveSource, Recorder
from app.gui.settings import GuiSettings, RunSettings
from app.gui.workers import CaptureWorker, EventSettings, PipelineWorker, RateMeter
from pipeline.sources import FrameBuffer


class LiveRun(QObject):
    """Owns one run's two worker threads: the pipeline worker starts first (it loads the model),
    capture once the model is loaded; `finished` says why the run ended once both are over.

    Frames, predictions and messages come from `worker` and `capture` (queued across threads),
    so the event loop never waits on the camera, MediaPipe or the network.
    """

    rates_ready = pyqtSignal(dict)  # capture, pose, inference: events per second or None
    finished = pyqtSignal(str)  # why the run ended

    def __init__(
        self,
        settings: RunSettings,
        gui: GuiSettings,
        parent: QObject | None = None,
        event_log: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        config = settings.pipeline_config()
        self._buffer = FrameBuffer(config.live.frame_buffer)
        self._fps = config.classifier.fps  # a recording's until the source opens
        self._meters = {name: RateMeter() for name in ("capture", "pose", "inference")}
        self._reason = "stopped"
        self._alive = 0
        self._stopping = False
        self.capture = CaptureWorker(
            lambda say: LiveSource(settings.source, gui.realtime_video, config.stream, say),
            self._buffer,
            self._meters["capture"],
        )
        self.worker = PipelineWorker(
            settings,
            config,
            gui.recorded_top_k,
            self._buffer,
            self._meters,
            events=EventSettings(gui.rules(), event_log),
        )
        self._capture_thread = self._in_thread(self.capture, "capture")
        self._worker_thread = self._in_thread(self.worker, "pipeline")
        self.capture.message.connect(self._note_end)
        self.worker.message.connect(self._note_end)
        self.worker.load_failed.connect(lambda text, _url, _dest: self._note_end("error", text))
        self.worker.loaded.connect(self._start_capture)
        # The pipeline worker ends once capture is over and the last frame is processed; a
        # model failure ends capture. Direct: stop() only sets an event, safe from any thread.
        self.worker.finished.connect(self.capture.stop, type=Qt.DirectConnection)
        self._rates_timer = QTimer(self)
        self._rates_timer.setInterval(gui.stats_interval_ms)
        self._rates_timer.timeout.connect(self._emit_rates)

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

    def _note_end(self, kind: str, text: str) -> None:
        """Errors and the end of a video become the reason the run ended."""
        if kind in ("error", "info"):
            self._reason = text

    def _start_capture(self) -> None:
        """The model is loaded: open the source now, so that a video plays from its first frame
        instead of running on while the model loads."""
        if not self._stopping:
            self._start_thread(self._capture_thread)

    def start(self) -> None:
        """Start the pipeline worker (it loads the model) and the rates' refresh."""
        self._start_thread(self._worker_thread)
        self._rates_timer.start()

    def _start_thread(self, thread: QThread) -> None:
        """Start one worker thread, counted so `finished` comes after the last one ends."""
        self._alive += 1
        thread.start()

    def stop(self) -> None:
        """Ask both workers to finish; `finished` follows once the started threads have ended."""
        self._stopping = True
        self.capture.stop()
        self.worker.stop()

    def shutdown(self) -> None:
        """Stop and wait for the threads (each blocking step in them is bounded): window closing."""
        self.stop()
        for thread in (self._capture_thread, self._worker_thread):
            thread.wait()

    def start_recording(self, path: Path, raw: bool = False) -> None:
        """Write frames with skeletons and classes (with `raw`, as captured) to `path` from the
        next processed frame on, at the source's frame rate."""
        self.worker.set_recorder(Recorder(path, self.capture.fps or self._fps, raw))

    def stop_recording(self) -> None:
        """Close the recording; the worker says where it was saved."""
        self.worker.set_recorder(None)

    def _emit_rates(self) -> None:
        """Frames per second of capture and pose, predictions per second."""
        self.rates_ready.emit({name: meter.rate() for name, meter in self._meters.items()})

    def _thread_done(self) -> None:
        """When the started threads are over, the run is: say why."""
        self._alive -= 1
        if self._alive == 0:
            self._rates_timer.stop()
            self._emit_rates()
            self.finished.emit(self._reason)
