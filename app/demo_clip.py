"""A video to try the app on without a webcam (`--source demo`): a 2.6 s clip of two people
hugging (NTU-60 action 55, "hugging other person"), recorded by the OpenMMLab team and shipped
in MMAction2 as demo/demo_skeleton.mp4 under the Apache-2.0 licence. Fetched on first use into
the user's cache folder and checked by its sha256, as the checkpoints are (common.download).
"""

from __future__ import annotations

import os
from pathlib import Path

from common.cache import user_cache_dir
from common.download import ProgressFn, download, sha256_of

DEMO_SOURCE = "demo"  # what --source (and the GUI's source field) takes for the clip
URL_ENV = "SHIFTGCN_DEMO_URL"  # replaces the URL's base, up to the file name (mirrors, tests)
MMACTION2_COMMIT = "4d6c93474730cad2f25e51109adcf96824efc7a3"
BASE_URL = f"https://raw.githubusercontent.com/open-mmlab/mmaction2/{MMACTION2_COMMIT}/demo"
FILE_NAME = "demo_skeleton.mp4"
SHA256 = "0f82b816da14d6098438d606d961613fa67a38d19e091ca88006605a7df85a7f"
SIZE = 749_377  # bytes; a larger download is refused
LICENCE = "Apache-2.0 (MMAction2, open-mmlab/mmaction2 demo/demo_skeleton.mp4)"


def demo_url() -> str:
    """Where the clip is fetched from: MMAction2's file at a fixed commit, or $SHIFTGCN_DEMO_URL's
    base with the same file name."""
    base = os.environ.get(URL_ENV) or BASE_URL
    return f"{base.rstrip('/')}/{FILE_NAME}"


def demo_clip(progress: ProgressFn | None = None) -> Path:
    """The demo clip's path in the user's cache folder, downloaded and digest-checked on first
    use; offline, one UserError line (DownloadFailed) with the URL and where to save it."""
    dest = user_cache_dir("demo", FILE_NAME)
    if dest.is_file() and sha256_of(dest) == SHA256:
        return dest
    return download(
        demo_url(),
        dest,
        SHA256,
        progress,
        max_bytes=SIZE,
        writable_hint="set XDG_CACHE_HOME to a writable folder",
    )


def resolve_source(spec: str) -> str:
    """`spec` with the word 'demo' replaced by the demo clip's path (fetched if need be)."""
    return str(demo_clip()) if spec == DEMO_SOURCE and not Path(spec).exists() else spec
