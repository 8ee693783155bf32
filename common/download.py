"""Download one checkpoint file: progress, sha256 check, and nothing partial left behind."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

from common.errors import UserError, one_line
from common.fileio import atomic_write
from common.progress import progress_bar

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30.0
DEFAULT_MAX_BYTES = 1 << 30  # for a registry entry that gives no size (Shift-GCN files are 4 MB)
MAX_REDIRECTS = 5

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


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS redirects, never from https to anything else."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 (urllib's API)
        old = urllib.parse.urlsplit(req.full_url).scheme
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl)).scheme
        if new not in ("http", "https") or (old == "https" and new != "https"):
            raise UserError(
                f"refused: {req.full_url} redirects to {newurl}, a {new} address "
                f"(a downgrade from {old}); nothing was saved"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SafeRedirects)


def download(
    url: str,
    dest: Path,
    sha256: str | None,
    progress: ProgressFn | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    check: Callable[[Path], None] | None = None,
    writable_hint: str = "choose a writable directory with --dir or SHIFTGCN_WEIGHTS_DIR",
) -> Path:
    """Fetch `url` into `dest`, verify its digest (unless None) and `check(file)` (raising
    UserError), and rename it into place only if both pass. More than `max_bytes` (announced or
    sent) stops the download: a server cannot fill the disk. Only http and https are fetched (a
    registry's file:// or ftp:// URL is refused: no reading local files through a download)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadFailed(
            f"refused to download {one_line(url[:200])}: only http and https URLs are fetched; "
            f"put the checkpoint at {dest} by hand",
            url,
            dest,
        )
    try:
        with _OPENER.open(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            if total is not None and total > max_bytes:
                raise _too_big(url, total, max_bytes)
            with atomic_write(dest) as tmp, _progress(dest.name, total, progress) as report:
                got = _copy_response(response, tmp, total, report, max_bytes, url)
                if sha256 is not None and got != sha256:
                    raise DownloadFailed(
                        f"the file downloaded from {url} has sha256 {got}, expected {sha256}; "
                        f"nothing was saved: retry, or {manual_hint(url, dest)}",
                        url,
                        dest,
                    )
                if check is not None:
                    check(tmp)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadFailed(
            f"could not download {dest.name} ({reason}); {manual_hint(url, dest)}", url, dest
        ) from None
    except OSError as err:
        raise UserError(f"cannot write {dest} ({err.strerror or err}); {writable_hint}") from None
    return dest


def _too_big(url: str, size: int, max_bytes: int) -> UserError:
    return UserError(
        f"refused: {url} sends {size} bytes or more, but the registry allows "
        f"{max_bytes}; nothing was saved (a wrong or hostile server?)"
    )


def _copy_response(
    response: http.client.HTTPResponse,
    tmp: Path,
    total: int | None,
    report: ProgressFn,
    max_bytes: int,
    url: str,
) -> str:
    """Copy a response body into `tmp`, reporting progress; return the sha256 of the bytes."""
    digest = hashlib.sha256()
    done = 0
    with open(tmp, "wb") as out:
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            if done + len(chunk) > max_bytes:
                raise _too_big(url, done + len(chunk), max_bytes)
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
