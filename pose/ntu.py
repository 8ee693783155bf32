"""BlazePose landmarks -> the 25 NTU RGB+D joints in Kinect camera axes (metres)."""

from __future__ import annotations

import math

import numpy as np

from ntu.joints import NUM_JOINTS, joint

from . import landmarks as L
from .landmarks import NUM_LANDMARKS, Person

# Where Kinect puts the derived joints: spine middle sits 0.58 of the way from spine base to
# spine-at-shoulders, the neck 0.35 of the way from spine-at-shoulders to the head (medians over
# the NTU-format skeletons in ../shared/fixtures/skeletons, which share one generated body; the
# real Kinect recording in ../shared/fixtures/paired gives 0.57 and 0.33).
SPINE_MID_FRACTION = 0.58
NECK_FRACTION = 0.35
# Assumed horizontal field of view of the camera, only used to place people relative to each
# other in depth (a single person's position is removed by the model's normalisation).
DEFAULT_FOV_DEG = 65.0
# Landmarks at least this visible take part in the image-to-world scale fit.
VISIBLE = 0.5
# Straight, still lower legs for joints MediaPipe cannot see (it guesses them, and its guesses
# jitter, which the model reads as leg motion): hip -> knee 0.42 m and knee -> ankle 0.40 m
# along the torso's down direction, ankle -> foot 0.05 m down and 0.08 m forward, the body of the
# NTU-format fixtures in ../shared (the smaller performer of the real paired recording has
# 0.31-0.34 m for both).
THIGH, SHIN, FOOT_DOWN, FOOT_FORWARD = 0.42, 0.40, 0.05, 0.08
# Kinect's hand tip is the tip of the fingers; BlazePose's index landmark is the index finger's
# first knuckle (named left_index_1 in its topology). A finger reaches about as far again
# beyond that knuckle as the knuckle lies from the wrist (both 0.08-0.10 m on an adult hand);
# relaxed fingers curl a little, so the tip goes 0.8 of that distance beyond the knuckle.
HAND_TIP_REACH = 1.8
LEGS = ((12, 13, 14, 15), (16, 17, 18, 19))  # 0-based NTU hip, knee, ankle, foot of each leg
# NTU joints (pose.landmarks' names are BlazePose's)
NTU_SPINE_BASE, NTU_SPINE_SHOULDER = joint("spine_base"), joint("spine_shoulder")
NTU_LEFT_HIP, NTU_RIGHT_HIP = joint("left_hip"), joint("right_hip")
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

    def beyond(start: int, through: int, reach: float) -> np.ndarray:
        """The point `reach` times as far from `start` as `through` is, on the same line."""
        return mean(start) + reach * (mean(through) - mean(start))

    spine_base = mean(L.LEFT_HIP, L.RIGHT_HIP)
    spine_shoulder = mean(L.LEFT_SHOULDER, L.RIGHT_SHOULDER)
    head = mean(L.LEFT_EAR, L.RIGHT_EAR)
    rows = {  # NTU 1-based joint -> landmark weights
        1: spine_base,
        2: spine_base + SPINE_MID_FRACTION * (spine_shoulder - spine_base),
        3: spine_shoulder + NECK_FRACTION * (head - spine_shoulder),
        4: head,
        5: mean(L.LEFT_SHOULDER),
        6: mean(L.LEFT_ELBOW),
        7: mean(L.LEFT_WRIST),
        8: mean(L.LEFT_PINKY, L.LEFT_INDEX),
        9: mean(L.RIGHT_SHOULDER),
        10: mean(L.RIGHT_ELBOW),
        11: mean(L.RIGHT_WRIST),
        12: mean(L.RIGHT_PINKY, L.RIGHT_INDEX),
        13: mean(L.LEFT_HIP),
        14: mean(L.LEFT_KNEE),
        15: mean(L.LEFT_ANKLE),
        16: mean(L.LEFT_HEEL, L.LEFT_FOOT),
        17: mean(L.RIGHT_HIP),
        18: mean(L.RIGHT_KNEE),
        19: mean(L.RIGHT_ANKLE),
        20: mean(L.RIGHT_HEEL, L.RIGHT_FOOT),
        21: spine_shoulder,
        22: beyond(L.LEFT_WRIST, L.LEFT_INDEX, HAND_TIP_REACH),
        23: mean(L.LEFT_THUMB),
        24: beyond(L.RIGHT_WRIST, L.RIGHT_INDEX, HAND_TIP_REACH),
        25: mean(L.RIGHT_THUMB),
    }
    for number, row in rows.items():  # 1-based NTU numbers
        w[number - 1] = row
    return w


