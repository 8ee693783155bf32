"""The network's input: the published per-sample normalisation, the four input streams and
window padding (a live window placed in a training-length sample).

Arrays are float32 shaped ``(..., 3, T, 25, 2)`` (channels, frames, joints, bodies) in metres.
``normalize_sample`` reproduces the published Shift-GCN / 2s-AGCN ``pre_normalization`` step
by step (tests check it against the reference arrays to 1e-4), vectorised over joints and frames.
"""

from __future__ import annotations

import numpy as np

from ntu.joints import BONES, MIRRORED_JOINTS, NUM_BODIES, NUM_JOINTS, joint

STREAMS = ("joint", "bone", "joint_motion", "bone_motion")
"""The four input streams of the published four-stream ensemble."""

CENTRE_JOINT = joint("spine_mid")  # body 0's, the origin of every frame
UPRIGHT_BONE = (joint("spine_base"), joint("spine_mid"))  # turned onto +z
ACROSS_BONE = (joint("left_shoulder"), joint("right_shoulder"))  # turned onto +x

_CHILDREN = np.array([child for child, _ in BONES])
_PARENTS = np.array([parent for _, parent in BONES])


def is_empty(x: np.ndarray) -> bool:
    """True when a sample holds no skeleton at all (such samples are dropped from datasets)."""
    return not np.any(x)


def normalize_sample(x: np.ndarray) -> np.ndarray:
    """Normalise one (3, T, 25, 2) sample as the released models were trained; returns a copy."""
    if x.ndim != 4 or x.shape[0] != 3 or x.shape[2] != NUM_JOINTS:
        raise ValueError(f"expected a (3, T, {NUM_JOINTS}, M) sample, got shape {x.shape}")
    s = np.ascontiguousarray(np.transpose(x, (3, 1, 2, 0)), dtype=np.float32)  # (M, T, V, C)
    if s.sum() == 0:
        return np.transpose(s, (3, 1, 2, 0)).copy()
    for body in s:  # in place: each body is a view of s
        _loop_pad(body)
    _centre_on_spine(s)
    _rotate_first_frame_bone(s, *UPRIGHT_BONE, np.array([0.0, 0.0, 1.0]))
    _rotate_first_frame_bone(s, *ACROSS_BONE, np.array([1.0, 0.0, 0.0]))
    return np.ascontiguousarray(np.transpose(s, (3, 1, 2, 0)))


def loop_period(x: np.ndarray, multiple: int) -> int | None:
    """The shortest period, a multiple of `multiple` shorter than T, with which a
    (..., 3, T, 25, M) array repeats its first frames; None when there is none.

    A window looped by `normalize_sample` repeats with its own length when both bodies fill its
    first and last frames (or are empty): the network then needs only one period (ShiftGCN's
    `loop_to`).
    """
    frames = x.shape[-3]
    for period in range(multiple, frames, multiple):
        head, tail = x[..., : frames - period, :, :], x[..., period:, :, :]
        if np.array_equal(head[..., 0, :4, :, :], tail[..., 0, :4, :, :]) and np.array_equal(
            head, tail
        ):
            return period
    return None


def _loop_pad(body: np.ndarray) -> None:
    """Step 1, in place on one (T, V, C) body: move frames to the front if the first is empty,
    then repeat the body's frames from the start after its last non-empty frame."""
    if body.sum() == 0:
        return
    filled = body.sum(axis=(1, 2)) != 0
    if not filled[0]:
        kept = body[filled].copy()
        body[:] = 0
        body[: len(kept)] = kept
        filled = body.sum(axis=(1, 2)) != 0
    end = int(np.flatnonzero(filled)[-1]) + 1  # everything from `end` on is empty
    if end < len(body):
        body[end:] = body[np.arange(end, len(body)) % end]


def _centre_on_spine(s: np.ndarray) -> None:
    """Step 2, in place: subtract body 0's spine-mid per frame; empty joints stay 0."""
    centre = s[0, :, CENTRE_JOINT : CENTRE_JOINT + 1, :].copy()  # (T, 1, C)
    present = s.sum(axis=-1, keepdims=True) != 0  # (M, T, V, 1)
    s[:] = (s - centre) * present


