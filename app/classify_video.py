"""Classify the actions in recorded videos: video-level top-5, per-segment top-5, JSON/CSV, an
annotated video and the extracted NTU skeletons.

    python -m app.classify_video VIDEO_OR_FOLDER [--weights NAME|PATH] [--json OUT] [--csv OUT]
        [--annotate OUT.mp4] [--save-skeleton OUT.npy] [--device auto|cpu|cuda]
        [--window N] [--stride N] [--config YAML] [--pose-model FILE.task]

For a folder, each video is classified in turn; --json and --csv then collect all videos in one
file, rewritten as each video ends; --annotate and --save-skeleton name folders (one file per
video, named by its stem, or by its whole name where two videos share a stem). Every output is
checked before the work starts: writable, not an input, no file written twice.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from model.errors import UserError, cli_entry
from model.fileio import atomic_write

from .annotate import annotate_frame, video_writer
from .output_paths import check_outputs, output_stems
from .pipeline import (
    FramePipeline,
    Prediction,
    StreamingClassifier,
    build_pipeline,
    load_config,
    top_k,
)
from .sources import VideoSource, list_videos

TOP = 5
CSV_FIELDS = (["video", "segment", "start", "end", "start_frame", "end_frame"]
              + [f"top{r}_{k}" for r in range(1, TOP + 1) for k in ("index", "label", "score")])


@dataclass
class VideoResult:
    """What classifying one video gave: the JSON fields, and the skeletons for --save-skeleton."""

    video: str
    fps: float
    frames: int
    frames_with_person: int
    top5: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    skeleton: np.ndarray = field(repr=False)  # (3, T, 25, 2)

    def to_json(self) -> dict[str, Any]:
        """The JSON object for this video."""
        return {"video": self.video, "fps": self.fps, "frames": self.frames,
                "frames_with_person": self.frames_with_person, "top5": self.top5,
                "segments": self.segments}


def _segment(prediction: Prediction, fps: float, class_names: list[str] | None) -> dict[str, Any]:
    """One window's time range (seconds and frames) with its own top-5."""
    return {"start": round(prediction.start, 3), "end": round(prediction.timestamp, 3),
            "start_frame": int(round(prediction.start * fps)),
            "end_frame": int(round(prediction.timestamp * fps)),
            "top5": top_k(prediction.probs, TOP, class_names)}


def video_pipeline(config: dict[str, Any]) -> FramePipeline:
    """The pipeline for recorded videos: the model works through every window in its own
    thread while pose runs on the next frames (two cores busy, no window skipped)."""
    return build_pipeline(config, background=True, drop_late=False, keep_history=True)


def classify_video(path: Path, pipeline: FramePipeline, annotate: Path | None = None,
                   progress: bool = True) -> VideoResult:
    """Run the pipeline over every frame of one video; the video's top-5 is the mean over windows.

    The pipeline's classifier must classify and keep every window (see video_pipeline) so that
    the segments do not depend on the machine's speed.
    """
    pipeline.reset()
    classifier = pipeline.classifier
    skeletons: list[np.ndarray] = []
    seen = 0
    with VideoSource(path) as source, _maybe_writer(annotate, source) as writer:
        bar = tqdm(source, total=source.frame_count or None, unit="frame", desc=path.name,
                   disable=not progress, leave=False)
        for frame in bar:
            result = pipeline.process(frame.image, frame.timestamp, frame.capture_ms)
            seen += result.has_person
            skeletons.append(result.skeleton)
            if writer is not None:
                top = result.prediction.top(3) if result.prediction else None
                writer.write(annotate_frame(frame.image, result.people, result.slots, top))
        pipeline.finish()
        predictions = list(classifier.history)
        if not predictions:  # raised inside the writer: the annotated video is then not kept
            raise UserError(_nothing_to_classify(path, seen, classifier))
        _check_finite(path, predictions)
        fps = source.fps
    names = classifier.class_names
    mean = np.mean([p.raw_probs for p in predictions], axis=0)
    return VideoResult(video=str(path), fps=round(fps, 3), frames=len(skeletons),
                       frames_with_person=seen, top5=top_k(mean, TOP, names),
                       segments=[_segment(p, fps, names) for p in predictions],
                       skeleton=np.stack(skeletons, axis=1))


