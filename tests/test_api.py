"""The Python API: the README's example runs as written and names the paired NTU clip's action;
feeding frames one by one gives the typed predictions the pipeline makes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from card_helpers import save_plain
from pose_helpers import astronaut_video, read_frames
from shared_paths import OFFICIAL_WEIGHTS, REPO_ROOT, require, require_shared

from app.api import ActionPrediction, ClassScore, Recognizer
from model import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py
CLASSES = ["wave", "clap", "jump"]


def readme_example() -> str:
    """The README's ```python block under "From Python"."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### From Python") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_example_prints_the_paired_clips_action():
    require_shared("fixtures", "paired", "S001C001P001R001A001_rgb.avi")
    env = {**os.environ, "SHIFTGCN_WEIGHTS_DIR": os.fspath(require(OFFICIAL_WEIGHTS))}
    run = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == "the video: drink water"
    assert len(lines) >= 4 and all(" s  person " in line for line in lines[:-1])


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    config = ModelConfig(num_class=len(CLASSES), channels=(16, 32), strides=(1, 2))
    save_plain(path, build_model(config), class_names=CLASSES)
    return path


def test_fed_frames_give_the_predictions_classify_video_reports(tmp_path, small_checkpoint):
    """Frame by frame, every window is classified (not live): the same windows, in order, as
    classify_video's report of the same video, with typed top-5s."""
    video = astronaut_video(tmp_path / "person.mp4", count=40)
    overrides = {"classifier": {"window": 16, "stride": 8}}
    with Recognizer.load(small_checkpoint, device="cpu", overrides=overrides) as recognizer:
        assert recognizer.class_names == CLASSES
        fed: list[ActionPrediction] = []
        for index, frame in enumerate(read_frames(video, 100)):
            fed += recognizer.feed(frame, index / 30)
        fed += recognizer.finish()
        report = recognizer.classify_video(video).to_json()
    assert [(round(p.start, 3), round(p.end, 3)) for p in fed] == [
        (w["start"], w["end"]) for w in report["windows"]
    ]
    for prediction, window in zip(fed, report["windows"]):
        assert prediction.top5 == tuple(ClassScore(**entry) for entry in window["top5"])
        assert (prediction.label, prediction.score) == (
            prediction.top5[0].label,
            prediction.top5[0].score,
        )
        assert prediction.person == 0 and prediction.partner == -1
    assert np.isclose(sum(c.score for c in fed[0].top5), 1.0)
