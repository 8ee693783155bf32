"""classify_video against hostile input: sizes out of bounds, outputs that cannot be written or
would destroy an input, colliding names in a folder, a kill mid-folder, non-finite scores."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import pytest
import torch
from card_helpers import save_plain
from pose_helpers import astronaut_video, blank_video, streaming

import app.classify_video as cv
from app.classify_video import main
from app.video_result import VideoResult, Window, merge_windows
from model import ModelConfig, build_model
from pipeline import PipelineSettings

CLASSES = ["wave", "clap", "sit down", "stand up", "jump"]
FAST = ["--window", "16", "--stride", "8", "--device", "cpu", "--no-progress"]
SMALL = {"channels": (16, 32), "strides": (1, 2)}


pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    save_plain(path, build_model(ModelConfig(num_class=5, **SMALL)), class_names=CLASSES)
    return path


@pytest.fixture(scope="module")
def person_video(tmp_path_factory):
    return astronaut_video(tmp_path_factory.mktemp("videos") / "astronaut.mp4", count=24)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the pipeline is built: the refusal must come before any work."""

    def refuse(_config):
        raise AssertionError("work started before the outputs were checked")

    monkeypatch.setattr(cv, "video_pipeline", refuse)


def run(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def one_line_error(status: int, err: str, message: str) -> None:
    assert status == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--window", "1000000000"], "window 1000000000 is out of bounds"),
        (["--stride", "99999999999"], "stride 99999999999 is out of bounds"),
        (["--window", "-7"], "window -7 is out of bounds"),
    ],
)
def test_sizes_out_of_bounds_are_one_line(capsys, small_checkpoint, person_video, flags, message):
    status, _, err = run(
        capsys, person_video, "--weights", small_checkpoint, "--device", "cpu", *flags
    )
    one_line_error(status, err, message)
    assert "3000" in err  # the bound is named


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("classifier:\n  pad_to: 100000000\n", "pad_to 100000000 is out of bounds"),
        ("classifier:\n  window: abc\n", "classifier.window: 'abc' is not a whole number"),
        ("classifier:\n  fps: fast\n", "classifier.fps: 'fast' is not a number"),
        ("pose:\n  max_people: [1, 2]\n", "pose.max_people: [1, 2] is not a whole number"),
    ],
)
def test_bad_config_values_are_one_line(
    capsys, tmp_path, small_checkpoint, person_video, yaml_text, message
):
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text)
    status, _, err = run(
        capsys, person_video, "--weights", small_checkpoint, "--device", "cpu", "--config", config
    )
    one_line_error(status, err, message)


def test_an_output_equal_to_the_input_is_refused_and_the_input_kept(
    capsys, tmp_path, person_video, no_work
):
    video = tmp_path / "x.mp4"
    video.write_bytes(person_video.read_bytes())
    before = video.read_bytes()
    for flag in ("--json", "--annotate", "--csv", "--save-skeleton"):
        status, _, err = run(capsys, video, flag, video)
        one_line_error(status, err, f"{flag} {video} is the input video")
        status, _, err = run(capsys, video, flag, tmp_path / "sub" / ".." / "x.mp4")
        one_line_error(status, err, "is the input video")
    assert video.read_bytes() == before


def test_two_outputs_on_one_file_are_refused(capsys, tmp_path, person_video, no_work):
    status, _, err = run(capsys, person_video, "--json", tmp_path / "o", "--csv", tmp_path / "o")
    one_line_error(status, err, "both write")


def test_an_output_under_a_file_is_refused_before_work(capsys, tmp_path, person_video, no_work):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    for flag in ("--json", "--csv", "--annotate", "--save-skeleton"):
        status, _, err = run(capsys, person_video, flag, blocker / "out" / "x")
        one_line_error(status, err, f"{blocker} is a file, not a folder")
    status, _, err = run(capsys, person_video, "--json", tmp_path)
    one_line_error(status, err, "is a folder")


