"""Fuzz the command lines: random integers, floats and paths (missing, files where folders are
expected, garbage files, odd names) on every command. Each run must fail with one line on
stderr, a non-zero exit and no traceback: never a crash, never work on nonsense."""

from __future__ import annotations

import contextlib
import io
import pickle
import traceback
from pathlib import Path

import pytest
import torch
from card_helpers import save_plain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_helpers import TINY_MODEL, write_tiny_config, write_tiny_dataset

from app import classify_video
from app.gui import launch
from model import ModelConfig, build_model
from train import ensemble, evaluate, gendata
from train import run as train_run
from weights.__main__ import main as weights_main

FUZZ = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
INTS = st.one_of(st.integers(-10, 5000), st.integers(-(2**70), 2**70))
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Files a hostile user might point the commands at."""
    root = tmp_path_factory.mktemp("fuzz")
    paths = {"missing": root / "missing.pt", "folder": root}
    (root / "file").write_text("a file, not a folder")
    paths["under_file"] = root / "file" / "x.json"
    paths["text"] = root / "notes.mp4"
    paths["text"].write_text("hello\n")
    paths["garbage"] = root / "garbage.pt"
    paths["garbage"].write_bytes(bytes(range(256)) * 40)
    paths["empty"] = root / "empty.pkl"
    paths["empty"].write_bytes(b"")
    paths["pickle"] = root / "list.pkl"
    paths["pickle"].write_bytes(pickle.dumps([1, 2, 3]))
    paths["odd"] = root / "new\nline ü *?.mp4"
    paths["checkpoint"] = root / "tiny.pt"
    save_plain(
        paths["checkpoint"], build_model(ModelConfig.from_dict({**TINY_MODEL, "num_class": 2}))
    )
    paths["data"] = write_tiny_dataset(root / "data", classes=3, per_class=(4, 2), frames=16)
    paths["config"] = write_tiny_config(root / "tiny.yaml", epochs=1, batch_size=4)
    paths["taken"] = root / "work"
    paths["taken"].mkdir()
    torch.save({}, paths["taken"] / "last.pt")  # a work dir that already holds a run
    return paths


def paths_from(world: dict[str, Path]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(sorted(str(p) for p in world.values())),
        st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=30).filter(
            lambda t: not t.startswith("-")
        ),
    )


def check_one_line_failure(main, argv: list[str]) -> None:
    """main(argv) exits non-zero with one 'error: ' line on stderr and no traceback."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit:  # argparse: the arguments are well formed, so never
            pytest.fail(f"{argv}: argparse refused well-formed arguments: {err.getvalue()}")
        except BaseException:
            pytest.fail(f"{argv}: raised\n{traceback.format_exc()}")
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert status not in (0, None), f"{argv} succeeded"
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err.getvalue())
    assert "Traceback" not in err.getvalue()


@pytest.fixture(autouse=True)
def no_display(monkeypatch):
    """run_demo.py must not open a window here: without a display it answers in one line."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)


pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py


def test_classify_video(world):
    paths = paths_from(world)

    @FUZZ
    @given(
        video=st.sampled_from([world["text"], world["missing"], world["odd"], world["folder"]]),
        weights=st.sampled_from([world["checkpoint"], world["garbage"], world["missing"]]),
        window=INTS,
        stride=INTS,
        out=paths,
        flag=st.sampled_from(["--json", "--csv", "--annotate", "--save-skeleton"]),
    )
    def fuzz(video, weights, window, stride, out, flag):
        check_one_line_failure(
            classify_video.main,
            [
                str(video),
                "--weights",
                str(weights),
                "--window",
                str(window),
                "--stride",
                str(stride),
                flag,
                out,
                "--pose-model",
                str(world["missing"]) + ".task",
                "--device",
                "cpu",
                "--no-progress",
            ],
        )

    fuzz()


def test_weights(world):
    paths = paths_from(world)

    @FUZZ
    @given(
        command=st.sampled_from(["fetch", "register"]),
        name=st.text(min_size=1, max_size=12).filter(
            lambda t: not t.startswith("-") and t != "all"
        ),
        path=paths,
        folder=paths,
        accuracy=FLOATS,
    )
    def fuzz(command, name, path, folder, accuracy):
        argv = (
            [command, "--dir", folder, name]
            if command == "fetch"
            else [
                command,
                name,
                path,
                "--dataset",
                "ntu60",
                f"--accuracy={accuracy!r}",
                "--dir",
                folder,
            ]
        )
        check_one_line_failure(weights_main, argv)

    fuzz()


def test_gendata(world):
    paths = paths_from(world)

    @FUZZ
    @given(data=paths, out=paths, workers=INTS)
    def fuzz(data, out, workers):
        check_one_line_failure(
            gendata.main,
            ["--dataset", "ntu60", "--data-path", data, "--out", out, "--workers", str(workers)],
        )

    fuzz()


def test_train_run(world):
    paths = paths_from(world)

    @FUZZ
    @given(
        config=st.one_of(st.just(str(world["config"])), paths),
        data=st.one_of(st.just(str(world["data"])), paths),
        epochs=INTS,
        batch=INTS,
        classes=INTS,
    )
    def fuzz(config, data, epochs, batch, classes):
        check_one_line_failure(
            train_run.main,
            [
                "--config",
                config,
                "--data-dir",
                data,
                "--work-dir",
                str(world["taken"]),
                "--epochs",
                str(epochs),
                "--batch-size",
                str(batch),
                "--num-class",
                str(classes),
                "--device",
                "cpu",
            ],
        )

    fuzz()


def test_evaluate(world):
    paths = paths_from(world)

    @FUZZ
    @given(
        weights=st.one_of(st.just(str(world["checkpoint"])), paths),
        data=st.one_of(st.just(str(world["data"])), paths),
        batch=INTS,
        workers=INTS,
        out=paths,
    )
    def fuzz(weights, data, batch, workers, out):
        check_one_line_failure(
            evaluate.main,
            [
                "--weights",
                weights,
                "--data-dir",
                data,
                "--batch-size",
                str(batch),
                "--workers",
                str(workers),
                "--out",
                out,
                "--device",
                "cpu",
            ],
        )

    fuzz()


def test_ensemble(world):
    paths = paths_from(world)

    @FUZZ
    @given(scores=st.lists(paths, min_size=1, max_size=3), labels=paths, weight=FLOATS)
    def fuzz(scores, labels, weight):
        check_one_line_failure(
            ensemble.main, ["--scores", *scores, "--labels", labels, f"--alphas={weight!r}"]
        )

    fuzz()


def test_run_demo(world):
    paths = paths_from(world)

    @FUZZ
    @given(seconds=FLOATS, shot=paths, source=paths)
    def fuzz(seconds, shot, source):
        check_one_line_failure(
            launch.main, [f"--quit-after={seconds!r}", "--screenshot", shot, "--source", source]
        )

    fuzz()
