"""train.skeleton edge cases and train.gendata output, on .skeleton files written here."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from shared_paths import SHARED

from common.errors import UserError
from model.preprocess import STREAMS, make_stream
from train import gendata
from train.skeleton import SkeletonFileError, read_skeleton
from train.synthetic import format_skeleton
from train.synthetic import generate as make_synthetic


def _bodies(num_bodies: int, frames: int, spread: list[float], seed: int = 0) -> np.ndarray:
    """(M, T, 25, 3) random bodies about 3 m away; body m's joints spread by spread[m]."""
    rng = np.random.default_rng(seed)
    shape = (num_bodies, frames, 25, 3)
    bodies = rng.normal(0, 1, shape) * np.asarray(spread)[:, None, None, None]
    return bodies + np.array([0.0, 0.0, 3.0])


def _write(path: Path, bodies: np.ndarray, present: np.ndarray | None = None) -> Path:
    path.write_text(format_skeleton(bodies, present))
    return path


# --- parser -------------------------------------------------------------------------------


def test_parser_keeps_the_two_most_energetic_slots(tmp_path):
    bodies = _bodies(3, 20, spread=[0.05, 0.5, 0.2])
    raw = read_skeleton(_write(tmp_path / "S001C001P001R001A001.skeleton", bodies))
    assert raw.shape == (3, 300, 25, 2) and raw.dtype == np.float32
    np.testing.assert_allclose(raw[:, :20, :, 0], bodies[1].transpose(2, 0, 1), atol=1e-5)
    np.testing.assert_allclose(raw[:, :20, :, 1], bodies[2].transpose(2, 0, 1), atol=1e-5)
    assert not np.any(raw[:, 20:])


def test_parser_slots_follow_position_in_each_frame(tmp_path):
    bodies = _bodies(2, 10, spread=[0.5, 0.2])
    present = np.ones((2, 10), bool)
    present[0, :4] = False  # body 0 missing at first: body 1 is listed first, in slot 0
    raw = read_skeleton(_write(tmp_path / "a.skeleton", bodies, present))
    np.testing.assert_allclose(raw[:, :4, :, 0], bodies[1, :4].transpose(2, 0, 1), atol=1e-5)
    np.testing.assert_allclose(raw[:, 4:10, :, 0], bodies[0, 4:].transpose(2, 0, 1), atol=1e-5)


def test_parser_cuts_long_files_and_reads_frames_without_bodies(tmp_path):
    bodies = _bodies(1, 320, spread=[0.3])
    present = np.ones((1, 320), bool)
    present[0, 5] = False
    raw = read_skeleton(_write(tmp_path / "long.skeleton", bodies, present))
    assert raw.shape == (3, 300, 25, 2)
    assert not np.any(raw[:, 5]) and np.all(raw[2, 6:300, :, 0] > 0)


def test_parser_names_file_and_line_of_corrupt_and_truncated_files(tmp_path):
    text = format_skeleton(_bodies(1, 3, spread=[0.3])).splitlines()
    cases = {
        "truncated": (text[:40], "line 41"),  # frame 2's joints cut off
        "bad_number": (text[:10] + ["0.1 oops 0.3 0 0 0 0 0 0 0 0 2"] + text[11:], "line 11"),
        "bad_count": (text[:1] + ["two"] + text[2:], "line 2"),
        "not_finite": (text[:12] + ["nan 0.2 3 0 0 0 0 0 0 0 0 2"] + text[13:], "line 13"),
        "empty_file": ([], "line 1"),
    }
    for name, (lines, where) in cases.items():
        path = tmp_path / f"{name}.skeleton"
        path.write_text("\n".join(lines))
        with pytest.raises(SkeletonFileError) as err:
            read_skeleton(path)
        assert str(path) in str(err.value) and where in str(err.value), (name, str(err.value))
        assert "\n" not in str(err.value)


def test_parser_reads_sample_without_skeleton_as_zeros(tmp_path):
    path = tmp_path / "none.skeleton"
    path.write_text("4\n0\n0\n0\n0\n")
    assert not np.any(read_skeleton(path))


