"""Frames -> people -> NTU skeletons -> action probabilities: the one pipeline behind the GUI and
classify_video. Thread-agnostic and free of Qt: callers drive it one frame at a time.

settings: typed settings and load_settings; windows: cutting windows and classifying one;
classifier: the streaming classifier; frames: the frame pipeline; build: both from settings;
live: the live loop (capture thread, frame buffer, the frame pipeline, callbacks); prediction,
resampling, priority: their parts.
"""

from model.preprocess import prepare_window

from .build import build_pipeline, build_pose_stages
from .classifier import MAX_BACKLOG, ClassifierSettings, StreamingClassifier
from .frames import FramePipeline, FrameResult
from .prediction import Prediction, softmax, top_k
from .priority import INFERENCE_NICENESS, yield_to_pose
from .resampling import resample_clip, resample_index, window_motion
from .settings import SITE_CONFIG, LiveSettings, PipelineSettings, SummarySettings, load_settings
from .windows import (
    Member,
    Window,
    WindowClassifier,
    WindowCutter,
    clip_windows,
    cut_window,
    stream_windows,
)

__all__ = [
    "ClassifierSettings",
    "FramePipeline",
    "FrameResult",
    "INFERENCE_NICENESS",
    "LiveSettings",
    "MAX_BACKLOG",
    "Member",
    "PipelineSettings",
    "Prediction",
    "SITE_CONFIG",
    "StreamingClassifier",
    "SummarySettings",
    "Window",
    "WindowClassifier",
    "WindowCutter",
    "build_pipeline",
    "build_pose_stages",
    "clip_windows",
    "cut_window",
    "load_settings",
    "prepare_window",
    "resample_clip",
    "resample_index",
    "softmax",
    "stream_windows",
    "top_k",
    "window_motion",
    "yield_to_pose",
]
