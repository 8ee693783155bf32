"""The streaming classifier and the frame pipeline: training-identical normalisation, window
cadence and resampling, smoothing, the inference thread, configuration, stage timings."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from pose_helpers import OFFICIAL_WEIGHTS, PREPROCESSING, VIDEO, read_frames, require, streaming

from common.errors import UserError
from model.preprocess import normalize_sample
from pipeline import (
    FramePipeline,
    PipelineSettings,
    StreamingClassifier,
    build_pipeline,
    load_settings,
    prepare_window,
)
from pose import BodyTracker, MediaPipePose

pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py


class FakeModel(torch.nn.Module):
    """A stand-in network: 4 classes scored from the mean coordinates; records its inputs."""

    num_class, class_names, stream = 4, ["a", "b", "c", "d"], "joint"

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            self.gate.wait(timeout=30)
        self.inputs.append(x.clone())
        self.niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        m = x.mean(dim=(2, 3, 4))  # (N, 3)
        return torch.stack([m[:, 0], m[:, 1], m[:, 2], -m.sum(1)], dim=1) * 10


def skeleton(seed: int) -> np.ndarray:
    """A random but person-like (3, 25, 2) frame: body 0 filled, body 1 empty."""
    out = np.zeros((3, 25, 2), np.float32)
    out[:, :, 0] = np.random.default_rng(seed).normal(0, 0.3, (3, 25)) + [[0], [0], [3]]
    return out


def reference_samples() -> tuple[np.ndarray, np.ndarray]:
    """The fixtures' raw and published-normalised joint arrays, (N, 3, 300, 25, 2) each."""
    data = np.load(require(PREPROCESSING))
    return data["raw"], data["joint"]


def test_prepare_window_normalises_exactly_as_training():
    """A sample's frames, looped to 300 by prepare_window, equal the published joint arrays."""
    raw, joint = reference_samples()
    for sample, expected in zip(raw, joint):
        length = int(np.flatnonzero(np.abs(sample).sum(axis=(0, 2, 3)) > 0).max(initial=-1)) + 1
        if length == 0:
            continue
        frames = np.transpose(sample[:, :length], (1, 0, 2, 3))
        np.testing.assert_allclose(prepare_window(frames, 300, "joint"), expected, atol=1e-4)


def test_prepare_window_without_padding_keeps_the_window_length():
    """pad_to=0 gives the network the window itself, normalised."""
    frames = np.stack([skeleton(i) for i in range(20)])
    x = prepare_window(frames, 0, "joint")
    assert x.shape == (3, 20, 25, 2)
    np.testing.assert_allclose(x, normalize_sample(np.transpose(frames, (1, 0, 2, 3))), atol=1e-6)


def test_streaming_prediction_equals_the_model_on_the_training_input():
    """Pushing a sample frame by frame at 30 fps gives what the model says of the NTU sample."""
    weights = require(OFFICIAL_WEIGHTS / "ntu_ShiftGCN_joint_xsub.pt")
    from model import load_model

    model = load_model(weights)
    raw, joint = reference_samples()
    sample, expected = raw[3], joint[3]  # 40 frames
    classifier = streaming(model, window=40, stride=40, pad_to=300, min_frames=16, looped=False)
    frames = np.moveaxis(sample[:, :40], 1, 0)
    predictions = [classifier.push(f, i / 30) for i, f in enumerate(frames)]
    assert all(p is None for p in predictions[:-1]) and predictions[-1] is not None
    with torch.no_grad():
        probs = torch.softmax(model.net(torch.from_numpy(expected)[None]), 1)[0].numpy()
    np.testing.assert_allclose(predictions[-1].probs, probs, atol=1e-5)
    assert predictions[-1].top(5)[0]["label"] == model.card.labels()[int(probs.argmax())]


def test_predictions_come_every_stride_frames_once_enough_are_seen():
    """No prediction before min_frames frames with a person; then one every `stride` frames."""
    classifier = streaming(FakeModel(), window=16, stride=4, min_frames=8, pad_to=0)
    got = [classifier.push(skeleton(i), i / 30) is not None for i in range(24)]
    assert [i for i, g in enumerate(got) if g] == [7, 11, 15, 19, 23]
    assert classifier.latest.top(2)[0]["index"] in range(4)
    assert len(classifier.latest.top(10)) == 4


