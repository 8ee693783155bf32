"""bench.real_set: the app's video path over labelled real videos, and its figures on the team's
development set (../shared/fixtures/real)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from shared_paths import OFFICIAL_WEIGHTS, require_shared

from bench.real_set import (
    ClipScore,
    LabelledClip,
    build_parser,
    main,
    read_class_folders,
    read_labels,
    summary,
)
from common.errors import UserError


@pytest.mark.slow
def test_the_development_set_with_the_defaults(tmp_path, monkeypatch, capsys):
    """At least 6 of the 12 clips named right first and 9 in the top five (2 and 6 with the
    earlier defaults); the JSON holds the documented fields."""
    folder = require_shared("fixtures", "real")
    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", str(require_shared("weights", "official")))
    assert OFFICIAL_WEIGHTS.is_dir()
    out = tmp_path / "real.json"
    assert main([str(folder), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["clips"]) == 12
    assert data["top1"] >= 6 / 12 and data["top5"] >= 10 / 12, capsys.readouterr().out
    assert {"file", "label", "rank", "top5"} <= set(data["clips"][0])
    assert data["settings"]["weights"] == "ntu60-xsub-joint" and "summary" in data["settings"]


def test_labels_are_read_and_checked(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "labels.csv").write_text(
        "file,label,also_ok\na.mp4,sitting down,standing up (from sitting position); \n"
    )
    clips = read_labels(tmp_path)
    assert clips == [LabelledClip("a.mp4", "sitting down", ["standing up (from sitting position)"])]
    (tmp_path / "labels.csv").write_text("file,label\nb.mp4,falling\n")
    with pytest.raises(UserError, match="b.mp4 .*does not exist"):
        read_labels(tmp_path)
    with pytest.raises(UserError, match="labels.csv not found"):
        read_labels(tmp_path / "nowhere")


def test_class_folders_label_their_videos(tmp_path):
    """--class-folder NAME=CLASS labels every video of folder NAME (train.from_videos' layout)
    with CLASS; other folders and files are left out; an empty or missing folder is one line."""
    for name in ("hug", "push", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"1_{name}.avi").write_bytes(b"x")
    (tmp_path / "hug" / "notes.txt").write_text("not a video")
    args = build_parser().parse_args(
        [str(tmp_path), "--class-folder", "hug=hugging other person", "--class-folder", "push=x"]
    )
    assert read_class_folders(tmp_path, dict(args.class_folder)) == [
        LabelledClip("hug/1_hug.avi", "hugging other person", []),
        LabelledClip("push/1_push.avi", "x", []),
    ]
    with pytest.raises(UserError, match="kick holds no videos"):
        read_class_folders(tmp_path, {"kick": "kicking other person"})
    with pytest.raises(SystemExit):
        build_parser().parse_args([str(tmp_path), "--class-folder", "hug"])


def _score(label: str, rank: int, named: str, known: bool = True) -> ClipScore:
    return ClipScore("v.mp4", label, rank, known, [named] * 5, [0.2] * 5, named, 0.5, 1.0)


def test_the_figures_count_a_clip_right_only_when_the_app_names_it():
    scores = [
        _score("falling", 1, "falling"),
        _score("falling", 1, "falling", known=False),  # "no known action": not right first
        _score("reading", 3, "writing"),
        _score("jump up", 20, "kicking something"),
    ]
    figures = summary(scores)
    assert (figures["top1"], figures["top5"], figures["no_known_action"]) == (0.25, 0.75, 1)
    assert figures["mean_rank"] == pytest.approx(np.mean([1, 1, 3, 20]))
    assert {"label": "reading", "named": "writing", "count": 1} in figures["confusions"]
