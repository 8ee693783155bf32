"""Videos -> NTU skeletons through the live app's own pose path (pipeline's estimator and
tracker, resampled to the classifier's frame rate), cached per video and per pose setting."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from common.errors import MAX_EXCERPT, UserError, one_line
from common.fileio import atomic_write
from common.progress import progress_bar
from common.settings import settings_to_dict
from ntu.joints import NUM_BODIES, NUM_JOINTS
from pipeline import PipelineSettings, build_pose_stages, resample_clip
from pipeline.sources import VideoSource
from pose import SKELETON_FORMAT

MAX_ENTRY_BYTES = 1 << 30  # a cached clip's skeletons: 2 h at 30 fps is 0.2 GB
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass
class Extracted:
    """One video's skeletons: (T, 3, 25, 2) float32 at the classifier's fps (zeros: nobody)."""

    skeleton: np.ndarray
    frames: int  # frames read from the video
    seconds: float = float("nan")  # how long its extraction took (NaN: cached before this was kept)

    @property
    def frames_with_person(self) -> int:
        """Resampled frames that show someone."""
        return int(np.count_nonzero(self.skeleton.reshape(len(self.skeleton), -1).any(axis=1)))


def cache_key(config: PipelineSettings) -> str:
    """What the skeletons depend on: the pose and tracker settings, the classifier's fps and
    pose.SKELETON_FORMAT (the mapping's version). Any change gives another cache folder."""
    text = json.dumps(cache_settings(config), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def cache_settings(config: PipelineSettings) -> dict[str, Any]:
    """The settings cache_key hashes (written beside the cached files)."""
    return {
        "skeleton_format": SKELETON_FORMAT,
        "pose": settings_to_dict(config.pose),
        "tracker": settings_to_dict(config.tracker),
        "fps": float(config.classifier.fps),
    }


def video_digest(path: Path) -> str:
    """A video's identity in the cache: the SHA-1 of its bytes (renamed or copied files hit)."""
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:20]


class SkeletonCache:
    """`<folder>/<cache_key>/<video digest>.npz`, one file a video, written atomically."""

    def __init__(self, folder: Path, config: PipelineSettings) -> None:
        self.folder = Path(folder) / cache_key(config)
        self.folder.mkdir(parents=True, exist_ok=True)
        settings = self.folder / "settings.json"
        if not settings.is_file():
            with atomic_write(settings) as tmp:
                tmp.write_text(json.dumps(cache_settings(config), indent=2) + "\n")

    def load(self, digest: str) -> Extracted | None:
        """The cached skeletons of a video, or None: absent, or damaged (truncated, empty, of
        another shape, a header claiming terabytes, a folder in its place), which is then
        named on stderr and removed so that the video is extracted and cached again."""
        path = self.folder / f"{digest}.npz"
        if not os.path.lexists(path):
            return None
        try:
            if not path.is_file() or path.stat().st_size > MAX_ENTRY_BYTES:
                raise ValueError("not a file of a sensible size")
            with np.load(path, allow_pickle=False) as data:
                frames, skeleton = int(data["frames"]), data["skeleton"]
                seconds = float(data["seconds"]) if "seconds" in data else float("nan")
            if skeleton.dtype != np.float32 or skeleton.shape[1:] != (3, NUM_JOINTS, NUM_BODIES):
                raise ValueError(f"an array of shape {skeleton.shape} and type {skeleton.dtype}")
            if not (0 <= frames and len(skeleton) and np.isfinite(skeleton).all()):
                raise ValueError("no frames or values that are not finite")
            return Extracted(skeleton, frames, seconds)
        except Exception as err:  # noqa: BLE001 - any damage means: extract the video again
            tqdm.write(
                f"warning: skeleton cache entry {path} is damaged ({type(err).__name__}: "
                f"{one_line(str(err)[:MAX_EXCERPT])}); discarded, the video is extracted again",
                file=sys.stderr,
            )
            _discard(path)
            return None

    def save(self, digest: str, extracted: Extracted) -> None:
        """Keep a video's skeletons."""
        with atomic_write(self.folder / f"{digest}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                skeleton=extracted.skeleton,
                frames=extracted.frames,
                seconds=extracted.seconds,
            )


def _discard(path: Path) -> None:
    """Remove a damaged cache entry, whatever it is (a file, a link, a folder)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# Each extraction process builds the pose stages once and reuses them, reset, for every video.
_stages: tuple[Any, Any] | None = None
_fps: float | None = None  # the classifier's, set with the stages


def _start_worker(config: PipelineSettings) -> None:
    global _stages, _fps
    die_with_parent()
    _stages, _fps = build_pose_stages(config), config.classifier.fps


def die_with_parent() -> None:
    """Have the kernel stop this process when its parent dies (Linux; a killed run's workers
    would otherwise stay, hundreds of MB each); elsewhere nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _extract(path: Path) -> Extracted | str:
    """One video through the pose stages, resampled; an unreadable video gives its error."""
    began = time.perf_counter()
    estimator, tracker = _stages
    estimator.reset()
    tracker.reset()
    times, skeletons = [], []
    try:
        with VideoSource(path) as source:
            for frame in source:
                skeletons.append(tracker.update(estimator.estimate(frame.image), frame.timestamp))
                times.append(frame.timestamp)
    except UserError as err:
        return str(err)
    index = resample_clip(np.asarray(times), _fps)
    skeleton = np.stack(skeletons)[index].astype(np.float32)
    return Extracted(skeleton, len(times), time.perf_counter() - began)


@dataclass
class Extraction:
    """Every video's skeletons (by path), the unreadable ones and how long the new ones took."""

    skeletons: dict[Path, Extracted] = field(default_factory=dict)
    unreadable: dict[Path, str] = field(default_factory=dict)
    extracted: int = 0  # videos run through pose now (the others came from the cache)
    frames: int = 0  # frames read from those videos
    seconds: float = 0.0

    @property
    def frames_per_second(self) -> float:
        """Extraction speed of this run (0 when everything came from the cache)."""
        return self.frames / self.seconds if self.seconds else 0.0


def default_workers() -> int:
    """Extraction processes: one per two cores (each MediaPipe graph keeps about two busy)."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


def extract_videos(
    videos: list[Path],
    config: PipelineSettings,
    cache_folder: Path,
    workers: int | None = None,
    progress: bool = True,
    on_video: Callable[[int, int], None] | None = None,
) -> Extraction:
    """Skeletons of `videos` with the pipeline settings `config` (pipeline.load_settings):
    from the cache where it has them, otherwise extracted in `workers` processes and cached."""
    cache = SkeletonCache(cache_folder, config)
    result = Extraction()
    todo: dict[Path, str] = {}
    for path in videos:
        digest = video_digest(path)
        cached = cache.load(digest)
        if cached is None:
            todo[path] = digest
        else:
            result.skeletons[path] = cached
    done = len(result.skeletons)
    bar = progress_bar(
        total=len(videos), initial=done, unit="video", desc="extract", enabled=progress
    )
    began = time.perf_counter()
    for path, outcome in zip(todo, _run(list(todo), config, workers or default_workers())):
        if isinstance(outcome, str):
            result.unreadable[path] = outcome
            tqdm.write(f"skipped (unreadable): {outcome}")
        else:
            cache.save(todo[path], outcome)
            result.skeletons[path] = outcome
            result.extracted += 1
            result.frames += outcome.frames
        done += 1
        bar.update()
        if on_video is not None:
            on_video(done, len(videos))
    result.seconds = time.perf_counter() - began if todo else 0.0
    bar.close()
    return result


def _run(videos: list[Path], config: PipelineSettings, workers: int):
    """_extract over `videos`, in order: in this process for one worker, else in a pool."""
    if not videos:
        return
    if workers <= 1 or len(videos) == 1:
        _start_worker(config)
        try:
            yield from map(_extract, videos)
        finally:
            _stages[0].close()
        return
    context = multiprocessing.get_context("spawn")  # MediaPipe and torch do not survive a fork
    with ProcessPoolExecutor(min(workers, len(videos)), context, _start_worker, (config,)) as pool:
        yield from pool.map(_extract, videos)
