"""The GUI's video in and out, free of Qt: a source played in real time, and a recording."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.annotate import video_writer
from app.demo_clip import resolve_source
from common.errors import UserError
from pipeline.sources import Frame, NetworkSource, StreamSettings, is_live, open_source

MAX_REPEATS = 30  # a recording fills at most this many frames for one shown frame


class LiveSource:
    """A frame source as the GUI plays it: a video at its own frame rate, a camera as it comes."""

    def __init__(
        self,
        spec: str,
        realtime: bool = True,
        stream: StreamSettings | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        # 'demo': fetched here, off the GUI thread
        self.source = open_source(resolve_source(spec), stream, on_status)
        self.is_camera = is_live(self.source)  # a camera or a network stream
        self.realtime = realtime
        self.count = 0

    @property
    def fps(self) -> float:
        """The source's nominal frame rate."""
        return float(self.source.fps)

    def describe(self) -> str:
        """One line on what is playing."""
        if isinstance(self.source, NetworkSource):
            return f"stream {self.spec} @ {self.fps:.0f} fps"
        if self.is_camera:
            return f"camera {self.spec} @ {self.fps:.0f} fps"
        w, h = self.source.size
        return f"{Path(self.spec).name} {w}x{h} @ {self.fps:.0f} fps"

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """The source's frames; a video waits for each frame's time so it plays like a camera."""
        began = time.perf_counter()
        frames = self.source.frames(stop) if isinstance(self.source, NetworkSource) else self.source
        for frame in frames:
            if stop.is_set():
                return
            if self.realtime and not self.is_camera:
                delay = began + frame.timestamp - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    return
            self.count += 1
            yield frame

    def end_message(self) -> tuple[str, str]:
        """(kind, text) once the frames ran out: a video ends, a camera is lost."""
        if isinstance(self.source, NetworkSource):
            return "error", (
                f"stream {self.spec} lost after {self.count} frames and not back within "
                f"{self.source.settings.give_up_after_s:g} s; check the camera, press Start"
            )
        if self.is_camera:
            return "error", (
                f"camera {self.spec} stopped delivering frames after {self.count} "
                f"(unplugged or taken by another program); reconnect it, press Start"
            )
        return "info", f"video ended after {self.count} frames; press Start to play it again"

    def close(self) -> None:
        """Release the camera or file."""
        self.source.close()


class Recorder:
    """An annotated video being written (with `raw`, the camera's frames as they came: a Teach
    clip); the file appears whole when closed (app.annotate)."""

    def __init__(self, path: Path, fps: float, raw: bool = False) -> None:
        self.path = path
        self.fps = fps
        self.raw = raw
        self._stack: contextlib.ExitStack | None = None
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self._last = 0.0
        self.frames = 0

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        """Append a frame, repeated to fill the time since the last one (frames the GUI skipped)."""
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self._stack = contextlib.ExitStack()
            self._writer = self._stack.enter_context(video_writer(self.path, self.fps, size))
            self._size, self._last = size, timestamp
        if size != self._size:
            raise UserError(
                f"recording {self.path}: frame size changed from {self._size} to {size}"
            )
        repeats = min(max(1, round((timestamp - self._last) * self.fps)), MAX_REPEATS)
        for _ in range(repeats):
            self._writer.write(frame)
        self._last = timestamp
        self.frames += repeats

    def close(self) -> None:
        """Finish the file (nothing is left when no frame was written)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
