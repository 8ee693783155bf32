"""The BlazePose -> NTU mapping: joint order, Kinect axes, left stays left, placement of people."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from pose_helpers import PREPROCESSING, person_from_world, raise_right_hand, require, standing_world

from ntu.joints import joint
from pose import SKELETON_FORMAT, Person, camera_offset, mirrored, ntu_visibility, to_ntu
from pose.ntu import HAND_TIP_REACH, NTU_FROM_BLAZEPOSE, lifted_landmarks, steady_legs

# NTU joints, 0-based
RIGHT_HAND, LEFT_HAND = joint("right_hand"), joint("left_hand")
LEFT_SHOULDER, RIGHT_SHOULDER = joint("left_shoulder"), joint("right_shoulder")
SPINE_BASE, HEAD = joint("spine_base"), joint("head")


def test_mapping_is_an_average_of_landmarks():
    """Every NTU joint is an affine combination: moving all landmarks moves every joint alike."""
    assert NTU_FROM_BLAZEPOSE.shape == (25, 33)
    np.testing.assert_allclose(NTU_FROM_BLAZEPOSE.sum(axis=1), 1.0, atol=1e-6)


def test_raised_right_hand_moves_ntu_joint_12_not_8():
    """The person's right hand raised in the image lifts NTU joint 12 (index 11) only."""
    down = to_ntu(person_from_world(standing_world()))
    up = to_ntu(person_from_world(raise_right_hand(standing_world())))
    down, up = down - down[:, [SPINE_BASE]], up - up[:, [SPINE_BASE]]  # the body frame
    assert up[1, RIGHT_HAND] - down[1, RIGHT_HAND] > 0.5  # Kinect y is up
    # the left hand stays (within the few millimetres the refitted image scale moves it)
    np.testing.assert_allclose(up[:, LEFT_HAND], down[:, LEFT_HAND], atol=5e-3)
    assert up[1, RIGHT_HAND] > up[1, HEAD]


def test_kinect_axes_for_a_person_facing_the_camera():
    """y up, z away from the camera, and left shoulder -> right shoulder along +x, as in NTU."""
    joints = to_ntu(person_from_world(standing_world()))
    assert joints.shape == (3, 25) and joints.dtype == np.float32
    assert joints[1, HEAD] > joints[1, SPINE_BASE] + 0.4
    assert joints[0, RIGHT_SHOULDER] - joints[0, LEFT_SHOULDER] > 0.3
    assert joints[2, SPINE_BASE] > 1.0  # in front of the camera


def test_left_right_convention_matches_ntu_data():
    """In the NTU skeletons (people facing the sensor) the shoulders point the same way."""
    raw = np.load(require(PREPROCESSING))["raw"]  # (N, 3, T, 25, 2)
    body = raw[..., 0]
    present = np.abs(body).sum(axis=(1, 3)) > 0  # (N, T)
    dx = (body[:, 0, :, RIGHT_SHOULDER] - body[:, 0, :, LEFT_SHOULDER])[present]
    ours = to_ntu(person_from_world(standing_world()))
    assert np.sign(np.median(dx)) == np.sign(ours[0, RIGHT_SHOULDER] - ours[0, LEFT_SHOULDER])


def test_people_side_by_side_are_placed_apart():
    """Two people left and right in the image end up about their distance apart, mirrored in x."""
    left = to_ntu(person_from_world(standing_world(), centre_x=0.25))
    right = to_ntu(person_from_world(standing_world(), centre_x=0.75))
    # the person on the image's right is at the sensor's right: smaller Kinect x
    assert right[0, SPINE_BASE] < left[0, SPINE_BASE] - 0.5
    assert abs(right[2, SPINE_BASE] - left[2, SPINE_BASE]) < 0.2


def test_camera_offset_recovers_the_depth_scale():
    """The fitted hip-centre position is in front of the camera and centred for a centred person."""
    offset = camera_offset(person_from_world(standing_world(), centre_x=0.5))
    assert abs(offset[0]) < 0.05 and offset[2] > 0.5


def test_visibility_is_carried_per_joint():
    """An NTU joint is as visible as the least visible landmark it is built from."""
    person = person_from_world(standing_world())
    person.visibility[16] = 0.1  # right wrist
    vis = ntu_visibility(person)
    assert vis.shape == (25,)
    assert vis[10] == pytest.approx(0.1)  # NTU right wrist
    assert vis[LEFT_HAND] == pytest.approx(0.99)


def test_person_rejects_wrong_shapes():
    """A Person needs 33 landmarks."""
    with pytest.raises(ValueError):
        Person(
            image=np.zeros((25, 3)),
            world=np.zeros((33, 3)),
            visibility=np.zeros(33),
            image_size=(10, 10),
        )


def test_hidden_lower_legs_become_still_straight_legs():
    """Knees and feet MediaPipe cannot see are replaced by straight legs under the hips;
    visible legs are left alone."""
    person = person_from_world(standing_world())
    joints = to_ntu(person)
    vis = ntu_visibility(person)
    np.testing.assert_array_equal(steady_legs(joints, vis), joints)  # all visible: unchanged
    person.visibility[25:] = 0.05  # knees, ankles, feet out of frame
    vis = ntu_visibility(person)
    legs = steady_legs(joints, vis)
    for hip, knee, ankle in ((12, 13, 14), (16, 17, 18)):
        assert legs[1, knee] < legs[1, hip] - 0.35 and legs[1, ankle] < legs[1, knee] - 0.35
        np.testing.assert_allclose(np.linalg.norm(legs[:, knee] - legs[:, hip]), 0.42, atol=1e-5)
    np.testing.assert_array_equal(legs[:, :12], joints[:, :12])  # the upper body is untouched
    assert legs[2, 15] < legs[2, 14]  # the foot points toward the camera (smaller Kinect z)


