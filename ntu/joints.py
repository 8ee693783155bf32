"""The NTU RGB+D 25-joint skeleton: joint names, order and bones (0-based here)."""

from __future__ import annotations

NUM_JOINTS = 25
NUM_BODIES = 2

JOINT_NAMES = (
    "spine_base",
    "spine_mid",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "spine_shoulder",
    "left_hand_tip",
    "left_thumb",
    "right_hand_tip",
    "right_thumb",
)

# (child, parent) as listed in the dataset's 1-based numbering; joint 21 is its own parent.
_BONES_1_BASED = (
    (1, 2),
    (2, 21),
    (3, 21),
    (4, 3),
    (5, 21),
    (6, 5),
    (7, 6),
    (8, 7),
    (9, 21),
    (10, 9),
    (11, 10),
    (12, 11),
    (13, 1),
    (14, 13),
    (15, 14),
    (16, 15),
    (17, 1),
    (18, 17),
    (19, 18),
    (20, 19),
    (22, 23),
    (21, 21),
    (23, 8),
    (24, 25),
    (25, 12),
)


def joint(name: str) -> int:
    """The 0-based NTU index of the joint JOINT_NAMES calls `name` (e.g. "left_shoulder")."""
    return JOINT_NAMES.index(name)


BONES = tuple((child - 1, parent - 1) for child, parent in _BONES_1_BASED)
"""0-based (child, parent) pairs; the bone stream is joint[child] - joint[parent]."""

# Edges for drawing the skeleton (the self-loop at the spine-shoulder joint left out).
EDGES = tuple((c, p) for c, p in BONES if c != p)

# Each joint's counterpart on the other side of the body (left <-> right), for mirror images.
MIRRORED_JOINTS = tuple(
    JOINT_NAMES.index(name.replace("left", "@").replace("right", "left").replace("@", "right"))
    for name in JOINT_NAMES
)