# --- gendata ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """A synthetic set plus one corrupt, one empty, one ignored and one foreign file."""
    folder = tmp_path_factory.mktemp("raw")
    make_synthetic(folder, classes=3, per_class=4, seed=1, progress=False)
    good = format_skeleton(_bodies(1, 5, spread=[0.3]))
    (folder / "S001C001P001R001A004.skeleton").write_text(good[: len(good) // 2])  # truncated
    (folder / "S001C001P001R001A005.skeleton").write_text("3\n0\n0\n0\n")  # no skeleton
    (folder / "S001C001P001R001A006.skeleton").write_text(good)  # in the ignore list
    (folder / "notes.skeleton").write_text(good)  # not an NTU name
    (folder / "S020C001P001R001A001.skeleton").write_text(good)  # setup 20: NTU-120 only
    return folder


def _read_labels(path: Path) -> tuple[list[str], list[int]]:
    with path.open("rb") as f:
        names, labels = pickle.load(f)
    return names, labels


def test_gendata_writes_every_benchmark_split_and_stream(raw_dir, tmp_path, capsys):
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("S001C001P001R001A006\n")
    out = tmp_path / "out"
    summary = gendata.generate(
        "ntu60", raw_dir, out, ignored_samples=ignore, workers=2, progress=False
    )
    assert sorted(p.name for p in out.iterdir()) == ["xsub", "xview"]
    assert summary.written == {"xsub": {"train": 6, "val": 6}, "xview": {"train": 6, "val": 6}}
    assert summary.empty == ["S001C001P001R001A005.skeleton"]
    assert len(summary.corrupt) == 1 and "S001C001P001R001A004.skeleton" in summary.corrupt[0]
    assert "line" in summary.corrupt[0]
    assert (summary.ignored, summary.outside) == (1, 2)
    assert "S001C001P001R001A004.skeleton" in capsys.readouterr().err

    for bench in ("xsub", "xview"):
        folder = out / bench
        assert not list(folder.glob(".*")), "temporary files left behind"
        for split in ("train", "val"):
            names, labels = _read_labels(folder / f"{split}_label.pkl")
            assert isinstance(names, list) and isinstance(labels, list)
            assert all(isinstance(label, int) for label in labels)
            assert labels == [int(n[n.index("A") + 1 :][:3]) - 1 for n in names]
            first = gendata.load_sample(raw_dir / names[0])
            for stream in STREAMS:
                data = np.load(folder / f"{split}_data_{stream}.npy", mmap_mode="r")
                assert data.shape == (len(names), 3, 300, 25, 2) and data.dtype == np.float32
                np.testing.assert_array_equal(data[0], make_stream(first, stream))
                assert np.all(np.abs(data).reshape(len(names), -1).sum(axis=1) > 0)


def test_gendata_ntu120_defaults_and_single_worker(raw_dir, tmp_path):
    summary = gendata.generate("ntu120", raw_dir, tmp_path, workers=1, progress=False)
    assert set(summary.written) == {"xsub", "xset"}
    names, _ = _read_labels(tmp_path / "xset" / "train_label.pkl")
    assert all(int(n[1:4]) % 2 == 0 for n in names)
    assert summary.outside == 1  # setup 20 belongs to NTU-120; only "notes" is foreign


def test_gendata_interrupted_run_leaves_no_complete_looking_output(raw_dir, tmp_path, monkeypatch):
    calls, load = [], gendata.load_sample

    def failing_load(path):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return load(path)

    monkeypatch.setattr(gendata, "load_sample", failing_load)
    with pytest.raises(KeyboardInterrupt):
        gendata.generate("ntu60", raw_dir, tmp_path, benchmarks=["xsub"], workers=1, progress=False)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_gendata_refuses_bad_arguments_with_one_line(raw_dir, tmp_path, capsys):
    for argv, message in [
        (
            ["--dataset", "ntu60", "--data-path", str(tmp_path / "nope"), "--out", str(tmp_path)],
            "not a folder",
        ),
        (
            [
                "--dataset",
                "ntu60",
                "--data-path",
                str(raw_dir),
                "--out",
                str(tmp_path),
                "--benchmarks",
                "xset",
            ],
            "no benchmark 'xset'",
        ),
        (
            ["--dataset", "ntu60", "--data-path", str(tmp_path), "--out", str(tmp_path / "o")],
            "no ntu60 .skeleton files",
        ),
    ]:
        assert gendata.main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err
    with pytest.raises(UserError, match="unknown dataset"):
        gendata.generate("ntu61", raw_dir, tmp_path)


def test_gendata_cli_reports_summary(raw_dir, tmp_path, capsys):
    argv = [
        "--dataset",
        "ntu60",
        "--data-path",
        str(raw_dir),
        "--out",
        str(tmp_path),
        "--benchmarks",
        "xview",
        "--workers",
        "1",
    ]
    assert gendata.main(argv) == 0
    out = capsys.readouterr().out
    assert "xview: train 6 samples, val 7 samples" in out  # ignore list not given this time
    assert "skipped 1 unreadable files:" in out and "S001C001P001R001A004.skeleton: line" in out


def test_gendata_matches_reference_arrays(tmp_path):
    reference = SHARED / "fixtures" / "ntu_preprocessing_reference.npz"
    if not reference.is_file():
        pytest.skip(f"reference arrays not found at {reference} (../shared is absent)")
    gendata.generate(
        "ntu60", SHARED / "fixtures" / "skeletons", tmp_path, workers=2, progress=False
    )
    with np.load(reference) as ref:
        index = {str(n): i for i, n in enumerate(ref["names"])}
        for bench in ("xsub", "xview"):
            for split in ("train", "val"):
                names, labels = _read_labels(tmp_path / bench / f"{split}_label.pkl")
                rows = [index[n] for n in names]
                assert labels == ref["labels"][rows].tolist()
                for stream in STREAMS:
                    data = np.load(tmp_path / bench / f"{split}_data_{stream}.npy")
                    np.testing.assert_allclose(data, ref[stream][rows], atol=1e-4)


def test_trim_keeps_a_valid_npy(tmp_path):
    path = tmp_path / "a.npy"
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1000, 3))
    array[:] = np.arange(3000).reshape(1000, 3)
    array.flush()
    del array
    gendata._trim_npy(path, 998)
    np.testing.assert_array_equal(np.load(path), np.arange(2994).reshape(998, 3))


def test_gendata_unwritable_output_is_one_line(raw_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = ["--dataset", "ntu60", "--data-path", str(raw_dir), "--out", str(blocker / "out")]
    assert gendata.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write the arrays under") and "\n" not in err
