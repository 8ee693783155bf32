"""Watch a camera, a network stream or a video without a window and log action events.

    python -m app.watch SOURCE --rule "falling>=0.3 for 1s" [--rule ...] --events events.jsonl
        [--snapshots DIR] [--on-event CMD] [--on-event-timeout S] [--weights ...] [--device ...]
        [--config YAML] [--set KEY=VALUE] [--[no-]mirror] [--[no-]either-hand]

SOURCE is a camera index, an rtsp:// or http(s):// URL, or a video file. Each event (a rule that
held for one person: start, end, class, peak score) is appended to the JSON-lines log as it
ends, with a PNG of the frame where its score peaked; --on-event runs a command (no shell) with
the event's JSON on its standard input and as SHIFTGCN_EVENT_* variables, cut off after
--on-event-timeout seconds. Ctrl-C ends the watch after the frame in hand: open events are
closed and logged (a second Ctrl-C ends it at once).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from common.cli import command_parser
from common.errors import UserError, cli_entry

from .api import Recognizer
from .cli import add_pipeline_flags, pipeline_settings
from .events import HOOK_TIMEOUT_S, EventCommand, EventLog, EventRule


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags; unset pipeline ones fall back to the pipeline config."""
    parser = command_parser("python -m app.watch", __doc__)
    parser.add_argument("source", help="camera index, rtsp:// or http(s):// URL, or video file")
    parser.add_argument(
        "--rule",
        action="append",
        required=True,
        help='an event rule, CLASS>=SCORE [for SECONDS s], e.g. "falling>=0.3 for 1s" (repeatable)',
    )
    parser.add_argument("--events", type=Path, required=True, help="the JSON-lines event log")
    parser.add_argument(
        "--snapshots", type=Path, help="folder for the PNGs (default: beside the log)"
    )
    parser.add_argument(
        "--on-event", help="a command run for each event (split like a shell, run without one)"
    )
    parser.add_argument(
        "--on-event-timeout",
        type=float,
        default=HOOK_TIMEOUT_S,
        help=f"seconds before the command is cut off (default {HOOK_TIMEOUT_S:g})",
    )
    add_pipeline_flags(parser)
    return parser


def _say(text: str) -> None:
    """A status or problem line on stderr."""
    print(text, file=sys.stderr, flush=True)


class _CtrlC:
    """While in use, the first Ctrl-C sets `stop`: the watch ends after the frame in hand, as at
    the source's end. (A KeyboardInterrupt raised at once could land inside the pipeline's
    threading code, holding a lock that its shutdown then waits for.) A second Ctrl-C
    interrupts at once. Where SIGINT is ignored (a background job), it stays ignored."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.pressed = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _CtrlC:
        self._previous = signal.getsignal(signal.SIGINT)
        in_main_thread = threading.current_thread() is threading.main_thread()
        self._installed = in_main_thread and self._previous is not signal.SIG_IGN
        if self._installed:
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous or signal.SIG_DFL)

    def _handle(self, _signum: int, _frame: object) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        # set from another thread: this one may be inside stop.set() itself, holding its lock
        threading.Thread(target=self.stop.set, name="ctrl-c", daemon=True).start()


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Watch until the source ends or Ctrl-C; exit 0 after a clean end."""
    args = build_parser().parse_args(argv)
    rules = [EventRule.parse(text) for text in args.rule]
    if not 0 < args.on_event_timeout <= 3600:
        raise UserError("--on-event-timeout must lie in (0, 3600] seconds")
    log = EventLog(args.events, args.snapshots)  # refused before the model loads
    live = not Path(args.source).is_file()
    recognizer = Recognizer(pipeline_settings(args), live=live)
    command = (
        EventCommand(shlex.split(args.on_event), args.on_event_timeout, _say)
        if args.on_event
        else None
    )
    stop = threading.Event()
    ctrl_c = _CtrlC(stop)
    try:
        with ctrl_c:
            for event in recognizer.events(
                args.source, rules, log=log, command=command, stop=stop, on_status=_say
            ):
                print(
                    f"event {event.number}: {event.label} (person {event.person}) "
                    f"{event.start:.1f}-{event.end:.1f} s, peak {event.peak_score:.2f}; "
                    f"snapshot {event.snapshot}",
                    flush=True,
                )
    except KeyboardInterrupt:  # a second Ctrl-C, or one where no handler could be set
        ctrl_c.pressed = True
    finally:
        recognizer.close()
        if command is not None:
            command.close()
    if ctrl_c.pressed:
        _say("stopped (Ctrl-C)")
    dropped = f", {recognizer.dropped} frames dropped" if live else ""
    print(f"{log.written} events logged to {log.path}{dropped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
