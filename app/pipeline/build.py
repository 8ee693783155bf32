"""Pipelines from settings: the whole frames -> actions pipeline, or its pose half."""

from __future__ import annotations

import torch

from pose import BodyTracker, PoseEstimator, make_estimator

from .classifier import StreamingClassifier
from .frames import FramePipeline
from .settings import PipelineSettings


def build_pipeline(
    settings: PipelineSettings,
    model: torch.nn.Module | None = None,
    background: bool = False,
    drop_late: bool = True,
    keep_history: bool = False,
) -> FramePipeline:
    """A FramePipeline from settings (see load_settings); loads the weights unless given."""
    from common.device import select_device
    from weights import load_model

    device = select_device(settings.device)
    if model is None:
        model = load_model(settings.weights_name(), device=device)
    if background and settings.live.torch_threads:
        torch.set_num_threads(settings.live.torch_threads)
    classifier = StreamingClassifier(
        model,
        settings.classifier,
        device=device,
        runtime=settings.runtime,
        background=background,
        drop_late=drop_late,
        keep_history=keep_history,
    )
    estimator, tracker = build_pose_stages(settings)
    return FramePipeline(estimator, tracker, classifier)


def build_pose_stages(settings: PipelineSettings) -> tuple[PoseEstimator, BodyTracker]:
    """The pose estimator and body tracker of the `pose` and `tracker` settings: pixels -> the
    (3, 25, 2) skeletons the classifier gets (also what train.from_videos extracts with)."""
    return make_estimator(settings.pose), BodyTracker(settings.tracker)
