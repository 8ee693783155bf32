"""Pixels -> NTU skeletons: pose estimators, the BlazePose -> NTU mapping and the body tracker."""
from .estimators import BACKENDS, MediaPipePose, PoseEstimator, TasksPose, make_estimator
from .landmarks import NUM_LANDMARKS, POSE_EDGES, Person
from .ntu import camera_offset, mirrored, ntu_visibility, steady_legs, to_ntu
from .tracker import BodyTracker

__all__ = [
    "BACKENDS", "BodyTracker", "MediaPipePose", "NUM_LANDMARKS", "POSE_EDGES", "Person",
    "PoseEstimator", "TasksPose", "camera_offset", "make_estimator", "mirrored", "ntu_visibility",
    "steady_legs", "to_ntu",
]
