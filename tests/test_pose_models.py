"""The lite and heavy pose models: fetched into a cache from a local HTTP server, checked, linked
where mediapipe looks; offline, one line naming what to fetch and where."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from common.errors import UserError
from pose.model_files import ensure_pose_model

# A stand-in for a TFLite model: the FlatBuffers identifier at byte 4, 600 kB long.
FAKE_TFLITE = b"\x20\x00\x00\x00TFL3" + bytes(600_000)


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A stand-in mediapipe package folder and an empty cache (SHIFTGCN_POSE_DIR)."""
    root = tmp_path / "mediapipe"
    (root / "modules" / "pose_landmark").mkdir(parents=True)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SHIFTGCN_POSE_DIR", str(cache))
    return root, cache


def test_fetches_into_the_cache_once_and_links_it_for_mediapipe(
    server, places, monkeypatch, capsys
):
    base, served = server
    (served / "pose_landmark_lite.tflite").write_bytes(FAKE_TFLITE)
    monkeypatch.setenv("SHIFTGCN_POSE_URL", base)
    root, cache = places
    seen = []
    target = ensure_pose_model(0, root, progress=lambda done, total: seen.append((done, total)))
    assert target == root / "modules" / "pose_landmark" / "pose_landmark_lite.tflite"
    assert target.read_bytes() == FAKE_TFLITE and target.resolve() == (cache / target.name)
    assert seen[-1] == (len(FAKE_TFLITE), len(FAKE_TFLITE)) and len(seen) > 1
    assert "sha256" in capsys.readouterr().out  # the digest is printed, to be recorded
    (served / "pose_landmark_lite.tflite").unlink()  # a second call needs no network
    assert ensure_pose_model(0, root) == target


def test_a_file_that_is_not_a_model_is_refused_and_not_kept(server, places, monkeypatch):
    base, served = server
    (served / "pose_landmark_heavy.tflite").write_bytes(b"<html>quota exceeded</html>" * 30000)
    monkeypatch.setenv("SHIFTGCN_POSE_URL", base)
    root, cache = places
    with pytest.raises(UserError, match="not a TensorFlow Lite model") as info:
        ensure_pose_model(2, root, progress=lambda done, total: None)
    assert "\n" not in str(info.value)
    assert not (cache / "pose_landmark_heavy.tflite").exists()
    assert not (root / "modules" / "pose_landmark" / "pose_landmark_heavy.tflite").exists()


def test_offline_is_one_line_naming_the_url_and_the_cache(places, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SHIFTGCN_POSE_URL", f"http://127.0.0.1:{port}/models")
    root, cache = places
    with pytest.raises(UserError) as info:
        ensure_pose_model(2, root, progress=lambda done, total: None)
    message = str(info.value)
    assert "\n" not in message and message.startswith("could not download")
    assert f"http://127.0.0.1:{port}/models/pose_landmark_heavy.tflite" in message
    assert str(cache / "pose_landmark_heavy.tflite") in message


def test_a_model_placed_in_the_cache_by_hand_is_used(places):
    root, cache = places
    cache.mkdir()
    (cache / "pose_landmark_lite.tflite").write_bytes(FAKE_TFLITE)
    target = ensure_pose_model(0, root)
    assert target.read_bytes() == FAKE_TFLITE


def test_the_estimator_asks_for_the_model_before_starting(monkeypatch):
    """MediaPipePose(model_complexity=2) goes through the fetch (offline here: its one line)."""
    from pose import estimators

    def offline(complexity, root):
        raise UserError(f"could not download model {complexity}")

    monkeypatch.setattr(estimators, "ensure_pose_model", offline)
    with pytest.raises(UserError, match="could not download model 2"):
        estimators.make_estimator(estimators.PoseSettings(model_complexity=2))
