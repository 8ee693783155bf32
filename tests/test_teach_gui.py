"""The Teach panel in the real window under Xvfb: two clips recorded from a playing video into two
classes, a fine-tuning run in a worker thread (a tiny network, two epochs), the live model switched
to the result, and a screenshot of the panel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gui_helpers import random_checkpoint
from shared_paths import REPO_ROOT
from video_set_helpers import moving_person

from model import load_model
from pipeline.sources import VideoSource

pytestmark = [pytest.mark.gui, pytest.mark.slow]
TINY = {  # the SGD recipe (finetune.yaml's keys) on a tiny network from random weights
    "recipe": "sgd",
    "base_lr": 0.01,
    "warmup_epochs": 1,
    "batch_size": 8,
    "num_workers": 0,
    "base_weights": None,
    "model": {"channels": [16, 32], "strides": [2, 2]},
    "frozen_units": 0,
    "epochs": 2,
}


def test_record_two_classes_train_and_switch_the_live_model(qt_display, tmp_path):
    from pose_helpers import write_video

    video = write_video(
        tmp_path / "source.mp4", moving_person("sway", 90) + moving_person("bob", 360), fps=15.0
    )
    checkpoint = random_checkpoint(tmp_path / "untrained.pt")
    env = {**os.environ, **qt_display, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    env = {k: v for k, v in env.items() if v != ""}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tests" / "teach_harness.py"),
            str(video),
            str(checkpoint),
            str(tmp_path),
            json.dumps(TINY),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("TEACH ")]
    assert line, done.stdout[-2000:]
    report = json.loads(line[-1][len("TEACH ") :])
    assert report["failed"] is None, report

    teach = tmp_path / "shiftgcn-teach"
    clips = sorted((teach / "clips").glob("*/*.mp4"))
    assert [c.parent.name for c in clips] == ["bob", "sway"], report
    for clip in clips:
        with VideoSource(clip) as source:
            assert sum(1 for _ in source) >= 15  # about two seconds at 15 fps
    assert report["train_enabled"] and "bob 1" in report["classes_label"]

    trained = report["trained"]
    assert trained and trained.startswith(str(teach / "models")) and trained.endswith("best.pt")
    assert load_model(trained).card.labels() == ["bob", "sway"]
    assert report["weights_field"] == trained and "best.pt" in report["switched"]
    stages = {step[0] for step in report["progress"]}
    assert stages == {"extracting", "training"}, report["progress"]
    assert report["frames_while_training"] > 0  # the live view kept going during training

    # a second training, stopped with the same button at its first progress report
    assert report["button_while_training"] == "Stop training"
    stage, progress = report["stopped"].split()
    done, total = map(int, progress.split("/"))
    assert stage == "extracting" or (stage == "training" and done < total), report
    assert "Training stopped at" in report["status_after_stop"], report
    assert report["button_at_end"] == "Train" and report["weights_field"] == trained
    for shot in ("teach_panel.png", "window.png"):
        assert (tmp_path / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
