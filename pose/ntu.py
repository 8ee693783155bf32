"""BlazePose landmarks -> the 25 NTU RGB+D joints in Kinect camera axes (metres)."""
from __future__ import annotations

import math

import numpy as np

from model.graph import NUM_JOINTS

from . import landmarks as L
from .landmarks import NUM_LANDMARKS, Person

# Where Kinect puts the derived joints, measured on the NTU skeletons in ../shared/fixtures:
# spine middle sits 0.58 of the way from spine base to spine-at-shoulders, the neck 0.35 of the
# way from spine-at-shoulders to the head (medians over all frames).
SPINE_MID_FRACTION = 0.58
NECK_FRACTION = 0.35
# Assumed horizontal field of view of the camera, only used to place people relative to each
# other in depth (a single person's position is removed by the model's normalisation).
DEFAULT_FOV_DEG = 65.0
# Landmarks at least this visible take part in the image-to-world scale fit.
VISIBLE = 0.5
# Straight, still lower legs for joints MediaPipe cannot see (it guesses them, and its guesses
# jitter, which the model reads as leg motion). Medians over the NTU skeletons in ../shared:
# hip -> knee 0.42 m and knee -> ankle 0.40 m along the torso's down direction, ankle -> foot
# 0.05 m down and 0.08 m forward.
THIGH, SHIN, FOOT_DOWN, FOOT_FORWARD = 0.42, 0.40, 0.05, 0.08
LEGS = ((12, 13, 14, 15), (16, 17, 18, 19))  # 0-based NTU hip, knee, ankle, foot of each leg
SPINE_BASE, SPINE_SHOULDER, LEFT_HIP, RIGHT_HIP = 0, 20, 12, 16
# MediaPipe world axes (x right, y down, z away) -> Kinect axes (x to the sensor's left, y up,
# z away): a rotation by 180 degrees about z, so a person's left side stays their left side.
MEDIAPIPE_TO_KINECT = np.array([-1.0, -1.0, 1.0], dtype=np.float32)


def _mapping_matrix() -> np.ndarray:
    """(25, 33) weights: NTU joint j = sum_k W[j, k] * landmark k (every joint is linear)."""
    w = np.zeros((NUM_JOINTS, NUM_LANDMARKS), dtype=np.float32)

    def mean(*idx: int) -> np.ndarray:
        row = np.zeros(NUM_LANDMARKS, dtype=np.float32)
        row[list(idx)] = 1.0 / len(idx)
        return row

    spine_base = mean(L.LEFT_HIP, L.RIGHT_HIP)
    spine_shoulder = mean(L.LEFT_SHOULDER, L.RIGHT_SHOULDER)
    head = mean(L.LEFT_EAR, L.RIGHT_EAR)
    rows = {  # NTU 1-based joint -> landmark weights
        1: spine_base,
        2: spine_base + SPINE_MID_FRACTION * (spine_shoulder - spine_base),
        3: spine_shoulder + NECK_FRACTION * (head - spine_shoulder),
        4: head,
        5: mean(L.LEFT_SHOULDER), 6: mean(L.LEFT_ELBOW), 7: mean(L.LEFT_WRIST),
        8: mean(L.LEFT_PINKY, L.LEFT_INDEX),
        9: mean(L.RIGHT_SHOULDER), 10: mean(L.RIGHT_ELBOW), 11: mean(L.RIGHT_WRIST),
        12: mean(L.RIGHT_PINKY, L.RIGHT_INDEX),
        13: mean(L.LEFT_HIP), 14: mean(L.LEFT_KNEE), 15: mean(L.LEFT_ANKLE), 16: mean(L.LEFT_FOOT),
        17: mean(L.RIGHT_HIP), 18: mean(L.RIGHT_KNEE), 19: mean(L.RIGHT_ANKLE),
        20: mean(L.RIGHT_FOOT),
        21: spine_shoulder,
        22: mean(L.LEFT_INDEX), 23: mean(L.LEFT_THUMB),
        24: mean(L.RIGHT_INDEX), 25: mean(L.RIGHT_THUMB),
    }
    for joint, row in rows.items():
        w[joint - 1] = row
    return w


NTU_FROM_BLAZEPOSE = _mapping_matrix()


def camera_offset(person: Person, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """Position (MediaPipe axes, metres) of the world-landmark origin in camera space.

    World landmarks are centred between the hips, so two people would overlap; a pinhole
    camera with the assumed field of view, and the metres-per-pixel scale fitted between world
    and image landmarks, put each one where the camera saw them.
    """
    w, h = person.image_size
    focal = (w / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    keep = person.visibility >= VISIBLE
    if keep.sum() < 4:
        keep = np.ones(NUM_LANDMARKS, dtype=bool)
    px = person.pixels[keep].astype(np.float64)
    wx = person.world[keep, :2].astype(np.float64)
    px_mean, wx_mean = px.mean(axis=0), wx.mean(axis=0)
    pc, wc = px - px_mean, wx - wx_mean
    denom = float((pc * pc).sum())
    scale = float((pc * wc).sum()) / denom if denom > 0 else 0.0  # metres per pixel
    if scale <= 0:
        return np.zeros(3, dtype=np.float32)
    origin_px = px_mean - wx_mean / scale  # where the hip centre is in the image
    x, y = (origin_px - np.array([w / 2.0, h / 2.0])) * scale
    return np.array([x, y, focal * scale], dtype=np.float32)


def to_ntu(person: Person, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """(3, 25) NTU joints in Kinect camera axes (metres) for one person."""
    world = person.world + camera_offset(person, fov_deg)
    joints = NTU_FROM_BLAZEPOSE @ world  # (25, 3) in MediaPipe axes
    return (joints * MEDIAPIPE_TO_KINECT).T.astype(np.float32)


def ntu_visibility(person: Person) -> np.ndarray:
    """(25,) visibility per NTU joint: the least visible landmark it is built from."""
    used = NTU_FROM_BLAZEPOSE != 0
    vis = np.where(used, person.visibility[None, :], np.inf)
    return vis.min(axis=1).astype(np.float32)


def steady_legs(joints: np.ndarray, visibility: np.ndarray, min_visibility: float = 0.5
                ) -> np.ndarray:
    """(3, 25) joints with each lower leg whose knee, ankle or foot is less visible than
    `min_visibility` replaced by a straight leg under its hip (a seated or half-framed person's
    hidden legs then stay still instead of jittering)."""
    out = joints.copy()
    down = joints[:, SPINE_BASE] - joints[:, SPINE_SHOULDER]
    across = joints[:, RIGHT_HIP] - joints[:, LEFT_HIP]
    if np.linalg.norm(down) < 1e-6 or np.linalg.norm(across) < 1e-6:
        return out
    down = down / np.linalg.norm(down)
    forward = np.cross(across, down)
    forward = forward / max(float(np.linalg.norm(forward)), 1e-6)
    for hip, knee, ankle, foot in LEGS:
        if visibility[[knee, ankle, foot]].min() >= min_visibility:
            continue
        out[:, knee] = joints[:, hip] + THIGH * down
        out[:, ankle] = out[:, knee] + SHIN * down
        out[:, foot] = out[:, ankle] + FOOT_DOWN * down + FOOT_FORWARD * forward
    return out
