"""Pixels -> NTU skeletons: pose estimators, the BlazePose -> NTU mapping and the body tracker."""

from .estimators import (
    BACKENDS,
    MediaPipePose,
    PoseEstimator,
    PoseSettings,
    TasksPose,
    make_estimator,
)
from .landmarks import NUM_LANDMARKS, POSE_EDGES, Person
from .ntu import camera_offset, mirrored, ntu_visibility, person_to_ntu, steady_legs, to_ntu
from .tracker import BodyTracker, TrackerSettings

# The version of what pose/ makes of a frame (the landmark -> NTU mapping, the tracker's output):
# skeletons cached under another value are extracted again. Bump it when the mapping changes.
# 2: the hand tip at the fingertips, and the 3D arm placement, mirror and partner gate before it.
SKELETON_FORMAT = "ntu-mapping-2"

__all__ = [
    "BACKENDS",
    "BodyTracker",
    "MediaPipePose",
    "NUM_LANDMARKS",
    "POSE_EDGES",
    "Person",
    "PoseEstimator",
    "PoseSettings",
    "SKELETON_FORMAT",
    "TasksPose",
    "TrackerSettings",
    "camera_offset",
    "make_estimator",
    "mirrored",
    "ntu_visibility",
    "person_to_ntu",
    "steady_legs",
    "to_ntu",
]
