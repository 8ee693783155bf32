"""The few-clips recipe (train.few_shot): skeleton augmentations, the heads fitted on features,
the feature cache through train.from_videos, the Teach panel's clock and bench.few_shot's draws."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from card_helpers import save_plain
from video_set_helpers import MOVES, moving_person, write_video_set

from bench.few_shot import draw, sequence_of
from common.errors import UserError
from model import ModelCard, ModelConfig, ShiftGCN, load_model
from ntu.joints import joint
from train import from_videos
from train.few_shot import (
    FewShotSettings,
    augmented_copies,
    fit_lda,
    fit_logistic,
    fit_nearest_mean,
    mirrored,
    retimed,
    swapped_bodies,
    turned,
)

TINY_MODEL = {"channels": [16, 32], "strides": [2, 2]}


def two_people(frames: int = 40, seed: int = 0) -> np.ndarray:
    """(T, 3, 25, 2) random skeletons of two people a metre apart, in front of the camera."""
    rng = np.random.default_rng(seed)
    skeleton = rng.normal(0, 0.3, (frames, 3, 25, 2)).astype(np.float32)
    skeleton[:, 0, :, 1] += 1.0
    skeleton[:, 2] += 3.0
    return skeleton


def test_mirror_exchanges_sides_and_twice_is_the_clip():
    clip = two_people()
    image = mirrored(clip)
    left, right = joint("left_hand"), joint("right_hand")
    np.testing.assert_allclose(image[:, 0, left], -clip[:, 0, right])
    np.testing.assert_allclose(image[:, 1:, left], clip[:, 1:, right])
    np.testing.assert_array_equal(mirrored(image), clip)


def test_slot_swap_only_where_the_partner_is_always_there():
    clip = two_people()
    np.testing.assert_array_equal(swapped_bodies(clip)[..., 0], clip[..., 1])
    clip[5, :, :, 1] = 0  # the partner is lost in one frame: the main slot would be empty
    assert swapped_bodies(clip) is None


def test_turn_about_the_vertical_keeps_heights_lengths_and_empty_frames():
    clip = two_people()
    clip[3] = 0  # nobody in this frame
    out = turned(clip, 20.0)
    np.testing.assert_array_equal(out[:, 1], clip[:, 1])
    np.testing.assert_array_equal(out[3], 0)
    bone = np.linalg.norm(clip[:, :, 4] - clip[:, :, 5], axis=1)
    np.testing.assert_allclose(np.linalg.norm(out[:, :, 4] - out[:, :, 5], axis=1), bone, atol=1e-5)
    assert not np.allclose(out[:, 0], clip[:, 0])


def test_speed_and_start_jitter_and_copies_are_seeded():
    clip = two_people(60)
    assert len(retimed(clip, 1.5, 0)) == 40 and len(retimed(clip, 1.0, 10)) == 50
    settings = FewShotSettings(copies=3)
    first = augmented_copies(clip, settings, 30.0, seed=7)
    again = augmented_copies(clip, settings, 30.0, seed=7)
    assert len(first) == 4 and first[0] is clip
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fit", ["lda", "logistic", "nearest_mean"])
def test_every_head_separates_separable_features(fit):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 16))
    labels = np.repeat(np.arange(3), 20)
    features = centres[labels] + rng.normal(0, 0.2, (60, 16))
    weights = rng.uniform(0.2, 1.0, 60)
    if fit == "lda":
        w, b = fit_lda(features, labels, weights, 3, 0.5)
    elif fit == "logistic":
        w, b = fit_logistic(features, labels, weights, 3, 0.01)
    else:
        w, b = fit_nearest_mean(features, labels, weights, 3)
    assert w.shape == (3, 16) and b.shape == (3,)
    assert ((features @ w.T + b).argmax(1) == labels).all()


def test_bad_few_shot_settings_are_one_line():
    with pytest.raises(UserError, match="few_shot.classifier"):
        FewShotSettings(classifier="svm")


def test_draws_hold_whole_sequences_out(tmp_path):
    classes = {
        name: [tmp_path / f"{i}_{seq}_{c}.avi" for i, seq in enumerate(range(1, 9))]
        for c, name in enumerate(["a", "b", "c"])
    }
    for index in range(5):
        train, tests, held = draw(classes, 3, 3, np.random.default_rng(index))
        assert len(held) == 3 and all(len(paths) == 3 for paths in train.values())
        assert not {sequence_of(p) for ps in train.values() for p in ps} & set(held)
        assert {sequence_of(p) for _, p in tests} == set(held) and len(tests) == 9
    with pytest.raises(UserError, match="ID_SEQUENCE_CLASS"):
        sequence_of(Path("clip.avi"))


def test_the_teach_clock_says_elapsed_and_what_is_left():
    from app.gui.teach import TrainingClock

    clock = TrainingClock(now=100.0)
    assert clock.text(101.0) == "0:01 elapsed"
    clock.update("extracting", 1, 5, now=104.0)
    assert clock.text(104.0).endswith("estimating")
    clock.update("extracting", 3, 5, now=112.0)  # 4 s a video since the first
    assert clock.text(112.0) == "extracting 3/5 · 0:12 elapsed, about 0:08 left"
    clock.update("features", 1, 4, now=112.01)  # cached clips come at once
    clock.update("features", 2, 4, now=112.02)
    clock.update("features", 3, 4, now=114.02)
    assert clock.text(114.02) == "features 3/4 · 0:14 elapsed, about 0:02 left"


@pytest.mark.slow
def test_frozen_recipe_through_from_videos_caches_features(tmp_path):
    """Generated videos, a tiny random base network: the head is fitted on every clip, the
    checkpoint loads like any other, and a second run with one more clip computes that clip's
    features only."""
    torch.manual_seed(0)
    base = tmp_path / "base.pt"
    save_plain(base, ShiftGCN(ModelConfig(num_class=60, **TINY_MODEL)), stream="joint")
    videos = write_video_set(tmp_path / "videos")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"classifier": {"window": 32, "stride": 8}}))
    overrides = {"base_weights": str(base), "model": TINY_MODEL, "few_shot": {"stride": 8}}
    before = torch.get_num_threads()
    summary = from_videos.from_videos(
        videos,
        tmp_path / "work",
        pipeline_config=pipeline,
        overrides=overrides,
        workers=1,
        progress=False,
    )
    assert torch.get_num_threads() == before
    assert summary["recipe"] == "frozen" and summary["videos"] == {"train": 6, "val": 0}
    assert summary["training"]["clips_computed"] == 6
    assert summary["training"]["validation"] == "each clip left out in turn"
    assert 0 <= summary["training"]["best_top1"] <= 100
    model = load_model(tmp_path / "work" / "best.pt")
    assert model.card.labels() == sorted(MOVES)
    assert json.loads((tmp_path / "work" / "summary.json").read_text())["recipe"] == "frozen"

    from pose_helpers import write_video

    write_video(videos / "sway" / "sway_new.mp4", moving_person("sway", 36, phase=0.4), 15.0)
    again = from_videos.from_videos(
        videos,
        tmp_path / "again",
        pipeline_config=pipeline,
        overrides=overrides,
        cache_dir=tmp_path / "work" / "skeletons",
        workers=1,
        progress=False,
    )
    assert again["training"]["clips_computed"] == 1 and again["extraction"]["videos"] == 1


def test_the_feature_tap_gives_one_row_a_window_whatever_the_test_time_votes():
    """The live classifier may vote with the mirror image (either_hand); the head still learns
    from each window's own features, one row a window."""
    from pipeline import ClassifierSettings
    from train.few_shot import FeatureTap

    torch.manual_seed(0)
    net = ShiftGCN(ModelConfig(num_class=3, **TINY_MODEL)).eval()
    settings = ClassifierSettings(window=16, stride=8, min_frames=4, either_hand=True)
    card = ModelCard.known(3)
    arrays = FeatureTap(net, card, settings, torch.device("cpu")).clip(two_people(40))
    assert len(arrays["features"]) == len(arrays["frames"]) == len(arrays["motion"]) > 1
