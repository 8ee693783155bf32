"""Frame sources with timestamps: a video file, or a camera (a video file stands in for one)."""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from common.errors import UserError
from ntu.recording import FPS
from pose.native_log import native_stderr_silenced

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")  # network cameras OpenCV's FFmpeg reads


def reported_fps(capture: cv2.VideoCapture) -> float:
    """The frame rate a file or camera reports; NTU's (the model's) when it reports none usable."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else FPS


@dataclass
class Frame:
    """One captured frame: BGR pixels, its time in seconds, its index and what reading it took."""

    image: np.ndarray
    timestamp: float
    index: int
    capture_ms: float


class VideoSource:
    """Frames of a video file, timestamped by their position (index / fps), read in order."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        refuse_folder(self.path)
        if not self.path.is_file():
            raise UserError(f"video {self.path} does not exist")
        with native_stderr_silenced():  # FFmpeg's own lines ("moov atom not found") would
            self._capture = cv2.VideoCapture(str(self.path))  # come beside the error below
            ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or first is None:
            self._capture.release()
            raise UserError(f"cannot read video {self.path}: not a video, or a codec OpenCV lacks")
        self._first: np.ndarray | None = first
        self.fps = reported_fps(self._capture)
        self.frame_count = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self.size = (first.shape[1], first.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        """Every frame once, from the first."""
        index = 0
        while True:
            began = time.perf_counter()
            if self._first is not None:
                image, self._first = self._first, None
            else:
                ok, image = self._capture.read()
                if not ok:
                    return
            yield Frame(image, index / self.fps, index, 1000 * (time.perf_counter() - began))
            index += 1

    def close(self) -> None:
        """Release the file."""
        self._capture.release()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CameraSource:
    """Frames of a camera, timestamped by the monotonic clock at capture, in seconds since the
    camera was opened."""

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None) -> None:
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise UserError(
                f"cannot open camera {index}: is one connected and free? "
                f"(a video file, or demo for a short clip, can stand in for it)"
            )
        if width and height:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.fps = reported_fps(self._capture)
        self.index = index
        self._opened_at = time.monotonic()

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the camera stops delivering them."""
        count = 0
        while True:
            began = time.perf_counter()
            ok, image = self._capture.read()
            if not ok:
                return
            done = time.perf_counter()
            yield Frame(image, time.monotonic() - self._opened_at, count, 1000 * (done - began))
            count += 1

    def close(self) -> None:
        """Release the camera."""
        self._capture.release()

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class StreamSettings:
    """How a network camera is opened and, when it drops, reopened (the one home of these
    defaults; a YAML `stream:` section of the pipeline settings overrides them)."""

    open_timeout_s: float = 10.0  # a URL that gives no picture within this is refused
    read_timeout_s: float = 5.0  # a stream that stalls this long has dropped
    retry_first_s: float = 0.5  # the first wait before reopening a dropped stream
    retry_max_s: float = 8.0  # waits double up to this
    give_up_after_s: float = 60.0  # no frame for this long (reopening meanwhile): the run ends

    def __post_init__(self) -> None:
        values = (self.open_timeout_s, self.read_timeout_s, self.retry_first_s, self.retry_max_s)
        if not all(0 < v <= 3600 for v in values) or not 0 <= self.give_up_after_s <= 86400:
            raise UserError(
                f"bad stream settings {self}: timeouts and waits must lie in (0, 3600] s, "
                "give_up_after_s in [0, 86400]"
            )


def is_stream_url(spec: object) -> bool:
    """Whether a source is a network camera's URL (rtsp://, http(s)://)."""
    scheme, separator, _ = spec.partition("://") if isinstance(spec, str) else ("", "", "")
    return bool(separator) and scheme.lower() in STREAM_SCHEMES


