"""The Python API: a skeleton action recogniser for other programs, a thin layer over the pipeline.

    from app.api import Recognizer

    with Recognizer.load("ntu60-xsub-joint", device="cpu") as recognizer:
        for prediction in recognizer.stream("clip.mp4"):   # a file, a camera index or a URL
            print(prediction.person, prediction.label, prediction.score, prediction.end)
        report = recognizer.classify_video("clip.mp4")     # what classify_video's --json holds

`feed(frame_bgr, timestamp)` takes frames one by one instead; `events(source, rules)` turns
predictions into action events (app.events); `skeleton_dataset(videos, out)` writes the
skeletons in PYSKL's annotation format (app.skeleton_export).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.device import select_device
from common.errors import UserError
from model.checkpoint import LoadedModel
from pipeline import (
    FramePipeline,
    FrameResult,
    PipelineSettings,
    Prediction,
    build_pipeline,
    build_pose_stages,
    load_settings,
)
from pipeline.sources import FrameBuffer, Source, VideoSource, is_live, list_videos, open_source
from pose import BodyTracker, PoseEstimator
from weights import load_model

from .events import Event, EventCommand, EventDetector, EventLog, EventRule, FrameRing
from .skeleton_export import SkeletonClip, check_layout, write_pyskl
from .video_result import VideoResult
from .video_run import classify_video, video_pipeline

TOP = 5
_POLL_S = 0.1  # how often the processing loop looks at the stop flag while no frame comes


@dataclass(frozen=True)
class ClassScore:
    """One class and its probability."""

    index: int
    label: str
    score: float


@dataclass(frozen=True)
class ActionPrediction:
    """What the recogniser says about the window that ends at `end`: the action of its main
    person (`person`, the tracker's identity; `partner` the second body's, -1 if none), with
    the five likeliest classes. Times are the source's seconds (frame timestamps: a video's
    position, or the seconds since a camera or stream was opened)."""

    label: str
    index: int
    score: float
    top5: tuple[ClassScore, ...]
    start: float
    end: float
    person: int
    partner: int
    frames: int  # frames with a person in the window
    latency_ms: float
    raw: Prediction = field(repr=False, compare=False)  # the pipeline's own object

    @classmethod
    def of(cls, prediction: Prediction, identities: Sequence[int]) -> ActionPrediction:
        """A typed view of a pipeline Prediction, for the people in the body slots."""
        top = tuple(ClassScore(**entry) for entry in prediction.top(TOP))
        return cls(
            label=top[0].label,
            index=top[0].index,
            score=top[0].score,
            top5=top,
            start=prediction.start,
            end=prediction.timestamp,
            person=int(identities[0]) if identities else -1,
            partner=int(identities[1]) if len(identities) > 1 else -1,
            frames=prediction.frames,
            latency_ms=prediction.latency_ms,
            raw=prediction,
        )


class Recognizer:
    """Frames in, action predictions out: the pipeline the GUI and classify_video run, built
    from PipelineSettings (see `load`). One source at a time; not thread-safe."""

    def __init__(
        self, settings: PipelineSettings, model: LoadedModel | None = None, live: bool = False
    ) -> None:
        self.settings = settings
        self.model = model or load_model(
            settings.weights_name(), device=select_device(settings.device)
        )
        self.live = live
        self._pipeline: FramePipeline | None = None
        self._video_pipeline: FramePipeline | None = None
        self._frames: FrameRing | None = None
        self.last_frame: FrameResult | None = None  # what the last fed frame gave
        self.dropped = 0  # live frames skipped because processing fell behind (newest wins)

    @classmethod
    def load(
        cls,
        weights: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        config: str | os.PathLike | None = None,
        overrides: Mapping[str, Any] | None = None,
        live: bool = False,
    ) -> Recognizer:
        """A recogniser for a registered checkpoint name or a .pt file (None: the configured
        default); `config` a pipeline YAML and `overrides` keys over it (e.g. {"tracker":
        {"mirror": True}}), as `--config` and `--set`. `live`: windows that come while the model
        is busy are skipped (the newest wins), as in the live window, for a camera or a URL;
        otherwise every window is classified, so that a file's results do not depend on the
        machine's speed."""
        layered = dict(overrides or {})
        if weights is not None:
            layered["weights"] = os.fspath(weights)
        if device is not None:
            layered["device"] = device
        return cls(load_settings(config, layered), live=live)

    @property
    def class_names(self) -> list[str]:
        """The checkpoint's class labels, in index order."""
        return self.model.card.labels()

    @property
    def pipeline(self) -> FramePipeline:
        """The frame pipeline `feed` runs (built on first use; the live window runs this one):
        the model in its own thread (live: as `live.background_inference` says)."""
        if self._pipeline is None:
            background = self.settings.live.background_inference if self.live else True
            self._pipeline = build_pipeline(
                self.settings, self.model, background=background, drop_late=self.live
            )
        return self._pipeline

    def feed(self, frame_bgr: np.ndarray, timestamp: float) -> list[ActionPrediction]:
        """Process one BGR frame taken at `timestamp` seconds; the predictions it completed
        (usually none: one comes every `classifier.stride` frames, once the model is done)."""
        result = self.pipeline.process(frame_bgr, timestamp)
        self.last_frame = result
        if self._frames is not None:
            self._frames.add(timestamp, frame_bgr)
        if result.new_prediction and result.prediction is not None:
            return [ActionPrediction.of(result.prediction, result.identities)]
        return []

    def finish(self) -> list[ActionPrediction]:
        """The source ended: the prediction over its last frames not yet classified, if any;
        the next frame starts a new source."""
        final = self.pipeline.finish()
        identities = self.last_frame.identities if self.last_frame else []
        self.pipeline.reset()
        return [ActionPrediction.of(final, identities)] if final is not None else []

    def stream(
        self,
        source: str | int | os.PathLike | Source,
        *,
        stop: threading.Event | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> Iterator[ActionPrediction]:
        """Predictions as they are made over a source: a video file (every frame), a camera
        index or an rtsp:// / http(s):// URL (read in its own thread; when processing falls
        behind, the newest frame wins and `dropped` counts the others; a dropped stream is
        reopened per the `stream` settings, `on_status` hearing of it). Ends with the source,
        or once `stop` is set."""
        stop = stop or threading.Event()
        self.pipeline.reset()  # a new source: nothing of an earlier one carries over
        opened = source if hasattr(source, "close") else None
        if opened is None:
            opened = open_source(source, self.settings.stream, on_status)
        try:
            frames = self._live_frames(opened, stop) if is_live(opened) else iter(opened)
            for frame in frames:
                if stop.is_set():
                    break
                yield from self.feed(frame.image, frame.timestamp)
            yield from self.finish()
        finally:
            stop.set()
            opened.close()

    def _live_frames(self, source: Source, stop: threading.Event) -> Iterator[Any]:
        """A live source's frames through a FrameBuffer filled by a capture thread."""
        buffer: FrameBuffer = FrameBuffer(self.settings.live.frame_buffer)
        reader = source.frames(stop) if hasattr(source, "frames") else iter(source)
        failure: list[BaseException] = []

        def capture() -> None:
            try:
                for frame in reader:
                    buffer.put(frame)
                    if stop.is_set():
                        break
            except BaseException as err:  # handed to the caller's thread below
                failure.append(err)
            finally:
                buffer.close()

        thread = threading.Thread(target=capture, name="capture", daemon=True)
        thread.start()
        try:
            while not buffer.closed:
                frame = buffer.take(_POLL_S)
                self.dropped = buffer.dropped
                if frame is not None:
                    yield frame
                elif stop.is_set():
                    break
        finally:
            stop.set()
            thread.join()
        if failure:
            raise failure[0]

    def events(
        self,
        source: str | int | os.PathLike | Source,
        rules: Sequence[str | EventRule],
        *,
        log: EventLog | None = None,
        command: EventCommand | None = None,
        stop: threading.Event | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> Iterator[Event]:
        """Action events over a source (see app.events): each rule (e.g. "falling>=0.3 for 1s")
        per person; each event is written to `log` (with its snapshot) and handed to
        `command` before it is yielded. Events still open when the source ends (or `stop` is
        set) are closed and reported too."""
        parsed = [r if isinstance(r, EventRule) else EventRule.parse(r) for r in rules]
        detector = EventDetector(parsed, self.class_names, source=str(source))
        self._frames = FrameRing()

        def publish(events: list[Event]) -> Iterator[Event]:
            for event in events:
                if log is not None:
                    log.write(event)
                if command is not None:
                    command.submit(event)
                yield event

        try:
            for prediction in self.stream(source, stop=stop, on_status=on_status):
                frame = self._frames.at(prediction.end)
                yield from publish(detector.update(prediction.raw, prediction.person, frame))
        except BaseException:  # Ctrl-C, or the caller stopped early: the log still ends complete
            for _ in publish(detector.finish()):
                pass
            raise
        finally:
            self._frames = None
        yield from publish(detector.finish())

    def classify_video(
        self, path: str | os.PathLike, annotate: str | os.PathLike | None = None
    ) -> VideoResult:
        """Classify a whole video as `python -m app.classify_video` does: `.to_json()` is its
        JSON report's video object (top5, action_at, windows, segments), `.skeleton` the
        (3, T, 25, 2) NTU skeleton."""
        if self._video_pipeline is None:
            self._video_pipeline = video_pipeline(self.settings, self.model)
        return classify_video(
            Path(path),
            self._video_pipeline,
            Path(annotate) if annotate else None,
            progress=False,
            summary=self.settings.summary,
        )

    def skeleton_dataset(
        self,
        videos: Mapping[str | os.PathLike, int] | str | os.PathLike,
        out: str | os.PathLike,
        layout: str = "coco17",
    ) -> Path:
        """Extract the skeletons of videos into PYSKL's annotation pickle (app.skeleton_export):
        `videos` maps each file to its label, or is a folder with a subfolder of videos per class
        (labels by the subfolders' sorted names). No classification, only pose."""
        check_layout(layout)
        labelled = _labelled_videos(videos)
        estimator, tracker = build_pose_stages(self.settings)
        try:
            clips = [
                _extract(estimator, tracker, video).annotation(_frame_dir(video), label, layout)
                for video, label in labelled.items()
            ]
        finally:
            estimator.close()
        return write_pyskl(out, clips)

    def close(self) -> None:
        """Release the pose backends and the model's threads."""
        for pipeline in (self._pipeline, self._video_pipeline):
            if pipeline is not None:
                pipeline.close()
        self._pipeline = self._video_pipeline = None

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _labelled_videos(videos: Mapping[str | os.PathLike, int] | str | os.PathLike) -> dict:
    """{video path: label} from a mapping, or from a folder of class subfolders."""
    if isinstance(videos, Mapping):
        labelled = {Path(v): int(label) for v, label in videos.items()}
    else:
        folder = Path(videos)
        if not folder.is_dir():
            raise UserError(f"{folder} is no folder: give a folder of class folders, or a dict")
        classes = sorted(p for p in folder.iterdir() if p.is_dir())
        labelled = {v: label for label, c in enumerate(classes) for v in list_videos(c)}
    if not labelled:
        raise UserError(f"no videos to extract skeletons from in {videos}")
    return labelled


def _frame_dir(video: Path) -> str:
    """A clip's identifier: its class folder and file stem (unique within a dataset folder)."""
    return f"{video.parent.name}/{video.stem}"


def _extract(estimator: PoseEstimator, tracker: BodyTracker, video: Path) -> SkeletonClip:
    """Every frame of a video through the pose stages (no classifier) into a SkeletonClip."""
    estimator.reset()
    tracker.reset()
    clip = SkeletonClip()
    with VideoSource(video) as source:
        for frame in source:
            skeleton = tracker.update(estimator.estimate(frame.image), frame.timestamp)
            clip.add(skeleton, tracker.people, frame.image.shape)
    return clip


__all__ = ["ActionPrediction", "ClassScore", "Event", "EventRule", "Recognizer", "VideoResult"]
