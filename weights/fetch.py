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

from model.errors import UserError
from model.fileio import atomic_write
from model.progress import progress_bar

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


class DownloadFailed(UserError):
    """A checkpoint could not be downloaded (or arrived damaged): `url` and `dest` say what to
    fetch by hand and where to save it, for a window that shows them as fields to copy."""

    def __init__(self, message: str, url: str, dest: Path) -> None:
        super().__init__(message)
        self.url, self.dest = url, dest


def manual_hint(url: str, dest: Path) -> str:
    """The instruction for fetching a file without this tool."""
    return f"download it by hand from {url} and save it as {dest}"


def download(url: str, dest: Path, sha256: str, progress: ProgressFn | None = None) -> Path:
    """Fetch `url` into `dest`, verify its digest, and rename it into place only if it matches."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with atomic_write(dest) as tmp, _progress(dest.name, total, progress) as report:
                got = _copy_response(response, tmp, total, report)
                if got != sha256:
                    raise DownloadFailed(
                        f"the file downloaded from {url} has sha256 {got}, expected {sha256}; "
                        f"nothing was saved: retry, or {manual_hint(url, dest)}", url, dest)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadFailed(
            f"could not download {dest.name} ({reason}); {manual_hint(url, dest)}", url, dest
        ) from None
    except OSError as err:
        raise UserError(f"cannot write {dest} ({err.strerror or err}); "
                        f"choose a writable directory with --dir or SHIFTGCN_WEIGHTS_DIR") from None
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
    """Use the caller's progress callback, or a bar on the terminal when there is none."""
    if progress is not None:
        yield progress
        return
    bar = progress_bar(desc=label, total=total, unit="B", unit_scale=True, unit_divisor=1024)

    def update(done: int, _total: int | None) -> None:
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