class NetworkSource:
    """Frames of a network camera (RTSP, MJPEG or HLS over HTTP), timestamped by the monotonic
    clock in seconds since the stream was first opened; a stream that drops is reopened with
    doubling waits until `give_up_after_s` passes without a frame. `on_status(text)` hears of
    each drop and reconnection."""

    def __init__(
        self,
        url: str,
        settings: StreamSettings | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings or StreamSettings()
        self._say = on_status or (lambda text: None)
        self.reconnects = 0  # times the stream was reopened after a drop
        self.drops = 0  # times it dropped
        self._capture = self._open()
        if self._capture is None:
            raise UserError(
                f"no picture from {url} within {self.settings.open_timeout_s:g} s: check the "
                "address, that the camera is on and reachable, and that it serves RTSP, MJPEG "
                "or HLS (stream.open_timeout_s sets the wait)"
            )
        self.fps = reported_fps(self._capture)
        self._opened_at = time.monotonic()

    def _open(self) -> cv2.VideoCapture | None:
        """The stream opened within the timeouts, or None."""
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(1000 * self.settings.open_timeout_s),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(1000 * self.settings.read_timeout_s),
        ]
        with native_stderr_silenced():  # FFmpeg's own lines on a refused connection
            capture = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, timeouts)
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Frames until `stop` is set or the stream stays lost for give_up_after_s."""
        stop = stop or threading.Event()
        count = 0
        while not stop.is_set():
            began = time.perf_counter()
            ok, image = self._capture.read() if self._capture is not None else (False, None)
            if ok:
                stamp = time.monotonic() - self._opened_at
                yield Frame(image, stamp, count, 1000 * (time.perf_counter() - began))
                count += 1
            elif not self._reconnect(stop, count):
                return

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def _reconnect(self, stop: threading.Event, count: int) -> bool:
        """Reopen a dropped stream, waiting longer after each failure; False once it stayed lost
        for give_up_after_s (or `stop` was set)."""
        self.drops += 1
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        lost_at, wait = time.monotonic(), self.settings.retry_first_s
        attempt = 0
        while time.monotonic() - lost_at + wait <= self.settings.give_up_after_s:
            attempt += 1
            self._say(
                f"stream {self.url} lost after {count} frames; reconnecting in {wait:g} s "
                f"(attempt {attempt})"
            )
            if stop.wait(wait):
                return False
            self._capture = self._open()
            if self._capture is not None:
                self.reconnects += 1
                self._say(f"stream {self.url} reconnected (attempt {attempt})")
                return True
            wait = min(2 * wait, self.settings.retry_max_s)
        return False

    def close(self) -> None:
        """Release the stream."""
        if self._capture is not None:
            self._capture.release()

    def __enter__(self) -> NetworkSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


Item = TypeVar("Item")


class FrameBuffer(Generic[Item]):
    """The newest `depth` captured frames, handed from capture to processing, oldest first.

    A live view must show the present: when processing falls behind the camera, the oldest
    waiting frame is dropped. Depth 1 keeps only the newest frame; depth 2 lets a frame that
    took a little longer than the camera's interval be made up by the next, quicker one, at
    the cost of up to one frame of extra latency (where pose takes most of a frame's interval,
    such frames are common: python -m bench.pipeline reports the drops).
    """

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise UserError(f"the frame buffer must hold at least 1 frame, got {depth}")
        self._cond = threading.Condition()
        self._items: deque[Item] = deque(maxlen=depth)
        self._closed = False
        self.dropped = 0

    def put(self, item: Item) -> None:
        """Offer a frame; when the buffer is full, the oldest one waiting is dropped."""
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def take(self, timeout: float) -> Item | None:
        """The oldest waiting frame, waiting up to `timeout` s; None on timeout or once closed
        and empty."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """No more frames will come: wake the taker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once the producer has finished and the last frame was taken."""
        with self._cond:
            return self._closed and not self._items


Source = VideoSource | CameraSource | NetworkSource


def open_source(
    spec: str | int | os.PathLike,
    stream: StreamSettings | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Source:
    """A camera for an integer (or a string of digits), a network camera for an rtsp:// or
    http(s):// URL (`stream` and `on_status`: see NetworkSource), else a video file."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return CameraSource(int(spec))
    if is_stream_url(spec):
        return NetworkSource(str(spec), stream, on_status)
    return VideoSource(spec)


def refuse_folder(path: Path) -> None:
    """A folder where one video is expected: say so, and how to classify the videos in it."""
    if path.is_dir():
        raise UserError(
            f"{path} is a folder, not a video: give one video file in it, or classify them all "
            f"with python -m app.classify_video {shlex.quote(str(path))}"
        )


def is_live(source: Source) -> bool:
    """Whether a source runs by the clock (a camera or a stream): newest frame wins there."""
    return isinstance(source, (CameraSource, NetworkSource))


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files directly in a folder, by name."""
    return sorted(
        p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )
