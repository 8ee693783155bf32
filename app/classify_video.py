"""Classify the actions in recorded videos: video-level top-5, each window's top-5, segments (a
timeline), JSON/CSV, an annotated video and the extracted NTU skeletons.

    python -m app.classify_video VIDEO_OR_FOLDER [--weights NAME|PATH] [--json OUT] [--csv OUT]
        [--segments-csv OUT] [--annotate OUT.mp4] [--save-skeleton OUT.npy] [--device ...]
        [--window N] [--stride N] [--config YAML] [--set KEY=VALUE] [--pose-model FILE.task]
        [--[no-]mirror] [--[no-]either-hand]

For a folder, each video is classified in turn; --json and --csv then collect all videos in one
file, rewritten as each video ends; --annotate and --save-skeleton name folders (one file per
video, named by its stem, or by its whole name where two videos share a stem). Every output is
checked before the work starts: writable, not an input, no file written twice.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

import weights
from common.cli import command_parser
from common.download import sha256_of
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from common.progress import progress_bar
from common.settings import settings_to_dict
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
from pipeline.sources import VideoSource, list_videos
from pipeline.summary import action_at, time_range, video_probabilities
from pose import Person

from .annotate import annotate_frame, codec_note, video_writer
from .cli import add_pipeline_flags, pipeline_settings
from .demo_clip import resolve_source
from .output_paths import check_outputs, create_output_folders, output_stems
from .skeleton_export import LAYOUTS, SkeletonClip, write_pyskl

TOP = 5
CSV_FIELDS = ["video", "window", "start", "end", "start_frame", "end_frame"] + [
    f"top{r}_{k}" for r in range(1, TOP + 1) for k in ("index", "label", "score")
]
SEGMENT_FIELDS = [
    "video",
    "segment",
    "start",
    "end",
    "start_frame",
    "end_frame",
    "index",
    "label",
    "score",
    "windows",
]


@dataclass
class VideoResult:
    """What classifying one video gave: the JSON fields, and the skeletons for --save-skeleton."""

    video: str
    fps: float
    frames: int
    frames_with_person: int
    top5: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    action_at: dict[str, Any]  # the window where the video's likeliest action scored highest
    segments: list[dict[str, Any]]
    skeleton: np.ndarray = field(repr=False)  # (3, T, 25, 2)
    probs: np.ndarray = field(repr=False)  # (num_class,) the video's, whose top-5 is `top5`
    window_probs: np.ndarray = field(repr=False)  # (windows, num_class) each window's own
    seconds: float = 0.0  # how long classifying (and annotating) took
    known: bool = True  # the top-1 scores at least summary.unknown_below: an action it knows

    @property
    def verdict(self) -> str:
        """What the video shows in words: its top-1, or 'no known action' below the threshold."""
        return self.top5[0]["label"] if self.known else "no known action"

    def to_json(self) -> dict[str, Any]:
        """The JSON object for this video."""
        return {
            "video": self.video,
            "fps": self.fps,
            "frames": self.frames,
            "frames_with_person": self.frames_with_person,
            "top5": self.top5,
            "known": self.known,
            "verdict": self.verdict,
            "action_at": self.action_at,
            "windows": self.windows,
            "segments": self.segments,
        }


@dataclass
class Drawing:
    """What to draw on one frame: everyone found, and who holds each body slot."""

    people: list[Person]
    slots: list[Person | None]


def _window(prediction: Prediction, fps: float, class_names: list[str] | None) -> dict[str, Any]:
    """One window's time range (seconds and frames) with its own top-5."""
    return {**time_range(prediction, fps), "top5": top_k(prediction.probs, TOP, class_names)}


def video_pipeline(settings: PipelineSettings, model: LoadedModel | None = None) -> FramePipeline:
    """The pipeline for recorded videos: the model works through every window in its own
    thread while pose runs on the next frames (two cores busy, no window skipped)."""
    return build_pipeline(settings, model, background=True, drop_late=False, keep_history=True)


