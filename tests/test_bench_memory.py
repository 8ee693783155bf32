"""bench.memory's long video (its figures are asserted nowhere: timings and peaks vary)."""

from __future__ import annotations

import cv2
from shared_paths import require_shared

from bench.memory import write_repeated


def test_the_long_video_is_the_clip_repeated(tmp_path):
    require_shared("fixtures", "video", "armwrestling_340x256.mp4")
    frames = write_repeated(tmp_path / "x2.mp4", 2)
    capture = cv2.VideoCapture(str(tmp_path / "x2.mp4"))
    assert frames == 560 and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 560
    assert round(capture.get(cv2.CAP_PROP_FPS)) == 28