def _nothing_to_classify(path: Path, seen: int, classifier: StreamingClassifier) -> str:
    """Why a video gave no prediction: nobody in it, or a person in too few frames."""
    if seen == 0:
        return f"no person found in {path}: nothing to classify"
    return (f"a person in only {seen} frames of {path}: too few to classify (a window needs "
            f"{classifier.min_frames} at {classifier.fps:g} fps)")


def _check_finite(path: Path, predictions: list[Prediction]) -> None:
    """Refuse to report NaN or infinite scores (a damaged checkpoint): never nan% or NaN in JSON."""
    bad = sum(not np.isfinite(p.raw_probs).all() for p in predictions)
    if bad:
        raise UserError(f"the model gave non-finite scores (NaN or inf) for {bad} of "
                        f"{len(predictions)} windows of {path}: its weights are damaged; "
                        "use another checkpoint")


class _NoWriter:
    """Stands in for a video writer when no annotated video was asked for."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def _maybe_writer(path: Path | None, source: VideoSource):
    """A writer for the annotated video, or nothing."""
    return video_writer(path, source.fps, source.size) if path is not None else _NoWriter()


def csv_rows(result: VideoResult) -> list[dict[str, Any]]:
    """One CSV row per segment: its time range and its top-5 flattened."""
    rows = []
    for number, seg in enumerate(result.segments):
        row = {"video": result.video, "segment": number, "start": seg["start"], "end": seg["end"],
               "start_frame": seg["start_frame"], "end_frame": seg["end_frame"]}
        for rank, entry in enumerate(seg["top5"], start=1):
            row.update({f"top{rank}_{k}": entry[k] for k in ("index", "label", "score")})
        rows.append(row)
    return rows


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(path: Path, results: list[VideoResult]) -> None:
    """Write the segments of all results as CSV, atomically."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerows(csv_rows(result))


