"""The live loop, free of Qt: a capture thread reads a source into a FrameBuffer, and the
processing loop takes each frame through the FramePipeline (pose, tracker, streaming
classifier), telling its driver through callbacks.

Capture keeps a thread of its own so that the source is read at its own pace while pose runs:
a camera's driver queues frames while nobody reads, and a video plays by the clock. When
processing falls behind, the buffer drops the oldest waiting frame, so pose always takes a
fresh one. The GUI's pipeline worker runs this loop and turns the callbacks into Qt signals;
`python -m bench.pipeline` drives the same loop over a simulated camera for its live figures.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from common.errors import UserError

from .frames import FramePipeline, FrameResult
from .prediction import Prediction
from .sources import Frame, FrameBuffer

POLL_S = 0.1  # how often the processing loop looks at the stop flag while no frame comes
METERS = ("capture", "pose", "inference")  # frames read, frames processed, predictions


@dataclass
class Captured:
    """One frame from the source and when it was read (perf_counter), for the latency figure."""

    frame: Frame
    read_at: float


class RateMeter:
    """Events per second over a sliding window of the last few seconds (thread-safe)."""

    def __init__(self, span_s: float = 10.0) -> None:
        self._span = span_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        """Record one event."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self._span:
                self._times.popleft()

    def rate(self) -> float | None:
        """Events per second, or None before two events."""
        with self._lock:
            if len(self._times) < 2:
                return None
            elapsed = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / elapsed if elapsed > 0 else None


class LiveSource(Protocol):
    """What the loop reads: the GUI's app.gui.media.LiveSource, bench.pipeline's camera."""

    @property
    def fps(self) -> float: ...

    def frames(self, stop: threading.Event) -> Iterator[Frame]: ...

    def describe(self) -> str: ...

    def end_message(self) -> tuple[str, str]: ...

    def close(self) -> None: ...


SourceOpener = Callable[[Callable[[str], None]], LiveSource]  # given where status lines go


def _ignore(*_args: object) -> None:
    """A callback nobody listens to."""


@dataclass
class LiveCallbacks:
    """What the loop tells its driver. `frame` and `prediction` come from the processing thread
    (a frame's result first, then the prediction it completed); `message` also from the capture
    thread. Kinds of message: "error" (one line), "info" (the source ended, a stream's
    reconnection), "status" (what is playing)."""

    frame: Callable[[Frame, FrameResult], None] = _ignore
    prediction: Callable[[Prediction], None] = _ignore
    message: Callable[[str, str], None] = _ignore
    end: Callable[[], None] = _ignore  # the loop is over, the capture thread ended


class LiveLoop:
    """A live source through the frame pipeline: `run(pipeline)` captures in a thread of its
    own (when an `open_source` is given; otherwise frames come into `buffer` from elsewhere) and
    processes in the caller's thread until the source ends or `stop()`; one run a loop.

    Each processed frame's result carries `timings["wait_ms"]`, how long it waited in the
    buffer; a prediction's latency counts from when its last frame was read. `meters` count
    frames read ("capture"), frames processed ("pose") and predictions ("inference").
    """

    def __init__(
        self,
        buffer: FrameBuffer[Captured],
        callbacks: LiveCallbacks | None = None,
        meters: dict[str, RateMeter] | None = None,
        open_source: SourceOpener | None = None,
    ) -> None:
        self.buffer = buffer
        self.callbacks = callbacks or LiveCallbacks()
        self.meters = {name: RateMeter() for name in METERS} if meters is None else meters
        self._open_source = open_source
        self._stop = threading.Event()
        self.fps: float | None = None  # the source's, once it is open
        self.delivered = 0  # frames the source gave

    @property
    def stopped(self) -> bool:
        """Whether stop() was asked."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask both loops to end (thread-safe; each blocking step in them is bounded)."""
        self._stop.set()

    def run(self, pipeline: FramePipeline) -> None:
        """Capture and process until the source ends (then its last frames' prediction comes)
        or stop(); a failure is told as an "error" message. The capture thread has ended and
        `end` was told when this returns; the pipeline stays open (the caller's)."""
        capture = None
        if self._open_source is not None and not self.stopped:
            capture = threading.Thread(target=self.capture, name="capture", daemon=True)
            capture.start()
        try:
            self.process(pipeline)
        except UserError as err:
            self.callbacks.message("error", str(err))
        except Exception as err:  # the driver (a window) must not go down; say what broke
            self.callbacks.message("error", f"processing stopped: {type(err).__name__}: {err}")
        finally:
            self._stop.set()
            if capture is not None:
                capture.join()
            self.callbacks.end()

    def capture(self) -> None:
        """Open the source, then read its frames into the buffer until stop(), its end or a
        failure (each told as a message); the buffer is closed at the end, always."""
        try:
            source = self._open_source(lambda text: self.callbacks.message("info", text))
            try:
                self.fps = source.fps
                self.callbacks.message("status", f"playing {source.describe()}")
                for frame in source.frames(self._stop):
                    self.meters["capture"].tick()
                    self.delivered += 1
                    self.buffer.put(Captured(frame, time.perf_counter()))
                if not self.stopped:
                    self.callbacks.message(*source.end_message())
            finally:
                source.close()
        except UserError as err:  # no camera, an unreadable file
            self.callbacks.message("error", str(err))
        except Exception as err:
            self.callbacks.message("error", f"capture stopped: {type(err).__name__}: {err}")
        finally:
            self.buffer.close()

    def process(self, pipeline: FramePipeline) -> None:
        """Take each buffered frame through the pipeline and tell the callbacks; when the
        source runs out (not when stopped), the prediction over its last frames."""
        while not self.stopped:
            item = self.buffer.take(timeout=POLL_S)
            if item is None:
                if self.buffer.closed:
                    final = None if self.stopped else pipeline.finish()
                    if final is not None:
                        self._predicted(final)
                    return
                continue
            taken, frame = time.perf_counter(), item.frame
            result = pipeline.process(
                frame.image, frame.timestamp, frame.capture_ms, arrival=item.read_at
            )
            result.timings["wait_ms"] = 1000 * (taken - item.read_at)
            self.meters["pose"].tick()
            self.callbacks.frame(frame, result)
            if result.new_prediction and result.prediction is not None:
                self._predicted(result.prediction)

    def _predicted(self, prediction: Prediction) -> None:
        """Count and tell a new prediction."""
        self.meters["inference"].tick()
        self.callbacks.prediction(prediction)
