"""Drives the real window's Teach panel (run as a script under the test display): plays a video,
records one clip into each of two classes, trains on them, waits for the live model to switch,
starts a second training and stops it with the same button, then saves a screenshot of the
panel and of the window and prints one JSON line of what happened.

    python tests/teach_harness.py VIDEO WEIGHTS OUTPUT_DIR TRAINING_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIMEOUT_MS = 240_000


def main(video: str, weights: str, output: str, training: str) -> int:
    from app.gui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    from app.gui.settings import GuiSettings, RunSettings, TeachSettings
    from app.gui.window import MainWindow

    app = QApplication([sys.argv[0]])
    gui = GuiSettings(teach=TeachSettings(countdown_s=1, clip_s=2, training=json.loads(training)))
    settings = RunSettings.defaults(gui)
    settings.source, settings.weights, settings.device = video, weights, "cpu"
    window = MainWindow(settings, gui, output_dir=Path(output))
    teach = window.teach
    report: dict = {
        "clips": [],
        "progress": [],
        "trained": None,
        "failed": None,
        "frames_while_training": 0,
    }
    classes = ["sway", "bob"]

    def record_next() -> None:
        teach.class_edit.setText(classes[len(report["clips"])])
        teach.record_button.click()

    def saved(path: str) -> None:
        report["clips"].append(path)
        if len(report["clips"]) < len(classes):
            QTimer.singleShot(300, record_next)
        else:
            report["train_enabled"] = teach.train_button.isEnabled()
            teach.train_button.click()
            teach._worker.progress.connect(lambda *step: report["progress"].append(step))

    def count_frame(*_args) -> None:
        if teach._thread is not None:  # the live view keeps going while training runs
            report["frames_while_training"] += 1

    def trained(path: str) -> None:
        report["trained"] = path
        if window.run is None:  # the video ended first: start again, with the new model
            window.start_run()
            watch_new_runs()

    def loaded(text: str) -> None:
        if report["trained"] and report.get("switched") is None:
            report["switched"] = text
            QTimer.singleShot(500, train_again_and_stop)

    def train_again_and_stop() -> None:
        """A second, longer training, stopped at its first progress report."""
        teach.settings.training["epochs"] = 50
        teach.train_button.click()
        report["button_while_training"] = teach.train_button.text()
        teach._worker.progress.connect(lambda *_step: teach.train_button.click())

    def stopped(where: str) -> None:
        report["stopped"] = where
        report["status_after_stop"] = teach.status.text()
        QTimer.singleShot(500, finish)

    def failed(text: str) -> None:
        report["failed"] = text
        finish()

    def finish() -> None:
        report["status"] = teach.status.text()
        report["classes_label"] = teach.classes_label.text()
        report["weights_field"] = window.weights_combo.currentText()
        report["button_at_end"] = teach.train_button.text()
        teach.grab().save(str(Path(output) / "teach_panel.png"))
        window.grab().save(str(Path(output) / "window.png"))
        window.close()
        app.quit()

    teach.clip_saved.connect(saved)
    teach.training_done.connect(trained)
    teach.training_failed.connect(failed)
    teach.training_stopped.connect(stopped)
    window.start_run()
    window.run.worker.frame_ready.connect(count_frame)
    window.run.worker.loaded.connect(lambda _text: QTimer.singleShot(200, record_next))

    def watch_new_runs() -> None:  # the run restarted with the trained model
        if window.run is not None:
            window.run.worker.loaded.connect(loaded)

    window.run_stopped.connect(lambda: QTimer.singleShot(0, watch_new_runs))
    QTimer.singleShot(TIMEOUT_MS, finish)
    window.show()
    app.exec_()
    print("TEACH " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
