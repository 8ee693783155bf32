"""Action events: rules such as `falling>=0.3 for 1s` turn a person's predictions into events
(start, end, class, peak score, a snapshot of the frame where it peaked), appended to a JSON-lines
log and optionally handed to a user's command, which never holds recognition up.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.errors import UserError
from common.fileio import atomic_write
from pipeline import Prediction

_RULE = re.compile(
    r"^\s*(?P<label>[^<>=]*?)\s*>=\s*(?P<threshold>\d*\.?\d+)\s*"
    r"(?:for\s*(?P<hold>\d*\.?\d+)\s*s(?:ec(?:onds?)?)?)?\s*$",
    re.IGNORECASE,
)
HOOK_TIMEOUT_S = 10.0  # an --on-event command running longer is cut off
HOOK_QUEUE = 32  # events waiting for the command at most; more are reported and skipped
SNAPSHOT_SECONDS = 4.0  # how far back FrameRing keeps frames for a late prediction's snapshot
SNAPSHOT_FRAMES = 60  # frames it keeps at most, evenly spaced (about 65 MB at 800x450)
SNAPSHOT_MAX_WIDTH = 800  # larger frames are kept (and saved) scaled down to this width


@dataclass(frozen=True)
class EventRule:
    """A class whose score stays at or above `threshold` for at least `hold_s` seconds."""

    label: str
    threshold: float
    hold_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> EventRule:
        """A rule from text: `LABEL>=SCORE` with an optional `for SECONDS s`."""
        match = _RULE.match(text)
        if not match or not match["label"]:
            raise UserError(
                f"cannot read the event rule {text!r}: write CLASS>=SCORE [for SECONDS s], "
                'e.g. "falling>=0.3 for 1s"'
            )
        threshold, hold = float(match["threshold"]), float(match["hold"] or 0)
        if not 0 < threshold <= 1:
            raise UserError(f"event rule {text!r}: the score must lie in (0, 1]")
        if hold > 3600:
            raise UserError(f"event rule {text!r}: hold for at most 3600 s")
        return cls(match["label"].strip(), threshold, hold)

    def __str__(self) -> str:
        held = f" for {self.hold_s:g}s" if self.hold_s else ""
        return f"{self.label}>={self.threshold:g}{held}"

    def class_index(self, class_names: Sequence[str]) -> int:
        """The class the rule names: its exact label (any case), else the one label that begins
        with the text, else the one that contains it; one UserError line when none or several."""
        wanted = self.label.lower()
        names = [name.lower() for name in class_names]
        for matches in (
            [i for i, n in enumerate(names) if n == wanted],
            [i for i, n in enumerate(names) if n.startswith(wanted)],
            [i for i, n in enumerate(names) if wanted in n],
        ):
            if len(matches) == 1:
                return matches[0]
            if matches:
                listed = "; ".join(class_names[i] for i in matches[:6])
                raise UserError(
                    f"event rule {self}: {self.label!r} names several classes ({listed}); "
                    "write the whole class name"
                )
        raise UserError(
            f"event rule {self}: no class of this checkpoint is called {self.label!r} "
            f"(its classes include {', '.join(class_names[:5])}, ...; python -m weights list)"
        )


@dataclass
class Event:
    """An action that held: who, which class, when (seconds of the source), how sure at best."""

    number: int
    rule: str
    label: str
    index: int
    person: int  # the tracker's identity of the window's main person
    start: float  # the first qualifying window's start
    end: float  # the last qualifying window's end
    peak_score: float
    peak_time: float  # the end of the window where the score peaked
    source: str = ""
    logged_at: str = ""  # local wall-clock time the event was closed (ISO 8601)
    snapshot: str | None = None  # the PNG of the frame where it peaked
    peak_frame: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object (the log's line, the command's standard input)."""
        return {
            "event": self.number,
            "rule": self.rule,
            "label": self.label,
            "index": self.index,
            "person": self.person,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration": round(self.end - self.start, 3),
            "peak_score": round(self.peak_score, 4),
            "peak_time": round(self.peak_time, 3),
            "source": self.source,
            "logged_at": self.logged_at,
            "snapshot": self.snapshot,
        }

    def environment(self) -> dict[str, str]:
        """The event as environment variables (SHIFTGCN_EVENT_LABEL, ...) for --on-event."""
        return {
            f"SHIFTGCN_EVENT_{key.upper()}": "" if value is None else str(value)
            for key, value in self.to_json().items()
        }


