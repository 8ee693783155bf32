"""What a new user meets: a folder given where a file is wanted, the ffmpeg line to paste, output
folders that do not exist yet, and nothing written into the weights folder but checkpoints."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

import pytest
from card_helpers import save_plain

import app.annotate as annotate
import weights
from app.gui.launch import main as run_demo_main
from app.output_paths import check_outputs, create_output_folders
from common.errors import UserError
from model import ModelConfig, build_model
from pipeline.sources import VideoSource
from weights import registry

SMALL_NET = {"channels": (8, 16), "strides": (1, 2)}


def test_a_training_folder_given_as_checkpoint_names_its_best_pt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_model").mkdir()
    (tmp_path / "my_model" / "best.pt").write_bytes(b"x")
    with pytest.raises(UserError) as err:
        weights.resolve("my_model")
    assert str(err.value) == (
        f"my_model is a folder (a training work folder); pass {Path('my_model', 'best.pt')}"
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.pt").write_bytes(b"x")
    (tmp_path / "other" / "a.pth").write_bytes(b"x")
    with pytest.raises(UserError, match=r"other is a folder; pass one of its checkpoint files: "):
        weights.resolve("other/")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is a folder with no .pt file in it"):
        weights.resolve("empty")


def test_a_folder_given_as_the_live_source_points_to_classify_video(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "my videos"
    folder.mkdir()
    expected = (
        f"{folder} is a folder, not a video: give one video file in it, or classify them all "
        f"with python -m app.classify_video '{folder}'"
    )
    monkeypatch.delenv("DISPLAY", raising=False)  # the folder is refused before the display
    assert run_demo_main(["--source", str(folder)]) == 1
    assert capsys.readouterr().err == f"error: {expected}\n"
    with pytest.raises(UserError) as err:  # the same line in the window's banner
        VideoSource(folder)
    assert str(err.value) == expected


def test_the_ffmpeg_line_pastes_with_spaces_in_the_path(monkeypatch):
    monkeypatch.setattr(annotate, "mp4_codec", lambda: "mp4v")
    note = annotate.codec_note("my out/clip one.mp4")
    command = shlex.split(note.split("convert it with ", 1)[1])
    assert command == [
        "ffmpeg",
        "-i",
        "my out/clip one.mp4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "my out/clip one-h264.mp4",
    ]


def test_every_output_flag_creates_its_missing_folder_and_says_so(tmp_path, capsys):
    """--json, --csv, --segments-csv, --annotate, --save-skeleton, --screenshot alike."""
    flags = ["--json", "--csv", "--segments-csv", "--annotate", "--save-skeleton", "--screenshot"]
    outputs = {flag: tmp_path / flag.strip("-") / "deeper" / "out" for flag in flags}
    outputs["--annotate for b.mp4"] = tmp_path / "annotate" / "deeper" / "b.mp4"
    check_outputs(outputs, [])  # checked first: nothing is created while arguments may be bad
    assert not (tmp_path / "json").exists() and capsys.readouterr().err == ""
    create_output_folders(outputs)
    err = capsys.readouterr().err.splitlines()
    folders = [tmp_path / flag.strip("-") / "deeper" for flag in flags]
    assert err == [f"note: created folder {d} for {flag}" for d, flag in zip(folders, flags)]
    assert all(path.parent.is_dir() for path in outputs.values())
    create_output_folders(outputs)  # they exist now: nothing more to say
    assert capsys.readouterr().err == ""


def test_a_read_only_weights_folder_works_and_gets_no_digest_cache(tmp_path, monkeypatch):
    """The digest cache lives in the user's cache folder; the weights folder is only read."""
    folder = tmp_path / "shared-lab-copy"
    folder.mkdir()
    net = build_model(ModelConfig(num_class=60, **SMALL_NET))
    save_plain(folder / "mine.pt", net)
    weights.register("mine", folder / "mine.pt", "ntu60", directory=folder)
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert weights.resolve("mine", directory=folder) == folder / "mine.pt"
        assert weights.resolve("mine", directory=folder) == folder / "mine.pt"  # from the cache
    finally:
        folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == before
    cache = tmp_path / "cache" / "shiftgcn-live" / registry.DIGEST_CACHE_FILE
    assert os.path.realpath(folder / "mine.pt") in cache.read_text()
    (folder / "mine.pt").rename(folder / "moved.pt")  # a file that is gone leaves the cache
    registry.cached_sha256(folder / "moved.pt")
    assert "mine.pt" not in cache.read_text() and "moved.pt" in cache.read_text()


def test_gitignore_has_no_inline_comments():
    """git reads '#' only at a line's start: 'x  # note' would ignore nothing."""
    lines = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().splitlines()
    assert [line for line in lines if "#" in line and not line.startswith("#")] == []


def test_the_own_actions_log_names_the_data_in_a_users_words():
    """An own-videos run is 'your own videos' in its log and plot titles, not 'videos xsub'."""
    from train.config import OWN_VIDEOS, TrainConfig

    line = TrainConfig(dataset=OWN_VIDEOS, num_class=2, work_dir="my_model").describe()
    assert line == "my_model: your own videos, 2 classes, joint stream"
    assert "ntu60 xsub" in TrainConfig().describe()
