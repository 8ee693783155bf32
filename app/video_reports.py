"""The reports of classified videos, each written atomically: the JSON (with the settings that
made it), one CSV row per window, one CSV row per segment, and the NTU skeleton array."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

import weights
from common.download import sha256_of
from common.fileio import atomic_write
from common.settings import settings_to_dict
from pipeline import FramePipeline, PipelineSettings

from .video_result import TOP, VideoResult

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


def csv_rows(result: VideoResult) -> list[dict[str, Any]]:
    """One CSV row per window: its time range and its top-5 flattened."""
    rows = []
    for number, window in enumerate(result.windows):
        row = {
            "video": result.video,
            "window": number,
            "start": window.start,
            "end": window.end,
            "start_frame": window.start_frame,
            "end_frame": window.end_frame,
        }
        for rank, entry in enumerate(window.top5, start=1):
            row.update({f"top{rank}_{k}": entry[k] for k in ("index", "label", "score")})
        rows.append(row)
    return rows


def segment_rows(result: VideoResult) -> list[dict[str, Any]]:
    """One CSV row per segment of the timeline."""
    return [
        {"video": result.video, "segment": number, **segment.to_json()}
        for number, segment in enumerate(result.segments)
    ]


def run_settings(settings: PipelineSettings, pipeline: FramePipeline) -> dict[str, Any]:
    """What made the results, for the JSON: the checkpoint (as named, its file and sha256), the
    device, the classifier's settings as it ran (the checkpoint's registered temperature and
    faster views filled in), and the pose, tracker and summary settings."""
    name = settings.weights_name()
    checkpoint = weights.resolve(name, fetch=False)
    return {
        "weights": name,
        "weights_file": str(checkpoint),
        "weights_sha256": sha256_of(checkpoint),
        "device": str(pipeline.classifier.device),
        "classifier": settings_to_dict(pipeline.classifier.settings),
        "pose": settings_to_dict(settings.pose),
        "tracker": settings_to_dict(settings.tracker),
        "summary": settings_to_dict(settings.summary),
    }


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(
    path: Path,
    results: list[VideoResult],
    rows: Callable[[VideoResult], list[dict[str, Any]]] = csv_rows,
    fields: list[str] = CSV_FIELDS,
) -> None:
    """Write the windows (or, with rows=segment_rows and SEGMENT_FIELDS, the segments) of all
    results as CSV, atomically."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for result in results:
            writer.writerows(rows(result))


def save_skeleton(path: Path, skeleton: np.ndarray) -> None:
    """Write the (3, T, 25, 2) NTU-format array as .npy, atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, skeleton.astype(np.float32))