def _rotate_first_frame_bone(s: np.ndarray, start: int, end: int, target: np.ndarray) -> None:
    """Steps 3-4, in place on (M, T, V, C): rotate every non-empty frame so that the bone
    start -> end of body 0 in frame 0 points along `target`."""
    bone = s[0, 0, end].astype(np.float64) - s[0, 0, start]
    rotation = _rotation_matrix(np.cross(bone, target), _angle_between(bone, target))
    filled = s.sum(axis=(2, 3), keepdims=True) != 0  # (M, T, 1, 1)
    s[:] = np.where(filled, s @ rotation.T, s)


def _angle_between(v1: np.ndarray, v2: np.ndarray) -> float:
    """Angle in radians between two vectors; 0 when either is (nearly) zero, as published."""
    if np.abs(v1).sum() < 1e-6 or np.abs(v2).sum() < 1e-6:
        return 0.0
    cosine = np.dot(v1 / np.linalg.norm(v1), v2 / np.linalg.norm(v2))
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _rotation_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """Counter-clockwise rotation by `theta` about `axis`; the identity when degenerate."""
    if np.abs(axis).sum() < 1e-6 or abs(theta) < 1e-6:
        return np.eye(3)
    axis = axis / np.sqrt(np.dot(axis, axis))
    a = np.cos(theta / 2.0)
    b, c, d = -axis * np.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array(
        [
            [aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
            [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
            [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc],
        ]
    )


def mirror(x: np.ndarray) -> np.ndarray:
    """The mirror image of normalised (..., 3, T, 25, M) joints: x negated and left and right
    exchanged, so the result is again normalised (left shoulder -> right shoulder along +x)."""
    out = x[..., list(MIRRORED_JOINTS), :].copy()
    out[..., 0, :, :, :] *= -1
    return out


def rotate_upright(x: np.ndarray, degrees: float) -> np.ndarray:
    """Normalised (..., 3, T, 25, M) data turned by `degrees` about the body's upright axis
    (z: normalisation stands the spine along it), as if the camera stood that much to the side.
    Linear, so it applies to every stream alike (bones and motion are differences of joints)."""
    theta = np.radians(degrees)
    c, s = np.cos(theta), np.sin(theta)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=x.dtype)
    return np.einsum("ij,...jtvm->...itvm", turn, x)


def to_bone(x: np.ndarray) -> np.ndarray:
    """Bone stream of (..., 3, T, 25, M) joints: joint[child] - joint[parent] for each bone."""
    bone = np.zeros_like(x)
    bone[..., _CHILDREN, :] = x[..., _CHILDREN, :] - x[..., _PARENTS, :]
    return bone


def to_motion(x: np.ndarray) -> np.ndarray:
    """Motion stream of (..., 3, T, 25, M) data: x[t + 1] - x[t], the last frame zero."""
    motion = np.zeros_like(x)
    motion[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return motion


def make_stream(joint: np.ndarray, stream: str) -> np.ndarray:
    """One of STREAMS computed from normalised (..., 3, T, 25, M) joints."""
    if stream == "joint":
        return joint
    if stream == "bone":
        return to_bone(joint)
    if stream == "joint_motion":
        return to_motion(joint)
    if stream == "bone_motion":
        return to_motion(to_bone(joint))
    raise ValueError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")


def prepare_window(frames: np.ndarray, pad_to: int, stream: str) -> np.ndarray:
    """(T, 3, 25, 2) skeletons -> the network's (3, T', 25, 2) input, normalised as in training.

    With pad_to > 0 the window is placed at the start of `pad_to` empty frames, so the published
    normalisation loops it to that length, as the released models saw their samples.
    """
    window = np.ascontiguousarray(np.transpose(frames, (1, 0, 2, 3)), dtype=np.float32)
    length = window.shape[1]
    if pad_to and pad_to > length:
        padded = np.zeros((3, pad_to, NUM_JOINTS, NUM_BODIES), dtype=np.float32)
        padded[:, :length] = window
        window = padded
    return make_stream(normalize_sample(window), stream)
