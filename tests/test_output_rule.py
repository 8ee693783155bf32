"""One output rule for every writer (common.fileio.atomic_write): streams written in place,
folders, block devices and sockets refused, never renamed over; a full disk is one line naming
the file with nothing left behind; no command writes onto its input; OpenCV's video checked."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import subprocess
import threading

import numpy as np
import pytest
from card_helpers import save_plain

from common import fileio
from common.errors import UserError
from common.fileio import atomic_write, check_not_input


@contextlib.contextmanager
def small_tmpfs(folder, size="64k"):
    """A real file system of `size` bytes mounted at `folder` (root only; skipped elsewhere)."""
    folder.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_fifo_is_written_in_place_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        with atomic_write(fifo) as tmp:
            tmp.write_bytes(b"result")
    finally:
        reader.join(timeout=10)
    assert received == [b"result"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="nothing reads this FIFO"), atomic_write(fifo) as tmp:
        tmp.write_bytes(b"result")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def _device(tmp_path, name, major, minor):
    """A private character device node (root only), so a regression replaces only this one."""
    node = tmp_path / name
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return node


def test_devices_are_written_in_place_and_a_full_one_is_one_line(tmp_path):
    null = _device(tmp_path, "null", 1, 3)
    with atomic_write(null) as tmp:
        tmp.write_bytes(b"x" * 1000)
    assert stat.S_ISCHR(os.stat(null).st_mode)
    full = _device(tmp_path, "full", 1, 7)
    with pytest.raises(UserError, match=r"cannot write .*full: No space left on device"):
        with atomic_write(full) as tmp:
            tmp.write_bytes(b"x" * 1000)
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_folders_and_sockets_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(UserError, match="is a folder"), atomic_write(folder) as tmp:
        tmp.write_bytes(b"x")
    assert folder.is_dir()
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        with pytest.raises(UserError, match="is a socket"), atomic_write(sock_path) as tmp:
            tmp.write_bytes(b"x")
    assert stat.S_ISSOCK(os.stat(sock_path).st_mode)


def test_a_symbolic_link_keeps_pointing_at_the_file_it_names(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with atomic_write(link) as tmp:
        tmp.write_text("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_full_disk_is_one_line_naming_the_file_with_the_old_file_kept(tmp_path, monkeypatch):
    """A fake full disk: the write raises ENOSPC part-way."""
    target = tmp_path / "results.json"
    target.write_text("old")

    def write_half(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(UserError) as caught, atomic_write(target) as tmp:
        write_half(tmp)
    assert str(caught.value).startswith(f"cannot write {target}: No space left on device")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["results.json"]


def test_other_os_errors_are_not_dressed_as_write_errors(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_write(tmp_path / "out"):
        (tmp_path / "missing-input").read_bytes()


def test_a_real_full_file_system_numpy_checkpoint_and_video(tmp_path):
    """A 64 KB tmpfs: .npy, checkpoint and annotated-video writes end in one line naming the
    file, and the file system holds nothing afterwards."""
    from app.annotate import video_writer
    from model import ModelConfig, build_model

    with small_tmpfs(tmp_path / "disk") as disk:
        with pytest.raises(UserError, match="skeleton.npy: No space left"):
            with atomic_write(disk / "skeleton.npy") as tmp, open(tmp, "wb") as handle:
                np.save(handle, np.zeros(100_000, np.float32))
        net = build_model(ModelConfig(num_class=5, channels=(16, 32), strides=(1, 2)))
        with pytest.raises(UserError, match="best.pt: No space left"):
            save_plain(disk / "best.pt", net)
        rng = np.random.default_rng(0)
        with pytest.raises(UserError, match="annotated.mp4"):
            with video_writer(disk / "annotated.mp4", 30.0, (320, 240)) as writer:
                for _ in range(60):
                    writer.write(rng.integers(0, 255, (240, 320, 3), np.uint8))
        assert os.listdir(disk) == []


def test_the_video_written_is_checked_and_reopens_with_every_frame(tmp_path):
    import cv2

    from app.annotate import video_writer

    out = tmp_path / "ok.mp4"
    with video_writer(out, 30.0, (64, 48)) as writer:
        for value in range(12):
            writer.write(np.full((48, 64, 3), value * 20, np.uint8))
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12 and capture.read()[0]
    capture.release()


def test_an_output_equal_to_an_input_is_refused(tmp_path):
    source = tmp_path / "best.pt"
    source.write_bytes(b"checkpoint")
    (tmp_path / "link.pt").symlink_to(source)
    for spelling in (source, tmp_path / "." / "best.pt", tmp_path / "link.pt"):
        with pytest.raises(UserError, match="would be destroyed"):
            check_not_input("--out", spelling, [source])
    check_not_input("--out", tmp_path / "model.onnx", [source])


def test_export_refuses_its_own_checkpoint_a_fifo_and_huge_lengths(tmp_path, capsys):
    from model import ModelConfig, build_model
    from weights.export import main

    weights = tmp_path / "best.pt"
    save_plain(weights, build_model(ModelConfig(num_class=5, channels=(16,), strides=(1,))))
    before = weights.read_bytes()
    fifo = tmp_path / "x.fifo"
    os.mkfifo(fifo)
    for out, extra, message in (
        (weights, [], "is the input"),
        (fifo, [], "nothing reads this FIFO"),
        (tmp_path, [], "is a folder"),
        (tmp_path / "m.onnx", ["--frames", "4000000"], "--frames 4000000 is out of bounds"),
    ):
        status = main(["--weights", str(weights), "--out", str(out), *extra])
        err = capsys.readouterr().err
        assert status == 1 and err.count("\n") == 1 and message in err, err
    assert weights.read_bytes() == before and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_stale_part_files_are_not_looked_for_beside_a_stream(tmp_path, monkeypatch):
    """Writing in place never touches the folder the stream lives in."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(fileio, "remove_stale_parts", lambda path: pytest.fail("looked"))
    reader = threading.Thread(target=lambda: fifo.read_bytes())
    reader.start()
    with atomic_write(fifo) as tmp:
        tmp.write_bytes(b"x")
    reader.join(timeout=10)