def save_skeleton(path: Path, skeleton: np.ndarray) -> None:
    """Write the (3, T, 25, 2) NTU-format array as .npy, atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, skeleton.astype(np.float32))


def print_result(result: VideoResult) -> None:
    """The video's top-5 on the terminal."""
    print(f"{result.video}: {result.frames} frames at {result.fps:g} fps, a person in "
          f"{result.frames_with_person}, {len(result.segments)} segments")
    for rank, entry in enumerate(result.top5, start=1):
        print(f"  {rank}. {entry['score'] * 100:5.1f}%  {entry['label']} (class {entry['index']})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags; unset ones fall back to the pipeline config."""
    parser = argparse.ArgumentParser(prog="python -m app.classify_video",
                                     description="Classify the actions in videos with Shift-GCN.")
    parser.add_argument("input", type=Path, help="a video file or a folder of videos")
    parser.add_argument("--weights", help="registered checkpoint name or checkpoint path "
                        "(default from the config: ntu60-xsub-joint)")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--csv", type=Path, help="write one row per segment as CSV")
    parser.add_argument("--annotate", type=Path,
                        help="write an annotated MP4 (a folder when the input is a folder)")
    parser.add_argument("--save-skeleton", type=Path,
                        help="write the (3, T, 25, 2) NTU skeleton .npy (a folder for a folder)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--window", type=int, help="frames per classified window (at 30 fps)")
    parser.add_argument("--stride", type=int, help="frames between classified windows")
    parser.add_argument("--config", type=Path, help="YAML overriding app/configs/pipeline.yaml")
    parser.add_argument("--pose-model", type=Path, help="a MediaPipe PoseLandmarker .task file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config entries the flags set."""
    out: dict[str, Any] = {}
    if args.weights:
        out["weights"] = args.weights
    if args.device:
        out["device"] = args.device
    classifier = {k: v for k, v in (("window", args.window), ("stride", args.stride))
                  if v is not None}
    if classifier:
        out["classifier"] = classifier
    if args.pose_model:
        out["pose"] = {"backend": "tasks", "model_path": str(args.pose_model)}
    return out


def _outputs_for(args: argparse.Namespace, stem: str | None) -> tuple[Path | None, Path | None]:
    """Annotated video and skeleton paths for one video: the flags' files, or for a folder
    `stem`.mp4 and `stem`.npy inside the folders they name (see output_stems)."""
    if stem is None:
        return args.annotate, args.save_skeleton
    return (args.annotate / f"{stem}.mp4" if args.annotate else None,
            args.save_skeleton / f"{stem}.npy" if args.save_skeleton else None)


def _planned_outputs(args: argparse.Namespace, videos: list[Path], folder: bool
                     ) -> dict[Path, tuple[Path | None, Path | None]]:
    """Each video's annotated video and skeleton paths, checked with --json and --csv before
    any work: writable, none an input, no file shared (app.output_paths)."""
    stems = output_stems(videos) if folder else {}
    planned = {video: _outputs_for(args, stems.get(video)) for video in videos}
    outputs = {flag: path for flag, path in (("--json", args.json), ("--csv", args.csv)) if path}
    for video, paths in planned.items():
        for flag, path in zip(("--annotate", "--save-skeleton"), paths):
            if path is not None:
                outputs[f"{flag} for {video.name}" if folder else flag] = path
    check_outputs(outputs, videos)
    return planned


def _write_tables(args: argparse.Namespace, results: list[VideoResult],
                  failures: list[tuple[Path, str]], folder: bool) -> None:
    """--json and --csv with the videos done so far (rewritten atomically after each one of a
    folder, so that a kill or a later failure keeps the finished videos' results)."""
    if args.json and (folder or results):
        data = ([r.to_json() for r in results] if folder else results[0].to_json())
        if folder:
            data = {"videos": data, "failed": [{"video": str(v), "error": e} for v, e in failures]}
        write_json(args.json, data)
    if args.csv:
        write_csv(args.csv, results)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Classify one video or each video of a folder; non-zero exit when any failed."""
    args = parse_args(argv)
    folder = args.input.is_dir()
    videos = list_videos(args.input) if folder else [args.input]
    if folder and not videos:
        raise UserError(f"no video files in folder {args.input}")
    if not folder and not args.input.is_file():
        raise UserError(f"video {args.input} does not exist")
    planned = _planned_outputs(args, videos, folder)
    config = load_config(args.config, _overrides(args))
    pipeline = video_pipeline(config)
    results: list[VideoResult] = []
    failures: list[tuple[Path, str]] = []
    for video in videos:
        annotate, skeleton_path = planned[video]
        try:
            result = classify_video(video, pipeline, annotate, progress=not args.no_progress)
        except UserError as err:
            if not folder:
                raise
            print(f"error: {err}", file=sys.stderr)
            failures.append((video, str(err)))
        else:
            print_result(result)
            if skeleton_path is not None:
                save_skeleton(skeleton_path, result.skeleton)
            results.append(result)
        _write_tables(args, results, failures, folder)
    pipeline.close()
    if folder:
        _print_summary(results, failures)
    return 1 if failures else 0


def _print_summary(results: list[VideoResult], failures: list[tuple[Path, str]]) -> None:
    """One line per video of a folder: its best class, or why it failed."""
    print(f"\nsummary: {len(results)} classified, {len(failures)} failed")
    for result in results:
        best = result.top5[0]
        print(f"  {Path(result.video).name}: {best['label']} ({best['score'] * 100:.1f}%)")
    for video, error in failures:
        print(f"  {video.name}: FAILED: {error}")


if __name__ == "__main__":
    raise SystemExit(main())