@dataclass
class _Open:
    """A rule's run of qualifying predictions for one person, not yet ended."""

    start: float
    first_end: float
    end: float
    peak_score: float
    peak_time: float
    peak_frame: np.ndarray | None


class EventDetector:
    """Turns predictions into events, rule by rule and person by person: a run of predictions at
    or above a rule's score that spans at least its hold (from the first window's end to the
    last's) becomes an event when it ends (a prediction below the score, another main person,
    or the source's end)."""

    def __init__(self, rules: Iterable[EventRule], class_names: Sequence[str], source: str = ""):
        self.rules = list(rules)
        self.class_names = list(class_names)
        self._indices = [rule.class_index(self.class_names) for rule in self.rules]
        self._open: dict[tuple[int, int], _Open] = {}
        self._numbers = itertools.count(1)
        self.source = source

    def update(
        self, prediction: Prediction, person: int = 0, frame: np.ndarray | None = None
    ) -> list[Event]:
        """Take a new prediction about `person` (with the frame its window ended on, for the
        snapshot); return the events it ended."""
        ended = [key for key in self._open if key[1] != person]
        events = [self._close(key) for key in ended]
        for number, (rule, index) in enumerate(zip(self.rules, self._indices)):
            key, score = (number, person), float(prediction.probs[index])
            run = self._open.get(key)
            if score < rule.threshold:
                if run is not None:
                    events.append(self._close(key))
                continue
            if run is None:
                self._open[key] = _Open(
                    prediction.start,
                    prediction.timestamp,
                    prediction.timestamp,
                    score,
                    prediction.timestamp,
                    frame,
                )
                continue
            run.end = prediction.timestamp
            if score > run.peak_score:
                run.peak_score, run.peak_time, run.peak_frame = score, prediction.timestamp, frame
        return [event for event in events if event is not None]

    def finish(self) -> list[Event]:
        """The source ended: close every run (those that held are events)."""
        events = [self._close(key) for key in list(self._open)]
        return [event for event in events if event is not None]

    def _close(self, key: tuple[int, int]) -> Event | None:
        """End a run: an event when it held long enough."""
        run = self._open.pop(key)
        rule, index = self.rules[key[0]], self._indices[key[0]]
        if run.end - run.first_end < rule.hold_s:
            return None
        return Event(
            number=next(self._numbers),
            rule=str(rule),
            label=self.class_names[index],
            index=index,
            person=key[1],
            start=run.start,
            end=run.end,
            peak_score=run.peak_score,
            peak_time=run.peak_time,
            source=self.source,
            logged_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            peak_frame=run.peak_frame,
        )


class FrameRing:
    """The last few seconds of frames by timestamp, so that a prediction that comes a little
    after its window (the model runs behind pose) can still show the frame the window ended on."""

    def __init__(
        self,
        seconds: float = SNAPSHOT_SECONDS,
        max_width: int = SNAPSHOT_MAX_WIDTH,
        max_frames: int = SNAPSHOT_FRAMES,
    ) -> None:
        self._seconds, self._max_width = seconds, max_width
        self._spacing = seconds / max_frames
        self._frames: deque[tuple[float, np.ndarray]] = deque()

    def add(self, timestamp: float, image: np.ndarray) -> None:
        """Keep a frame (a reference; frames wider than max_width as a smaller copy), unless
        the last one kept is more recent than max_frames evenly spaced over `seconds` allow."""
        if self._frames and timestamp - self._frames[-1][0] < self._spacing - 1e-6:
            return
        width = image.shape[1]
        if width > self._max_width:
            height = round(image.shape[0] * self._max_width / width)
            image = cv2.resize(image, (self._max_width, height), interpolation=cv2.INTER_AREA)
        self._frames.append((timestamp, image))
        while self._frames and self._frames[0][0] < timestamp - self._seconds:
            self._frames.popleft()

    def at(self, timestamp: float) -> np.ndarray | None:
        """The newest frame at or before `timestamp` (the oldest kept when all are later)."""
        chosen = None
        for stamp, image in self._frames:
            if stamp > timestamp + 1e-6:
                break
            chosen = image
        if chosen is None and self._frames:
            chosen = self._frames[0][1]
        return chosen


