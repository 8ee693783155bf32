"""Skeletons other toolboxes read: PYSKL / MMAction2's annotation pickle, from the API and from
classify_video's --save-skeleton, loads with plain pickle with the documented keys and shapes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from card_helpers import save_plain
from pose_helpers import astronaut_video, write_video
from video_set_helpers import moving_person

from app.api import Recognizer
from app.classify_video import main as classify
from app.skeleton_export import COCO17_FROM_BLAZEPOSE
from model import ModelConfig, build_model
from pipeline import load_settings

pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py
CLIP_KEYS = {"frame_dir", "label", "img_shape", "original_shape", "total_frames", "keypoint"}


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    config = ModelConfig(num_class=2, channels=(16, 32), strides=(1, 2))
    save_plain(path, build_model(config), class_names=["sway", "still"])
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two class folders with one generated video of a person each (20 and 24 frames)."""
    root = tmp_path_factory.mktemp("clips")
    (root / "sway").mkdir()
    (root / "still").mkdir()
    write_video(root / "sway" / "a.mp4", moving_person("sway", 20))
    astronaut_video(root / "still" / "b.mp4", count=24, size=(320, 240))
    return root


def load(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def check_clip(clip: dict, frames: int, shape: tuple[int, int], joints: int, dims: int) -> None:
    assert clip["total_frames"] == frames
    assert clip["img_shape"] == clip["original_shape"] == shape
    keypoint = clip["keypoint"]
    assert keypoint.dtype == np.float32 and keypoint.shape[1:] == (frames, joints, dims)
    assert keypoint.shape[0] in (1, 2) and np.any(keypoint)


def test_a_folder_of_class_folders_becomes_a_pyskl_dataset(tmp_path, dataset, small_checkpoint):
    recognizer = Recognizer(load_settings(overrides={"weights": str(small_checkpoint)}))
    coco = load(recognizer.skeleton_dataset(dataset, tmp_path / "coco.pkl"))
    assert set(coco) == {"split", "annotations"}
    assert coco["split"] == {"all": ["still/b", "sway/a"]}
    still, sway = coco["annotations"]
    assert set(still) == CLIP_KEYS | {"keypoint_score"} and (still["label"], sway["label"]) == (
        0,
        1,
    )
    check_clip(still, 24, (240, 320), 17, 2)
    check_clip(sway, 20, (256, 256), 17, 2)
    scores = still["keypoint_score"]
    assert scores.shape == still["keypoint"].shape[:3] and 0 <= scores.min() <= scores.max() <= 1
    head_and_shoulders = still["keypoint"][0][:, :7]  # COCO 0-6: in pixels, inside the frame
    assert 0 <= head_and_shoulders.min() and head_and_shoulders[..., 0].max() <= 320
    assert head_and_shoulders[..., 1].max() <= 240
    assert len(COCO17_FROM_BLAZEPOSE) == 17

    ntu = load(
        recognizer.skeleton_dataset(
            {dataset / "sway" / "a.mp4": 5}, tmp_path / "ntu.pkl", layout="ntu25"
        )
    )
    [clip] = ntu["annotations"]
    assert set(clip) == CLIP_KEYS and clip["label"] == 5  # 3D: no keypoint_score, as PYSKL's NTU
    check_clip(clip, 20, (256, 256), 25, 3)


def test_classify_video_saves_a_pyskl_file_for_a_folder(
    tmp_path, capsys, dataset, small_checkpoint
):
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in dataset.rglob("*.mp4"):
        (folder / video.name).write_bytes(video.read_bytes())
    out = tmp_path / "skeletons.pkl"
    status = classify(
        [
            str(folder),
            "--weights",
            str(small_checkpoint),
            "--device",
            "cpu",
            "--window",
            "16",
            "--stride",
            "8",
            "--no-progress",
            "--save-skeleton",
            str(out),
            "--skeleton-label",
            "7",
            "--skeleton-layout",
            "ntu25",
        ]
    )
    capsys.readouterr()
    assert status == 0
    data = load(out)
    assert [c["frame_dir"] for c in data["annotations"]] == ["a.mp4", "b.mp4"]
    assert all(c["label"] == 7 for c in data["annotations"])
    check_clip(data["annotations"][0], 20, (256, 256), 25, 3)
    check_clip(data["annotations"][1], 24, (240, 320), 25, 3)
