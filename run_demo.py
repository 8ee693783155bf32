#!/usr/bin/env python3
"""Live Shift-GCN action recognition from a camera or a video file: `python run_demo.py --help`."""

from app.gui.launch import main

if __name__ == "__main__":
    raise SystemExit(main())
