"""The pose path against ground truth: the paired NTU clip's video and its Kinect skeleton.

The figures are those of `python -m bench.skeleton_gap`; before the 3D arm placement and the
mirror setting the clip measured 0.21 m a joint (0.41 m at the hands) and read "taking a selfie".
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from shared_paths import FIXTURES, OFFICIAL_WEIGHTS, require

from bench import skeleton_gap


@pytest.fixture(scope="module")
def people():
    """MediaPipe's people in every frame of the paired clip (the slow part, done once)."""
    return skeleton_gap.detect_people(require(skeleton_gap.VIDEO))


@pytest.fixture(scope="module")
def model():
    from model import load_model

    return load_model(require(OFFICIAL_WEIGHTS / "ntu_ShiftGCN_joint_xsub.pt"))


@pytest.fixture(scope="module")
def gaps(people, model):
    skeleton = require(skeleton_gap.SKELETON)
    return {
        mirror: skeleton_gap.measure(people, skeleton, model, mirror) for mirror in (True, False)
    }


@pytest.mark.slow
def test_the_drinking_clip_reads_drink_water(gaps):
    """With the mirror setting on (NTU's videos are mirror images of its skeletons), the pose
    path's skeleton of the whole clip is classified as the Kinect one is: drink water."""
    assert gaps[True].top5_kinect[0]["label"] == "drink water"
    assert gaps[True].top5_pose[0]["label"] == "drink water"


@pytest.mark.slow
def test_the_pose_path_is_close_to_kinect(gaps):
    """Joint errors after the model's normalisation (metres). Kinect tracked the drinking hand;
    it inferred the hanging one, which it places at the waist where the image shows it at the
    thigh, so that hand is held to the looser all-joint bound."""
    gap = gaps[True]
    assert gap.mean < 0.12  # 0.21 on 2026-12-02, 0.117 with the upper arm's depth bounded
    assert gap.mean_tracked < 0.10
    drinking_hand = ("right_wrist", "right_hand", "right_hand_tip", "right_thumb")
    assert max(gap.per_joint[j] for j in drinking_hand) < 0.12  # 0.46-0.58 on 2026-12-02


@pytest.mark.slow
def test_where_kinect_saw_the_joints_the_targets_hold(gaps):
    """Kinect's own pixel of the hanging hand's four joints lies far from that hand in the video
    (Kinect guessed it at the waist; `--overlay` shows it): on the joints where Kinect's pixel
    agrees with the video, the issue's targets hold (mean 0.08 m, hands 0.15 m)."""
    gap = gaps[True]
    hanging_hand = ("left_wrist", "left_hand", "left_hand_tip", "left_thumb")
    assert min(gap.image_gap_px[j] for j in hanging_hand) > 60
    others = [j for j in gap.image_gap_px if j not in hanging_hand]
    assert max(gap.image_gap_px[j] for j in others) < 40
    assert gap.agreeing_share > 0.8
    assert gap.mean_agreeing < 0.075  # the target: 0.08
    assert gap.hands_agreeing < 0.10  # the target: 0.15


@pytest.mark.slow
def test_the_hand_tip_is_where_kinect_sees_the_fingertips(gaps):
    """Kinect's hand tip is the fingers' tip: its own pixel of the drinking hand's tip lies
    within 23 px (1920x1080) of the pose path's, which puts the tip beyond BlazePose's index
    knuckle (26 px with the tip at the knuckle, 20 px now)."""
    assert gaps[True].image_gap_px["right_hand_tip"] < 23


def test_the_overlay_draws_both_skeletons(people, tmp_path):
    """The PNG is the frame with Kinect's skeleton in green and the pose path's in orange."""
    import cv2

    skeleton = require(skeleton_gap.SKELETON)
    kinect_px, pose_px = skeleton_gap.pixel_skeletons(people, skeleton, mirror=True)
    out = tmp_path / "overlay.png"
    skeleton_gap.draw_overlay(skeleton_gap.VIDEO, 60, kinect_px, pose_px, out)
    image = cv2.imread(str(out))
    assert image.shape == (1080, 1920, 3)
    for pixels, colour in ((kinect_px[60], (0, 200, 0)), (pose_px[60], (0, 165, 255))):
        x, y = np.round(pixels[skeleton_gap.joint("head")]).astype(int)
        assert tuple(image[y, x]) == colour


