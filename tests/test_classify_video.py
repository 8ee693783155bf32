"""python -m app.classify_video: output schema (JSON, CSV, annotated video, skeleton array),
folders, and one clear line for every input it cannot use."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re

import cv2
import numpy as np
import pytest
from card_helpers import save_plain
from pose_helpers import OFFICIAL_WEIGHTS, VIDEO, astronaut_video, blank_video, read_frames, require

from app.annotate import MP4_CODECS, codec_note, mp4_codec
from app.classify_video import main
from app.video_reports import CSV_FIELDS, SEGMENT_FIELDS
from app.video_result import Window, merge_windows
from common.errors import UserError
from model import ModelConfig, build_model

CLASSES = ["wave", "clap", "sit down", "stand up", "jump"]
FAST = ["--window", "16", "--stride", "8", "--device", "cpu", "--no-progress"]


pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A small untrained Shift-GCN checkpoint with named classes (fast, no shared files needed)."""
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    config = ModelConfig(num_class=len(CLASSES), channels=(16, 32), strides=(1, 2))
    save_plain(path, build_model(config), class_names=CLASSES)
    return path


@pytest.fixture(scope="module")
def person_video(tmp_path_factory):
    """A generated 24-frame video with a person (the astronaut photograph) in every frame."""
    return astronaut_video(tmp_path_factory.mktemp("videos") / "astronaut.mp4", count=24)


def run(capsys, *args) -> tuple[int, str, str]:
    """Run the command's main(); return its exit status, stdout and stderr."""
    status = main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def check_top5(top5: list[dict]) -> None:
    """Five classes, best first, each with index, label and score."""
    assert len(top5) == 5
    assert [set(e) for e in top5] == [{"index", "label", "score"}] * 5
    scores = [e["score"] for e in top5]
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    assert all(CLASSES[e["index"]] == e["label"] for e in top5)