def merge_windows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive windows with the same best class as one segment: the video's timeline.

    A segment runs from its first window's start (or, as windows overlap, the previous
    segment's end) to its last window's end; its score is its class's mean probability over
    its windows.
    """
    segments: list[dict[str, Any]] = []
    for index, run in itertools.groupby(windows, key=lambda w: w["top5"][0]["index"]):
        run = list(run)
        start, start_frame = run[0]["start"], run[0]["start_frame"]
        if segments and start < segments[-1]["end"]:
            start, start_frame = segments[-1]["end"], segments[-1]["end_frame"]
        segments.append(
            {
                "start": start,
                "end": run[-1]["end"],
                "start_frame": start_frame,
                "end_frame": run[-1]["end_frame"],
                "index": index,
                "label": run[0]["top5"][0]["label"],
                "score": float(np.mean([w["top5"][0]["score"] for w in run])),
                "windows": len(run),
            }
        )
    return segments


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
    windows = [_window(p, fps, names) for p in predictions]
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


def write_annotated(
    video: Path,
    out: Path,
    drawings: list[Drawing],
    predictions: list[Prediction],
    progress: bool = True,
) -> None:
    """A second pass over the video: each frame with its skeletons and the newest prediction
    whose window ends at or before it, so that a prediction shows from the frame it describes
    (drawn during the first pass, it would lag by the model's time behind pose)."""
    ends = [p.timestamp for p in predictions]
    with VideoSource(video) as source, video_writer(out, source.fps, source.size) as writer:
        frames = progress_bar(
            source,
            total=len(drawings),
            unit="frame",
            leave=False,
            desc=f"{video.name} (annotating)",
            enabled=progress,
        )
        for frame, drawing in zip(frames, drawings):
            newest = bisect.bisect_right(ends, frame.timestamp + 1e-6) - 1
            top = predictions[newest].top(3) if newest >= 0 else None
            writer.write(annotate_frame(frame.image, drawing.people, drawing.slots, top))


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


def csv_rows(result: VideoResult) -> list[dict[str, Any]]:
    """One CSV row per window: its time range and its top-5 flattened."""
    rows = []
    for number, window in enumerate(result.windows):
        row = {
            "video": result.video,
            "window": number,
            "start": window["start"],
            "end": window["end"],
            "start_frame": window["start_frame"],
            "end_frame": window["end_frame"],
        }
        for rank, entry in enumerate(window["top5"], start=1):
            row.update({f"top{rank}_{k}": entry[k] for k in ("index", "label", "score")})
        rows.append(row)
    return rows


def segment_rows(result: VideoResult) -> list[dict[str, Any]]:
    """One CSV row per segment of the timeline."""
    return [
        {"video": result.video, "segment": number, **segment}
        for number, segment in enumerate(result.segments)
    ]


def run_settings(settings: PipelineSettings, pipeline: FramePipeline) -> dict[str, Any]:
    """What made the results, for the JSON: the checkpoint (as named, its file and sha256), the
    device, the classifier's window and stride, and the pose and tracker settings."""
    name = settings.weights_name()
    checkpoint = weights.resolve(name, fetch=False)
    return {
        "weights": name,
        "weights_file": str(checkpoint),
        "weights_sha256": sha256_of(checkpoint),
        "device": str(pipeline.classifier.device),
        "classifier": settings_to_dict(settings.classifier),
        "pose": settings_to_dict(settings.pose),
        "tracker": settings_to_dict(settings.tracker),
        "summary": settings_to_dict(settings.summary),
    }


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(
    path: Path, results: list[VideoResult], rows=csv_rows, fields: list[str] = CSV_FIELDS
) -> None:
    """Write the windows (or, with rows=segment_rows, the segments) of all results as CSV,
    atomically."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for result in results:
            writer.writerows(rows(result))


def save_skeleton(path: Path, skeleton: np.ndarray) -> None:
    """Write the (3, T, 25, 2) NTU-format array as .npy, atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, skeleton.astype(np.float32))


