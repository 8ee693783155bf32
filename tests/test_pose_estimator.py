"""Pose backends on real pixels: a photograph, two people apart, the shared two-person video,
and one clear line for every backend or model that is not available."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from pose_helpers import VIDEO, astronaut_bgr, read_frames, require

from common.errors import UserError
from pose import MediaPipePose, PoseSettings, make_estimator, to_ntu
from pose.estimators import is_same_person

EVERY_FRAME = PoseSettings(second_person_every=1, second_person_search_every=1)


@pytest.fixture(scope="module")
def estimator():
    """One offline MediaPipe estimator for the module (graph start-up costs ~0.3 s)."""
    est = MediaPipePose(EVERY_FRAME)
    yield est
    est.close()


def test_finds_the_astronaut(estimator):
    """A real photograph of one person: one person, landmarks inside the frame, shoulders seen."""
    estimator.reset()
    people = estimator.estimate(astronaut_bgr())
    assert len(people) == 1
    person = people[0]
    assert person.image_size == (512, 512)
    upper = person.image[:13, :2]  # face and shoulders are in the picture, her legs are not
    assert np.all((upper > 0) & (upper < 1))
    assert person.visibility[[11, 12]].min() > 0.9
    assert person.visibility[25:].max() < 0.2  # knees and feet out of frame: not visible
    joints = to_ntu(person)
    assert joints[1, 3] > joints[1, 1]  # head above spine middle
    assert joints[0, 8] > joints[0, 4]  # she faces the camera: left -> right shoulder is +x


def test_two_people_apart_are_both_found(estimator):
    """Two copies of the photograph side by side: the masked second run finds the other one."""
    estimator.reset()
    image = astronaut_bgr()
    frame = np.hstack([image, image])
    for _ in range(2):  # the first call detects, the second tracks
        people = estimator.estimate(frame)
    assert len(people) == 2
    centres = sorted(p.image[[11, 12, 23, 24], 0].mean() for p in people)
    assert centres[0] < 0.5 < centres[1]
    assert not is_same_person(*people)


def test_nobody_in_a_blank_frame(estimator):
    """A grey frame has no people."""
    estimator.reset()
    assert estimator.estimate(np.full((120, 160, 3), 128, np.uint8)) == []


@pytest.mark.slow
def test_two_people_touching_in_the_shared_video(estimator):
    """Arm wrestling (two people touching, half out of frame): from frame 185 on both are seen,
    and the small people in the background before that are not taken for the opponent."""
    frames = read_frames(require(VIDEO), 220)
    estimator.reset()
    counts = np.array([len(estimator.estimate(f)) for f in frames[185:220]])
    assert (counts == 2).sum() >= 15
    estimator.reset()
    counts = np.array([len(estimator.estimate(f)) for f in frames[:40]])
    assert (counts >= 1).sum() >= 25 and (counts == 2).sum() == 0


def test_frame_size_change_mid_stream(estimator):
    """Frames whose size changes (a folder of videos, a camera switching resolution) go on being
    tracked: MediaPipe's segmentation smoothing would fail on a mask of the old size."""
    estimator.reset()
    large = astronaut_bgr()
    small = cv2.resize(large, (320, 240))
    sizes = [
        [p.image_size for p in estimator.estimate(frame)]
        for frame in (large, large, small, small, large)
    ]
    assert sizes == [[(512, 512)]] * 2 + [[(320, 240)]] * 2 + [[(512, 512)]]


def test_second_person_search_can_be_sparse():
    """With a search every 3rd frame the second person is still reported on the frames between."""
    est = MediaPipePose(PoseSettings(second_person_every=3))
    image = astronaut_bgr()
    frame = np.hstack([image, image])
    counts = [len(est.estimate(frame)) for _ in range(6)]
    est.close()
    assert counts[3:] == [2, 2, 2]


def test_one_person_mode_reports_one():
    """max_people=1 runs the model once per frame."""
    est = make_estimator(PoseSettings(max_people=1))
    image = astronaut_bgr()
    assert len(est.estimate(np.hstack([image, image]))) == 1
    est.close()


def test_not_an_image_is_one_line(estimator):
    """A grey-level array is refused with a clear message."""
    with pytest.raises(UserError, match="BGR image"):
        estimator.estimate(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(backend="tasks"), r"needs a \.task model file"),
        (dict(backend="tasks", model_path="missing.task"), "not found"),
        (dict(backend="openpose"), "unknown pose backend"),
        (dict(backend="mediapipe", model_complexity=3), "model_complexity must be 0, 1 or 2"),
        (dict(backend="mediapipe", max_people=3), "max_people"),
    ],
)
def test_unavailable_backends_say_what_to_do(kwargs, message):
    """Each unavailable choice raises one UserError line naming what to install or download."""
    with pytest.raises(UserError, match=message) as info:
        make_estimator(PoseSettings(**kwargs))
    assert "\n" not in str(info.value)


