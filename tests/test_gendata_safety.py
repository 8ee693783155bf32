"""train.gendata under faults: values that overflow float32, a re-run killed between its splits,
a stop (Ctrl-C, kill) with workers running, and worker counts out of bounds."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from common.errors import UserError
from train import gendata
from train.skeleton import SkeletonFileError, read_skeleton
from train.synthetic import format_skeleton
from train.synthetic import generate as make_synthetic

REPO = Path(__file__).resolve().parents[1]


def _body(frames: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0, 0.3, (1, frames, 25, 3)) + np.array([0.0, 0.0, 3.0])


def test_a_coordinate_beyond_float32_is_refused_naming_its_line(tmp_path):
    """1e39 is finite in float64 but inf in the float32 arrays: refused, not written as inf."""
    lines = format_skeleton(_body()).splitlines()
    lines[12] = "1e39 0.2 3 0 0 0 0 0 0 0 0 2"
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SkeletonFileError, match="line 13"):
        read_skeleton(path)


def test_values_that_overflow_once_normalised_are_skipped(tmp_path):
    """Joints near float32's limit pass the parser but not the bone stream: the sample is
    reported and left out; no non-finite value reaches the arrays."""
    raw = tmp_path / "raw"
    make_synthetic(raw, classes=2, per_class=4, seed=3, progress=False)
    body = _body()
    body[0, :, 1::2] = 3e38
    body[0, :, ::2] = -3e38
    (raw / "S001C001P001R001A001.skeleton").write_text(format_skeleton(body))
    summary = gendata.generate(
        "ntu60", raw, tmp_path / "out", benchmarks=["xsub"], workers=1, progress=False
    )
    assert any("S001C001P001R001A001" in c and "not finite" in c for c in summary.corrupt)
    for stream in ("joint", "bone", "joint_motion", "bone_motion"):
        for split in ("train", "val"):
            data = np.load(tmp_path / "out" / "xsub" / f"{split}_data_{stream}.npy")
            assert np.isfinite(data).all()


def test_a_rerun_killed_between_splits_leaves_no_complete_looking_mix(tmp_path, monkeypatch):
    """Kill a re-run after its train arrays replaced the old ones: the folder must not look
    complete (new train data beside old validation data)."""
    raw = tmp_path / "raw"
    make_synthetic(raw, classes=2, per_class=4, seed=3, progress=False)
    out = tmp_path / "out"
    gendata.generate("ntu60", raw, out, benchmarks=["xsub"], workers=1, progress=False)
    real_write = gendata.atomic_write

    @contextlib.contextmanager
    def killed_after_one_file(path):
        with real_write(path) as tmp:
            yield tmp
        raise KeyboardInterrupt  # the first split's label file is complete: killed now

    monkeypatch.setattr(gendata, "atomic_write", killed_after_one_file)
    with pytest.raises(KeyboardInterrupt):
        gendata.generate("ntu60", raw, out, benchmarks=["xsub"], workers=1, progress=False)
    labels = [gendata.label_file(out / "xsub", split).is_file() for split in ("train", "val")]
    assert not all(labels)


def test_worker_counts_out_of_bounds_are_one_line(tmp_path, capsys):
    for workers in ("0", "1000000000"):
        status = gendata.main(
            [
                "--dataset",
                "ntu60",
                "--data-path",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
                "--workers",
                workers,
            ]
        )
        err = capsys.readouterr().err
        assert status == 1 and "--workers" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def many_files(tmp_path_factory) -> Path:
    """Enough copies of one long sample to keep two workers busy for several seconds."""
    folder = tmp_path_factory.mktemp("many")
    text = format_skeleton(_body(frames=300))
    for i in range(2000):
        (folder / f"S001C001P{1 + i // 60:03d}R001A{1 + i % 60:03d}.skeleton").write_text(text)
    return folder


def _start(raw: Path, out: Path) -> subprocess.Popen:
    """gendata with two workers, in its own process group (as a terminal runs it)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "train.gendata",
            "--dataset",
            "ntu60",
            "--data-path",
            str(raw),
            "--out",
            str(out),
            "--benchmarks",
            "xsub",
            "--workers",
            "2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C reaches it even where the test runner was started in the background, whose
        # children inherit an ignored SIGINT (Python then never raises KeyboardInterrupt)
        preexec_fn=_sigint_default,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob("xsub/.*.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # workers are parsing
    return process


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_gone(pgid: int) -> bool:
    for _ in range(50):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "kill", "kill the group"])
