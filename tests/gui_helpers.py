"""Helpers for the GUI tests: generated videos, a stand-in checkpoint, and run_demo.py runs.

Run as a script it is a harness for what the command line cannot stage (a camera that vanishes,
clicks on Record and Snapshot), running several runs in one real window to save start-up time:
`python tests/gui_helpers.py tour -- PLAN.json`; `states -- FOLDER` checks and pictures the
window in states that are hard to reach from the command line (see _states).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from card_helpers import save_plain
from shared_paths import OFFICIAL_WEIGHTS, REPO_ROOT

from pipeline.sources import CameraSource, Frame

RUN_TIMEOUT_S = 90
# --quit-after for runs that must end by themselves (the video over): a bound, not a cue. Counts
# of frames shown and predictions then depend on what the run saw, not on how fast it went.
UNTIL_THE_END_S = "75"


def person_frames(count: int, size: int = 320) -> list[np.ndarray]:
    """Frames of a real photograph of a person (skimage's astronaut), swaying a little."""
    import cv2
    from skimage import data

    photo = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (size, size))
    frames = []
    for i in range(count):
        shift = np.float32([[1, 0, 6 * np.sin(i / 5)], [0, 1, 3 * np.cos(i / 7)]])
        frames.append(cv2.warpAffine(photo, shift, (size, size), borderMode=cv2.BORDER_REFLECT))
    return frames


def empty_frames(count: int, size: int = 320) -> list[np.ndarray]:
    """Frames with nobody in them: a moving grey gradient."""
    ramp = np.linspace(40, 200, size, dtype=np.float32)
    return [
        np.repeat(((ramp + 3 * i) % 255).astype(np.uint8)[None, :, None], size, axis=0).repeat(
            3, axis=2
        )
        for i in range(count)
    ]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    """Write frames as an MP4 with OpenCV, as a user's video file would be."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MP4 here"
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path


def random_checkpoint(path: Path, num_class: int = 60) -> Path:
    """A project checkpoint of an untrained Shift-GCN: loads like a real one, predicts noise."""
    import torch

    from model import ModelConfig, ShiftGCN
    from ntu.labels import class_names

    torch.manual_seed(0)
    model = ShiftGCN(ModelConfig(num_class=num_class))
    save_plain(path, model, class_names=class_names(f"ntu{num_class}"), stream="joint")
    return path


@dataclass
class DemoRun:
    """What a run_demo.py process did: exit status, output, and its summary line parsed."""

    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, str]

    def number(self, key: str) -> int:
        """An integer field of the summary (frames shown, predictions)."""
        return int(self.summary[key])


def parse_summary(stdout: str) -> dict[str, str]:
    """The window's 'key: value | key: value' summary line as a dict (empty when absent)."""
    lines = [line for line in stdout.splitlines() if line.startswith("platform: ")]
    if not lines:
        return {}
    fields = (part.partition(": ") for part in lines[-1].split(" | "))
    return {key: value for key, _, value in fields}


def start_demo(
    args: list[str],
    display: dict[str, str],
    cwd: Path,
    env: dict[str, str] | None = None,
    harness: str | None = None,
) -> subprocess.Popen:
    """Start run_demo.py (or this harness with a scenario) in a subprocess on the test display."""
    full_env = {**os.environ, **display, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v != ""}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")])
    )
    if harness is None:
        command = [sys.executable, str(REPO_ROOT / "run_demo.py"), *args]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), harness, "--", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish_demo(process: subprocess.Popen) -> DemoRun:
    """Wait for a started run (killing it past RUN_TIMEOUT_S) and collect what it did."""
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return DemoRun(process.returncode, stdout, stderr, parse_summary(stdout))


def run_demo(
    args: list[str],
    display: dict[str, str],
    cwd: Path,
    env: dict[str, str] | None = None,
    harness: str | None = None,
) -> DemoRun:
    """Run run_demo.py (or a harness scenario) to the end."""
    return finish_demo(start_demo(args, display, cwd, env, harness))


# ---- the tour: several runs in one window, one process (run as a script) ------------------------