NTU_FROM_BLAZEPOSE = _mapping_matrix()

# The forearm and hand landmarks whose depth lifted_landmarks bounds, each with the landmark it
# hangs from, elbow outward (parents before children). The elbow keeps MediaPipe's depth.
FOREARM_PARENT = {
    L.LEFT_WRIST: L.LEFT_ELBOW,
    L.LEFT_PINKY: L.LEFT_WRIST,
    L.LEFT_INDEX: L.LEFT_WRIST,
    L.LEFT_THUMB: L.LEFT_WRIST,
    L.RIGHT_WRIST: L.RIGHT_ELBOW,
    L.RIGHT_PINKY: L.RIGHT_WRIST,
    L.RIGHT_INDEX: L.RIGHT_WRIST,
    L.RIGHT_THUMB: L.RIGHT_WRIST,
}
_FOREARM_CHILDREN = np.array(list(FOREARM_PARENT))
_FOREARM_PARENTS = np.array(list(FOREARM_PARENT.values()))
# BlazePose index of each landmark's mirror image: left and right exchanged.
MIRRORED_LANDMARKS = np.array(
    [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9]
    + [i + 1 if i % 2 else i - 1 for i in range(11, NUM_LANDMARKS)]
)


def metric_scale(person: Person) -> float:
    """Metres per pixel of the person, fitted between world and image landmarks (least squares
    over the visible ones); 0 when the fit fails."""
    keep = person.visibility >= VISIBLE
    if keep.sum() < 4:
        keep = np.ones(NUM_LANDMARKS, dtype=bool)
    pc = person.pixels[keep].astype(np.float64)
    wc = person.world[keep, :2].astype(np.float64)
    pc, wc = pc - pc.mean(axis=0), wc - wc.mean(axis=0)
    denom = float((pc * pc).sum())
    return max(float((pc * wc).sum()) / denom, 0.0) if denom > 0 else 0.0


def lifted_landmarks(person: Person, scale: float | None = None) -> np.ndarray:
    """(33, 3) landmarks in MediaPipe world axes (metres, hip centre origin), placed in 3D from
    what MediaPipe measures best.

    x and y come from the image landmarks at the fitted scale: their image positions are what
    the network is trained hardest on, and the world ones drift from them (a forearm raised to
    the mouth comes out shorter in MediaPipe's world than in the image). z comes from the world
    landmarks, except that from the elbow outward a segment may not reach further in depth than
    its length allows next to its extent in the image: MediaPipe's depth of the hands overshoots
    (a hand at the mouth is put well in front of the chest), and a segment seen at full length
    in the image lies across the view. The upper arm is not bounded: the bound compares image and
    world lengths, which differ from segment to segment by more than an upper arm's tilt changes
    them, and would flatten an elbow raised forward (on the paired NTU clip, one that MediaPipe
    and Kinect both put well in front of the shoulder). `scale`: metric_scale(person), if known.
    """
    scale = metric_scale(person) if scale is None else scale
    if scale <= 0:
        return person.world.astype(np.float64)
    world = person.world.astype(np.float64)
    pixels = person.pixels.astype(np.float64)
    hips = [L.LEFT_HIP, L.RIGHT_HIP]
    xy = (pixels - pixels[hips].mean(axis=0)) * scale + world[hips, :2].mean(axis=0)
    children, parents = _FOREARM_CHILDREN, _FOREARM_PARENTS
    length = np.linalg.norm(world[children] - world[parents], axis=1)
    across = np.linalg.norm(xy[children] - xy[parents], axis=1)
    depth = world[children, 2] - world[parents, 2]
    reach = np.sqrt(np.maximum(length * length - across * across, 0.0))
    steps = np.copysign(np.minimum(np.abs(depth), reach), depth)
    z = world[:, 2].copy()
    for child, parent, step in zip(children.tolist(), parents.tolist(), steps.tolist()):
        z[child] = z[parent] + step  # parents come first: the chain from the elbow outward
    return np.column_stack([xy, z])


