"""model.preprocess and train.skeleton against the published pipeline's reference arrays."""

from __future__ import annotations

import numpy as np
import pytest
from shared_paths import SHARED

from model.preprocess import (
    STREAMS,
    is_empty,
    make_stream,
    mirror,
    normalize_sample,
    to_bone,
    to_motion,
)
from ntu.joints import BONES, JOINT_NAMES, MIRRORED_JOINTS
from train.skeleton import read_skeleton

REFERENCE = SHARED / "fixtures" / "ntu_preprocessing_reference.npz"
SKELETONS = SHARED / "fixtures" / "skeletons"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    if not REFERENCE.is_file():
        pytest.skip(f"reference arrays not found at {REFERENCE} (../shared is absent)")
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


def test_parser_matches_reference_raw_arrays(reference):
    for name, expected in zip(reference["names"], reference["raw"]):
        raw = read_skeleton(SKELETONS / name)
        np.testing.assert_allclose(raw, expected, atol=1e-4, err_msg=name)


def test_normalisation_and_streams_match_reference(reference):
    for i, name in enumerate(reference["names"]):
        joint = normalize_sample(reference["raw"][i])
        assert joint.dtype == np.float32 and joint.shape == (3, 300, 25, 2)
        for stream in STREAMS:
            actual, expected = make_stream(joint, stream), reference[stream][i]
            np.testing.assert_allclose(actual, expected, atol=1e-4, err_msg=f"{name} {stream}")


def test_empty_reference_sample_is_detected_by_its_data(reference):
    empty = [str(name) for name, raw in zip(reference["names"], reference["raw"]) if is_empty(raw)]
    assert empty == ["S011C001P016R001A012.skeleton"]
    assert is_empty(read_skeleton(SKELETONS / empty[0]))


def _upright_body(frames: int, seed: int) -> np.ndarray:
    """(3, frames, 25) joints, spine 1 -> 2 along +z and shoulders 5 -> 9 along +x in frame 0."""
    rng = np.random.default_rng(seed)
    body = rng.normal(0, 0.3, (3, 1, 25)) + rng.normal(0, 0.02, (3, frames, 25))
    body[:, 0, 0], body[:, 0, 1] = (0.0, 0.0, 0.0), (0.0, 0.0, 0.3)
    body[:, 0, 4], body[:, 0, 8] = (-0.2, 0.1, 0.5), (0.2, 0.1, 0.5)
    return body


def _rotation(seed: int) -> np.ndarray:
    """A random proper rotation matrix."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _walking_sample(frames: int = 40, seed: int = 0) -> np.ndarray:
    """A one-body sample of `frames` frames at the start of 300, seen from a random camera."""
    body = np.einsum("ij,jtv->itv", _rotation(seed), _upright_body(frames, seed))
    x = np.zeros((3, 300, 25, 2), dtype=np.float32)
    x[:, :frames, :, 0] = body + np.array([0.1, -0.2, 3.0])[:, None, None]
    return x


def test_normalisation_loops_centres_and_aligns_axes():
    out = normalize_sample(_walking_sample(frames=40, seed=3))
    np.testing.assert_allclose(out[:, 40:80], out[:, :40], atol=1e-6)  # looped from the start
    np.testing.assert_allclose(out[:, :, 1, 0], 0, atol=1e-6)  # spine-mid at the origin
    upright = _upright_body(40, seed=3)
    expected = upright - upright[:, :, 1:2]  # the pose in its own axes, centred on spine-mid
    np.testing.assert_allclose(out[:, :40, :, 0], expected, atol=1e-5)
    assert not np.any(out[..., 1])  # the empty second body stays empty


def test_normalisation_moves_late_start_to_front():
    x = np.roll(_walking_sample(frames=30), 10, axis=1)  # frames 10..39 filled
    out = normalize_sample(x)
    assert np.all(np.abs(out[:, :, :, 0]).sum(axis=(0, 2)) > 0)  # no empty frame left
    np.testing.assert_allclose(out, normalize_sample(_walking_sample(frames=30)), atol=1e-6)


def test_streams_work_on_batches():
    batch = np.stack([normalize_sample(_walking_sample(seed=s)) for s in range(3)])[None]
    bone = to_bone(batch)
    assert bone.shape == batch.shape
    child, parent = BONES[5]
    expected = batch[..., child, :] - batch[..., parent, :]
    np.testing.assert_allclose(bone[..., child, :], expected)
    motion = to_motion(batch)
    np.testing.assert_allclose(motion[..., 3, :, :], batch[..., 4, :, :] - batch[..., 3, :, :])
    assert not np.any(motion[..., -1, :, :])
    np.testing.assert_allclose(make_stream(batch, "bone_motion"), to_motion(bone))


def test_unknown_stream_and_bad_shape_are_refused():
    with pytest.raises(ValueError, match="unknown stream"):
        make_stream(np.zeros((3, 4, 25, 2), np.float32), "velocity")
    with pytest.raises(ValueError, match="shape"):
        normalize_sample(np.zeros((4, 25, 2), np.float32))


def test_mirrored_joints_exchange_left_and_right():
    """Each left joint's counterpart is the right joint of the same name; the spine stays."""
    for joint, other in enumerate(MIRRORED_JOINTS):
        name = JOINT_NAMES[joint]
        assert JOINT_NAMES[other] == name.replace("left", "R").replace("right", "left").replace(
            "R", "right"
        )
        assert MIRRORED_JOINTS[other] == joint


def test_mirror_of_a_normalised_sample_is_normalised_and_commutes_with_streams():
    """The mirror image of a normalised sample is what normalising the mirrored scene gives:
    spine-mid at the origin, left shoulder -> right shoulder along +x; bones and motion follow."""
    x = normalize_sample(_walking_sample(frames=40, seed=5))
    m = mirror(x)
    np.testing.assert_allclose(mirror(m), x)
    np.testing.assert_allclose(m[:, :, 1, 0], 0, atol=1e-6)
    shoulders = m[:, 0, 8, 0] - m[:, 0, 4, 0]
    assert shoulders[0] > 0 and abs(shoulders[1]) < 1e-5 and abs(shoulders[2]) < 1e-5
    raw = _walking_sample(frames=40, seed=5)
    flipped = raw[:, :, list(MIRRORED_JOINTS)] * np.array([-1, 1, 1])[:, None, None, None]
    np.testing.assert_allclose(normalize_sample(flipped), m, atol=1e-5)
    for stream in STREAMS:
        np.testing.assert_allclose(
            make_stream(m, stream), mirror(make_stream(x, stream)), atol=1e-6
        )