def test_a_stop_is_one_line_and_the_workers_exit(many_files, tmp_path, how):
    """Ctrl-C (SIGINT to the whole group), kill (SIGTERM to the main process) or a kill of the
    whole group: one line, no worker traceback, every worker gone, and no label file (the
    output looks incomplete)."""
    process = _start(many_files, tmp_path / "out")
    assert process.poll() is None, process.communicate()
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    elif how == "kill":
        process.send_signal(signal.SIGTERM)
    else:
        os.killpg(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    _assert_one_error_line(err, "error: stopped")
    _assert_ended_incomplete(process, tmp_path / "out")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_worker_that_dies_ends_the_run_in_one_line(many_files, tmp_path):
    """A worker killed on its own (the out-of-memory killer): the run ends, saying so, instead of
    waiting without end for the file that worker had."""
    process = _start(many_files, tmp_path / "out")
    assert process.poll() is None, process.communicate()
    os.kill(_workers(process.pid)[0], signal.SIGKILL)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    _assert_one_error_line(err, "error: a gendata worker process died")
    _assert_ended_incomplete(process, tmp_path / "out")


def _workers(pid: int) -> list[int]:
    """The process ids of pid's worker processes: its children forked with its command line
    (Linux; multiprocessing's resource tracker, another child, runs a command of its own)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return [child for child in children if Path(f"/proc/{child}/cmdline").read_bytes() == command]


def _assert_one_error_line(err: str, start: str) -> None:
    """The run's only error is one line that begins with `start`, with no traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(start), err


def _assert_ended_incomplete(process: subprocess.Popen, out: Path) -> None:
    """Every worker is gone, no label file marks a split complete and no temporary file stays."""
    assert _group_gone(process.pid), "a worker process outlived gendata"
    assert not list(out.rglob("*_label.pkl"))
    assert not list(out.rglob("*.part"))


def _shared_memory_free(monkeypatch, free: int) -> None:
    """Make /dev/shm look as if it had `free` bytes free."""
    real = shutil.disk_usage

    def usage(path):
        if Path(path) == gendata.SHARED_MEMORY_DIR:
            return real(path)._replace(free=free)
        return real(path)

    monkeypatch.setattr(gendata.shutil, "disk_usage", usage)


def test_little_shared_memory_means_fewer_files_in_flight_and_the_same_arrays(
    tmp_path, monkeypatch
):
    """Workers hand samples over in shared memory: with room for three slots, two workers give
    the arrays one process gives."""
    raw = tmp_path / "raw"
    make_synthetic(raw, classes=2, per_class=5, seed=3, progress=False)
    gendata.generate("ntu60", raw, tmp_path / "one", ["xsub"], workers=1, progress=False)
    _shared_memory_free(monkeypatch, 2 * 3 * gendata.SAMPLE_BYTES)
    counts = []

    class CountedSlots(gendata._SampleSlots):
        def __init__(self, count: int) -> None:
            counts.append(count)
            super().__init__(count)

    monkeypatch.setattr(gendata, "_SampleSlots", CountedSlots)
    gendata.generate("ntu60", raw, tmp_path / "two", ["xsub"], workers=2, progress=False)
    assert counts == [3]
    for split in ("train", "val"):
        one, two = (
            np.load(tmp_path / run / "xsub" / f"{split}_data_joint.npy") for run in ("one", "two")
        )
        assert len(one) > 0 and np.array_equal(one, two)


def test_too_little_shared_memory_for_the_workers_is_one_line(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    make_synthetic(raw, classes=2, per_class=4, seed=3, progress=False)
    _shared_memory_free(monkeypatch, gendata.SAMPLE_BYTES)
    with pytest.raises(UserError, match=r"shared memory .* give fewer --workers"):
        gendata.generate("ntu60", raw, tmp_path / "out", ["xsub"], workers=2, progress=False)


def test_a_label_file_round_trip_is_plain_data(tmp_path):
    """The label file stays the (names, labels) pickle the feeder reads."""
    raw = tmp_path / "raw"
    make_synthetic(raw, classes=2, per_class=4, seed=3, progress=False)
    gendata.generate("ntu60", raw, tmp_path / "out", benchmarks=["xsub"], workers=1, progress=False)
    with open(tmp_path / "out" / "xsub" / "train_label.pkl", "rb") as f:
        names, labels = pickle.load(f)
    assert len(names) == len(labels) > 0


def test_absurd_frame_counts_and_sizes_in_skeleton_files_are_refused(tmp_path):
    """A frame count beyond the bound, or a file far larger than any sample: refused before
    the file is read into memory."""
    counted = tmp_path / "many.skeleton"
    counted.write_text("1000000000\n" + "0\n" * 10)
    with pytest.raises(SkeletonFileError, match="1000000000 frames, more than the 10000"):
        read_skeleton(counted)
    huge = tmp_path / "huge.skeleton"
    with huge.open("wb") as f:
        f.truncate(1 << 30)  # sparse: no disk used
    with pytest.raises(SkeletonFileError, match="more than the 67108864"):
        read_skeleton(huge)


def test_a_stop_while_writing_a_sample_is_an_interrupt(tmp_path):
    """Ctrl-C or kill lands while samples are written: the KeyboardInterrupt comes through as
    such (ndarray.tofile turned about 3 % of them into a TypeError with a traceback). Timer
    signals at random points of the writes stand in for the user's."""

    def interrupt(_signum, _frame) -> None:
        raise KeyboardInterrupt

    sample = np.ones(gendata.SAMPLE_SHAPE, dtype=np.float32)
    streams = dict.fromkeys(gendata.STREAMS, sample)
    previous = signal.signal(signal.SIGALRM, interrupt)
    raised = []
    try:
        for trial in range(200):
            writer = gendata._SplitWriter(tmp_path / str(trial), "train", capacity=1)
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.0005)
                while True:
                    writer.add("S001C001P001R001A001", 0, streams)
            except BaseException as err:  # noqa: BLE001 (the test is which exception comes)
                raised.append(type(err).__name__)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                writer.discard()
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert set(raised) == {"KeyboardInterrupt"}