def test_a_mirrored_frame_gives_the_same_person_back():
    """Mirroring twice is the identity; once, the person's raised right hand becomes NTU's
    left hand, as the person in a mirror image seems to raise their left."""
    person = person_from_world(raise_right_hand(standing_world()), centre_x=0.4)
    twice = mirrored(mirrored(person))
    np.testing.assert_allclose(twice.image, person.image)
    np.testing.assert_allclose(twice.world, person.world)
    seen = to_ntu(person)
    mirror = to_ntu(mirrored(person))
    assert seen[1, RIGHT_HAND] > seen[1, HEAD] and mirror[1, LEFT_HAND] > mirror[1, HEAD]
    assert mirror[1, RIGHT_HAND] < mirror[1, HEAD]


def test_a_hand_at_the_mouth_is_not_pushed_forward_by_mediapipe_depth():
    """A forearm raised across the view (its full length in the image) keeps about the depth of
    its elbow, although MediaPipe's world landmarks tilt it 0.2 m towards the camera (as on the
    paired NTU clip); a forearm pointing at the camera (short in the image) keeps its depth."""
    true = standing_world()
    true[14] = true[12] + (0.0, 0.25, 0.0)  # right elbow under the shoulder
    true[16] = true[14] + (0.0, -0.25, 0.0)  # wrist raised back up, to the mouth
    tilted = true.copy()
    tilted[16] = tilted[14] + (0.0, -0.15, -0.2)  # same length, its depth taken from its height
    seen = person_from_world(true)
    person = Person(
        image=seen.image, world=tilted, visibility=seen.visibility, image_size=seen.image_size
    )
    lifted = lifted_landmarks(person)
    assert abs(lifted[16, 2] - lifted[14, 2]) < 0.06
    assert lifted[16, 1] - lifted[14, 1] == pytest.approx(-0.25, abs=0.03)  # height from the image
    pointing = standing_world()
    pointing[16] = pointing[14] + (0.0, 0.0, -0.25)  # forearm straight at the camera
    lifted = lifted_landmarks(person_from_world(pointing))
    assert lifted[16, 2] - lifted[14, 2] < -0.2


def test_an_elbow_raised_forward_keeps_mediapipe_depth():
    """The upper arm is not bounded: where its image length (at the person's fitted scale)
    exceeds MediaPipe's world length, as MediaPipe's proportions allow, the elbow still stands
    0.14 m in front of the shoulder, as MediaPipe (and, on the paired clip, Kinect) has it."""
    across = standing_world()
    across[14] = across[12] + (0.0, 0.25, 0.0)  # the image: the upper arm at full length
    forward = standing_world()
    forward[14] = forward[12] + (0.0, 0.19, -0.14)  # the world: shorter, tilted to the camera
    seen = person_from_world(across)
    person = Person(
        image=seen.image, world=forward, visibility=seen.visibility, image_size=seen.image_size
    )
    lifted = lifted_landmarks(person)
    assert lifted[14, 2] - lifted[12, 2] == pytest.approx(-0.14, abs=0.01)


def test_the_foot_is_kinects_mid_foot():
    """NTU's foot joint lies between heel and toe, not at the toe tip."""
    assert NTU_FROM_BLAZEPOSE[15, 29] == NTU_FROM_BLAZEPOSE[15, 31] == pytest.approx(0.5)
    assert NTU_FROM_BLAZEPOSE[19, 30] == NTU_FROM_BLAZEPOSE[19, 32] == pytest.approx(0.5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_hand_tip_is_at_the_fingertips_not_the_knuckle(side):
    """Kinect's hand tip is the fingers' tip: past BlazePose's index knuckle, on the line from the
    wrist through it, a finger's length (HAND_TIP_REACH - 1 times wrist-to-knuckle) further."""
    world = standing_world()
    wrist, knuckle = (15, 19) if side == "left" else (16, 20)
    joints = to_ntu(person_from_world(world)).T  # (25, 3) Kinect axes
    lifted = NTU_FROM_BLAZEPOSE @ lifted_landmarks(person_from_world(world))
    tip, ntu_wrist = joints[joint(f"{side}_hand_tip")], joints[joint(f"{side}_wrist")]
    to_knuckle = np.linalg.norm(world[knuckle] - world[wrist])
    assert np.linalg.norm(tip - ntu_wrist) == pytest.approx(HAND_TIP_REACH * to_knuckle, rel=0.05)
    assert np.linalg.norm(tip - ntu_wrist) > to_knuckle + 0.05  # a finger beyond the knuckle
    reach = lifted[joint(f"{side}_hand_tip")] - lifted[joint(f"{side}_wrist")]
    along = (world[knuckle] - world[wrist]) / to_knuckle
    assert np.dot(reach, along) / np.linalg.norm(reach) == pytest.approx(1.0, abs=0.01)


def test_a_new_mapping_comes_with_a_new_skeleton_format():
    """Skeletons cached by train.from_videos are keyed on pose.SKELETON_FORMAT: a change of the
    landmark -> NTU weights must bump it (then record the new digest here), or a user's cache
    would keep skeletons of the old mapping beside a live path that makes new ones."""
    digest = hashlib.sha256(np.ascontiguousarray(NTU_FROM_BLAZEPOSE, dtype="<f4").tobytes())
    assert {SKELETON_FORMAT: digest.hexdigest()[:16]} == {"ntu-mapping-2": "c7c808ec8d3a7f61"}