def start_tour(plan: list[dict], display: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start the harness on a plan: [{"name", "source", "weights", "env"?, "record"?}, ...]."""
    plan_file = cwd / "tour.json"
    plan_file.write_text(json.dumps(plan))
    return start_demo([str(plan_file)], display, cwd, harness="tour")


def finish_tour(process: subprocess.Popen) -> tuple[DemoRun, dict[str, dict[str, str]]]:
    """Wait for the tour; return the process's outcome and each run's summary by name."""
    outcome = finish_demo(process)
    summaries = {}
    for line in outcome.stdout.splitlines():
        name, sep, summary = line.partition(": platform: ")
        if sep and name.startswith("run "):
            summaries[name[4:]] = parse_summary("platform: " + summary)
    return outcome, summaries


class VanishingCamera(CameraSource):
    """Stands in for camera 0: delivers 40 frames, then its reads fail, as if unplugged."""

    def __init__(self, index: int = 0) -> None:  # no cv2.VideoCapture: there is no camera here
        self.index, self.fps = index, 15.0
        self._frames = person_frames(40)

    def __iter__(self):
        for i, image in enumerate(self._frames):
            time.sleep(1 / self.fps)
            yield Frame(image, i / self.fps, i, 1.0)

    def close(self) -> None:
        """Nothing to release."""


def _tour(plan_file: str) -> int:
    """Run each planned run in turn in one real window; print 'run NAME: <summary>' after each."""
    import app.gui.media as media
    from app.gui.qtenv import prepare_qt_environment

    real_open = media.open_source
    media.open_source = lambda spec, *more: (
        VanishingCamera(0) if spec == "0" else real_open(spec, *more)
    )
    prepare_qt_environment()
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    from app.gui.window import MainWindow

    plan = json.loads(Path(plan_file).read_text())
    app = QApplication([sys.argv[0]])

    class TourWindow(MainWindow):
        """The real window, driven through the plan; Record and Snapshot clicked at set frames."""

        step: dict = {}

        def _show_frame(self, image, people: int) -> None:
            super()._show_frame(image, people)
            if self.step.get("record") and self._frames_shown == 3:
                self.record_button.setChecked(True)
            elif self.record_button.isChecked() and self._frames_shown == 25:
                self._stop_recording_and_snap()

        def _run_finished(self, reason: str) -> None:
            if self.record_button.isChecked():  # a slow machine shows fewer than 25 frames
                self._stop_recording_and_snap()
            super()._run_finished(reason)

        def _stop_recording_and_snap(self) -> None:
            self.record_button.setChecked(False)
            self.snapshot_button.click()

    from app.gui.settings import RunSettings, load_gui_settings

    gui = load_gui_settings()
    window = TourWindow(RunSettings.defaults(gui), gui)
    window.show()
    saved_env = dict(os.environ)

    def next_run() -> None:
        if window.step:
            print(f"run {window.step['name']}: {window.summary()}", flush=True)
        os.environ.clear()
        os.environ.update(saved_env)
        if not plan:
            window.close()
            return
        window.step = plan.pop(0)
        os.environ.update(window.step.get("env", {}))
        window.source_edit.setText(window.step["source"])
        window.weights_combo.setEditText(window.step["weights"])
        window.start_run()

    window.run_stopped.connect(lambda: QTimer.singleShot(300, next_run))
    QTimer.singleShot(0, next_run)
    return app.exec_()


# ---- states: the window's look in states a run reaches rarely, checked in one process -----------

LONG_TOP5 = [
    ("use a fan (with hand or paper)/feeling warm", 0.62),
    ("wipe face", 0.12),
    ("put the palms together", 0.08),
    ("rub two hands together", 0.05),
    ("touch head (headache)", 0.03),
]


def prediction_of(pairs: list[tuple[str, float]]):
    """An pipeline.Prediction whose classes are `pairs`' names with their probabilities."""
    from pipeline import Prediction

    probs = np.array([score for _, score in pairs])
    return Prediction(
        probs=probs,
        raw_probs=probs,
        start=0.0,
        timestamp=3.3,
        frames=100,
        motion=0.1,
        inference_ms=20.0,
        latency_ms=42.0,
        class_names=[name for name, _ in pairs],
    )


MODEL_LINES = (
    "ntu60-xsub-joint\nNTU60 xsub · top-1 87.8 % reported\n60 classes · joint stream\n"
    "window 100 frames · cpu"
)


def _states(folder: str) -> int:
    """At the default size: a long label's Top-5 (chart, action and latency from one Prediction;
    the threshold judged anew when moved), then an offline first start, its Copy buttons, and
    Retry once the file is in place (the source does not exist: the second run ends there).
    Saves top5.png and offline.png in `folder`; prints the facts as one JSON line."""
    import socket

    from app.gui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication, QPushButton

    from app.gui.settings import RunSettings, load_gui_settings
    from app.gui.window import MainWindow

    out = Path(folder)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        os.environ["SHIFTGCN_WEIGHTS_URL"] = f"http://127.0.0.1:{closed.getsockname()[1]}"
    os.environ["SHIFTGCN_WEIGHTS_DIR"] = str(out / "weights")
    app = QApplication([sys.argv[0]])
    gui = load_gui_settings()
    window = MainWindow(RunSettings.defaults(gui), gui)
    window.show()
    window.model_label.setText(MODEL_LINES)
    window._show_prediction(prediction_of(LONG_TOP5))
    app.processEvents()
    chart = window.chart
    facts = {
        "chart_height": chart.height(),
        "chart_visible_height": chart.visibleRegion().boundingRect().height(),
        "chart_labels": [item["label"] for item in chart._items],
        "action": window.action.text(),
        "action_tooltip": window.action._action.toolTip(),
        "latency": window.stats.value("latency"),
    }
    window.grab().save(str(out / "top5.png"))
    window.threshold_spin.setValue(70)  # above the best class's 62 %: no known action, then sure
    facts["action_at_70"] = window.action.text()
    window.threshold_spin.setValue(30)
    facts["action_at_30"] = window.action.text()
    window.source_edit.setText(str(out / "clip.mp4"))
    window.weights_combo.setEditText("ntu60-xsub-joint")
    runs = []

    def stopped() -> None:
        runs.append(window.fault())
        if len(runs) == 1:
            app.processEvents()
            window.grab().save(str(out / "offline.png"))
            for button in window.banner.findChildren(QPushButton):
                if button.text() == "Copy" and button.isVisible():
                    button.click()
                    facts.setdefault("copied", []).append(QApplication.clipboard().text())
            facts.update(
                summary=window.summary(),
                chart_placeholder=chart.placeholder(),
                retry_visible=window.banner.retry_button.isVisible(),
            )
            # The user saves the file where the banner says, then presses Retry: the released
            # file where ../shared has it, else an untrained stand-in (refused by its digest).
            dest = Path(window.banner.fetch_fields()[1])
            released = OFFICIAL_WEIGHTS / dest.name
            facts["placed_released_file"] = released.is_file()
            if released.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(released, dest)
            else:
                random_checkpoint(dest)
            window.banner.retry_button.click()
            facts["running_after_retry"] = window.is_running()
        else:
            facts.update(faults=runs, model_after_retry=window.model_label.text())
            print(json.dumps(facts), flush=True)
            window.close()

    window.run_stopped.connect(lambda: QTimer.singleShot(100, stopped))
    QTimer.singleShot(0, window.start_run)
    return app.exec_()


# ---- screen: the whole screen at the default size, every control on it -------------------------

CONTROL_TYPES = ("QAbstractButton", "QLineEdit", "QComboBox", "QAbstractSpinBox", "QMenuBar")


def _screen(folder: str) -> int:
    """The window at its default size on the whole screen, its side column as tall as it gets
    (four model lines, a long label's Top-5): saves screen.png (the screen, not the window) and
    prints one JSON line: the screen and window geometry, each visible control that is not whole
    on screen, the Teach panel's state (and after hiding it and showing it again), and the small
    things a user sees: the threshold legend, a two-class prediction's rows, the folder line."""
    from app.gui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt5.QtCore import QPoint, QRect, QTimer
    from PyQt5.QtWidgets import QApplication, QWidget

    from app.gui.settings import RunSettings, load_gui_settings
    from app.gui.window import MainWindow

    out = Path(folder)
    app = QApplication([sys.argv[0]])
    gui = load_gui_settings()
    window = MainWindow(RunSettings.defaults(gui), gui, output_dir=out / ("deep-folder-" * 8))
    window.show()
    window.model_label.setText(MODEL_LINES)
    window._show_prediction(prediction_of(LONG_TOP5))
    screen = app.primaryScreen()
    facts: dict = {}

    def on_screen(widget: QWidget) -> list:
        """[class, text, global rect] when `widget` is not whole on the screen, else []."""
        rect = QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())
        clipped = widget.visibleRegion().boundingRect().size() != widget.size()
        if screen.geometry().contains(rect) and not clipped:
            return []
        text = widget.text() if hasattr(widget, "text") else ""
        return [type(widget).__name__, text, [rect.x(), rect.y(), rect.width(), rect.height()]]

    def look() -> None:
        app.processEvents()
        shot = screen.grabWindow(0)
        shot.save(str(out / "screen.png"))
        controls = [
            w
            for w in window.findChildren(QWidget)
            if w.isVisible() and any(w.inherits(name) for name in CONTROL_TYPES)
        ]
        frame = window.frameGeometry()
        teach = window.teach
        facts.update(
            screen=[screen.size().width(), screen.size().height()],
            shot=[shot.width(), shot.height()],
            window=[frame.x(), frame.y(), frame.width(), frame.height()],
            controls=len(controls),
            off_screen=[bad for bad in map(on_screen, controls) if bad],
            teach_visible=teach.isVisible() and not teach.visibleRegion().isEmpty(),
            teach_record=teach.record_button.text(),
            teach_progress_visible=teach.progress.isVisible(),
            folder_shown=teach.folder_label.text(),
            folder_tooltip=teach.folder_label.toolTip(),
            legend=window.chart.legend(),
            chart_tooltip=window.chart.toolTip(),
            rows_five=window.chart.rows(),
        )
        window.teach_action.trigger()
        app.processEvents()
        facts["teach_after_hide"] = teach.isVisible()
        window.teach_action.trigger()
        app.processEvents()
        facts["teach_after_show"] = teach.isVisible()
        window._show_prediction(prediction_of([("wave", 0.8), ("clap", 0.2)]))
        facts["rows_two"] = window.chart.rows()
        print(json.dumps(facts), flush=True)
        window.close()

    QTimer.singleShot(500, look)
    return app.exec_()