def _read_only_folder(tmp_path):
    """A folder this process cannot write to (root writes through mode 555: try /sys)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, "/sys"):
        try:
            with tempfile.TemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    pytest.skip("no read-only folder here (root on a writable file system)")


def test_an_output_in_a_read_only_folder_is_refused_before_work(
    capsys, tmp_path, person_video, no_work
):
    folder = _read_only_folder(tmp_path)
    for flag in ("--json", "--csv", "--annotate", "--save-skeleton"):
        status, _, err = run(capsys, person_video, flag, f"{folder}/out.x")
        one_line_error(status, err, "is not writable")


def _fake_result(video) -> VideoResult:
    top = [{"index": i, "label": CLASSES[i], "score": 0.2} for i in range(5)]
    window = Window(start=0.0, end=0.1, start_frame=0, end_frame=3, top5=top)
    return VideoResult(
        video=str(video),
        fps=30.0,
        frames=3,
        frames_with_person=3,
        top5=top,
        windows=[window],
        action_at={**window.to_json(), "score": 0.2},
        segments=merge_windows([window]),
        skeleton=np.ones((3, 3, 25, 2), np.float32),
        probs=np.full(len(CLASSES), 1 / len(CLASSES)),
        window_probs=np.full((1, len(CLASSES)), 1 / len(CLASSES)),
    )


class _Pipeline:
    def close(self) -> None:
        pass


def test_folder_names_cannot_collide_and_results_are_written_as_each_video_ends(
    capsys, tmp_path, monkeypatch
):
    """clip.mp4 and clip.avi get their own outputs; a kill on the third video keeps the JSON
    and CSV of the first two (written atomically after each)."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("clip.mp4", "clip.avi", "other.mp4"):
        (folder / name).write_bytes(b"video")
    monkeypatch.setattr(cv, "video_pipeline", lambda config: _Pipeline())
    monkeypatch.setattr(cv, "settings_from", lambda args: PipelineSettings())
    monkeypatch.setattr(cv, "run_settings", lambda config, pipeline: {"weights": "fake"})

    def classify(video, pipeline, annotate, progress, summary):
        if video.name == "other.mp4":
            raise KeyboardInterrupt
        return _fake_result(video)

    monkeypatch.setattr(cv, "classify_video", classify)
    status, _, err = run(
        capsys,
        folder,
        "--json",
        tmp_path / "all.json",
        "--csv",
        tmp_path / "all.csv",
        "--save-skeleton",
        tmp_path / "skeletons",
    )
    assert status == 130 and "interrupted" in err
    data = json.loads((tmp_path / "all.json").read_text())
    assert sorted(v["video"] for v in data["videos"]) == sorted(
        str(folder / n) for n in ("clip.avi", "clip.mp4")
    )
    assert len((tmp_path / "all.csv").read_text().splitlines()) == 3  # header and two segments
    assert sorted(os.listdir(tmp_path / "skeletons")) == ["clip.avi.npy", "clip.mp4.npy"]


def test_annotating_into_the_input_folder_is_refused(capsys, tmp_path, no_work):
    folder = tmp_path / "videos"
    folder.mkdir()
    blank_video(folder / "a.mp4")
    before = (folder / "a.mp4").read_bytes()
    status, _, err = run(capsys, folder, "--annotate", folder)
    one_line_error(status, err, "--annotate for a.mp4")
    assert (folder / "a.mp4").read_bytes() == before


@pytest.mark.parametrize(
    "weight, message", [(float("nan"), "non-finite weights"), (3e38, "non-finite scores")]
)
def test_non_finite_scores_are_never_reported(capsys, tmp_path, person_video, weight, message):
    """A checkpoint with NaN weights is refused as it loads; one whose finite weights overflow
    is refused once its scores are seen. One line, no nan% printed, no JSON written."""
    net = build_model(ModelConfig(num_class=5, **SMALL))
    with torch.no_grad():
        # near float32's largest: any feature above 0.14 in sum overflows the logits (at 1e38
        # alone, a random network whose features summed below 3.4 gave finite scores)
        net.fc.weight.fill_(weight)
        net.fc.bias.fill_(weight)
    bad = tmp_path / "bad.pt"
    save_plain(bad, net, class_names=CLASSES)
    status, out, err = run(
        capsys, person_video, "--weights", bad, *FAST, "--json", tmp_path / "r.json"
    )
    one_line_error(status, err, message)
    assert "nan" not in out.lower() and not (tmp_path / "r.json").exists()


class _SlowModel(torch.nn.Module):
    """A model slower than the frames come: windows pile up unless the classifier waits."""

    class_names = CLASSES
    stream = "joint"

    def forward(self, x):
        import time

        time.sleep(0.02)
        return torch.zeros(x.shape[0], len(CLASSES))


def test_windows_waiting_for_a_slow_model_are_bounded():
    """A video's classifier (no window dropped) keeps at most MAX_BACKLOG windows queued, so a
    long video's memory does not grow with its length when the model is the slower stage."""
    from pipeline import MAX_BACKLOG

    classifier = streaming(
        _SlowModel(),
        window=8,
        stride=1,
        min_frames=1,
        pad_to=0,
        background=True,
        drop_late=False,
        keep_history=True,
    )
    skeleton = np.ones((3, 25, 2), np.float32)
    most = 0
    for frame in range(60):
        classifier.push(skeleton, frame / 30)
        most = max(most, classifier._executor._work_queue.qsize())
    classifier.finish()
    classifier.close()
    assert most <= MAX_BACKLOG
    assert len(classifier.history) >= 60 - 8  # every window classified, none dropped
