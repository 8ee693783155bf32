"""The Teach panel with real clips: three clips a class, one of them recorded through the panel
from a playing video, Train, then live classification of a clip of another sequence; then one
more clip recorded and Train again. Prints one JSON line: the seconds from pressing Train to
the new model's first live prediction, each training's progress reports, and what was named.

    python tests/teach_few_shot.py DIR OUTPUT_DIR [--weights NAME|FILE] [--json OUT]

DIR is a folder per class of ID_SEQUENCE_CLASS clips (../shared/fixtures/ut_set1). Clips of
sequences 1-7 are put in OUTPUT_DIR/shiftgcn-teach/clips/<class>/ (two a class, or three), the
third clip of the first class is played as the source and recorded by the panel (Record: a
1 s countdown and a 2 s clip), and the live test plays a clip of sequence 8. Needs a display:
run it under Xvfb (xvfb-run -a python tests/teach_few_shot.py ...), from the checkout's root with
PYTHONPATH=. (a script beside tests/teach_harness.py: bench may not import app.gui).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.few_shot import sequence_of
from common.cli import add_weights_flag, command_parser
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from train.from_videos import find_classes

TIMEOUT_MS = 900_000
TRAIN_SEQUENCES = range(1, 8)
LIVE_SEQUENCE = 8


def prepare(folder: Path, output: Path) -> tuple[str, Path, Path, Path]:
    """Place the clips: (recorded class, its clip to play, the live test clip, a fourth clip)."""
    classes = find_classes(folder)
    clips = output / "shiftgcn-teach" / "clips"
    first = next(iter(classes))
    plays = fourth = live = None
    for name, paths in classes.items():
        chosen = sorted((p for p in paths if sequence_of(p) in TRAIN_SEQUENCES), key=sequence_of)
        if len(chosen) < (4 if name == first else 3):
            raise UserError(f"{folder / name} has too few clips of sequences 1-7 (four, or three)")
        (clips / name).mkdir(parents=True, exist_ok=True)
        placed = chosen[:2] if name == first else chosen[:3]
        for path in placed:
            shutil.copy(path, clips / name / path.name)
        if name == first:
            plays, fourth = chosen[2], chosen[3]
            live = next(p for p in paths if sequence_of(p) == LIVE_SEQUENCE)
    return first, plays, live, fourth


def drive(folder: Path, output: Path, weights: str) -> dict[str, Any]:
    """Open the window, record, train, classify live, record again and train again."""
    from app.gui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    from app.gui.settings import GuiSettings, RunSettings, TeachSettings
    from app.gui.window import MainWindow

    recorded, plays, live, fourth = prepare(folder, output)
    app = QApplication([sys.argv[0]])
    gui = GuiSettings(teach=TeachSettings(countdown_s=1, clip_s=2))
    settings = RunSettings.defaults(gui)
    settings.source, settings.weights, settings.device = str(plays), weights, "cpu"
    window = MainWindow(settings, gui, output_dir=output)
    teach = window.teach
    report: dict[str, Any] = {"trainings": [], "failed": None, "live": str(live)}
    state: dict[str, Any] = {"phase": "record", "pressed": 0.0, "progress": []}

    def loaded(_text: str) -> None:
        if state["phase"] == "record":
            teach.class_edit.setText(recorded)
            QTimer.singleShot(200, teach.record_button.click)
        elif state["phase"] == "live":
            window.run.worker.prediction_ready.connect(predicted)

    def saved(path: str) -> None:
        report.setdefault("recorded", []).append(path)
        window.stop_run()
        state["phase"] = "train"
        QTimer.singleShot(300, press_train)

    def press_train() -> None:
        state["progress"] = []
        state["pressed"] = time.perf_counter()
        teach.train_button.click()
        teach._worker.progress.connect(lambda *step: state["progress"].append(list(step)))

    def trained(path: str) -> None:
        report["trainings"].append(
            {
                "seconds_to_model": round(time.perf_counter() - state["pressed"], 2),
                "progress": state["progress"],
                "status": teach.status.text(),
                "weights": path,
            }
        )
        state["phase"] = "live"
        window.source_edit.setText(str(live))
        if window.run is None:
            window.start_run()
            watch()

    def predicted(prediction: Any) -> None:
        if state["phase"] != "live":
            return
        training = report["trainings"][-1]
        training["seconds_to_first_prediction"] = round(time.perf_counter() - state["pressed"], 2)
        training["first_prediction"] = prediction.top(1)[0]
        print("TRAINING " + json.dumps(training), flush=True)  # kept should a later step hang
        state["phase"] = "again" if len(report["trainings"]) == 1 else "done"
        window.stop_run()
        if state["phase"] == "again":  # a fourth clip, recorded from the source, then Train
            window.source_edit.setText(str(fourth))
            state["phase"] = "record"
            QTimer.singleShot(500, start)
        else:
            QTimer.singleShot(500, finish)

    def start() -> None:
        window.start_run()
        watch()

    def watch() -> None:
        if window.run is not None:
            window.run.worker.loaded.connect(loaded)

    def failed(text: str) -> None:
        report["failed"] = text
        finish()

    def finish() -> None:
        report["classes_label"] = teach.classes_label.text()
        teach.grab().save(str(output / "teach_panel.png"))
        window.close()
        app.quit()

    teach.clip_saved.connect(saved)
    teach.training_done.connect(trained)
    teach.training_failed.connect(failed)
    window.run_stopped.connect(lambda: QTimer.singleShot(0, watch))
    QTimer.singleShot(TIMEOUT_MS, finish)
    window.show()
    start()
    app.exec_()
    report["load_average"] = round(os.getloadavg()[0], 2)
    return report


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python tests/teach_few_shot.py", __doc__)
    parser.add_argument("folder", type=Path, help="a folder per class of ID_SEQUENCE_CLASS clips")
    parser.add_argument("output", type=Path, help="where the teach folder and screenshot go")
    add_weights_flag(parser)
    parser.add_argument("--json", type=Path, help="write the report here too")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Drive the panel and print what happened."""
    args = build_parser().parse_args(argv)
    from weights import default_name

    report = drive(args.folder, args.output, args.weights or default_name())
    print("TEACH " + json.dumps(report), flush=True)
    if args.json:
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["failed"] is None and len(report["trainings"]) == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
