"""Own-action training under faults: one run per work folder (a lock, real processes), workers
that die with their parent, a damaged skeleton-cache entry named, discarded and rebuilt, class
names in NFC with control characters refused, an interrupted run continued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from common.errors import UserError
from pipeline import load_settings
from train import from_videos as fv
from train.video_skeletons import Extracted, SkeletonCache

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_run_on_one_work_folder_is_refused(tmp_path, capsys):
    work = tmp_path / "work"
    ready = tmp_path / "ready"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib; from common.fileio import file_lock\n"
            "with file_lock(sys.argv[1], 'w', wait=False):\n"
            "    pathlib.Path(sys.argv[2]).touch(); time.sleep(60)",
            str(work / fv.LOCK_NAME),
            str(ready),
        ],
        cwd=ROOT,
    )
    try:
        _wait_for(ready)
        status = fv.main([str(tmp_path / "videos"), "--work-dir", str(work)])
        err = capsys.readouterr().err
        assert status == 1 and err.count("\n") == 1 and "in use by another process" in err, err
    finally:
        holder.kill()
        holder.wait()
    # the kernel freed the killed holder's lock: the next run gets past it
    status = fv.main([str(tmp_path / "videos"), "--work-dir", str(work)])
    assert status == 1 and "does not exist" in capsys.readouterr().err


def test_extraction_workers_die_with_their_parent(tmp_path):
    """A parent killed with SIGKILL takes its worker with it (prctl PDEATHSIG)."""
    pid_file = tmp_path / "worker.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import multiprocessing as mp, sys, time\n"
            "from tests_worker import run\n"
            "if __name__ == '__main__':\n"
            "    p = mp.get_context('spawn').Process(target=run, args=(sys.argv[1],))\n"
            "    p.start(); time.sleep(120)",
            str(pid_file),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"},
    )
    (tmp_path / "tests_worker.py").write_text(
        "import os, pathlib, time\n"
        "from train.video_skeletons import die_with_parent\n"
        "def run(pid_file):\n"
        "    die_with_parent()\n"
        "    pathlib.Path(pid_file).write_text(str(os.getpid()))\n"
        "    time.sleep(120)\n"
    )
    try:
        _wait_for(pid_file)
        worker = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        end = time.monotonic() + 20
        while _alive(worker) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: it only waits to be reaped
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _damage(path: Path, kind: str) -> None:
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "wrong shape":
        with open(path, "wb") as handle:
            np.savez(handle, skeleton=np.zeros((5, 4), np.float32), frames=5)
    elif kind == "pickle":
        with open(path, "wb") as handle:
            np.savez(handle, skeleton=np.array([object()], dtype=object), frames=1)
    elif kind == "huge header":
        header = b"\x93NUMPY\x01\x00" + b"{'descr': '<f4', 'fortran_order': False, "
        header += b"'shape': (14000000000000, 3, 25, 2), }".ljust(70) + b"\n"
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("skeleton.npy", header + b"\0" * 64)
            archive.writestr("frames.npy", b"")
    elif kind == "folder":
        path.unlink()
        (path / "inside").mkdir(parents=True)


@pytest.mark.parametrize(
    "kind", ["truncated", "empty", "wrong shape", "pickle", "huge header", "folder"]
)
def test_a_damaged_cache_entry_is_named_discarded_and_rebuilt(tmp_path, capsys, kind):
    cache = SkeletonCache(tmp_path, load_settings())
    good = Extracted(np.ones((4, 3, 25, 2), np.float32), 4)
    cache.save("abc", good)
    path = cache.folder / "abc.npz"
    _damage(path, kind)
    assert cache.load("abc") is None
    assert str(path) in capsys.readouterr().err
    assert not path.exists()
    cache.save("abc", good)
    assert cache.load("abc").frames == 4


def test_class_names_are_nfc_and_control_characters_are_refused(tmp_path):
    from video_set_helpers import moving_person  # noqa: F401  (only the folder layout matters)

    root = tmp_path / "videos"
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    for name, clip in ((nfc, "a.mp4"), (nfd, "b.mp4"), ("tea", "c.mp4")):
        (root / name).mkdir(parents=True)
        (root / name / clip).write_bytes(b"video")
    classes = fv.find_classes(root)
    assert list(classes) == [nfc, "tea"] and len(classes[nfc]) == 2
    (root / "evil\x1b[31m").mkdir()
    with pytest.raises(UserError, match="control characters"):
        fv.find_classes(root)


def test_an_interrupted_run_is_continued_and_a_finished_one_kept(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / fv.LAST).write_bytes(b"checkpoint")
    assert fv.prepare_work_dir(work, overwrite=False) is True
    assert "continuing the interrupted run" in capsys.readouterr().out
    (work / fv.SUMMARY).write_text("{}")
    with pytest.raises(UserError, match="--overwrite"):
        fv.prepare_work_dir(work, overwrite=False)
    assert fv.prepare_work_dir(work, overwrite=True) is False
    assert not (work / fv.LAST).exists()


def test_bad_folders_and_fractions_are_one_line(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    videos = tmp_path / "videos"
    for args, message in (
        (["--work-dir", str(afile)], "is a file"),
        (["--work-dir", str(tmp_path / "w"), "--cache-dir", str(afile)], "is a file"),
        (["--work-dir", str(tmp_path / "w"), "--val-fraction", "nan"], "--val-fraction"),
        (["--work-dir", str(tmp_path / "w"), "--val", str(videos)], "is the training folder"),
    ):
        status = fv.main([str(videos), *args])
        err = capsys.readouterr().err
        assert status == 1 and err.count("\n") == 1 and message in err, err


def test_a_config_file_overrides_the_recipe_keys_it_names(tmp_path, monkeypatch):
    """--config changes only the keys it names, of the recipe it names: the few-clip recipe by
    default, the SGD one (finetune.yaml) with `recipe: sgd`."""
    root = tmp_path / "videos"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "clip.mp4").write_bytes(b"video")
    seen = {}

    class Captured(Exception):
        pass

    real_load = fv.load_config

    def capture(path, overrides):
        seen["config"] = real_load(path, overrides)
        raise Captured

    monkeypatch.setattr(fv, "load_config", capture)

    def loaded(text: str):
        user = tmp_path / "mine.yaml"
        user.write_text(text)
        with pytest.raises(Captured):
            fv.from_videos(root, tmp_path / "work", config_path=user, overrides={"seed": 3})
        return seen["config"]

    config = loaded("few_shot: {classifier: logistic}\n")  # the default few-clip recipe's keys
    assert config.recipe == "frozen" and config.seed == 3
    assert config.base_weights == "ntu120-xsub-joint" and config.few_shot["shrinkage"] == 0.99
    assert config.few_shot["classifier"] == "logistic"
    config = loaded("recipe: sgd\nepochs: 2\n")  # the SGD recipe's keys
    assert config.epochs == 2 and config.seed == 3
    assert config.base_weights == "ntu60-xsub-joint" and config.base_lr == 0.01


def test_validation_is_drawn_from_readable_clips_only(tmp_path, monkeypatch):
    """A clip that cannot be read is never held out for validation: the split sees only the
    clips extraction could read."""
    from train.video_skeletons import Extracted, Extraction

    root = tmp_path / "videos"
    clips = {}
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for stem in ("one", "two", "broken"):
            (root / name / f"{stem}.mp4").write_bytes(b"video")
            clips[root / name / f"{stem}.mp4"] = stem
    skeleton = np.zeros((40, 3, 25, 2), np.float32)

    def fake_extract(paths, *args, **kwargs):
        done = Extraction()
        for path in paths:
            if clips[path] == "broken":
                done.unreadable[path] = "cannot read"
            else:
                done.skeletons[path] = Extracted(skeleton, 40)
        return done

    class Captured(Exception):
        pass

    seen = {}

    def capture(classes, fraction, seed):
        seen["classes"] = classes
        raise Captured

    monkeypatch.setattr(fv, "extract_videos", fake_extract)
    monkeypatch.setattr(fv, "split_videos", capture)
    with pytest.raises(Captured):
        fv.from_videos(root, tmp_path / "work")
    assert {n: [p.stem for p in ps] for n, ps in seen["classes"].items()} == {
        "a": ["one", "two"],
        "b": ["one", "two"],
    }