def test_corrupt_task_file_is_one_line(tmp_path):
    """A .task file that is not a model gives one line, not a MediaPipe traceback."""
    bogus = tmp_path / "pose_landmarker.task"
    bogus.write_bytes(b"not a model" * 100)
    with pytest.raises(UserError, match="cannot load pose model") as info:
        make_estimator(PoseSettings(model_path=str(bogus)))
    assert "\n" not in str(info.value)


def test_one_person_scenes_search_for_a_second_rarely(monkeypatch):
    """Without a second person the masked run happens every `second_person_search_every` frames;
    once one is found, every `second_person_every` frames."""
    est = MediaPipePose(PoseSettings(second_person_every=1, second_person_search_every=5))
    searches = []
    search = est._search
    monkeypatch.setattr(est, "_search", lambda *a: searches.append(1) or search(*a))
    image = astronaut_bgr()
    for _ in range(11):
        est.estimate(image)
    est.reset()  # waits for the search started on the last frame
    assert len(searches) == 3  # frames 1, 6 and 11
    searches.clear()
    for _ in range(6):
        est.estimate(np.hstack([image, image]))
    est.reset()
    assert len(searches) == 6
    est.close()


def test_searches_that_find_nobody_back_off():
    """Each search that finds nobody doubles the wait before the next, up to the maximum; a
    found second person brings the shortest wait back."""
    settings = PoseSettings(second_person_search_every=2, second_person_search_max=8)
    est = MediaPipePose(settings)
    image = astronaut_bgr()
    searched = []
    for frame in range(1, 25):
        est.estimate(image)
        if est._search_started is not None:  # started on this frame, taken on the next
            searched.append(frame)
    est.close()
    assert searched == [1, 5, 13, 21]  # gaps 4, 8, 8: each result is taken a frame later


def test_second_person_search_in_its_thread_is_deterministic():
    """The search runs in a worker thread beside the first instance; the same frames must still
    give the same people, whatever the timing."""
    frames = read_frames(require(VIDEO), 220)[185:215]
    runs = []
    for _ in range(2):
        est = MediaPipePose(EVERY_FRAME)
        runs.append([[p.image.copy() for p in est.estimate(f)] for f in frames])
        est.close()
    assert [len(people) for people in runs[0]] == [len(people) for people in runs[1]]
    for first_run, second_run in zip(*runs):
        for a, b in zip(first_run, second_run):
            np.testing.assert_array_equal(a, b)


def test_xnnpack_threads_reach_both_models_of_both_graphs():
    """`threads` sets the XNNPACK thread count of the detector and the landmark model in both
    instances, and the people found stay those of the one-thread default."""
    image = astronaut_bgr()
    found = {}
    for threads in (1, 2):
        est = MediaPipePose(PoseSettings(threads=threads))
        for graph in (est._first, est._second):
            assert sorted(graph.inference_threads.values()) == [threads, threads]
            assert any("posedetection" in name for name in graph.inference_threads)
            assert any("poselandmark" in name for name in graph.inference_threads)
        found[threads] = [p.image for p in est.estimate(image)]
        est.close()
    assert len(found[1]) == len(found[2]) == 1
    np.testing.assert_allclose(found[2][0], found[1][0], atol=1e-3)


def test_default_settings_are_the_products():
    """The estimator's defaults are the pipeline's: a second person updated every 3rd frame and
    sought every 10th (no back-off), both models on one thread."""
    from pipeline import load_settings

    settings = PoseSettings()
    assert (settings.second_person_every, settings.second_person_search_every) == (3, 10)
    assert settings.second_person_search_max == 0  # no back-off
    assert settings.threads == 1 and load_settings().pose == settings


def test_no_pose_threads_is_one_line():
    with pytest.raises(UserError, match="pose threads 0 is out of bounds"):
        PoseSettings(threads=0)


def test_mediapipe_start_up_warnings_are_silenced(capfd):
    """Graph start, reset and the first frames log warnings nobody can act on; none reach stderr,
    and stderr works again afterwards."""
    est = MediaPipePose()
    image = astronaut_bgr()
    for _ in range(3):
        est.estimate(image)
    est.reset()
    est.estimate(image)
    est.close()
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "inference_feedback_manager" not in err and "W0000" not in err
    assert err.endswith("after\n")