def test_outputs_and_their_schema(capsys, tmp_path, small_checkpoint, person_video):
    """JSON, CSV of windows and of segments, annotated MP4 and the (3, T, 25, 2) skeleton."""
    out = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "mp4", "npy")}
    status, stdout, stderr = run(
        capsys,
        person_video,
        "--weights",
        small_checkpoint,
        *FAST,
        "--json",
        out["json"],
        "--csv",
        out["csv"],
        "--segments-csv",
        tmp_path / "segments.csv",
        "--annotate",
        out["mp4"],
        "--save-skeleton",
        out["npy"],
    )
    assert status == 0
    result = json.loads(out["json"].read_text())
    assert {
        "video",
        "fps",
        "frames",
        "frames_with_person",
        "top5",
        "windows",
        "segments",
        "settings",
    } <= set(result)
    assert result["video"] == str(person_video)
    assert result["fps"] == pytest.approx(30) and result["frames"] == 24
    assert 20 <= result["frames_with_person"] <= 24
    check_top5(result["top5"])
    assert len(result["windows"]) >= 2
    for window in result["windows"]:
        assert 0 <= window["start"] <= window["end"] <= 24 / 30
        assert window["start_frame"] <= window["end_frame"] < 24
        check_top5(window["top5"])
    windows = [Window(**window) for window in result["windows"]]
    assert result["segments"] == [segment.to_json() for segment in merge_windows(windows)]
    settings = result["settings"]
    assert settings["weights"] == str(small_checkpoint) and settings["device"] == "cpu"
    assert settings["weights_sha256"] == hashlib.sha256(small_checkpoint.read_bytes()).hexdigest()
    assert (settings["classifier"]["window"], settings["classifier"]["stride"]) == (16, 8)
    assert settings["pose"]["backend"] == "mediapipe" and "max_people" in settings["pose"]
    assert result["top5"][0]["label"] in stdout  # the top-5 is printed
    assert re.search(r"24 frames in \d+\.\d s \(\d+\.\d frames/s\)", stdout)  # and the pace

    with open(out["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_FIELDS and len(rows) == len(result["windows"])
    assert rows[0]["top1_label"] == result["windows"][0]["top5"][0]["label"]
    with open(tmp_path / "segments.csv", newline="") as handle:
        segments = list(csv.DictReader(handle))
    assert list(segments[0]) == SEGMENT_FIELDS and len(segments) == len(result["segments"])
    assert [r["label"] for r in segments] == [s["label"] for s in result["segments"]]

    skeleton = np.load(out["npy"])
    assert skeleton.shape == (3, 24, 25, 2) and skeleton.dtype == np.float32
    assert int(np.any(skeleton[..., 0], axis=(0, 2)).sum()) == result["frames_with_person"]

    annotated = read_frames(out["mp4"], 100)
    original = read_frames(person_video, 100)
    assert len(annotated) == 24 and annotated[0].shape == original[0].shape
    assert np.abs(annotated[-1].astype(int) - original[-1]).mean() > 2  # skeleton and top-3 drawn
    # No lag: the top-3 panel (dark, top left) appears on the frame the first window ends on.
    first_end = result["windows"][0]["end_frame"]
    corner = (slice(2, 40), slice(0, 3))  # left of the text and bars: only darkened

    def darkening(i: int) -> float:
        return annotated[i][corner].mean() / max(original[i][corner].mean(), 1)

    assert darkening(first_end) < 0.6 and darkening(first_end - 1) > 0.9
    assert (codec_note(out["mp4"]) in stderr) == (mp4_codec() != "avc1")  # said when not H.264


def test_windows_merge_into_a_timeline():
    """Consecutive windows with the same best class are one segment, without overlaps."""

    def window(start, end, label, score):
        other = {"index": 9, "label": "other", "score": 1 - score}
        best = {"index": CLASSES.index(label), "label": label, "score": score}
        return Window(
            start=start,
            end=end,
            start_frame=round(start * 30),
            end_frame=round(end * 30),
            top5=[best, other],
        )

    windows = [
        window(0.0, 3.3, "wave", 0.6),
        window(0.5, 3.8, "wave", 0.8),
        window(1.0, 4.3, "clap", 0.5),
        window(1.5, 4.8, "wave", 0.9),
    ]
    segments = merge_windows(windows)
    assert [(s.label, s.windows) for s in segments] == [("wave", 2), ("clap", 1), ("wave", 1)]
    assert [(s.start, s.end) for s in segments] == [(0.0, 3.8), (3.8, 4.3), (4.3, 4.8)]
    assert [s.start_frame for s in segments] == [0, 114, 129]
    assert segments[0].score == pytest.approx(0.7) and segments[0].index == 0
    assert merge_windows([]) == []


def test_mp4_codec_falls_back_and_says_so():
    """H.264 where OpenCV can write it; otherwise mp4v, and a note on how to convert."""
    assert mp4_codec(("none", "mp4v")) == "mp4v"
    assert mp4_codec(("none",)) is None
    assert mp4_codec() in MP4_CODECS
    note = codec_note("clip.mp4")
    assert note is None if mp4_codec() == "avc1" else "ffmpeg -i clip.mp4 -c:v libx264" in note


def test_a_folder_is_processed_with_a_summary(capsys, tmp_path, small_checkpoint, person_video):
    """Each video in turn; failures reported and skipped; non-zero at the end."""
    folder = tmp_path / "videos"
    folder.mkdir()
    os.symlink(person_video, folder / "a_person.mp4")
    blank_video(folder / "b_empty.mp4")
    (folder / "c_broken.mp4").write_text("not a video")
    status, stdout, stderr = run(
        capsys,
        folder,
        "--weights",
        small_checkpoint,
        *FAST,
        "--json",
        tmp_path / "all.json",
        "--csv",
        tmp_path / "all.csv",
        "--annotate",
        tmp_path / "annotated",
    )
    assert status == 1
    assert "summary: 1 classified, 2 failed" in stdout
    assert "no person found" in stderr and "cannot read video" in stderr
    data = json.loads((tmp_path / "all.json").read_text())
    assert [v["video"] for v in data["videos"]] == [str(folder / "a_person.mp4")]
    assert len(data["failed"]) == 2
    assert (tmp_path / "annotated" / "a_person.mp4").is_file()
    assert not (tmp_path / "annotated" / "b_empty.mp4").exists()  # no half-written files


def test_a_folder_of_videos_of_different_sizes(capsys, tmp_path, small_checkpoint):
    """One pipeline classifies videos of different frame sizes one after another."""
    folder = tmp_path / "videos"
    folder.mkdir()
    astronaut_video(folder / "a_square.mp4", count=20, size=(256, 256))
    astronaut_video(folder / "b_wide.mp4", count=20, size=(320, 192))
    status, stdout, stderr = run(
        capsys, folder, "--weights", small_checkpoint, *FAST, "--json", tmp_path / "all.json"
    )
    assert status == 0, stderr
    assert "summary: 2 classified, 0 failed" in stdout
    data = json.loads((tmp_path / "all.json").read_text())
    assert [v["frames_with_person"] for v in data["videos"]] == [20, 20]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.mp4", "does not exist"),
        (lambda d: (d / "text.mp4", (d / "text.mp4").write_text("hello"))[0], "cannot read video"),
        (lambda d: blank_video(d / "empty.mp4"), "no person found"),
        (
            lambda d: astronaut_video(d / "blink.mp4", count=4),
            "a person in only 4 frames of ",
        ),  # fewer than min_frames (16): no window is classified
    ],
)
def test_unusable_videos_are_one_line(capsys, tmp_path, small_checkpoint, make, message):
    """Missing, unreadable, or no person: one line on stderr, exit status 1."""
    status, _, stderr = run(capsys, make(tmp_path), "--weights", small_checkpoint, *FAST)
    assert status == 1
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1


