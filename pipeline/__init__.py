"""Frames -> people -> NTU skeletons -> action probabilities: the one pipeline behind the GUI and
classify_video. Thread-agnostic and free of Qt: callers drive it one frame at a time.

settings: typed settings and load_settings; classifier: the streaming classifier; frames: the
frame pipeline; build: both from settings; prediction, resampling, priority: their parts.
"""

from model.preprocess import prepare_window

from .build import build_pipeline, build_pose_stages
from .classifier import MAX_BACKLOG, ClassifierSettings, StreamingClassifier
from .frames import FramePipeline, FrameResult
from .prediction import Prediction, softmax, top_k
from .priority import INFERENCE_NICENESS, yield_to_pose
from .resampling import resample_clip, resample_index, window_motion
from .settings import SITE_CONFIG, LiveSettings, PipelineSettings, SummarySettings, load_settings

__all__ = [
    "ClassifierSettings",
    "FramePipeline",
    "FrameResult",
    "INFERENCE_NICENESS",
    "LiveSettings",
    "MAX_BACKLOG",
    "PipelineSettings",
    "Prediction",
    "SITE_CONFIG",
    "StreamingClassifier",
    "SummarySettings",
    "build_pipeline",
    "build_pose_stages",
    "load_settings",
    "prepare_window",
    "resample_clip",
    "resample_index",
    "softmax",
    "top_k",
    "window_motion",
    "yield_to_pose",
]
