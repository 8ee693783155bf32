"""train.from_videos end to end on videos it makes (two movements of a real photograph of a
person), the skeleton cache, the split and the one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from video_set_helpers import MOVES, moving_person, write_video_set

from app import classify_video
from model import load_model
from pipeline import load_settings as load_pipeline_config
from pose import SKELETON_FORMAT
from train import from_videos
from train.video_skeletons import cache_key
from weights import registry

# A narrow network from random weights (no NTU checkpoint needed) and short windows, so that
# 36-frame clips give several training windows and two epochs take seconds; the SGD recipe (the
# default, few_shot.yaml, needs a trained base network: tests/test_few_shot.py).
TINY = [
    "--config",
    str(from_videos.FINETUNE_CONFIG),
    "--base-weights",
    "none",
    "--set",
    "model.channels=[16,32]",
    "--set",
    "model.strides=[2,2]",
    "--set",
    "frozen_units=0",
    "--epochs",
    "2",
    "--workers",
    "1",
    "--no-progress",
]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return write_video_set(tmp_path_factory.mktemp("clips") / "videos")


def short_windows(folder) -> str:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"classifier": {"window": 32, "stride": 8, "min_frames": 8}}))
    return str(path)


@pytest.mark.slow
def test_videos_to_a_model_that_the_app_takes(tmp_path, videos, capsys):
    work, pipeline = tmp_path / "work", short_windows(tmp_path)
    assert (
        from_videos.main(
            [str(videos), "--work-dir", str(work), "--pipeline-config", pipeline, *TINY]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "best validation top-1" in out and str(work / "best.pt") in out
    summary = json.loads((work / "summary.json").read_text())
    assert summary["classes"] == sorted(MOVES)
    assert summary["videos"] == {"train": 4, "val": 2}  # stratified: one of three a class
    assert summary["extraction"]["videos"] == 6 and summary["extraction"]["from_cache"] == 0
    assert summary["windows"]["train"] > summary["videos"]["train"]  # several windows a clip
    model = load_model(work / "best.pt")
    assert model.card.labels() == sorted(MOVES) and model.card.stream == "joint"

    report = tmp_path / "report.json"
    video = next((videos / "bob").iterdir())
    assert (
        classify_video.main(
            [str(video), "--weights", str(work / "best.pt"), "--json", str(report), "--no-progress"]
        )
        == 0
    )
    top5 = json.loads(report.read_text())["top5"]
    assert {entry["label"] for entry in top5} == set(MOVES)

    entry = registry.register("my-moves", work / "best.pt", None, directory=tmp_path / "weights")
    assert entry.num_class == 2 and entry.class_names() == sorted(MOVES)

    # One more clip: a second run extracts only that one, the rest comes from the cache.
    from pose_helpers import write_video

    write_video(videos / "sway" / "sway_new.mp4", moving_person("sway", 36, phase=0.4), 15.0)
    again = tmp_path / "again"
    assert (
        from_videos.main(
            [
                str(videos),
                "--work-dir",
                str(again),
                "--cache-dir",
                str(work / "skeletons"),
                "--pipeline-config",
                pipeline,
                *TINY,
            ]
        )
        == 0
    )
    extraction = json.loads((again / "summary.json").read_text())["extraction"]
    assert (extraction["videos"], extraction["from_cache"]) == (1, 6)

    # The same work dir holds a model: refused with one line unless --overwrite.
    capsys.readouterr()
    assert (
        from_videos.main(
            [str(videos), "--work-dir", str(work), "--pipeline-config", pipeline, *TINY]
        )
        == 1
    )
    assert_one_line(capsys.readouterr().err, "--overwrite")


def assert_one_line(err: str, text: str) -> None:
    """stderr is one 'error: ...' line that mentions `text`."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], err


