"""Atomic file writes: results and checkpoints appear whole or not at all, even after a crash.

One output rule for every writer: a regular file (or a new name) is replaced atomically; a
character device or a FIFO (/dev/stdout, /dev/null, a pipe) is written to in place, never renamed
over; a folder, a block device or a socket is refused in one line. A write that fails for lack of
space (or a read-only disk) is one line naming the file, and leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import UserError

# errno values that mean the destination cannot take the bytes: said in one line, not a traceback
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
FIFO_PATIENCE_S = 2.0  # how long a FIFO's reader may take to open it
_SPECIAL_TREES = ("/dev/", "/proc/")  # /dev/stdout may lead to a regular file: written in place


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; when the block succeeds its bytes become `path` (see the module
    docstring for what kind of path gets which treatment).

    For a file, the temporary file lies beside `path` and reaches the disk (fsync) before the
    rename, so a power cut leaves the old file or the new one. The temporary name carries this
    process's id: the `.part` files that killed writers left beside `path` are removed here,
    those of running writers are left alone. A symbolic link keeps pointing where it did: the
    file it names is the one replaced.
    """
    path = Path(path)
    try:
        if written_in_place(path):
            with _write_in_place(path) as tmp:
                yield tmp
            return
        if path.is_symlink():
            path = Path(os.path.realpath(path))
        with _replace_atomically(path) as tmp:
            yield tmp
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        raise write_error(path, err) from None


def _disk_full(path: Path) -> bool:
    """Whether the file system `path` would be written on has no free block left."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def write_error(path: str | os.PathLike, err: OSError) -> UserError:
    """The one line for a write that failed (a full disk, a read-only one)."""
    advice = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EDQUOT: "free some space or write elsewhere",
        errno.EROFS: "write elsewhere",
    }.get(err.errno, "check the disk or write elsewhere")
    return UserError(f"cannot write {path}: {err.strerror or err}; {advice} (nothing was written)")


def written_in_place(path: str | os.PathLike, what: str = "output") -> bool:
    """Whether `path` is a stream written in place (a character device such as /dev/stdout or
    /dev/null, a FIFO); False for a regular file or a new name. A folder, a block device or a
    socket is a UserError naming `what`: renaming over it would destroy it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # absent, or a folder above it is missing or a file: a new name
        return False
    if stat.S_ISREG(mode):
        return os.path.abspath(path).startswith(_SPECIAL_TREES)
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    kind = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise UserError(f"{what} {path} is {kind}, which is never written over; give a file name")


def check_not_input(
    what: str, output: str | os.PathLike, inputs: Iterable[str | os.PathLike]
) -> None:
    """Refuse in one line an output that is one of the command's inputs (it would be destroyed)."""
    target = os.path.realpath(output)
    for source in inputs:
        if os.path.realpath(source) == target:
            raise UserError(
                f"{what} {output} is the input {source}: it would be destroyed; "
                "write the output elsewhere"
            )


@contextlib.contextmanager
def _replace_atomically(path: Path) -> Iterator[Path]:
    """A temporary file beside `path`, renamed over it once written and synced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the final file normal permissions
    try:
        try:
            yield tmp
        except OSError as err:
            if err.errno is None and _disk_full(path):  # numpy: "N requested and M written"
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
            raise
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _write_in_place(path: Path) -> Iterator[Path]:
    """A temporary file in the system's temporary folder, copied into the stream `path` once
    written (a FIFO nobody reads is refused rather than waited on for ever)."""
    with tempfile.TemporaryDirectory(prefix="shiftgcn-out-") as folder:
        tmp = Path(folder) / path.name
        tmp.touch()
        yield tmp
        fd = _open_stream(path)
        with open(fd, "wb") as out, open(tmp, "rb") as data:
            shutil.copyfileobj(data, out)


def _open_stream(path: Path, patience: float = FIFO_PATIENCE_S) -> int:
    """A blocking write descriptor for `path`; a FIFO gets `patience` seconds for a reader to
    open it, then a UserError (opening it blocking would wait for ever)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno != errno.ENXIO:
                raise
            if time.monotonic() > deadline:
                raise UserError(
                    f"cannot write {path}: nothing reads this FIFO; start its reader first"
                ) from None
            time.sleep(0.05)
        else:
            os.set_blocking(fd, True)
            return fd


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock (fcntl.flock) on the lock file `path` for the block; released
    by the kernel when the holder dies. `wait` False: a UserError naming `what` when another
    process holds it, instead of waiting."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise UserError(
                f"{what} is in use by another process (lock {path}); wait for it to end"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_parts(path: Path) -> list[Path]:
    """Delete the temporary files of `path` left by writers that are no longer running."""
    removed = []
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part*"):
        pid = part.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def _running(pid: int) -> bool:
    """Whether a process with this id exists (a reused id counts: its file is then kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (not possible on every platform or file system)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
