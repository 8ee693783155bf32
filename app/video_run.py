"""Classifying a recorded video: every frame through the pipeline, every window classified, the
windows summarised (pipeline.summary) into a VideoResult; optionally an annotated copy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from common.errors import UserError
from common.progress import progress_bar
from model.checkpoint import LoadedModel
from pipeline import (
    FramePipeline,
    FrameResult,
    PipelineSettings,
    Prediction,
    StreamingClassifier,
    SummarySettings,
    build_pipeline,
    top_k,
)
from pipeline.sources import VideoSource
from pipeline.summary import action_at, video_probabilities

from .annotate import Drawing, write_annotated
from .video_result import TOP, VideoResult, Window, merge_windows


def video_pipeline(settings: PipelineSettings, model: LoadedModel | None = None) -> FramePipeline:
    """The pipeline for recorded videos: the model works through every window in its own
    thread while pose runs on the next frames (two cores busy, no window skipped)."""
    return build_pipeline(settings, model, background=True, drop_late=False, keep_history=True)


def classify_video(
    path: Path,
    pipeline: FramePipeline,
    annotate: Path | None = None,
    progress: bool = True,
    summary: SummarySettings | None = None,
    on_frame: Callable[[FrameResult, np.ndarray], None] | None = None,
) -> VideoResult:
    """Run the pipeline over every frame of one video; the video's top-5 summarises its windows
    (video_probabilities with the `summary` settings).

    The pipeline's classifier must classify and keep every window (see video_pipeline) so that
    the windows do not depend on the machine's speed. `on_frame(result, image)` sees each frame
    as processed (e.g. to keep its keypoints for --save-skeleton's PYSKL file).
    """
    began = time.perf_counter()
    pipeline.reset()
    classifier = pipeline.classifier
    skeletons: list[np.ndarray] = []
    drawings: list[Drawing] = []
    seen = 0
    with VideoSource(path) as source:
        bar = progress_bar(
            source,
            total=source.frame_count or None,
            unit="frame",
            desc=path.name,
            enabled=progress,
            leave=False,
        )
        for frame in bar:
            result = pipeline.process(frame.image, frame.timestamp, frame.capture_ms)
            seen += result.has_person
            skeletons.append(result.skeleton)
            if on_frame is not None:
                on_frame(result, frame.image)
            if annotate is not None:
                drawings.append(Drawing(result.people, result.slots))
        pipeline.finish()
        predictions = list(classifier.history)
        fps = source.fps
    if not predictions:
        raise UserError(_nothing_to_classify(path, seen, classifier))
    _check_finite(path, predictions)
    if annotate is not None:
        write_annotated(path, annotate, drawings, predictions, progress)
    names = classifier.class_names
    probs = video_probabilities(predictions, classifier.window, summary)
    top5 = top_k(probs, TOP, names)
    windows = [Window.of(p, fps, names) for p in predictions]
    return VideoResult(
        video=str(path),
        fps=round(fps, 3),
        frames=len(skeletons),
        frames_with_person=seen,
        top5=top5,
        action_at=action_at(predictions, top5[0]["index"], fps, classifier.window, summary),
        windows=windows,
        segments=merge_windows(windows),
        skeleton=np.stack(skeletons, axis=1),
        probs=probs,
        window_probs=np.array([p.raw_probs for p in predictions]),
        known=top5[0]["score"] >= (summary or SummarySettings()).unknown_below,
        seconds=time.perf_counter() - began,
    )


def _nothing_to_classify(path: Path, seen: int, classifier: StreamingClassifier) -> str:
    """Why a video gave no prediction: nobody in it, or a person in too few frames."""
    if seen == 0:
        return f"no person found in {path}: nothing to classify"
    return (
        f"a person in only {seen} frames of {path}: too few to classify (a window needs "
        f"{classifier.min_frames} at {classifier.fps:g} fps)"
    )


def _check_finite(path: Path, predictions: list[Prediction]) -> None:
    """Refuse to report NaN or infinite scores (a damaged checkpoint): never nan% or NaN in JSON."""
    bad = sum(not np.isfinite(p.raw_probs).all() for p in predictions)
    if bad:
        raise UserError(
            f"the model gave non-finite scores (NaN or inf) for {bad} of "
            f"{len(predictions)} windows of {path}: its weights are damaged; "
            "use another checkpoint"
        )