@pytest.mark.slow
def test_the_mirror_setting_matters_on_mirrored_video(gaps):
    """Without the mirror setting left and right are exchanged and the error grows."""
    assert gaps[False].mean > gaps[True].mean + 0.04
    assert gaps[False].hands > gaps[True].hands + 0.1


@pytest.mark.slow
def test_classify_video_names_the_action_and_where(tmp_path, monkeypatch):
    """End to end through classify_video's weighted summary, as a user runs it."""
    from app import classify_video

    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", str(require(OFFICIAL_WEIGHTS)))
    video = require(FIXTURES / "paired" / "S001C001P001R001A001_rgb.avi")
    out = tmp_path / "drink.json"
    assert classify_video.main([str(video), "--mirror", "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert result["top5"][0]["label"] == "drink water" and result["known"]
    # calibrated scores: drink water's clearest second well above the runner-up's video score
    assert result["action_at"]["score"] > 1.5 * result["top5"][1]["score"]
    assert 0 <= result["action_at"]["start_frame"] < result["action_at"]["end_frame"] <= 103


def test_the_bench_refuses_a_missing_file(tmp_path, capsys):
    """One line and a non-zero exit, as every command."""
    assert skeleton_gap.main(["--video", str(tmp_path / "none.avi")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.avi not found" in err[0]


def test_image_agreement_is_relative_to_the_torso_in_the_image():
    """A joint agrees when Kinect's pixel lies within a quarter of the torso's image length of
    the pose path's; a frame with nobody found agrees nowhere."""
    kinect = np.zeros((3, 25, 2))
    spine_base, spine_shoulder = (
        skeleton_gap.joint("spine_base"),
        skeleton_gap.joint("spine_shoulder"),
    )
    kinect[:, spine_base] = (100, 300)
    kinect[:, spine_shoulder] = (100, 100)  # torso 200 px: agreement within 50 px
    pose = kinect.copy()
    pose[0, 5] += (0, 49)
    pose[1, 5] += (0, 51)
    pose[2] = np.nan
    gap, agrees = skeleton_gap.image_agreement(kinect, pose)
    assert gap[0, 5] == pytest.approx(49) and agrees[0, 5]
    assert gap[1, 5] == pytest.approx(51) and not agrees[1, 5]
    assert agrees[:2].sum() == 49 and not agrees[2].any()


def test_pose_pixels_takes_the_person_nearest_kinect_and_unmirrors():
    """Of two people, the one nearest Kinect's skeleton; with the mirror setting, the pixels are
    back in the video's own columns while left and right are exchanged."""
    from pose_helpers import person_from_world, standing_world

    near = person_from_world(standing_world(), centre_x=0.3)
    far = person_from_world(standing_world(), centre_x=0.8)
    alone = skeleton_gap.pose_pixels([near], np.zeros((25, 2)), mirror=False)
    assert not np.isnan(alone).any()
    np.testing.assert_allclose(skeleton_gap.pose_pixels([far, near], alone, mirror=False), alone)
    mirrored = skeleton_gap.pose_pixels([near], alone, mirror=True)
    left, right = skeleton_gap.joint("left_wrist"), skeleton_gap.joint("right_wrist")
    np.testing.assert_allclose(mirrored[left], alone[right], atol=1e-3)
    assert np.isnan(skeleton_gap.pose_pixels([], alone, mirror=False)).all()


def test_with_kinect_joints_moves_only_the_named_joints_relative_to_the_spine():
    """Kinect's joint is placed at its offset from Kinect's spine middle, added to the pose
    path's spine middle; every other joint and the second body stay as they were."""
    rng = np.random.default_rng(0)
    pose, kinect = rng.normal(size=(2, 4, 3, 25, 2))
    mixed = skeleton_gap.with_kinect_joints(pose, kinect, ["right_elbow"])
    elbow, centre = skeleton_gap.joint("right_elbow"), skeleton_gap.joint("spine_mid")
    expected = kinect[:, :, elbow, 0] - kinect[:, :, centre, 0] + pose[:, :, centre, 0]
    np.testing.assert_allclose(mixed[:, :, elbow, 0], expected)
    others = [j for j in range(25) if j != elbow]
    np.testing.assert_array_equal(mixed[:, :, others], pose[:, :, others])
    np.testing.assert_array_equal(mixed[..., 1], pose[..., 1])


def test_an_unknown_joint_name_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        skeleton_gap.build_parser().parse_args(["--kinect-joints", "right_elbow,nose"])
    assert exit_info.value.code == 2
    assert "no NTU joint 'nose'" in capsys.readouterr().err
