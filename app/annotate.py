"""Drawing on frames with OpenCV: skeletons per body slot, the current top-3 and a confidence bar,
and writing an annotated video (write_annotated: a classified video's annotated copy)."""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.errors import UserError
from common.fileio import atomic_write
from common.progress import progress_bar
from pipeline import Prediction
from pipeline.sources import VideoSource
from pose import POSE_EDGES, Person
from pose.native_log import native_stderr_silenced

# BGR colours of body slot 0 (the main person) and slot 1; others found but not tracked are grey.
SLOT_COLOURS = ((0, 165, 255), (255, 170, 0))
OTHER_COLOUR = (160, 160, 160)
MIN_VISIBILITY = 0.3  # landmarks less visible than this are not drawn
PANEL_ALPHA = 0.55
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_person(image: np.ndarray, person: Person, colour: tuple[int, int, int]) -> None:
    """Draw one person's BlazePose skeleton in place, leaving out barely visible landmarks."""
    scale = max(1, round(min(image.shape[:2]) / 240))
    points = np.round(person.pixels).astype(int)
    visible = person.visibility >= MIN_VISIBILITY
    for a, b in POSE_EDGES:
        if visible[a] and visible[b]:
            cv2.line(image, tuple(points[a]), tuple(points[b]), colour, scale, cv2.LINE_AA)
    for point in points[visible]:
        cv2.circle(image, tuple(point), scale + 1, colour, -1, cv2.LINE_AA)


def draw_top(image: np.ndarray, top: list[dict[str, Any]]) -> None:
    """Draw the top classes with a confidence bar each, on a dark panel at the top left."""
    h, w = image.shape[:2]
    scale = max(0.35, min(w, h) / 640)
    line = int(28 * scale) + 6
    panel_w, panel_h = min(w, int(360 * scale) + 10), line * len(top) + 8
    overlay = image.copy()
    cv2.rectangle(overlay, (0, 0), (panel_w, panel_h), (0, 0, 0), -1)
    cv2.addWeighted(overlay, PANEL_ALPHA, image, 1 - PANEL_ALPHA, 0, dst=image)
    for rank, entry in enumerate(top):
        y = 4 + rank * line
        bar = int((panel_w - 10) * float(entry["score"]))
        colour = (80, 200, 80) if rank == 0 else (120, 120, 120)
        cv2.rectangle(image, (5, y + line - 6), (5 + bar, y + line - 3), colour, -1)
        text = f"{entry['score'] * 100:4.1f}% {entry['label']}"
        cv2.putText(
            image, text, (5, y + line - 10), FONT, 0.5 * scale, (255, 255, 255), 1, cv2.LINE_AA
        )


def annotate_frame(
    image: np.ndarray,
    people: list[Person],
    slots: list[Person | None],
    top: list[dict[str, Any]] | None,
) -> np.ndarray:
    """A copy of the frame with everyone's skeleton (slot colours) and the top classes."""
    out = image.copy()
    for person in people:
        if all(person is not s for s in slots):
            draw_person(out, person, OTHER_COLOUR)
    for slot, person in enumerate(slots):
        if person is not None:
            draw_person(out, person, SLOT_COLOURS[slot])
    if top:
        draw_top(out, top)
    return out


@dataclass
class Drawing:
    """What to draw on one frame: everyone found, and who holds each body slot."""

    people: list[Person]
    slots: list[Person | None]


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


# FourCCs tried for MP4 output, best first: H.264 plays in browsers and every player; MPEG-4
# Part 2 (mp4v) is what OpenCV's pip wheels can always write (their FFmpeg has no H.264 encoder).
MP4_CODECS = ("avc1", "mp4v")
H264 = "avc1"


@functools.cache
def mp4_codec(candidates: tuple[str, ...] = MP4_CODECS) -> str | None:
    """The first FourCC this OpenCV build can write MP4 with (tried once on a tiny file), or
    None; FFmpeg's complaints about the codecs it lacks are kept off the terminal."""
    with tempfile.TemporaryDirectory() as folder, native_stderr_silenced():
        probe = str(Path(folder) / "probe.mp4")
        for codec in candidates:
            writer = cv2.VideoWriter(probe, cv2.VideoWriter_fourcc(*codec), 30.0, (64, 64))
            opened = writer.isOpened()
            writer.release()
            if opened:
                return codec
    return None


def codec_note(path: str | os.PathLike) -> str | None:
    """What to tell a user whose video was written without H.264, or None when it was."""
    if mp4_codec() == H264:
        return None
    path = Path(path)
    converted = path.with_name(f"{path.stem}-h264.mp4")
    return (
        f"note: {path} is MPEG-4 Part 2 (mp4v), which browsers and some players do not play: "
        f"this OpenCV build has no H.264 encoder; convert it with "
        f"ffmpeg -i {shlex.quote(str(path))} -c:v libx264 -pix_fmt yuv420p "
        f"{shlex.quote(str(converted))}"
    )


class CountingWriter:
    """OpenCV's video writer, counting the frames given to it (its write() reports no errors)."""

    def __init__(self, writer: cv2.VideoWriter) -> None:
        self.writer = writer
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        """Add one BGR frame of the writer's size."""
        self.writer.write(image)
        self.frames += 1


@contextlib.contextmanager
def video_writer(
    path: str | os.PathLike, fps: float, size: tuple[int, int]
) -> Iterator[CountingWriter]:
    """An MP4 writer (H.264 where OpenCV has it, see mp4_codec) whose file appears at `path`
    only when writing finished without error and the closed file plays back every frame
    (OpenCV's writer is silent about a full disk)."""
    path = Path(path)
    codec = mp4_codec()
    if codec is None:
        raise UserError(f"cannot write video {path}: OpenCV has no MP4 encoder here")
    with atomic_write(path) as tmp:
        staging = tmp.with_name(tmp.name + ".mp4")  # OpenCV picks the container by the suffix
        writer = cv2.VideoWriter(str(staging), cv2.VideoWriter_fourcc(*codec), fps, size)
        if not writer.isOpened():
            raise UserError(
                f"cannot write video {path} with the {codec} codec; "
                f"check that its folder is writable and has free space"
            )
        try:
            counting = CountingWriter(writer)
            yield counting
            writer.release()
            _check_playable(staging, counting.frames, path)
            os.replace(staging, tmp)
        finally:
            writer.release()
            staging.unlink(missing_ok=True)


def _check_playable(staging: Path, frames: int, path: Path) -> None:
    """A UserError unless the closed video at `staging` opens and holds `frames` frames."""
    with native_stderr_silenced():
        capture = cv2.VideoCapture(str(staging))
        try:
            found = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else -1
            readable = frames == 0 or capture.read()[0]
        finally:
            capture.release()
    if found != frames or not readable:
        free = shutil.disk_usage(staging.parent).free
        raise UserError(
            f"cannot write video {path}: the file written does not play back "
            f"({max(found, 0)} of {frames} frames; {free / 1e6:.1f} MB free there); "
            f"free some space or write elsewhere (nothing was written)"
        )
