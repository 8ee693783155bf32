"""One run of the live pipeline: the pipeline worker in its thread (the live loop, which reads
the source in a capture thread of its own); the window connects to the worker's signals."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal

from app.gui.media import LiveSource, Recorder
from app.gui.settings import GuiSettings, RunSettings
from app.gui.workers import EventSettings, PipelineWorker, RateMeter
from pipeline.sources import FrameBuffer


class LiveRun(QObject):
    """Owns one run's worker thread: the pipeline worker loads the model, then runs the live
    loop, which opens the source once the model is loaded (a video plays from its first frame
    instead of running on while the model loads); `finished` says why the run ended.

    Frames, predictions and messages come from `worker` (queued across threads), so the event
    loop never waits on the camera, MediaPipe or the network.
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
        self.worker = PipelineWorker(
            settings,
            config,
            gui.recorded_top_k,
            self._buffer,
            self._meters,
            events=EventSettings(gui.rules(), event_log),
            open_source=lambda say: LiveSource(
                settings.source, gui.realtime_video, config.stream, say
            ),
        )
        self._worker_thread = self._in_thread(self.worker, "pipeline")
        self.worker.message.connect(self._note_end)
        self.worker.load_failed.connect(lambda text, _url, _dest: self._note_end("error", text))
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

    def start(self) -> None:
        """Start the pipeline worker (it loads the model, then plays) and the rates' refresh."""
        self._worker_thread.start()
        self._rates_timer.start()

    def stop(self) -> None:
        """Ask the worker to finish; `finished` follows once its thread has ended."""
        self.worker.stop()

    def shutdown(self) -> None:
        """Stop and wait for the thread (each blocking step in it is bounded): window closing."""
        self.stop()
        self._worker_thread.wait()

    def start_recording(self, path: Path, raw: bool = False) -> None:
        """Write frames with skeletons and classes (with `raw`, as captured) to `path` from the
        next processed frame on, at the source's frame rate."""
        self.worker.set_recorder(Recorder(path, self.worker.source_fps or self._fps, raw))

    def stop_recording(self) -> None:
        """Close the recording; the worker says where it was saved."""
        self.worker.set_recorder(None)

    def _emit_rates(self) -> None:
        """Frames per second of capture and pose, predictions per second."""
        self.rates_ready.emit({name: meter.rate() for name, meter in self._meters.items()})

    def _thread_done(self) -> None:
        """The worker's thread is over, and so is the run: say why."""
        self._rates_timer.stop()
        self._emit_rates()
        self.finished.emit(self._reason)
