"""Watch a camera, a network stream or a video without a window and log action events.

    python -m app.watch SOURCE --rule "falling>=0.3 for 1s" [--rule ...] --events events.jsonl
        [--snapshots DIR] [--on-event CMD] [--on-event-timeout S] [--weights ...] [--device ...]
        [--config YAML] [--set KEY=VALUE] [--[no-]mirror] [--[no-]either-hand]

SOURCE is a camera index, an rtsp:// or http(s):// URL, or a video file. Each event (a rule that
held for one person: start, end, class, peak score) is appended to the JSON-lines log as it
ends, with a PNG of the frame where its score peaked; --on-event runs a command (no shell) with
the event's JSON on its standard input and as SHIFTGCN_EVENT_* variables, cut off after
--on-event-timeout seconds. Ctrl-C ends the watch: open events are closed and logged.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

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
    try:
        for event in recognizer.events(
            args.source, rules, log=log, command=command, on_status=_say
        ):
            print(
                f"event {event.number}: {event.label} (person {event.person}) "
                f"{event.start:.1f}-{event.end:.1f} s, peak {event.peak_score:.2f}; "
                f"snapshot {event.snapshot}",
                flush=True,
            )
    except KeyboardInterrupt:
        _say("stopped (Ctrl-C)")
    finally:
        recognizer.close()
        if command is not None:
            command.close()
    dropped = f", {recognizer.dropped} frames dropped" if live else ""
    print(f"{log.written} events logged to {log.path}{dropped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
