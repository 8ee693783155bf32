"""Command-line flags shared by the commands that run the pipeline (classify_video, run_demo.py)."""
from __future__ import annotations

import argparse


def add_handedness_flags(parser: argparse.ArgumentParser) -> None:
    """--mirror and --either-hand, shared by classify_video and run_demo.py (None when not given:
    the settings' tracker.mirror and classifier.either_hand then hold)."""
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                        help="the source is a mirror image (a selfie view, NTU's own videos): "
                        "exchange left and right (default from the config: no)")
    parser.add_argument("--either-hand", action=argparse.BooleanOptionalAction,
                        help="average each window's prediction with its mirror image's, so that "
                        "left- and right-handed actions read alike (default from the config: no)")
