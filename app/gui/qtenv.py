"""Make PyQt5 find its own platform plugins even after OpenCV has been imported.

opencv-contrib-python (brought by mediapipe) sets QT_QPA_PLATFORM_PLUGIN_PATH and QT_QPA_FONTDIR
to its bundled Qt files when cv2 is imported; a PyQt5 window then aborts under X11 with "Could not
load the Qt platform plugin xcb". Call prepare_qt_environment() before creating the QApplication.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_CV2_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")


def _points_into_cv2(value: str, cv2_dir: Path) -> bool:
    """True when an environment path lies inside OpenCV's package folder."""
    try:
        return Path(value).resolve().is_relative_to(cv2_dir)
    except (OSError, ValueError):
        return False


def prepare_qt_environment() -> None:
    """Import cv2 now (so its side effect happens first), then point Qt back at PyQt5's plugins."""
    import cv2  # noqa: F401  (imported for its environment side effect, which is undone below)
    from PyQt5.QtCore import QLibraryInfo

    cv2_dir = Path(cv2.__file__).resolve().parent
    for name in _CV2_QT_VARIABLES:
        value = os.environ.get(name)
        if value and _points_into_cv2(value, cv2_dir):
            del os.environ[name]
    if "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ:
        os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = QLibraryInfo.location(QLibraryInfo.PluginsPath)
    # Qt warns at each start when XDG_RUNTIME_DIR is unset (containers, Xvfb): give it its own.
    if os.name == "posix" and not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