def _no_camera(folder: str) -> int:
    """Camera 7 does not open: the banner offers the demo clip; pressing it runs on 'demo',
    which is fetched (here from a closed port: the offline line). Prints one JSON line."""
    import socket

    from app.gui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    from app.gui.settings import RunSettings, load_gui_settings
    from app.gui.window import MainWindow

    out = Path(folder)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        os.environ["SHIFTGCN_DEMO_URL"] = f"http://127.0.0.1:{closed.getsockname()[1]}"
    os.environ["XDG_CACHE_HOME"] = str(out / "cache")
    app = QApplication([sys.argv[0]])
    gui = load_gui_settings()
    settings = RunSettings.defaults(gui)
    settings.source, settings.weights = "7", str(random_checkpoint(out / "untrained.pt"))
    window = MainWindow(settings, gui)
    window.show()
    facts: dict = {}

    def stopped() -> None:
        app.processEvents()
        if "camera_fault" not in facts:
            facts.update(
                camera_fault=window.fault(),
                demo_offered=window.banner.demo_button.isVisible(),
            )
            window.grab().save(str(out / "no-camera.png"))
            window.banner.demo_button.click()
            facts["source_after_click"] = window.source_edit.text()
        else:
            facts.update(
                demo_fault=window.fault(), demo_offered_again=window.banner.demo_button.isVisible()
            )
            print(json.dumps(facts), flush=True)
            window.close()

    window.run_stopped.connect(lambda: QTimer.singleShot(100, stopped))
    QTimer.singleShot(0, window.start_run)
    return app.exec_()


HARNESSES = {"tour": _tour, "states": _states, "screen": _screen, "no_camera": _no_camera}

if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    if (
        sys.argv[1:2] not in ([h] for h in HARNESSES)
        or sys.argv[2:3] != ["--"]
        or len(sys.argv) != 4
    ):
        sys.exit(
            "usage: python tests/gui_helpers.py tour -- PLAN.json | states -- FOLDER"
            " | screen -- FOLDER | no_camera -- FOLDER"
        )
    sys.exit(HARNESSES[sys.argv[1]](sys.argv[3]))