class EventLog:
    """Events appended to a JSON-lines file, one object a line, each with its snapshot PNG in
    `snapshots` (default: a folder beside the log named after it)."""

    def __init__(self, path: str | os.PathLike, snapshots: str | os.PathLike | None = None):
        self.path = Path(path)
        self.snapshots = (
            Path(snapshots) if snapshots else self.path.with_name(f"{self.path.stem}-snapshots")
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.snapshots.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as err:
            raise UserError(
                f"cannot write the event log {self.path} or its snapshots in {self.snapshots} "
                f"({err.strerror}); choose a writable place"
            ) from None
        self._run = time.strftime("%Y%m%d-%H%M%S")
        self.written = 0  # events appended by this EventLog

    def write(self, event: Event) -> None:
        """Save the snapshot (when there is a frame), then append the event's line."""
        if event.peak_frame is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", event.label.lower()).strip("-")
            path = self.snapshots / f"event-{self._run}-{event.number:04d}-{slug}.png"
            encoded, png = cv2.imencode(".png", event.peak_frame)
            if not encoded:
                raise UserError(f"cannot encode the snapshot {path}")
            with atomic_write(path) as tmp:
                tmp.write_bytes(png.tobytes())
            event.snapshot = str(path)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event.to_json()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.written += 1


class EventCommand:
    """A user's command run for each event, one at a time in its own thread: without a shell,
    the event's JSON on its standard input and as SHIFTGCN_EVENT_* variables. One that fails, or
    runs past `timeout_s` (then it and its children are killed), is reported via `on_problem`;
    recognition never waits for it."""

    def __init__(
        self,
        argv: Sequence[str],
        timeout_s: float = HOOK_TIMEOUT_S,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        if not argv:
            raise UserError("--on-event needs a command")
        self.argv, self.timeout_s = list(argv), timeout_s
        self._say = on_problem or (lambda text: None)
        self._queue: queue.Queue[Event | None] = queue.Queue(HOOK_QUEUE)
        self._thread = threading.Thread(target=self._serve, name="on-event", daemon=True)
        self._thread.start()
        self.runs = 0
        self.problems: list[str] = []

    def submit(self, event: Event) -> None:
        """Queue an event for the command; never blocks (a full queue skips it, saying so)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._report(f"on-event command busy: event {event.number} not passed to it")

    def close(self) -> None:
        """Let the queued events run (each bounded by the timeout), then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (event := self._queue.get()) is not None:
            self._run(event)

    def _run(self, event: Event) -> None:
        """Run the command for one event, bounded by the timeout."""
        name = Path(self.argv[0]).name
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, **event.environment()},
                start_new_session=os.name == "posix",  # its children are cut off with it
            )
        except OSError as err:
            self._report(f"on-event command {name} could not start ({err.strerror})")
            return
        self.runs += 1
        try:
            _, err = process.communicate(json.dumps(event.to_json()).encode(), self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill(process)
            self._report(
                f"on-event command {name} ran past {self.timeout_s:g} s for event "
                f"{event.number}: cut off"
            )
            return
        if process.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            self._report(
                f"on-event command {name} failed for event {event.number} "
                f"(exit {process.returncode}) {last[0]}".strip()
            )

    def _report(self, text: str) -> None:
        self.problems.append(text)
        self._say(text)


def _kill(process: subprocess.Popen) -> None:
    """Kill a command and what it started (its session), then reap it."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild keeps the pipe open: stop reading it
        pass
