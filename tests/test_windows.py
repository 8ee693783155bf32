"""pipeline.windows: the one window cutter and the one window classifier, as the streaming
classifier, own-action training and the benchmarks use them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pose_helpers import streaming
from test_pipeline import FakeModel, skeleton

from model import ModelCard
from pipeline import (
    WindowClassifier,
    WindowCutter,
    clip_windows,
    cut_window,
    stream_windows,
)
from pipeline.classifier import ClassifierSettings


def clip(count: int, empty_until: int = 0) -> np.ndarray:
    """(count, 3, 25, 2) person-like frames, nobody in the first `empty_until`."""
    frames = np.stack([skeleton(i) for i in range(count)])
    frames[:empty_until] = 0
    return frames


def test_stream_windows_are_the_streaming_classifiers_windows():
    """Replaying a clip gives the windows a (foreground) streaming classifier classifies: the
    same ends, starts, frames with a person and class probabilities."""
    frames = clip(70, empty_until=10)
    model = FakeModel()
    options = {"either_hand": True, "temperature": 2.0, "faster": [2.0]}
    classifier = streaming(model, window=24, stride=6, min_frames=8, pad_to=0, **options)
    predictions = [p for i, f in enumerate(frames) if (p := classifier.push(f, i / 30))]
    windows = list(stream_windows(frames, 24, 6, 8, fps=30.0, faster=[2.0]))
    assert [(p.start, p.timestamp, p.frames) for p in predictions] == [
        (w.start, w.end, w.seen) for w in windows
    ]
    assert windows[0].end == pytest.approx(17 / 30)  # 8 frames with a person, then due
    classify = WindowClassifier(model, card=classifier.card, pad_to=0, **options)
    assert classify.views == 4  # (the window + its 2x view) x (as seen + mirrored)
    for prediction, window in zip(predictions, windows):
        np.testing.assert_allclose(
            classify(window.frames, window.faster), prediction.raw_probs, atol=1e-6
        )


def test_a_faster_view_plays_the_same_moment_at_a_higher_speed():
    """A 2x view is the last 2 x window frames' time at every second frame, ending with the
    window; while too few frames of it show someone it is left out, the window still taken."""
    frames = clip(60, empty_until=30)
    cutter = WindowCutter(8, 1, 30.0, 4, faster=[2.0])
    for index, frame in enumerate(frames):
        cutter.add(frame, index / 30)
        if index == 32:  # 3 frames with someone: neither view yet
            assert cutter.cut() is None
        if index == 34:  # 5 in the window, 3 of the 2x view's 8 (frames 21, 23, ..., 33)
            assert cutter.cut().seen == 5 and cutter.cut().faster == ()
    last = cutter.cut()
    np.testing.assert_array_equal(last.frames, frames[52:60])
    np.testing.assert_array_equal(last.faster[0], frames[45:60:2])


def test_a_slower_camera_is_resampled_to_the_models_rate():
    """A 15 fps stream cut at 30 fps repeats each frame (the nearest earlier one); ticks
    before the first frame are left out; an empty window is None with min_frames."""
    frames = clip(10)
    times = np.arange(10) / 15.0
    window = cut_window(times, frames, times[-1], 8, 30.0)
    assert window.frames.shape == (8, 3, 25, 2) and window.seen == 8
    np.testing.assert_array_equal(window.frames, frames[[5, 6, 6, 7, 7, 8, 8, 9]])
    early = cut_window(times, frames, times[1], 8, 30.0)
    assert len(early.frames) == 3 and early.start == 0.0  # frames 0, 0, 1
    nobody = [None] * 10
    assert cut_window(times, nobody, times[-1], 8, 30.0, min_frames=4) is None
    assert cut_window(times, nobody, times[-1], 8, 30.0).seen == 0


def test_training_windows_are_cut_by_the_same_cutter():
    """clip_windows' frames are cut_window's at each training window's end."""
    frames = clip(50, empty_until=5)
    times = np.arange(50) / 30.0
    for start, window in clip_windows(frames, 16, 10, 8, fps=30.0):
        end = min(start + 16, 50) - 1
        np.testing.assert_array_equal(
            window, cut_window(times, frames, times[end], 16, 30.0).frames
        )
    assert [s for s, _ in clip_windows(frames, 16, 10, 8)] == [0, 10, 20, 30, 34]


def test_one_cutter_and_one_window_classifier_in_the_code():
    """Outside pipeline/, nothing resamples a window or takes a mirror-image vote itself: the
    window stage has one home (pipeline/windows.py)."""
    from shared_paths import REPO_ROOT

    resamples, mirrors = [], []
    for path in sorted(REPO_ROOT.glob("*/**/*.py")):
        part = path.relative_to(REPO_ROOT).parts[0]
        if part in ("tests", ".venv", "venv") or part.startswith("."):
            continue
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO_ROOT).as_posix()
        if "resample_index(" in text:
            resamples.append(name)
        if "import mirror" in text or "preprocess.mirror" in text or ", mirror," in text:
            mirrors.append(name)
    assert resamples == ["pipeline/resampling.py", "pipeline/windows.py"]
    assert mirrors == ["pipeline/windows.py"]


def test_rotation_turns_about_the_upright_axis_only():
    """rotate_upright by 90 degrees takes +x to +y and leaves z (the spine's axis) alone; it is
    linear, so a bone stream turned equals the bones of the turned joints."""
    from model.preprocess import make_stream, rotate_upright

    x = np.random.default_rng(0).normal(size=(3, 6, 25, 2)).astype(np.float32)
    turned = rotate_upright(x, 90.0)
    np.testing.assert_allclose(turned[0], -x[1], atol=1e-6)
    np.testing.assert_allclose(turned[1], x[0], atol=1e-6)
    np.testing.assert_array_equal(turned[2], x[2])
    np.testing.assert_allclose(
        rotate_upright(make_stream(x, "bone"), 20.0),
        make_stream(rotate_upright(x, 20.0), "bone"),
        atol=1e-5,
    )


def test_rotations_are_averaged_views_of_each_window():
    """With rotations, a window's probabilities are the mean of its views' (the window and its
    mirror image, each as it is and turned by each angle); each angle costs one more run."""
    from model.preprocess import mirror, prepare_window, rotate_upright
    from pipeline.prediction import softmax

    model = FakeModel()
    frames = clip(20)
    card = ModelCard(4, tuple(FakeModel.class_names), loop_to=0)
    plain = WindowClassifier(model, card=card, pad_to=0, either_hand=True)
    turned = WindowClassifier(model, card=card, pad_to=0, either_hand=True, rotations=[30, 0])
    assert (plain.views, turned.views) == (2, 4)  # an angle of 0 is the window itself
    x = prepare_window(frames, 0, "joint")
    views = [x, mirror(x)]
    views += [rotate_upright(v, 30) for v in views]
    with torch.no_grad():
        expected = np.mean([softmax(model(torch.from_numpy(v)[None])[0].numpy()) for v in views], 0)
    np.testing.assert_allclose(turned(frames), expected, atol=1e-5)
    assert not np.allclose(turned(frames), plain(frames), atol=1e-4)


@pytest.mark.parametrize("rotations", [[120.0], "15", [0.0] * 9, ["a"]])
def test_bad_rotations_are_refused_in_one_line(rotations):
    from common.errors import UserError

    with pytest.raises(UserError, match="rotations=") as caught:
        ClassifierSettings(rotations=rotations)
    assert "\n" not in str(caught.value)