def print_result(result: VideoResult) -> None:
    """The video's top-5 on the terminal."""
    print(
        f"{result.video}: {result.frames} frames at {result.fps:g} fps, a person in "
        f"{result.frames_with_person}, {len(result.windows)} windows, "
        f"{len(result.segments)} segments"
    )
    if not result.known:
        print("  no known action: no class scores above the threshold (summary.unknown_below)")
    for rank, entry in enumerate(result.top5, start=1):
        print(f"  {rank}. {entry['score'] * 100:5.1f}%  {entry['label']} (class {entry['index']})")
    at = result.action_at
    print(
        f"  {result.top5[0]['label']} most clearly at {at['start']:.1f}-{at['end']:.1f} s "
        f"(frames {at['start_frame']}-{at['end_frame']}, {at['score'] * 100:.1f}%)"
    )
    print(f"  {_pace(result.frames, result.seconds)}")


def _pace(frames: int, seconds: float) -> str:
    """How long it took and how fast, e.g. '280 frames in 9.8 s (28.6 frames/s)'."""
    return f"{frames} frames in {seconds:.1f} s ({frames / max(seconds, 1e-9):.1f} frames/s)"


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags; unset ones fall back to the pipeline config."""
    parser = command_parser("python -m app.classify_video", __doc__)
    parser.add_argument(
        "input",
        type=Path,
        help="a video file, a folder of videos, or 'demo' (a short clip fetched on first use)",
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--csv", type=Path, help="write one row per window as CSV")
    parser.add_argument(
        "--segments-csv",
        type=Path,
        help="write the timeline as CSV: one row per segment (consecutive "
        "windows with the same best class)",
    )
    parser.add_argument(
        "--annotate", type=Path, help="write an annotated MP4 (a folder when the input is a folder)"
    )
    parser.add_argument(
        "--save-skeleton",
        type=Path,
        help="write the (3, T, 25, 2) NTU skeleton .npy (a folder for a folder); a .pkl "
        "file: all videos in PYSKL / MMAction2's skeleton annotation format",
    )
    parser.add_argument(
        "--skeleton-layout",
        choices=LAYOUTS,
        default=LAYOUTS[0],
        help="the .pkl's keypoints: COCO-17 2D pixels (coco17, default) or the NTU 25-joint "
        "3D skeleton (ntu25)",
    )
    parser.add_argument(
        "--skeleton-label",
        type=int,
        help="the .pkl's label for every video (default: each video's top-1 class)",
    )
    add_pipeline_flags(parser)
    parser.add_argument("--window", type=int, help="frames per classified window (at 30 fps)")
    parser.add_argument("--stride", type=int, help="frames between classified windows")
    parser.add_argument("--pose-model", type=Path, help="a MediaPipe PoseLandmarker .task file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def settings_from(args: argparse.Namespace) -> PipelineSettings:
    """The pipeline settings: the configuration with the flags applied."""
    pose = {"backend": "tasks", "model_path": str(args.pose_model)} if args.pose_model else None
    return pipeline_settings(args, {"window": args.window, "stride": args.stride}, pose=pose)


def _is_pyskl(args: argparse.Namespace) -> bool:
    """Whether --save-skeleton names a PYSKL annotation file (.pkl) rather than NTU arrays."""
    return args.save_skeleton is not None and args.save_skeleton.suffix.lower() == ".pkl"


def _outputs_for(args: argparse.Namespace, stem: str | None) -> tuple[Path | None, Path | None]:
    """Annotated video and skeleton paths for one video: the flags' files, or for a folder
    `stem`.mp4 and `stem`.npy inside the folders they name (see output_stems); a PYSKL .pkl
    is one file for all videos (_planned_outputs checks it)."""
    skeleton = None if _is_pyskl(args) else args.save_skeleton
    if stem is None:
        return args.annotate, skeleton
    return (
        args.annotate / f"{stem}.mp4" if args.annotate else None,
        skeleton / f"{stem}.npy" if skeleton else None,
    )


def _planned_outputs(
    args: argparse.Namespace, videos: list[Path], folder: bool
) -> tuple[dict[Path, tuple[Path | None, Path | None]], dict[str, Path]]:
    """Each video's annotated video and skeleton paths, checked with --json and --csv before
    any work: writable, none an input, no file shared (app.output_paths); and all outputs by
    flag."""
    stems = output_stems(videos) if folder else {}
    planned = {video: _outputs_for(args, stems.get(video)) for video in videos}
    tables = (("--json", args.json), ("--csv", args.csv), ("--segments-csv", args.segments_csv))
    outputs = {flag: path for flag, path in tables if path}
    if _is_pyskl(args):
        outputs["--save-skeleton"] = args.save_skeleton
    for video, paths in planned.items():
        for flag, path in zip(("--annotate", "--save-skeleton"), paths):
            if path is not None:
                outputs[f"{flag} for {video.name}" if folder else flag] = path
    check_outputs(outputs, videos)
    return planned, outputs


def _write_tables(
    args: argparse.Namespace,
    results: list[VideoResult],
    failures: list[tuple[Path, str]],
    folder: bool,
    settings: dict[str, Any],
) -> None:
    """--json, --csv and --segments-csv with the videos done so far (rewritten atomically after
    each one of a folder, so that a kill or a later failure keeps the finished videos' results)."""
    if args.json and (folder or results):
        data = [r.to_json() for r in results] if folder else results[0].to_json()
        if folder:
            data = {"videos": data, "failed": [{"video": str(v), "error": e} for v, e in failures]}
        write_json(args.json, {"settings": settings, **data})
    if args.csv:
        write_csv(args.csv, results)
    if args.segments_csv:
        write_csv(args.segments_csv, results, segment_rows, SEGMENT_FIELDS)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Classify one video or each video of a folder; non-zero exit when any failed."""
    args = build_parser().parse_args(argv)
    args.input = Path(resolve_source(str(args.input)))
    folder = args.input.is_dir()
    videos = list_videos(args.input) if folder else [args.input]
    if folder and not videos:
        raise UserError(f"no video files in folder {args.input}")
    if not folder and not args.input.is_file():
        raise UserError(f"video {args.input} does not exist")
    planned, outputs = _planned_outputs(args, videos, folder)
    pipeline_settings = settings_from(args)
    pipeline = video_pipeline(pipeline_settings)
    create_output_folders(outputs)
    settings = run_settings(pipeline_settings, pipeline)
    results: list[VideoResult] = []
    failures: list[tuple[Path, str]] = []
    annotated: list[Path] = []
    pyskl: list[dict[str, Any]] = []
    for video in videos:
        annotate, skeleton_path = planned[video]
        clip = SkeletonClip()
        keep = {"on_frame": lambda r, image, clip=clip: clip.add(r.skeleton, r.slots, image.shape)}
        try:
            result = classify_video(
                video,
                pipeline,
                annotate,
                progress=not args.no_progress,
                summary=pipeline_settings.summary,
                **(keep if _is_pyskl(args) else {}),
            )
            if skeleton_path is not None:
                save_skeleton(skeleton_path, result.skeleton)
            if _is_pyskl(args):
                label = args.skeleton_label
                label = result.top5[0]["index"] if label is None else label
                pyskl.append(clip.annotation(video.name, label, args.skeleton_layout))
                write_pyskl(args.save_skeleton, pyskl)
        except UserError as err:
            if not folder:
                raise
            print(f"error: {err}", file=sys.stderr)
            failures.append((video, str(err)))
        else:
            print_result(result)
            if annotate is not None:
                annotated.append(annotate)
            results.append(result)
        _write_tables(args, results, failures, folder, settings)
    pipeline.close()
    note = codec_note(annotated[0]) if annotated else None
    if note:
        others = len(annotated) - 1
        print(
            note + (f" (likewise the other {others} in {args.annotate})" if others else ""),
            file=sys.stderr,
        )
    if folder:
        _print_summary(results, failures)
    return 1 if failures else 0


def _print_summary(results: list[VideoResult], failures: list[tuple[Path, str]]) -> None:
    """One line per video of a folder: its best class, or why it failed."""
    print(
        f"\nsummary: {len(results)} classified, {len(failures)} failed; "
        f"{_pace(sum(r.frames for r in results), sum(r.seconds for r in results))}"
    )
    for result in results:
        best = result.top5[0]
        print(f"  {Path(result.video).name}: {result.verdict} ({best['score'] * 100:.1f}%)")
    for video, error in failures:
        print(f"  {video.name}: FAILED: {error}")


if __name__ == "__main__":
    raise SystemExit(main())