def test_a_truncated_video_is_our_line_alone(capfd, tmp_path, small_checkpoint):
    """FFmpeg's own complaint ("moov atom not found") does not leak beside the project's line."""
    whole = astronaut_video(tmp_path / "whole.mp4", count=10).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    assert main([str(cut), "--weights", str(small_checkpoint), *FAST]) == 1
    stderr = capfd.readouterr().err
    assert stderr.startswith("error: cannot read video") and stderr.count("\n") == 1, stderr


def test_impossible_settings_are_one_line(capsys, small_checkpoint, person_video):
    """--stride 0 or a tiny --window: one line, exit status 1."""
    for flags in (["--stride", "0"], ["--window", "2"]):
        status, _, stderr = run(capsys, person_video, "--weights", small_checkpoint, *flags)
        assert status == 1 and "bad classifier settings" in stderr and stderr.count("\n") == 1


def test_bad_checkpoint_is_one_line(capsys, tmp_path, person_video):
    """A file that is not a checkpoint: one line, exit status 1, no output written."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 50)
    status, _, stderr = run(
        capsys, person_video, "--weights", bad, *FAST, "--json", tmp_path / "out.json"
    )
    assert status == 1 and stderr.startswith("error: ") and stderr.count("\n") == 1
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow
def test_real_video_with_the_released_model(capsys, tmp_path, monkeypatch):
    """The shared arm-wrestling video with the released NTU-60 model named through the registry."""
    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", os.fspath(require(OFFICIAL_WEIGHTS)))
    status, _, _ = run(
        capsys,
        require(VIDEO),
        "--stride",
        "140",
        "--device",
        "cpu",
        "--no-progress",
        "--json",
        tmp_path / "r.json",
    )
    assert status == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["frames"] == 280 and result["fps"] == pytest.approx(28)
    assert result["frames_with_person"] >= 150
    assert len(result["windows"]) == 2 and len(result["segments"]) in (1, 2)
    assert result["settings"]["weights"] == "ntu60-xsub-joint"
    assert len({e["label"] for e in result["top5"]}) == 5
    capture = cv2.VideoCapture(str(VIDEO))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == result["frames"]


@pytest.mark.slow
def test_a_video_of_no_ntu_action_reads_no_known_action(capsys, tmp_path, monkeypatch):
    """With the defaults, arm wrestling (no NTU-60 action) scores under summary.unknown_below:
    the video reads "no known action" while its top-5 is still listed."""
    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", os.fspath(require(OFFICIAL_WEIGHTS)))
    status, out, _ = run(capsys, require(VIDEO), "--no-progress", "--json", tmp_path / "r.json")
    assert status == 0 and "no known action" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["known"] is False and len(result["top5"]) == 5
    assert result["top5"][0]["score"] < result["settings"]["summary"]["unknown_below"]


def _prediction(frames: int, motion: float, probs: list[float], start: float = 0.0):
    from pipeline import Prediction

    p = np.array(probs, dtype=np.float32)
    return Prediction(
        probs=p,
        raw_probs=p,
        start=start,
        timestamp=start + 3.0,
        frames=frames,
        motion=motion,
        inference_ms=1.0,
        latency_ms=1.0,
    )


def test_video_summary_weighs_windows_by_what_they_saw():
    """A window that saw the person in 16 of 100 frames, or saw them stand still, counts less
    than a full window of the action; still stretches keep a floor of MIN_MOTION_WEIGHT."""
    from pipeline import SummarySettings
    from pipeline.summary import (
        MIN_MOTION_WEIGHT,
        action_at,
        video_probabilities,
        window_weights,
    )

    short = _prediction(16, 1.0, [0.9, 0.1])
    still = _prediction(100, 0.05, [0.9, 0.1], start=4.0)
    action = _prediction(100, 1.0, [0.2, 0.8], start=2.0)
    weights = window_weights([short, still, action], window=100)
    np.testing.assert_allclose(weights, [0.16, MIN_MOTION_WEIGHT, 1.0])
    mean_only = SummarySettings(peak_weight=0.0)
    probs = video_probabilities([short, still, action, still], 100, mean_only)
    assert probs.argmax() == 1  # a plain mean would say class 0
    assert np.mean([p.raw_probs for p in (short, still, action, still)], axis=0).argmax() == 0
    at = action_at([short, action, still], 1, 30.0, 100, mean_only)  # in time order
    assert (at["start"], at["end"], at["start_frame"]) == (2.0, 5.0, 60)
    assert at["score"] == pytest.approx(0.8)


def _timeline(rows: list[list[float]], seconds_apart: float = 0.5) -> list:
    """Full, lively windows every `seconds_apart` s with the given probabilities."""
    return [_prediction(100, 1.0, row, start=n * seconds_apart) for n, row in enumerate(rows)]


def test_a_short_clear_action_is_named_and_located():
    """A fall shown clearly by three windows (1 s) of a 10 s clip, between walking and lying
    that the model reads as unsure mixtures of other classes, is the video's top action, with
    where it happened; the weighted mean alone drowns it."""
    from pipeline import SummarySettings
    from pipeline.summary import action_at, video_probabilities

    walking, fall, lying = [0.6, 0.1, 0.3], [0.05, 0.9, 0.05], [0.3, 0.1, 0.6]
    windows = _timeline([walking] * 9 + [fall] * 3 + [lying] * 8)
    assert video_probabilities(windows, 100, SummarySettings(peak_weight=0.0)).argmax() == 0
    probs = video_probabilities(windows, 100, SummarySettings(peak_weight=0.5, peak_span=1.0))
    assert probs.argmax() == 1 and probs.sum() == pytest.approx(1.0)
    at = action_at(windows, 1, 30.0, 100, SummarySettings(peak_span=1.0))
    assert (at["start"], at["end"]) == (4.5, 8.5)  # the fall's windows: 4.5-7.5 to 5.5-8.5
    assert at["score"] == pytest.approx(0.9)


def test_one_long_action_keeps_its_plain_summary():
    """A clip of one action throughout, with a single stray window, reads as that action with
    the summary on or off, and a lone half-empty window cannot make a clear stretch."""
    from pipeline import SummarySettings
    from pipeline.summary import stretch_scores, video_probabilities

    windows = _timeline([[0.9, 0.1, 0.0]] * 8 + [[0.1, 0.9, 0.0]] + [[0.9, 0.1, 0.0]] * 8)
    for weight in (0.0, 0.5, 1.0):
        assert video_probabilities(windows, 100, SummarySettings(peak_weight=weight)).argmax() == 0
    early = _prediction(16, 1.0, [0.0, 1.0, 0.0], start=-1.0)  # a person in 16 of 100 frames
    scores = stretch_scores([early, *_timeline([[0.9, 0.1, 0.0]] * 4)], 100, span=0.0)
    assert scores[0, 1] == pytest.approx(0.16) and scores[1:, 0].min() == pytest.approx(0.9)


def test_summary_settings_are_checked():
    from pipeline import SummarySettings

    for bad in ({"peak_weight": 1.5}, {"peak_span": -1.0}, {"unknown_below": float("nan")}):
        with pytest.raises(UserError, match="bad summary settings"):
            SummarySettings(**bad)
