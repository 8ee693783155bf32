"""Download one checkpoint file: progress, sha256 check, and nothing partial left behind."""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

from tqdm import tqdm

from model.errors import UserError
from model.fileio import atomic_write

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30.0

ProgressFn = Callable[[int, Optional[int]], None]
"""Called as progress(bytes_done, bytes_total_or_None) after each chunk; may raise to cancel."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large files do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manual_hint(url: str, dest: Path) -> str:
    """The instruction for fetching a file without this tool."""
    return f"download it by hand from {url} and save it as {dest}"


def download(url: str, dest: Path, sha256: str | None, progress: ProgressFn | None = None,
             check: Callable[[Path], None] | None = None,
             writable_hint: str = "choose a writable directory with --dir or SHIFTGCN_WEIGHTS_DIR"
             ) -> Path:
    """Fetch `url` into `dest`, verify its digest (unless None) and `check(file)` (raising
    UserError), and rename it into place only if both pass."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with atomic_write(dest) as tmp, _progress(dest.name, total, progress) as report:
                got = _copy_response(response, tmp, total, report)
                if sha256 is not None and got != sha256:
                    raise UserError(
                        f"the file downloaded from {url} has sha256 {got}, expected {sha256}; "
                        f"nothing was saved: retry, or {manual_hint(url, dest)}"
                    )
                if check is not None:
                    check(tmp)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", None) or err
        raise UserError(
            f"could not download {dest.name} ({reason}); {manual_hint(url, dest)}"
        ) from None
    except OSError as err:
        raise UserError(f"cannot write {dest} ({err.strerror or err}); {writable_hint}") from None
    return dest


def _copy_response(response: http.client.HTTPResponse, tmp: Path, total: int | None,
                   report: ProgressFn) -> str:
    """Copy a response body into `tmp`, reporting progress; return the sha256 of the bytes."""
    digest = hashlib.sha256()
    done = 0
    with open(tmp, "wb") as out:
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            report(done, total)
    if total is not None and done != total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")
    return digest.hexdigest()


@contextlib.contextmanager
def _progress(label: str, total: int | None, progress: ProgressFn | None) -> Iterator[ProgressFn]:
    """Use the caller's progress callback, or a tqdm bar on stderr when there is none."""
    if progress is not None:
        yield progress
        return
    bar = tqdm(desc=label, total=total, unit="B", unit_scale=True, unit_divisor=1024)

    def update(done: int, _total: int | None) -> None:
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
