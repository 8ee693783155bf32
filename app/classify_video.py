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

# The command line only (the docstring above is its --help): app.video_run classifies a video,
# app.video_result holds what that gives (typed windows and segments), app.video_reports writes
# the files.

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from common.cli import command_parser
from common.errors import UserError, cli_entry
from pipeline import PipelineSettings
from pipeline.sources import list_videos

from .annotate import codec_note
from .cli import add_pipeline_flags, pipeline_settings
from .demo_clip import resolve_source
from .output_paths import check_outputs, create_output_folders, output_stems
from .skeleton_export import LAYOUTS, SkeletonClip, write_pyskl
from .video_reports import (
    SEGMENT_FIELDS,
    run_settings,
    save_skeleton,
    segment_rows,
    write_csv,
    write_json,
)
from .video_result import VideoResult
from .video_run import classify_video, video_pipeline


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