def test_either_hand_reads_a_mirror_image_as_the_same_action():
    """With either_hand a window and its mirror image (left and right exchanged, x negated in
    camera space) give the same probabilities (each window is classified twice); without it
    they differ."""
    from ntu.joints import MIRRORED_JOINTS

    def probs(either_hand: bool, mirrored: bool) -> np.ndarray:
        model = FakeModel()
        classifier = streaming(
            model, window=16, stride=16, min_frames=1, pad_to=0, either_hand=either_hand
        )
        for i in range(16):
            frame = skeleton(i)
            if mirrored:
                frame = frame[:, list(MIRRORED_JOINTS)] * np.array([-1, 1, 1])[:, None, None]
            classifier.push(frame.astype(np.float32), i / 30)
        assert len(model.inputs) == (2 if either_hand else 1)  # the window, and its mirror image
        return classifier.latest.probs

    np.testing.assert_allclose(probs(True, False), probs(True, True), atol=1e-5)
    assert np.abs(probs(False, False) - probs(False, True)).max() > 1e-3


def test_window_motion_is_the_speed_of_the_main_body():
    """Joints moving 0.1 m a frame at 30 fps move 3 m/s; frames without a person are skipped."""
    from pipeline import window_motion

    frames = np.zeros((6, 3, 25, 2), np.float32)
    for t in range(6):
        frames[t, 0, :, 0] = 0.1 * t
        frames[t, 2, :, 0] = 3.0
    frames[3] = 0  # nobody in frame 3
    assert window_motion(frames, 30.0) == pytest.approx(3.0)
    assert window_motion(np.zeros((4, 3, 25, 2), np.float32), 30.0) == 0.0


def test_nobody_gives_no_prediction():
    """Frames without a person are buffered as empty and never classified on their own."""
    model = FakeModel()
    classifier = streaming(model, window=16, stride=2, min_frames=4, pad_to=0)
    assert all(classifier.push(None, i / 30) is None for i in range(20))
    assert classifier.push(np.zeros((3, 25, 2), np.float32), 1.0) is None
    assert model.inputs == []


def test_window_is_resampled_to_the_model_rate():
    """A 15 fps source is resampled to 30 fps: each frame appears twice in the window."""
    model = FakeModel()
    classifier = streaming(model, window=8, stride=4, min_frames=1, pad_to=0, fps=30)
    for i in range(8):
        classifier.push(skeleton(i), i / 15)
    window = model.inputs[-1][0]  # (3, 8, 25, 2): 0.23 s to 0.47 s = source frames 3 4 4 5 5 6 6 7
    assert window.shape[1] == 8
    for t in (1, 3, 5):
        torch.testing.assert_close(window[:, t], window[:, t + 1])
    assert not torch.equal(window[:, 0], window[:, 1])


def test_probability_smoothing_is_an_exponential_average():
    """With smoothing s, probs = s * previous + (1 - s) * this window's."""
    classifier = streaming(FakeModel(), window=8, stride=4, min_frames=1, pad_to=0, smoothing=0.5)
    predictions = [p for i in range(12) if (p := classifier.push(skeleton(i), i / 30))]
    first, second = predictions[-2], predictions[-1]
    np.testing.assert_allclose(second.probs, 0.5 * first.probs + 0.5 * second.raw_probs, atol=1e-6)
    assert not np.allclose(second.probs, second.raw_probs)


def test_background_inference_never_blocks_push():
    """With the model busy in its thread, frames keep flowing; its result arrives later, once."""
    gate = threading.Event()
    classifier = streaming(
        FakeModel(gate), window=8, stride=2, min_frames=1, pad_to=0, background=True
    )
    results = [classifier.push(skeleton(i), i / 30) for i in range(10)]  # would hang if blocking
    assert results == [None] * 10
    gate.set()
    fresh = classifier.flush()
    assert fresh is not None and fresh.timestamp == pytest.approx(1 / 30)
    assert classifier.flush() is None
    classifier.close()
    main_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if main_niceness < 19:  # pose, on the caller's thread, comes first
        assert classifier.model.niceness > main_niceness


