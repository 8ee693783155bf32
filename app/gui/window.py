"""The main window: the video (faults above it) on the left; results and controls on the right."""

from __future__ import annotations

import time
from pathlib import Path

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QCloseEvent, QImage
from PyQt5.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import weights
from app.demo_clip import DEMO_SOURCE
from app.gui.run import LiveRun
from app.gui.settings import GuiSettings, RunSettings
from app.gui.teach import TeachPanel
from app.gui.widgets import ActionLabel, Banner, EventList, StatsPanel, TopKChart, VideoView
from common.device import DEVICE_CHOICES
from common.fileio import atomic_write
from pipeline import Prediction

SIDE_WIDTH = 300  # the right column: action, top-5, model, performance
PREFERRED_SIZE = QSize(1280, 760)  # the default size where the screen has room for it
TITLE_BAR_ALLOWANCE = 40  # the window manager's title bar, not part of the window's own height

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm);;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.pt *.pth);;All files (*)"


class MainWindow(QMainWindow):
    """Shift-GCN live: shows what the pipeline run reports and turns the controls into settings."""

    run_stopped = pyqtSignal()

    def __init__(
        self, settings: RunSettings, gui: GuiSettings, output_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle("Shift-GCN live — skeleton action recognition")
        self._gui = gui
        self._output_dir = output_dir or Path.cwd()
        self._run: LiveRun | None = None
        self._frames_shown = 0
        self._predictions = 0
        self._prediction: Prediction | None = None  # the newest, drawn by chart and action
        self._fault = ""  # the last error of the current run, '' while none
        self._restart_pending = False  # start again once the run stops (a new checkpoint)
        self._build_widgets()
        self._build_layout()
        self._load_settings(settings)
        self.teach = self._build_teach_panel(gui)
        self._build_menu()
        self.resize(default_size(self.minimumSizeHint()))

    # ---- construction -------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        """Create the display widgets and the controls."""
        self.banner = Banner()
        self.video = VideoView()
        self.action = ActionLabel()
        self.chart = TopKChart(k=self._gui.top_k)
        self.stats = StatsPanel()
        self.events = EventList()
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("camera index, video file, stream URL, or demo")
        self.source_edit.setToolTip(
            "a camera index (0, 1, …), a video file, an rtsp:// or http(s):// stream, or "
            "'demo': a short clip of two people hugging, fetched once (no webcam needed)"
        )
        self.source_browse = QPushButton("File…")
        self.weights_combo = QComboBox()
        self.weights_combo.setEditable(True)
        self.weights_combo.setToolTip("a registered checkpoint name, or a .pt file")
        for entry in weights.entries():
            self.weights_combo.addItem(entry.name)
        self.weights_browse = QPushButton("File…")
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICE_CHOICES)
        self.window_spin = QSpinBox()
        self.window_spin.setRange(8, 300)
        self.window_spin.setSingleStep(4)
        self.window_spin.setSuffix(" frames")
        self.threshold_spin = QSpinBox()
        self.threshold_spin.setRange(0, 100)
        self.threshold_spin.setSuffix(" %")
        self.mirror_check = QCheckBox("Mirrored source")
        self.mirror_check.setToolTip(
            "the picture is a mirror image (a selfie view, NTU's own "
            "videos): exchange left and right"
        )
        self.either_hand_check = QCheckBox("Either hand")
        self.either_hand_check.setToolTip(
            "also classify the mirror image and average, so that "
            "left- and right-handed actions read alike (twice the "
            "model's work)"
        )
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.snapshot_button = QPushButton("Snapshot")
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("downloading checkpoint %p%")
        self.progress.hide()
        self.model_label = QLabel("loaded at Start")
        self.model_label.setWordWrap(True)
        self.statusBar().addPermanentWidget(self.progress)
        self.source_browse.clicked.connect(self._browse_source)
        self.weights_browse.clicked.connect(self._browse_weights)
        self.threshold_spin.valueChanged.connect(self._threshold_changed)
        self.start_button.clicked.connect(self.toggle_run)
        self.banner.retry.connect(self.start_run)
        self.banner.play_demo.connect(self.play_demo)
        self.snapshot_button.clicked.connect(self.save_snapshot)
        self.record_button.toggled.connect(self._toggle_recording)

    def _build_layout(self) -> None:
        """Banner, video and controls on the left; action, top-5 and timings in a right column."""
        side = QVBoxLayout()
        side.setSpacing(4)
        side.addWidget(self._group("Action", self.action))
        side.addWidget(self._group(f"Top {self.chart.k}", self.chart))
        side.addWidget(self._group("Model", self.model_label))
        if self._gui.event_rules:
            rules = ", ".join(str(rule) for rule in self._gui.rules())
            side.addWidget(self._group(f"Events ({rules})", self.events), stretch=1)
        side.addStretch(1)
        side.addWidget(self._group("Performance", self.stats))
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(SIDE_WIDTH)
        left = QVBoxLayout()
        left.addWidget(self.banner)
        left.addWidget(self.video, stretch=1)
        left.addWidget(self._controls())
        body = QHBoxLayout()
        body.addLayout(left, stretch=1)
        body.addWidget(side_widget)
        central = QWidget()
        central.setLayout(body)
        self.setCentralWidget(central)

    def _controls(self) -> QWidget:
        """Rows under the video: what to run, how, then the switches and the buttons (narrow
        enough for a laptop screen beside the side column and the Teach panel)."""
        grid = QGridLayout()
        grid.setContentsMargins(0, 4, 0, 0)
        grid.addWidget(QLabel("Source"), 0, 0)
        grid.addWidget(self._with_button(self.source_edit, self.source_browse), 0, 1)
        grid.addWidget(QLabel("Checkpoint"), 1, 0)
        grid.addWidget(self._with_button(self.weights_combo, self.weights_browse), 1, 1)
        settings = QHBoxLayout()
        for label, field in (
            ("Device", self.device_combo),
            ("Window", self.window_spin),
            ("Threshold", self.threshold_spin),
        ):
            settings.addWidget(QLabel(label))
            settings.addWidget(field)
            settings.addSpacing(12)
        settings.addStretch(1)
        grid.addLayout(settings, 2, 0, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.mirror_check)
        buttons.addWidget(self.either_hand_check)
        buttons.addStretch(1)
        for button in (self.start_button, self.snapshot_button, self.record_button):
            buttons.addWidget(button)
        grid.addLayout(buttons, 3, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        widget = QWidget()
        widget.setLayout(grid)
        return widget

    def _build_teach_panel(self, gui: GuiSettings) -> TeachPanel:
        """The Teach panel docked on the right, wired to the runs: it records clips from the
        running source and hands over the checkpoints it trains."""
        teach = TeachPanel(self._output_dir, gui.teach)
        self.addDockWidget(Qt.RightDockWidgetArea, teach.dock)
        teach.recording_requested.connect(self._record_clip)
        teach.recording_finished.connect(self._stop_clip)
        teach.training_done.connect(self.use_checkpoint)
        return teach

    def _build_menu(self) -> None:
        """A View menu that shows and hides the Teach panel (also Ctrl+T)."""
        toggle = self.teach.dock.toggleViewAction()
        toggle.setText("&Teach panel")
        toggle.setShortcut("Ctrl+T")
        toggle.setToolTip("show or hide the Teach panel: record your own actions and train")
        self.teach_action = toggle
        self.menuBar().addMenu("&View").addAction(toggle)

    @staticmethod
    def _with_button(field: QWidget, button: QPushButton) -> QWidget:
        """A field and its browse button on one row."""
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(field, stretch=1)
        row.addWidget(button)
        widget = QWidget()
        widget.setLayout(row)
        return widget

    @staticmethod
    def _group(title: str, content: QWidget) -> QGroupBox:
        """A titled box around one widget."""
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(content)
        return box

    def _load_settings(self, settings: RunSettings) -> None:
        """Put a RunSettings into the controls (and keep the pipeline settings they override)."""
        self._pipeline_settings = settings.pipeline
        self.source_edit.setText(settings.source)
        self.weights_combo.setEditText(settings.weights)
        self.device_combo.setCurrentText(settings.device)
        self.window_spin.setValue(settings.window)
        self.threshold_spin.setValue(round(settings.threshold * 100))
        self.chart.set_threshold(settings.threshold)
        self.mirror_check.setChecked(settings.mirror)
        self.either_hand_check.setChecked(settings.either_hand)

    def current_settings(self) -> RunSettings:
        """The controls read back as RunSettings."""
        return RunSettings(
            source=self.source_edit.text().strip() or "0",
            weights=self.weights_combo.currentText().strip() or weights.default_name(),
            device=self.device_combo.currentText(),
            window=self.window_spin.value(),
            threshold=self.threshold_spin.value() / 100,
            mirror=self.mirror_check.isChecked(),
            either_hand=self.either_hand_check.isChecked(),
            pipeline=self._pipeline_settings,
        )

    # ---- browsing -----------------------------------------------------------------------------

    def _browse_source(self) -> None:
        """Pick a video file as the source."""
        path, _ = QFileDialog.getOpenFileName(self, "Video file", str(Path.cwd()), VIDEO_FILTER)
        if path:
            self.source_edit.setText(path)

    def _browse_weights(self) -> None:
        """Pick a checkpoint file."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Checkpoint", str(Path.cwd()), CHECKPOINT_FILTER
        )
        if path:
            self.weights_combo.setEditText(path)

    # ---- running ------------------------------------------------------------------------------

    def is_running(self) -> bool:
        """True while a pipeline run is active."""
        return self._run is not None

    @property
    def run(self) -> LiveRun | None:
        """The run in progress, if any."""
        return self._run

    def use_checkpoint(self, checkpoint: str) -> None:
        """Switch the live model to `checkpoint`: the field names it and a run in progress
        restarts with it once it has stopped."""
        self.weights_combo.setEditText(checkpoint)
        if self._run is not None:
            self._restart_pending = True
            self.stop_run()

    def _record_clip(self, path: str) -> None:
        """The Teach panel's clip: the running source's frames as captured, into `path`."""
        if self._run is not None:
            self._run.start_recording(Path(path), raw=True)

    def _stop_clip(self) -> None:
        """Close the Teach panel's clip."""
        if self._run is not None:
            self._run.stop_recording()

    def toggle_run(self) -> None:
        """Start a run with the current settings, or stop the one in progress."""
        if self._run is None:
            self.start_run()
        else:
            self.stop_run()

    def start_run(self) -> None:
        """Start capture, pose and inference workers for the current settings."""
        if self._run is not None:
            return
        self.banner.clear_message()
        self._frames_shown = self._predictions = 0
        self._prediction = None
        self._fault = ""
        self.action.clear("starting…")
        self.video.set_notice("Loading the checkpoint and the pose model…")
        self.chart.set_prediction(None)
        self.chart.set_placeholder("")
        self.stats.set_value("latency", None)
        self.model_label.setText("loading the checkpoint…")
        settings = self.current_settings()
        self.statusBar().showMessage(f"starting {settings.source} with {settings.weights}")
        event_log = self._output_dir / self._gui.event_log
        self._run = LiveRun(settings, self._gui, parent=self, event_log=event_log)
        worker = self._run.worker
        worker.event_ready.connect(self.events.add_event)
        worker.frame_ready.connect(self._show_frame)
        worker.frame_ready.connect(self.teach.show_preview)
        worker.prediction_ready.connect(self._show_prediction)
        worker.download_progress.connect(self._show_download)
        worker.loaded.connect(self.model_label.setText)
        worker.load_failed.connect(self._show_load_failure)
        worker.message.connect(self._show_message)
        self._run.rates_ready.connect(self._show_rates)
        self._run.finished.connect(self._run_finished)
        self._set_running_controls(True)
        self.teach.set_source_running(True)
        self._run.start()

    def play_demo(self) -> None:
        """Run on the demo clip (no camera opened): the source field says 'demo'."""
        self.source_edit.setText(DEMO_SOURCE)
        self.start_run()

    def stop_run(self) -> None:
        """Ask the run to stop; the controls come back when it has."""
        if self._run is not None:
            self.statusBar().showMessage("stopping…")
            self._run.stop()

    def _set_running_controls(self, running: bool) -> None:
        """While running, settings that need a restart are locked and Start reads Stop."""
        for widget in (
            self.source_edit,
            self.source_browse,
            self.weights_combo,
            self.weights_browse,
            self.device_combo,
            self.window_spin,
            self.mirror_check,
            self.either_hand_check,
        ):
            widget.setEnabled(not running)
        self.start_button.setText("Stop" if running else "Start")
        self.record_button.setEnabled(running)
        if not running and self.record_button.isChecked():
            self.record_button.setChecked(False)

    def _run_finished(self, reason: str) -> None:
        """Clean up after a run; the last frame and the reason stay visible."""
        self._run.deleteLater()
        self._run = None
        self._set_running_controls(False)
        self.teach.set_source_running(False)
        self.progress.hide()
        self.statusBar().showMessage(_headline(reason) or "stopped")
        if self._predictions == 0 and not self._fault:
            self.action.clear("no prediction in this run")
        if self._fault:
            no_camera = self.current_settings().source.isdigit() and not self._frames_shown
            self.banner.offer_retry(demo=no_camera)
        elif not self.video.has_image():  # otherwise the last frame and its notice stay
            self.video.set_notice("Choose a source and press Start")
        self.run_stopped.emit()
        if self._restart_pending:  # with the checkpoint use_checkpoint named
            self._restart_pending = False
            self.start_run()

    # ---- showing what the run reports ---------------------------------------------------------

    def _show_frame(self, image: QImage, people: int) -> None:
        """A processed, annotated frame and how many people were found in it."""
        self._frames_shown += 1
        self.video.set_image(image)
        self.video.set_notice("" if people else "No person in view")
        if self._predictions == 0 and self._frames_shown == 1:
            self.action.clear("gathering a window of frames for the first prediction…")
        self.stats.set_value("people", people, digits=0)

    def _show_prediction(self, prediction: Prediction) -> None:
        """A new prediction: the chart, the action and the latency figure all show it."""
        self._predictions += 1
        self._prediction = prediction
        self.chart.set_prediction(prediction)
        self._show_action()
        self.stats.set_value("latency", prediction.latency_ms, digits=0)

    def _show_action(self) -> None:
        """The newest prediction's best class in large type, judged against the threshold."""
        if self._prediction is not None:
            self.action.show_prediction(self._prediction, self.threshold_spin.value() / 100)

    def _threshold_changed(self, percent: int) -> None:
        """A new threshold applies at once to the chart and the action shown."""
        self.chart.set_threshold(percent / 100)
        self._show_action()

    def _show_rates(self, rates: dict) -> None:
        """Frames per second of capture and pose, predictions per second."""
        for key in ("capture", "pose", "inference"):
            self.stats.set_value(key, rates.get(key))

    def _show_message(self, kind: str, text: str) -> None:
        """Faults go to the banner; progress notes to the status bar."""
        if kind in ("error", "info"):
            self.banner.show_message(text, kind)
        if kind == "error":
            self._fault = text
            if not self.video.has_image():
                self.video.set_notice("Not running: see the message above")
                self.action.clear("nothing to classify")
                self.chart.set_placeholder("no predictions: no frame came in")
        self.statusBar().showMessage(_headline(text))

    def _show_load_failure(self, text: str, url: str, dest: str) -> None:
        """The checkpoint did not load: every panel says so, the banner says what to do."""
        self._fault = text
        self.banner.show_message(text, "error")
        if url:
            self.banner.show_fetch(url, dest)
        self.video.set_notice("No model loaded: see the message above")
        self.action.clear("no model loaded")
        self.model_label.setText("not loaded (see the message above the video)")
        self.chart.set_placeholder("no predictions without a model")

    def fault(self) -> str:
        """The last error of the current (or last) run, '' when it had none."""
        return self._fault

    def _show_download(self, done: int, total: int) -> None:
        """The first-use checkpoint download, as a progress bar in the status bar."""
        self.video.set_notice("Downloading the checkpoint (first use)…")
        self.progress.setVisible(done < total or total == 0)
        self.progress.setMaximum(max(total, 1) if total else 0)
        self.progress.setValue(done)

    # ---- snapshot and recording ---------------------------------------------------------------

    def _timestamped(self, kind: str, suffix: str) -> Path:
        """A new file name in the output folder, e.g. shiftgcn-snapshot-20240101-120000.png."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self._output_dir / f"shiftgcn-{kind}-{stamp}{suffix}"

    def save_snapshot(self) -> Path | None:
        """Save the annotated frame on screen as a PNG and say where."""
        image = self.video.current_image()
        if image is None:
            self.statusBar().showMessage("no frame to save yet")
            return None
        path = self._timestamped("snapshot", ".png")
        try:
            with atomic_write(path) as tmp:
                if not image.save(str(tmp), "PNG"):
                    raise OSError("Qt could not encode the PNG")
        except OSError as err:
            self.show_error(f"could not save the snapshot to {path} ({err}); check the folder")
            return None
        self.statusBar().showMessage(f"snapshot saved: {path}")
        return path

    def _toggle_recording(self, on: bool) -> None:
        """Start or stop writing the annotated video."""
        if self._run is None:
            return
        if on:
            path = self._timestamped("recording", ".mp4")
            self._run.start_recording(path)
            self.record_button.setText("Stop recording")
        else:
            self._run.stop_recording()
            self.record_button.setText("Record")

    # ---- closing ------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's naming)
        """Stop the workers and wait for them before the window goes."""
        if self._run is not None:
            self._run.shutdown()
        self.teach.shutdown()
        event.accept()

    def show_error(self, text: str) -> None:
        """Show a fault in the banner and the status bar."""
        self._show_message("error", text)

    def summary(self) -> str:
        """One line on what the last run showed: for --quit-after smoke runs and tests."""
        banner = self.banner.text() if self.banner.isVisible() else ""
        url, dest = self.banner.fetch_fields()
        model = self.model_label.text().partition("\n")[0]
        return (
            f"platform: {QApplication.platformName()} | frames shown: {self._frames_shown} | "
            f"predictions: {self._predictions} | action: {self.action.text()} | "
            f"notice: {self.video.notice()} | banner: {banner} | "
            f"fetch: {url} -> {dest} | model: {model} | "
            f"mirrored: {_yes(self.mirror_check)} | either hand: {_yes(self.either_hand_check)}"
            f" | status: {self.statusBar().currentMessage()}"
        )


def _yes(box: QCheckBox) -> str:
    """A check box's state as a word, for the summary line."""
    return "yes" if box.isChecked() else "no"


def _headline(text: str) -> str:
    """A message's first clause (up to ';'), for the status bar: the banner has the rest."""
    return text.split(";", 1)[0].strip()


def default_size(minimum: QSize) -> QSize:
    """The window's starting size: PREFERRED_SIZE bounded by the screen's free area (less a
    title bar), never below the layout's minimum, so that it fits a 1366 x 768 laptop."""
    screen = QApplication.primaryScreen()
    if screen is None:
        return PREFERRED_SIZE
    free = screen.availableGeometry().size() - QSize(0, TITLE_BAR_ALLOWANCE)
    return PREFERRED_SIZE.boundedTo(free).expandedTo(minimum)
