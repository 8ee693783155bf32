"""MediaPipe's lite and heavy pose models (model_complexity 0 and 2), fetched once into a cache.

mediapipe 0.10.21 bundles only the full model and downloads the others into its own package
folder on first use, silently and unchecked. Here the project fetches them (a progress bar, the
checks of pose/pose_models.yaml), keeps them in a cache folder and links them where mediapipe's
graph looks for them; offline, one line says what to fetch and where to put it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from common.cache import user_cache_dir
from common.errors import UserError
from common.yaml_files import read_yaml

MODELS_FILE = Path(__file__).with_name("pose_models.yaml")
TFLITE_IDENTIFIER = b"TFL3"  # FlatBuffers file identifier of a TensorFlow Lite model, bytes 4-8


def pose_model_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache of downloaded pose models: `override`, else $SHIFTGCN_POSE_DIR, else
    the user's cache folder's pose/ (~/.cache/shiftgcn-live/pose)."""
    if override is not None:
        return Path(override)
    if os.environ.get("SHIFTGCN_POSE_DIR"):
        return Path(os.environ["SHIFTGCN_POSE_DIR"])
    return user_cache_dir("pose")


def _entry(complexity: int) -> dict:
    models = read_yaml(MODELS_FILE)["models"]
    if complexity not in models:
        raise UserError(
            f"no downloadable pose model for model_complexity={complexity} "
            f"(known: {', '.join(str(k) for k in models)}; 1 is bundled)"
        )
    return models[complexity]


def model_url(entry: dict) -> str:
    """The entry's URL, with its base replaced by $SHIFTGCN_POSE_URL when set."""
    base = os.environ.get("SHIFTGCN_POSE_URL")
    return f"{base.rstrip('/')}/{entry['file']}" if base else entry["url"]


def check_model_file(path: Path, entry: dict) -> None:
    """Raise UserError unless `path` looks like the entry's model: size, TFLite identifier and,
    when recorded, the sha256."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        identifier = f.read(8)[4:8]
    problem = None
    if not entry["min_bytes"] <= size <= entry["max_bytes"]:
        problem = f"{size} bytes, outside the {entry['min_bytes']}-{entry['max_bytes']} expected"
    elif identifier != TFLITE_IDENTIFIER:
        problem = "not a TensorFlow Lite model (no TFL3 identifier)"
    elif entry.get("sha256"):
        from common.download import sha256_of

        digest = sha256_of(path)
        if digest != entry["sha256"]:
            problem = f"sha256 {digest}, expected {entry['sha256']} ({MODELS_FILE.name})"
    if problem:
        raise UserError(
            f"{path.name} from {model_url(entry)} is {problem}; nothing was kept: "
            "retry, or fetch it by hand (see pose/pose_models.yaml)"
        )


def _is_valid(path: Path, entry: dict) -> bool:
    try:
        check_model_file(path, entry)
    except (UserError, OSError):
        return False
    return True


def ensure_pose_model(
    complexity: int, mediapipe_root: Path, directory: str | os.PathLike | None = None, progress=None
) -> Path:
    """The path where mediapipe's graph reads the model of `complexity` (0 or 2), after fetching
    it into the cache and linking it there if needed. `mediapipe_root` is the mediapipe package
    folder; `progress(done, total)` replaces the tqdm bar (see common.download.download)."""
    from common.download import download, sha256_of

    entry = _entry(complexity)
    target = mediapipe_root / "modules" / "pose_landmark" / entry["file"]
    if _is_valid(target, entry):
        return target
    cached = pose_model_dir(directory) / entry["file"]
    if not _is_valid(cached, entry):
        url = model_url(entry)
        download(
            url,
            cached,
            entry.get("sha256"),
            progress,
            max_bytes=int(entry["max_bytes"]),
            check=lambda tmp: check_model_file(tmp, entry),
            writable_hint="set SHIFTGCN_POSE_DIR to a writable folder",
        )
        if not entry.get("sha256"):
            print(
                f"fetched {cached} from {url}: sha256 {sha256_of(cached)}, not recorded in "
                f"{MODELS_FILE.name} yet (only its size and format were checked)"
            )
    _link(cached, target)
    return target


def _link(cached: Path, target: Path) -> None:
    """Make mediapipe find `cached` at `target`: a symbolic link, else a copy."""
    try:
        target.unlink(missing_ok=True)  # a broken link or a bad file left by another download
        try:
            target.symlink_to(cached.resolve())
        except OSError:
            shutil.copyfile(cached, target)
    except OSError as err:
        raise UserError(
            f"cannot place {target.name} in mediapipe's folder {target.parent} "
            f"({err.strerror or err}); copy {cached} there by hand"
        ) from None
