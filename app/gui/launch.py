"""Live skeleton action recognition from a camera or a video file, in a window.

    python run_demo.py                                  # webcam 0
    python run_demo.py --source demo                    # no webcam: a short clip, fetched once
    python run_demo.py --source clip.mp4 --weights NAME --device cpu --set classifier.stride=10

Omitted flags take the pipeline settings (pipeline/configs/pipeline.yaml, --config, --set).
This module parses the flags, prepares Qt, opens the window and starts the first run.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from pathlib import Path

from app.cli import add_pipeline_flags, pipeline_settings
from app.gui.qtenv import prepare_qt_environment
from app.gui.settings import GuiSettings, RunSettings, load_gui_settings
from app.output_paths import check_outputs, create_output_folders
from common.cli import command_parser
from common.device import select_device
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from common.limits import check_number


def build_parser() -> argparse.ArgumentParser:
    """The run_demo.py command line."""
    parser = command_parser("run_demo.py", __doc__)
    parser.add_argument(
        "--source",
        help="camera index (0, 1, ...), rtsp:// or http(s):// URL, a video file, or 'demo' for a "
        "short clip of two people hugging, fetched on first use (no webcam needed) (default: 0)",
    )
    add_pipeline_flags(parser)
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="save a picture of the window here before exiting",
    )
    parser.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="smoke run: after SECONDS, or as soon as the run ends (video over, "
        "fault), save --screenshot, print a one-line summary and exit: 1 "
        "when the run ended on a fault (no camera, no model, unreadable "
        "source) or the screenshot could not be saved, else 0",
    )
    return parser


def check_display() -> None:
    """Refuse early, in one line, where Qt would abort for want of a display."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    has_display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not platform and not has_display:
        raise UserError(
            "no display found (DISPLAY is not set): run it on a desktop, or set "
            "QT_QPA_PLATFORM=offscreen for a headless smoke run"
        )


MAX_QUIT_AFTER_S = 24 * 3600.0  # a smoke run's longest (Qt timers take at most 24.8 days)
FINAL_PAINT_MS = 300  # after a run ends, let the window paint its final state before the screenshot


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Open the window, start capturing at once, and run the Qt event loop."""
    args = build_parser().parse_args(argv)
    if args.quit_after is not None:
        check_number("--quit-after", args.quit_after, 0.0, MAX_QUIT_AFTER_S, above_low=True)
    if args.screenshot is not None and args.quit_after is None:
        raise UserError("--screenshot is taken when --quit-after ends the run: give both")
    if args.screenshot is not None:
        check_outputs({"--screenshot": args.screenshot}, [])
    if args.source is not None:
        from pipeline.sources import refuse_folder  # OpenCV: loaded once the flags are known good

        refuse_folder(Path(args.source))
    check_display()
    gui = load_gui_settings()
    settings = run_settings(args, gui)
    select_device(settings.device)  # a bad or unavailable device is a one-line error, here
    if args.screenshot is not None:
        create_output_folders({"--screenshot": args.screenshot})
    prepare_qt_environment()
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    from app.gui.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Shift-GCN live")
    window = MainWindow(settings, gui)
    sys.excepthook = _show_instead_of_abort(window)
    window.show()
    QTimer.singleShot(0, window.start_run)
    outcome = {"status": 0}  # set to 1 by _finish when the screenshot could not be saved
    if args.quit_after is not None:
        _schedule_finish(window, args.quit_after, args.screenshot, outcome)
    status = app.exec_() or outcome["status"]
    if args.quit_after is not None and window.fault():  # a smoke run that hit a fault fails
        return status or 1
    return status


def run_settings(args: argparse.Namespace, gui: GuiSettings) -> RunSettings:
    """The first run's RunSettings: the pipeline settings the flags ask for, and --source."""
    settings = RunSettings.defaults(gui, pipeline_settings(args))
    if args.source is not None:
        settings.source = args.source
    return settings


def _schedule_finish(
    window, seconds: float, screenshot: Path | None, outcome: dict[str, int]
) -> None:
    """Finish the smoke run after `seconds`, or shortly after the run ends if that is sooner."""
    from PyQt5.QtCore import QTimer

    finish = functools.partial(_finish, window, screenshot, outcome)
    QTimer.singleShot(int(seconds * 1000), finish)
    window.run_stopped.connect(lambda: QTimer.singleShot(FINAL_PAINT_MS, finish))


def _show_instead_of_abort(window):
    """An excepthook for errors raised in Qt slots: PyQt5 would abort; show them instead."""

    def hook(kind, error, tb) -> None:
        traceback.print_exception(kind, error, tb)
        window.show_error(f"internal error: {kind.__name__}: {error} (details on the terminal)")

    return hook


def _finish(window, screenshot: Path | None, outcome: dict[str, int]) -> None:
    """End a timed run: save the screenshot, print a one-line summary, close the window; a
    screenshot that could not be saved makes the exit status 1 (`outcome`)."""
    if window.isHidden():  # already finished (the run ended before the time was up)
        return
    if screenshot is not None:
        try:
            with atomic_write(screenshot) as tmp:
                if not window.grab().save(str(tmp), "PNG"):
                    raise OSError("Qt could not encode the PNG")
        except OSError as err:
            print(f"error: could not save the screenshot to {screenshot}: {err}", file=sys.stderr)
            outcome["status"] = 1
    print(window.summary(), flush=True)
    window.close()