def test_finish_classifies_the_tail_once_enough_frames_show_a_person():
    """At the end of a source the frames since the last window are classified, once, when
    min_frames of them show a person."""
    classifier = streaming(FakeModel(), window=16, stride=8, min_frames=6, pad_to=0)
    for i in range(5):
        classifier.push(skeleton(i), i / 30)
    assert classifier.finish() is None  # a person in 5 frames: too few for a prediction
    classifier.reset()
    got = [classifier.push(skeleton(i), i / 30) for i in range(12)]
    assert [p.timestamp for p in got if p] == [pytest.approx(7 / 30)]
    final = classifier.finish()
    assert final.timestamp == pytest.approx(11 / 30) and final.frames == 12
    assert classifier.finish() is None


def test_finish_returns_what_the_worker_still_had_and_the_skipped_tail():
    """Live (drop_late): finish() hands back the window the busy worker finished last, and
    classifies the windows skipped while it was busy, so a video ends on its last frames."""

    def live(gate: threading.Event) -> StreamingClassifier:
        return streaming(
            FakeModel(gate),
            window=8,
            stride=2,
            min_frames=1,
            pad_to=0,
            background=True,
            drop_late=True,
        )

    gate = threading.Event()
    classifier = live(gate)
    assert [classifier.push(skeleton(i), i / 30) for i in range(2)] == [None, None]
    gate.set()
    assert classifier.finish().timestamp == pytest.approx(1 / 30)
    classifier.close()
    gate = threading.Event()
    classifier = live(gate)
    assert [classifier.push(skeleton(i), i / 30) for i in range(10)] == [None] * 10
    gate.set()
    assert classifier.finish().timestamp == pytest.approx(9 / 30)
    assert [x.shape[2] for x in classifier.model.inputs] == [2, 8]  # the first window, the tail
    classifier.close()


def test_bad_settings_are_one_line():
    """Impossible classifier settings raise a UserError."""
    with pytest.raises(UserError, match="window"):
        streaming(FakeModel(), window=2, stride=1, min_frames=1)