def mirrored(person: Person) -> Person:
    """The person as seen in a mirror image of the frame: x flipped, left and right exchanged
    (for mirrored sources, such as NTU's own videos or a camera shown as a mirror)."""
    image, world = person.image.copy(), person.world.copy()
    image[:, 0] = 1.0 - image[:, 0]
    world[:, 0] = -world[:, 0]
    swap = MIRRORED_LANDMARKS
    return Person(
        image=image[swap],
        world=world[swap],
        visibility=person.visibility[swap],
        image_size=person.image_size,
    )


def camera_offset(
    person: Person, fov_deg: float = DEFAULT_FOV_DEG, scale: float | None = None
) -> np.ndarray:
    """Position (MediaPipe axes, metres) of the world-landmark origin in camera space.

    World landmarks are centred between the hips, so two people would overlap; a pinhole
    camera with the assumed field of view, and the metres-per-pixel scale fitted between world
    and image landmarks (`scale`, computed when not given), put each one where the camera saw
    them.
    """
    scale = metric_scale(person) if scale is None else scale
    if scale <= 0:
        return np.zeros(3, dtype=np.float32)
    w, h = person.image_size
    focal = (w / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    hips = [L.LEFT_HIP, L.RIGHT_HIP]
    hip_centre_px = person.pixels[hips].mean(axis=0) - person.world[hips, :2].mean(axis=0) / scale
    x, y = (hip_centre_px - np.array([w / 2.0, h / 2.0])) * scale
    return np.array([x, y, focal * scale], dtype=np.float32)


def to_ntu(person: Person, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """(3, 25) NTU joints in Kinect camera axes (metres) for one person."""
    scale = metric_scale(person)
    landmarks = lifted_landmarks(person, scale) + camera_offset(person, fov_deg, scale)
    joints = NTU_FROM_BLAZEPOSE @ landmarks  # (25, 3) in MediaPipe axes
    return (joints * MEDIAPIPE_TO_KINECT).T.astype(np.float32)


def ntu_visibility(person: Person) -> np.ndarray:
    """(25,) visibility per NTU joint: the least visible landmark it is built from."""
    used = NTU_FROM_BLAZEPOSE != 0
    vis = np.where(used, person.visibility[None, :], np.inf)
    return vis.min(axis=1).astype(np.float32)


def steady_legs(
    joints: np.ndarray, visibility: np.ndarray, min_visibility: float = 0.5
) -> np.ndarray:
    """(3, 25) joints with each lower leg whose knee, ankle or foot is less visible than
    `min_visibility` replaced by a straight leg under its hip (a seated or half-framed person's
    hidden legs then stay still instead of jittering)."""
    out = joints.copy()
    down = joints[:, NTU_SPINE_BASE] - joints[:, NTU_SPINE_SHOULDER]
    across = joints[:, NTU_RIGHT_HIP] - joints[:, NTU_LEFT_HIP]
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


def person_to_ntu(person: Person, *, mirror: bool, leg_visibility: float) -> np.ndarray:
    """One person's (3, 25) NTU joints as the classifier gets them: seen in a mirror image when
    the source is one (`mirror`), lower legs less visible than `leg_visibility` steadied (0: kept
    as MediaPipe guesses them)."""
    seen = mirrored(person) if mirror else person
    joints = to_ntu(seen)
    if leg_visibility > 0:
        joints = steady_legs(joints, ntu_visibility(seen), leg_visibility)
    return joints
