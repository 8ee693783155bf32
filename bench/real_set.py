"""How often the app names the right action on a folder of labelled real videos.

    python -m bench.real_set ../shared/fixtures/real            # the released default model
    python -m bench.real_set DIR --weights ntu60-xview-joint --json real.json
    python -m bench.real_set DIR --set classifier.either_hand=false  # any pipeline setting
    python -m bench.real_set DIR --calibrate    # also the temperature that fits the windows
    python -m bench.real_set ../shared/fixtures/ut_set1 --class-folder hug="hugging other person"
        --class-folder push="pushing other person" ...   # a folder per class, no labels.csv

DIR holds videos and `labels.csv` with the columns `file`, `label` (a class name of the model)
and `also_ok` (other right answers, `;`-separated); or, with `--class-folder NAME=CLASS`, a
folder per class (train.from_videos' layout), each named folder's videos labelled CLASS. Each
video goes through the app's own video path (app.video_run.classify_video with the pipeline
classify_video builds), so the figures are what a user of `python -m app.classify_video` would
see. Printed: per clip, the rank of its label in the video's classes (the best rank of `label`
and `also_ok`), the video's top-5 and the best window's top-1; then top-1 (a clip counts when
its label is first and the app names it, not "no known action"), top-5, the mean rank, the
confusions and the time taken. With `--calibrate`, the temperature at which the windows'
probabilities best fit the clips' labels (the least negative log-likelihood, every window
labelled with its clip's label or also_ok).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.cli import add_pipeline_flags, pipeline_settings
from app.video_reports import run_settings
from app.video_result import VideoResult
from app.video_run import classify_video, video_pipeline
from common.cli import command_parser
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from pipeline.sources import list_videos

from .shared import use_released_weights

LABELS = "labels.csv"
TOP = 5
# the factors of the temperature --calibrate tries: 1/4 to 4 in 61 steps on a log scale
CALIBRATION_FACTORS = np.exp(np.linspace(np.log(0.25), np.log(4.0), 61))


@dataclass
class LabelledClip:
    """One row of labels.csv: a video and the class names that are right for it."""

    file: str
    label: str
    also_ok: list[str]


@dataclass
class ClipScore:
    """What the app said about one clip, against its label."""

    file: str
    label: str
    rank: int  # 1 = named first; the best rank of the label and its also_ok classes
    known: bool  # the app named an action (its top-1 scored at least summary.unknown_below)
    top5: list[str]
    top5_scores: list[float]
    best_window: str  # the top-1 of the window whose top-1 scored highest
    best_window_score: float
    seconds: float


def read_labels(folder: Path) -> list[LabelledClip]:
    """The clips listed in `folder`/labels.csv, each video checked to exist."""
    path = folder / LABELS
    if not path.is_file():
        raise UserError(f"{path} not found: the folder needs a labels.csv (file,label,also_ok)")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise UserError(f"{path}: expected the columns file,label[,also_ok] and at least one row")
    clips = []
    for row in rows:
        also = [name.strip() for name in (row.get("also_ok") or "").split(";") if name.strip()]
        clips.append(LabelledClip(row["file"], row["label"].strip(), also))
        if not (folder / row["file"]).is_file():
            raise UserError(f"{folder / row['file']} (listed in {path}) does not exist")
    return clips


def read_class_folders(folder: Path, classes: dict[str, str]) -> list[LabelledClip]:
    """The videos of each named class folder of `folder` (train.from_videos' layout), labelled
    with the model class it stands for."""
    clips = []
    for name, label in classes.items():
        videos = list_videos(folder / name) if (folder / name).is_dir() else []
        if not videos:
            raise UserError(f"{folder / name} holds no videos: name a class folder of {folder}")
        clips += [LabelledClip(f"{name}/{video.name}", label, []) for video in videos]
    return clips


def class_folder(text: str) -> tuple[str, str]:
    """A --class-folder value, NAME=CLASS."""
    name, _, label = text.partition("=")
    if not name.strip() or not label.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=CLASS, got {text!r}")
    return name.strip(), label.strip()


def score_clip(clip: LabelledClip, result: VideoResult, class_names: list[str]) -> ClipScore:
    """The rank of the clip's label in the video's probabilities, and what the app said."""
    unknown = [name for name in [clip.label, *clip.also_ok] if name not in class_names]
    if unknown:
        raise UserError(f"{clip.file}: label {unknown[0]!r} is not a class of the model")
    order = list(np.argsort(-result.probs, kind="stable"))
    rank = 1 + min(order.index(class_names.index(name)) for name in [clip.label, *clip.also_ok])
    best = max(result.windows, key=lambda window: window.best["score"]).best
    return ClipScore(
        file=clip.file,
        label=clip.label,
        rank=rank,
        known=result.known,
        top5=[entry["label"] for entry in result.top5],
        top5_scores=[round(entry["score"], 4) for entry in result.top5],
        best_window=best["label"],
        best_window_score=round(best["score"], 4),
        seconds=round(result.seconds, 2),
    )


def summary(scores: list[ClipScore]) -> dict[str, Any]:
    """Top-1 and top-5 (fractions), mean rank and the confusions (label -> named first)."""
    ranks = np.array([score.rank for score in scores])
    named = np.array([score.known for score in scores])
    confusions = Counter((s.label, s.top5[0]) for s in scores if s.rank > 1)
    return {
        "clips": len(scores),
        "top1": float(np.mean((ranks == 1) & named)),
        "no_known_action": int((~named).sum()),
        "top5": float(np.mean(ranks <= TOP)),
        "mean_rank": float(ranks.mean()),
        "confusions": [
            {"label": label, "named": named, "count": count}
            for (label, named), count in confusions.most_common()
        ],
    }


def fit_temperature(
    window_probs: list[np.ndarray], right: list[list[int]], temperature: float
) -> tuple[float, float, float]:
    """The temperature at which the windows' probabilities (computed at `temperature`) best fit
    their right classes: (temperature, its mean negative log-likelihood, the one at
    `temperature`). Rescaling log-probabilities is exact for one network and near enough for
    averaged ones (the mirror image, an ensemble)."""
    logs = np.log(np.maximum(np.concatenate(window_probs), 1e-12))
    rows = np.repeat(np.arange(len(right)), [len(p) for p in window_probs])

    def loss(factor: float) -> float:
        z = logs / factor
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -float(
            np.mean([np.log(np.exp(log_p[i, right[r]]).sum()) for i, r in enumerate(rows)])
        )

    losses = [loss(factor) for factor in CALIBRATION_FACTORS]
    best = int(np.argmin(losses))
    return temperature * float(CALIBRATION_FACTORS[best]), losses[best], loss(1.0)


def print_clip(score: ClipScore) -> None:
    """One clip's line: rank, label, the video's top-5 and the best window's top-1."""
    mark = "ok" if score.rank == 1 and score.known else ("top5" if score.rank <= TOP else "--")
    top5 = ", ".join(f"{name} {p * 100:.0f}%" for name, p in zip(score.top5, score.top5_scores))
    print(f"{mark:>4} rank {score.rank:>2}  {score.file}  [{score.label}]")
    print(f"       video: {top5}")
    print(f"       best window: {score.best_window} {score.best_window_score * 100:.0f}%")
    if not score.known:
        print("       the app says: no known action")


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags: the folder, the pipeline's flags, --class-folder, --json."""
    parser = command_parser("python -m bench.real_set", __doc__)
    parser.add_argument("folder", type=Path, help="a folder of videos with labels.csv")
    add_pipeline_flags(parser)
    parser.add_argument(
        "--class-folder",
        type=class_folder,
        action="append",
        metavar="NAME=CLASS",
        help="instead of labels.csv: the videos in folder NAME are of the model's class CLASS "
        "(repeat for each class folder)",
    )
    parser.add_argument("--json", type=Path, help="write the figures and every clip as JSON")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="also print the temperature (classifier.temperature) that fits the windows best",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Classify every listed clip through the app's video path and print the figures."""
    args = build_parser().parse_args(argv)
    classes = dict(args.class_folder or [])
    clips = read_class_folders(args.folder, classes) if classes else read_labels(args.folder)
    use_released_weights()
    settings = pipeline_settings(args)
    pipeline = video_pipeline(settings)
    class_names = pipeline.classifier.class_names
    if not class_names:
        raise UserError("the model has no class names: the labels cannot be matched to classes")
    began = time.perf_counter()
    scores, window_probs = [], []
    try:
        for clip in clips:
            result = classify_video(
                args.folder / clip.file, pipeline, progress=False, summary=settings.summary
            )
            scores.append(score_clip(clip, result, class_names))
            window_probs.append(result.window_probs)
            print_clip(scores[-1])
    finally:
        pipeline.close()
    figures = {**summary(scores), "seconds": round(time.perf_counter() - began, 1)}
    print(
        f"\n{figures['clips']} clips: top-1 {sum(s.rank == 1 and s.known for s in scores)} "
        f"({figures['top1'] * 100:.0f}%), top-5 {sum(s.rank <= TOP for s in scores)} "
        f"({figures['top5'] * 100:.0f}%), mean rank {figures['mean_rank']:.1f}, "
        f"{figures['seconds']:.0f} s"
    )
    if figures["no_known_action"]:
        print(f"  no known action said for {figures['no_known_action']} clips")
    for confusion in figures["confusions"]:
        print(f"  {confusion['label']} -> {confusion['named']} ({confusion['count']})")
    if args.calibrate:
        right = [[class_names.index(n) for n in [c.label, *c.also_ok]] for c in clips]
        temperature = pipeline.classifier.temperature
        fitted, loss, now = fit_temperature(window_probs, right, temperature)
        figures["temperature"] = round(fitted, 2)
        print(
            f"temperature: {fitted:.2f} fits the windows best (negative log-likelihood "
            f"{loss:.3f}; {now:.3f} at the current {temperature:g})"
        )
    if args.json:
        data = {
            **figures,
            "clips": [asdict(score) for score in scores],
            "settings": run_settings(settings, pipeline),
        }
        with atomic_write(args.json) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