def test_settings_defaults_and_overrides(tmp_path):
    """The dataclasses hold the defaults (the site YAML overrides none of them); a file and
    overrides replace single keys; the weights default to the registry's."""
    import weights

    settings = load_settings()
    assert settings == PipelineSettings()
    assert settings.weights is None and settings.weights_name() == weights.default_name()
    assert settings.classifier.pad_to == 300
    user = tmp_path / "mine.yaml"
    user.write_text("classifier:\n  window: 32\n  fps: 25\n")
    merged = load_settings(user, {"device": "cpu", "weights": "mine.pt"})
    assert merged.classifier.window == 32 and merged.classifier.stride == 15
    assert merged.classifier.fps == 25.0 and isinstance(merged.classifier.fps, float)
    assert merged.device == "cpu" and merged.weights_name() == "mine.pt"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "classifier:\n  windw: 3\n",
            r"bad.yaml: unknown setting 'classifier.windw'; known: window",
        ),
        ("classifier:\n  window: abc\n", r"bad.yaml: classifier.window: 'abc' is not a whole"),
        ("tracker:\n  mirror: 1\n", r"bad.yaml: tracker.mirror: 1 is not true or false"),
        ("pose: 5\n", r"bad.yaml: pose must be a mapping"),
        ("classifier:\n  window: 2\n", r"bad.yaml: bad classifier settings: window 2"),
        ("pose:\n  max_people: 3\n", r"bad.yaml: max_people must be 1 or 2"),
        ("runtime: tflite\n", r"bad.yaml: unknown runtime 'tflite'"),
        ("a: [1, 2\n", "not valid YAML"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_bad_config_is_one_line(tmp_path, text, message):
    """A misspelt key, a value of the wrong kind or out of range, broken YAML or a list raise
    one UserError line naming the key and the file."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as info:
        load_settings(path)
    assert "\n" not in str(info.value)


def test_bad_override_names_its_source():
    """An override (--set) of an unknown key says where it came from."""
    with pytest.raises(UserError, match="the settings given: unknown setting 'live.buffer'"):
        load_settings(overrides={"live": {"buffer": 3}})


def test_frame_pipeline_on_the_shared_video():
    """Real frames: people found, a (3, 25, 2) skeleton, predictions and every stage timed."""
    frames = read_frames(require(VIDEO), 24)
    pipeline = FramePipeline(
        MediaPipePose(), BodyTracker(), streaming(FakeModel(), window=16, stride=8, min_frames=4)
    )
    results = [pipeline.process(f, i / 28) for i, f in enumerate(frames)]
    pipeline.close()
    assert sum(r.has_person for r in results) >= 12
    assert all(r.skeleton.shape == (3, 25, 2) for r in results)
    assert any(r.new_prediction for r in results)
    last = results[-1]
    assert set(last.timings) == {
        "capture_ms",
        "pose_ms",
        "track_ms",
        "classify_ms",
        "inference_ms",
        "latency_ms",
    }
    assert last.timings["pose_ms"] > 0 and last.prediction.inference_ms > 0
    assert [r.index for r in results] == list(range(24))


def test_build_pipeline_resolves_registry_names(monkeypatch):
    """The default weights name resolves in SHIFTGCN_WEIGHTS_DIR; the model's classes are named."""
    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", os.fspath(require(OFFICIAL_WEIGHTS)))
    pipeline = build_pipeline(load_settings(overrides={"device": "cpu"}))
    assert pipeline.classifier.class_names[0] == "drink water"
    pipeline.close()


def test_queued_background_inference_gives_the_synchronous_results():
    """A video's windows, queued to the worker (drop_late=False), give the same predictions in
    the same order as classifying them in the caller's thread."""

    def run(**kwargs) -> list:
        classifier = streaming(
            FakeModel(),
            window=8,
            stride=3,
            min_frames=2,
            pad_to=0,
            smoothing=0.3,
            keep_history=True,
            **kwargs,
        )
        for i in range(31):
            classifier.push(skeleton(i), i / 30)
        classifier.finish()
        classifier.close()
        return classifier.history

    sync, queued = run(), run(background=True, drop_late=False)
    assert len(sync) == len(queued) == 11  # 10 windows by stride, one for the tail at the end
    for a, b in zip(sync, queued):
        assert a.timestamp == b.timestamp
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


def test_video_source_timestamps_frames_by_position(tmp_path):
    """A video file gives every frame once, timestamped index / fps, with its size and count."""
    from pose_helpers import blank_video

    from pipeline.sources import list_videos, open_source

    path = blank_video(tmp_path / "grey.mp4", count=6, fps=15)
    (tmp_path / "notes.txt").write_text("not a video")
    with open_source(str(path)) as source:
        frames = list(source)
    assert source.fps == pytest.approx(15) and source.size == (160, 128)
    assert [f.index for f in frames] == list(range(6))
    assert [f.timestamp for f in frames] == pytest.approx([i / 15 for i in range(6)])
    assert list_videos(tmp_path) == [path]


def test_missing_camera_is_one_line():
    """A camera index that does not exist gives one UserError line."""
    from pipeline.sources import open_source

    if os.path.exists("/dev/video9"):
        pytest.skip("this machine has a /dev/video9")
    with pytest.raises(UserError, match="cannot open camera 9"):
        open_source("9")


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"),
    reason="thread niceness and affinity "
    "are Linux features; elsewhere the inference thread runs as scheduled",
)
def test_the_inference_thread_yields_to_pose(monkeypatch):
    """The live inference thread is niced and, with one torch thread, kept on the last CPU."""
    from pipeline import INFERENCE_NICENESS, yield_to_pose

    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    seen = {}

    def inference_thread() -> None:
        thread = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, thread)
        yield_to_pose()
        seen["niceness"] = os.getpriority(os.PRIO_PROCESS, thread) - before
        seen["cpus"] = os.sched_getaffinity(thread)

    worker = threading.Thread(target=inference_thread)
    worker.start()
    worker.join()
    allowed = sorted(os.sched_getaffinity(0))
    assert seen["niceness"] == min(INFERENCE_NICENESS, 19 - os.getpriority(os.PRIO_PROCESS, 0))
    assert seen["cpus"] == ({allowed[-1]} if len(allowed) > 1 else set(allowed))
    assert os.sched_getaffinity(0) == set(allowed)  # the rest of the process is untouched