def test_the_cache_key_follows_pose_settings_and_the_mapping_version(monkeypatch):
    config = load_pipeline_config()
    key = cache_key(config)
    changed = load_pipeline_config(overrides={"pose": {"min_detection_confidence": 0.6}})
    assert cache_key(changed) != key
    assert cache_key(load_pipeline_config(overrides={"tracker": {"hold_frames": 3}})) != key
    assert cache_key(load_pipeline_config(overrides={"classifier": {"fps": 25.0}})) != key
    assert cache_key(load_pipeline_config(overrides={"classifier": {"stride": 5}})) == key
    monkeypatch.setattr("train.video_skeletons.SKELETON_FORMAT", f"{SKELETON_FORMAT}-next")
    assert cache_key(config) != key


def test_one_line_for_too_few_classes_and_classes_without_a_usable_video(tmp_path, capsys):
    from gui_helpers import empty_frames
    from pose_helpers import write_video

    root = tmp_path / "videos"
    (root / "wave").mkdir(parents=True)
    write_video(root / "wave" / "a.mp4", moving_person("sway", 20), 15.0)
    assert from_videos.main([str(root), "--work-dir", str(tmp_path / "w"), *TINY]) == 1
    assert_one_line(capsys.readouterr().err, "at least two")

    (root / "nobody").mkdir()
    write_video(root / "nobody" / "empty.mp4", empty_frames(20), 15.0)
    (root / "nobody" / "broken.mp4").write_text("not a video")
    assert from_videos.main([str(root), "--work-dir", str(tmp_path / "w"), *TINY]) == 1
    captured = capsys.readouterr()
    assert "skipped (unreadable)" in captured.out and "broken.mp4" in captured.out
    assert_one_line(captured.err, "'nobody' has no usable video")


def test_split_is_stratified_seeded_and_by_video(tmp_path):
    classes = {
        "a": [tmp_path / f"a{i}.mp4" for i in range(8)],
        "b": [tmp_path / f"b{i}.mp4" for i in range(2)],
        "c": [tmp_path / "c0.mp4"],
    }
    train, val = from_videos.split_videos(classes, 0.25, seed=1)
    assert [len(val[k]) for k in "abc"] == [2, 1, 0] and [len(train[k]) for k in "abc"] == [6, 1, 1]
    assert (train, val) == from_videos.split_videos(classes, 0.25, seed=1)
    for name in classes:
        assert sorted(train[name] + val[name]) == sorted(classes[name])


def test_long_clips_give_several_windows_and_empty_windows_are_left_out():
    import numpy as np

    clip = np.ones((250, 3, 25, 2), np.float32)
    starts = [s for s, _ in from_videos.clip_windows(clip, 100, 50, 16)]
    assert starts == [0, 50, 100, 150]
    assert [len(w) for _, w in from_videos.clip_windows(clip[:40], 100, 50, 16)] == [40]
    clip[:120] = 0  # nobody in the first 120 frames
    assert [s for s, _ in from_videos.clip_windows(clip, 100, 50, 16)] == [50, 100, 150]


@pytest.mark.slow
def test_extraction_in_worker_processes_matches_extraction_in_this_one(tmp_path, videos):
    import numpy as np

    from train.video_skeletons import extract_videos

    clips = [videos / "bob" / "bob_0.mp4", videos / "sway" / "sway_1.mp4"]
    config = load_pipeline_config()
    here = extract_videos(clips, config, tmp_path / "one", workers=1, progress=False)
    pool = extract_videos(clips, config, tmp_path / "two", workers=2, progress=False)
    assert pool.extracted == here.extracted == 2 and not pool.unreadable
    for clip in clips:
        ours, theirs = here.skeletons[clip], pool.skeletons[clip]
        assert ours.frames == theirs.frames == 36
        assert len(ours.skeleton) == 71  # 36 frames at 15 fps resampled to 30 fps
        np.testing.assert_allclose(ours.skeleton, theirs.skeleton, atol=1e-5)
        assert ours.frames_with_person > 60
