"""The Teach panel: record clips of your own actions from the running source, one folder a class,
then fine-tune on them (train.from_videos, in a worker thread) and hand the checkpoint on.

The panel knows nothing of the window: it asks for a clip of the running source with
`recording_requested(path)` and `recording_finished()`, says a checkpoint is ready with
`training_done(path)`, and is told whether a source runs (`set_source_running`) and shown its
frames (`show_preview`). The window does the wiring.

The folder (TeachSettings.folder, beside the window's output) is the command line's layout:
`clips/<class>/*.mp4` (python -m train.from_videos <folder>/clips), `models/<time>/best.pt` and
the skeleton cache `skeletons/`, reused by every training.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal
from PyQt5.QtGui import QImage, QPixmap
from PyQt5.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.gui.settings import TeachSettings
from app.gui.widgets import ElidedLabel
from common.errors import UserError
from pipeline.sources import list_videos

CLIPS, MODELS, SKELETONS = "clips", "models", "skeletons"


MAX_CLASS_NAME = 60  # characters: the name is a folder and, with a time stamp, a file name


def clean_class_name(text: str) -> str:
    """A class name usable as a folder name: letters, digits, spaces, '-' and '_' (NFC)."""
    return re.sub(r"[^\w \-]+", "", unicodedata.normalize("NFC", text)).strip()


def class_counts(clips: Path) -> dict[str, int]:
    """{class: number of clips} of a teach folder's clips/ (empty when there is none)."""
    if not clips.is_dir():
        return {}
    return {
        d.name: len(list_videos(d))
        for d in sorted(clips.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    }


def clock(seconds: float) -> str:
    """Seconds as m:ss."""
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class TrainingClock:
    """A training's progress in time: elapsed since Train, and the current stage's remaining time
    estimated from its pace so far (cached videos and clips, reported at once, do not count)."""

    def __init__(self, now: float) -> None:
        self.began = now
        self.stage = ""
        self.done = self.total = 0
        self._mark: tuple[int, float] = (0, now)  # (done, time) when this stage's pace began

    def update(self, stage: str, done: int, total: int, now: float) -> None:
        """A progress report: `done` of `total` steps of `stage`."""
        if stage != self.stage or done < self.done:
            self.stage, self._mark = stage, (done, now)
        elif done == self._mark[0] + 1 and now - self._mark[1] < 0.05:
            self._mark = (done, now)  # from a cache: no time spent, no pace to learn
        self.done, self.total = done, total

    def text(self, now: float) -> str:
        """'extracting 3/18 · 0:21 elapsed, about 1:05 left' (or 'estimating' before a pace)."""
        elapsed = f"{clock(now - self.began)} elapsed"
        if not self.stage:
            return elapsed
        steps, since = self.done - self._mark[0], now - self._mark[1]
        if self.done >= self.total:
            left = "finishing"
        elif steps > 0:
            left = f"about {clock(since / steps * (self.total - self.done))} left"
        else:
            left = "estimating"
        return f"{self.stage} {self.done}/{self.total} · {elapsed}, {left}"


class TrainingStopped(Exception):
    """Raised from train.from_videos' progress callbacks once the user asked to stop."""


class TrainWorker(QObject):
    """Runs train.from_videos on the teach folder in its own thread, reporting progress; `stop()`
    ends it after the video or epoch in progress (the points where from_videos reports)."""

    # stage ("extracting" | "features" | "training"), done, total
    progress = pyqtSignal(str, int, int)
    done = pyqtSignal(str)  # the new best.pt
    failed = pyqtSignal(str)  # one line
    stopped = pyqtSignal(str)  # one line: where it stopped
    finished = pyqtSignal()

    def __init__(self, folder: Path, overrides: dict[str, Any]) -> None:
        super().__init__()
        self.folder, self.overrides = folder, overrides
        self._stop = threading.Event()  # set from the GUI thread

    def stop(self) -> None:
        """Ask the run to end at its next video or epoch (safe from any thread)."""
        self._stop.set()

    def _report(self, stage: str, done: int, total: int) -> None:
        self.progress.emit(stage, done, total)
        if self._stop.is_set():
            raise TrainingStopped(f"{stage} {done}/{total}")

    def run(self) -> None:
        """Extract (cached), fine-tune, report the checkpoint; never raises into Qt."""
        from train.from_videos import from_videos  # torch, MediaPipe: loaded on first use

        work = self.folder / MODELS / time.strftime("%Y%m%d-%H%M%S")
        epochs = int(self.overrides.get("epochs") or 0)
        try:
            if self._stop.is_set():
                raise TrainingStopped("before it began")
            summary = from_videos(
                self.folder / CLIPS,
                work,
                cache_dir=self.folder / SKELETONS,
                overrides=self.overrides,
                workers=1,
                progress=False,
                on_video=lambda done, total: self._report("extracting", done, total),
                on_epoch=lambda row: self._report("training", int(row["epoch"]), epochs),
                on_clip=lambda done, total: self._report("features", done, total),
            )
            self.done.emit(summary["weights"])
        except TrainingStopped as where:
            self.stopped.emit(str(where))
        except UserError as err:
            self.failed.emit(str(err))
        except Exception as err:  # the window must survive whatever training does
            self.failed.emit(f"training stopped: {type(err).__name__}: {err}")
        finally:
            self.finished.emit()


class TeachPanel(QWidget):
    """Class name, Record (countdown, preview), the clips so far, Train (Stop training while it
    runs) with a progress bar."""

    recording_requested = pyqtSignal(str)  # record the running source's raw frames to this file
    recording_finished = pyqtSignal()  # close that recording (the file is whole on return)
    clip_saved = pyqtSignal(str)
    training_done = pyqtSignal(str)  # a new checkpoint is ready: the live model is to use it
    training_failed = pyqtSignal(str)
    training_stopped = pyqtSignal(str)  # where the user's Stop took effect

    def __init__(self, output_dir: Path, settings: TeachSettings) -> None:
        super().__init__()
        self.folder = Path(output_dir) / settings.folder
        self.settings = settings
        self._clip: Path | None = None
        self._name = ""  # the class being recorded, checked when Record was pressed
        self._left = 0
        self._source_running = False
        self._thread: QThread | None = None
        self._worker: TrainWorker | None = None
        self._build(settings.clip_s)
        self.dock = QDockWidget("Teach")  # the window places it
        self.dock.setObjectName("teach")
        self.dock.setWidget(self)
        self.dock.setFeatures(
            QDockWidget.DockWidgetMovable
            | QDockWidget.DockWidgetFloatable
            | QDockWidget.DockWidgetClosable
        )
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._count_down)
        self._clock: TrainingClock | None = None
        self._clock_timer = QTimer(self)  # the elapsed time moves on between progress reports
        self._clock_timer.setInterval(1000)
        self._clock_timer.timeout.connect(self._show_time)
        self.refresh()

    # ---- widgets ------------------------------------------------------------------------------

    def _build(self, clip_s: int) -> None:
        self.folder_label = ElidedLabel()
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("class name, e.g. wave")
        self.seconds_spin = QSpinBox()
        self.seconds_spin.setRange(1, 30)
        self.seconds_spin.setValue(clip_s)
        self.seconds_spin.setSuffix(" s")
        self.record_button = QPushButton("Record")
        self.preview = QLabel("preview")
        self.preview.setFixedSize(240, 180)
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setStyleSheet("background: #202020; color: #f0f0f0; font-size: 28px;")
        self.classes_label = QLabel()
        self.classes_label.setWordWrap(True)
        self.train_button = QPushButton("Train")
        self.progress = QProgressBar()
        self.progress.hide()  # shown while a training runs
        self.status = QLabel("Start the source, name a class, press Record and act.")
        self.status.setWordWrap(True)
        grid = QGridLayout(self)
        grid.addWidget(self.folder_label, 0, 0, 1, 3)
        grid.addWidget(QLabel("Class"), 1, 0)
        grid.addWidget(self.class_edit, 1, 1, 1, 2)
        grid.addWidget(QLabel("Clip"), 2, 0)
        grid.addWidget(self.seconds_spin, 2, 1)
        grid.addWidget(self.record_button, 2, 2)
        grid.addWidget(self.preview, 3, 0, 1, 3, Qt.AlignCenter)
        grid.addWidget(self.classes_label, 4, 0, 1, 3)
        grid.addWidget(self.train_button, 5, 0, 1, 3)
        grid.addWidget(self.progress, 6, 0, 1, 3)
        grid.addWidget(self.status, 7, 0, 1, 3)
        grid.setRowStretch(8, 1)
        self.setFixedWidth(280)
        self.record_button.clicked.connect(self.record)
        self.train_button.clicked.connect(self._train_or_stop)

    def refresh(self) -> None:
        """Show the folder and the clips per class; Train needs two classes with clips."""
        counts = class_counts(self.folder / CLIPS)
        self.folder_label.set_whole_text(f"Folder: {self.folder}")
        self.classes_label.setText(
            "Clips: " + (", ".join(f"{name} {n}" for name, n in counts.items()) or "none yet")
        )
        ready = sum(n > 0 for n in counts.values()) >= 2
        if self._thread is None:  # while training, the button stops it
            self.train_button.setEnabled(ready)
            self.train_button.setToolTip("" if ready else "record clips of at least two classes")

    def set_source_running(self, running: bool) -> None:
        """Whether a source runs, so that a clip can be recorded from it."""
        self._source_running = running

    def show_preview(self, image: QImage, _people: int = 0) -> None:
        """The running source's latest frame, small, while a clip is counted down or recorded."""
        if self._clip is not None or self._left:
            self.preview.setPixmap(
                QPixmap.fromImage(image).scaled(
                    self.preview.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation
                )
            )

    # ---- recording ----------------------------------------------------------------------------

    def record(self) -> None:
        """Count down, then record a clip of the running source into clips/<class>/."""
        name = clean_class_name(self.class_edit.text())
        if not name:
            self.status.setText("Type a class name first.")
            return
        if len(name) > MAX_CLASS_NAME:
            self.status.setText(
                f"That class name has {len(name)} characters; keep it to {MAX_CLASS_NAME}."
            )
            return
        self._name = name
        if not self._source_running:
            self.status.setText("Press Start first: clips are recorded from the running source.")
            return
        self.record_button.setEnabled(False)
        self._left = self.settings.countdown_s
        self._tick.start()  # before the first step, which stops it when there is no countdown
        self._count_down()

    def _count_down(self) -> None:
        """One second of the countdown; at zero the recording starts for the clip's length."""
        if self._left > 0:
            self.preview.clear()
            self.preview.setText(str(self._left))
            self.status.setText(f"Recording in {self._left}…")
            self._left -= 1
            return
        self._tick.stop()
        if not self._source_running:
            self._abandon("The source stopped before the clip began.")
            return
        name = self._name  # as checked when Record was pressed
        try:
            (self.folder / CLIPS / name).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self._abandon(f"Cannot make the folder for {name}: {err.strerror}.")
            return
        self._clip = self.folder / CLIPS / name / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        self.recording_requested.emit(str(self._clip))
        self.status.setText(f"Recording {name}: act now!")
        QTimer.singleShot(1000 * self.seconds_spin.value(), self._stop_recording)

    def _stop_recording(self) -> None:
        """The clip is long enough: close it (the file is whole when this returns)."""
        clip, self._clip = self._clip, None
        self.record_button.setEnabled(True)
        if not self._source_running or clip is None:
            self._abandon("The source stopped during the clip; nothing was saved.")
            return
        self.recording_finished.emit()
        if clip.is_file():
            self.status.setText(f"Saved {clip.parent.name}/{clip.name}.")
            self.refresh()
            self.clip_saved.emit(str(clip))
        else:
            self.status.setText("No frame reached the clip; is the source playing?")

    def _abandon(self, text: str) -> None:
        self._tick.stop()
        self._left, self._clip = 0, None
        self.record_button.setEnabled(True)
        self.status.setText(text)

    # ---- training -----------------------------------------------------------------------------

    def train(self) -> None:
        """Fine-tune on every clip in a worker thread; the event loop stays free."""
        if self._thread is not None:
            return
        from train.config import load_config
        from train.from_videos import DEFAULT_CONFIG

        overrides = dict(self.settings.training)
        overrides.setdefault("epochs", load_config(DEFAULT_CONFIG).epochs)
        self._thread = QThread(self)
        self._worker = TrainWorker(self.folder, overrides)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.finished.connect(self._thread.quit, type=Qt.DirectConnection)
        self._worker.progress.connect(self._show_progress)
        self._worker.done.connect(self._trained)
        self._worker.failed.connect(self._failed)
        self._worker.stopped.connect(self._stopped)
        self._thread.finished.connect(self._thread_done)
        self.train_button.setText("Stop training")
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("Extracting skeletons…")
        self._clock = TrainingClock(time.monotonic())
        self._clock_timer.start()
        self._show_time()
        self._thread.start()

    def _train_or_stop(self) -> None:
        """The button trains, or stops the training in progress."""
        if self._thread is None:
            self.train()
        else:
            self.stop_training()

    def stop_training(self) -> None:
        """Ask the training in progress to end after its current video or epoch."""
        if self._worker is not None:
            self._worker.stop()
            self.train_button.setEnabled(False)
            self.status.setText("Stopping after the current step…")

    def _show_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        if self._clock is not None:
            self._clock.update(stage, done, total, time.monotonic())
            self._show_time()
        self.status.setText(f"{stage.capitalize()}…")

    def _show_time(self) -> None:
        """The progress bar's text: stage, steps, elapsed and the estimated time left."""
        if self._clock is not None:
            self.progress.setFormat(self._clock.text(time.monotonic()))

    def _trained(self, checkpoint: str) -> None:
        """Say the new checkpoint is ready (the window switches the live model to it)."""
        self.status.setText(f"Trained: {checkpoint}. The live model now uses it.")
        self.training_done.emit(checkpoint)

    def _failed(self, text: str) -> None:
        self.status.setText(f"Training failed: {text}")
        self.training_failed.emit(text)

    def _stopped(self, where: str) -> None:
        self.status.setText(f"Training stopped at {where}; the live model is unchanged.")
        self.training_stopped.emit(where)

    def _thread_done(self) -> None:
        self._clock_timer.stop()
        self._thread.deleteLater()
        self._thread, self._worker = None, None
        self.train_button.setText("Train")
        self.progress.hide()
        self.refresh()

    def shutdown(self) -> None:
        """Stop a training in progress and wait for it (the window is closing)."""
        if self._thread is not None:
            self.stop_training()
            self._thread.wait()
