"""bench.pipeline's window-study helpers (the benchmark itself prints figures, asserted nowhere)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.pipeline import _sample_length, _windows


def sample(length: int) -> np.ndarray:
    """A (3, 300, 25, 2) sample whose frame t holds the value t + 1, empty after `length`."""
    x = np.zeros((3, 300, 25, 2), np.float32)
    x[:, :length] = (np.arange(length, dtype=np.float32) + 1)[None, :, None, None]
    return x


def test_sample_length_counts_up_to_the_last_filled_frame():
    """Trailing empty frames are not part of the sample."""
    assert _sample_length(sample(77)) == 77 and _sample_length(np.zeros((3, 300, 25, 2))) == 0


def test_windows_slide_over_the_sample():
    """Windows of the given length end every `step` frames; a short sample is one window."""
    windows = _windows(sample(100), window=32, step=16, rate=1)
    assert [w.shape for w in windows] == [(32, 3, 25, 2)] * 5
    assert [int(w[-1, 0, 0, 0]) for w in windows] == [32, 48, 64, 80, 96]
    assert len(_windows(sample(20), window=32, step=16, rate=1)) == 1


def test_slower_camera_repeats_frames():
    """rate=2 keeps every other frame and repeats it (a 15 fps camera resampled to 30)."""
    (window,) = _windows(sample(8), window=32, step=16, rate=2)
    assert [int(v) for v in window[:, 0, 0, 0]] == [1, 1, 3, 3, 5, 5, 7, 7]


def test_command_line_help():
    """python -m bench.pipeline --help describes both modes."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--window-study" in out


def test_json_record_holds_the_figures_and_the_machine(tmp_path):
    """--json writes the headline figures with the CPU, its load and the camera size."""
    import json

    from bench.pipeline import write_json

    figures = {
        "live_fps": 29.6,
        "dropped_fraction": 0.01,
        "predictions_per_s": 1.9,
        "latency_ms": 350.0,
        "classify_video_fps": 28.0,
    }
    out = tmp_path / "run" / "figures.json"
    write_json(out, figures, (640, 480), Path("clip.mp4"))
    record = json.loads(out.read_text())
    assert {k: record[k] for k in figures} == figures
    assert record["camera_size"] == "640x480" and len(record["load_average"]) == 3
    assert record["video"] == "clip.mp4"
    assert record["cpus"] >= 1 and record["cpu"]
