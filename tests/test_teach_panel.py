"""The Teach panel on its own, without the window (which it no longer imports): it records only
while told a source runs, asks for the clip and its end through its signals, reports the saved
clip, and hands a trained checkpoint on as a signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from shared_paths import REPO_ROOT

PANEL_SCRIPT = """
import json, sys
from pathlib import Path
from app.gui.qtenv import prepare_qt_environment
prepare_qt_environment()
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication
from app.gui.settings import TeachSettings
from app.gui.teach import TeachPanel

app = QApplication([])
panel = TeachPanel(Path(sys.argv[1]), TeachSettings(countdown_s=0, clip_s=1))
report = {"requested": [], "finished": 0, "saved": [], "done": [],
          "window_imported": "app.gui.window" in sys.modules}

def requested(path):  # the window's part: a recording into `path` begins
    report["requested"].append(path)
    Path(path).write_bytes(b"clip")

def finished():
    report["finished"] += 1
    report["status_at_finish"] = panel.status.text()

def saved(path):
    report["saved"].append(path)
    report["classes"] = panel.classes_label.text()
    panel._trained("/models/best.pt")  # what the training worker's done signal calls
    report["status_trained"] = panel.status.text()
    app.quit()

panel.recording_requested.connect(requested)
panel.recording_finished.connect(finished)
panel.clip_saved.connect(saved)
panel.training_done.connect(report["done"].append)
panel.class_edit.setText("wave")
panel.record()
report["status_without_source"] = panel.status.text()
panel.set_source_running(True)
panel.record()
QTimer.singleShot(20000, app.quit)
app.exec_()
print("PANEL " + json.dumps(report))
"""


@pytest.mark.gui
def test_the_panel_records_and_hands_on_checkpoints_through_signals(qt_display, tmp_path):
    env = {**os.environ, **qt_display, "PYTHONPATH": str(REPO_ROOT)}
    env = {key: value for key, value in env.items() if value != ""}
    run = subprocess.run(
        [sys.executable, "-c", PANEL_SCRIPT, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = [x for x in run.stdout.splitlines() if x.startswith("PANEL ")]
    assert line, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(line[-1][len("PANEL ") :])
    assert not report["window_imported"]  # the panel stands without the window
    assert report["status_without_source"].startswith("Press Start first")
    [clip] = report["requested"]
    assert clip.startswith(str(tmp_path / "shiftgcn-teach" / "clips" / "wave" / "wave-"))
    assert clip.endswith(".mp4")
    assert report["finished"] == 1 and "act now" in report["status_at_finish"]
    assert report["saved"] == [clip] and report["classes"] == "Clips: wave 1"
    assert report["done"] == ["/models/best.pt"]
    assert report["status_trained"].startswith("Trained: /models/best.pt")
