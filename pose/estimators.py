"""Pose estimators: MediaPipe's bundled offline model, and Tasks PoseLandmarker (.task file)."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from common.errors import UserError
from common.limits import check_number, check_size, max_workers

from .landmarks import Person
from .model_files import ensure_pose_model
from .native_log import native_stderr_silenced

MEDIAPIPE_PIN = "mediapipe==0.10.21"
TASK_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
    "pose_landmarker_full/float16/latest/pose_landmarker_full.task"
)
BACKENDS = ("mediapipe", "tasks")
# Pixels of margin grown around the first person's segmentation before looking for a second one.
MASK_DILATE_PX = 15
GREY = 127  # what the first person is painted with before the search for a second one
# Two detections whose torso centres are closer than this fraction of the frame are one person.
SAME_PERSON_DISTANCE = 0.08
# A second person whose torso is smaller than this fraction of the first one's is someone in the
# background, not a partner (tests/test_pose_estimator.py checks it on the shared video).
MIN_SECOND_SCALE = 0.5
NEVER = 10**9  # frames since the last search for a second person, before the first one
# MediaPipe's graphs log warnings nobody can act on to stderr in their first frames after a start
# or a reset; they are silenced this many frames.
QUIET_FRAMES = 10


@dataclass
class PoseSettings:
    """The pose estimator's settings; the defaults are the product's, a YAML `pose:` section
    overrides them (pipeline.load_settings)."""

    backend: str = "mediapipe"  # mediapipe (bundled, offline) | tasks (model_path: a .task file)
    model_path: str | None = None  # a .task file selects the tasks backend by itself
    max_people: int = 2
    # 1 (full) is bundled; 0 (lite) and 2 (heavy) are fetched once into SHIFTGCN_POSE_DIR
    # (pose/pose_models.yaml)
    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    second_person_every: int = 3  # while a second person is tracked, update them every n frames
    second_person_search_every: int = 10  # while there is none, look for one every n frames
    # above second_person_search_every: each search that finds nobody doubles the wait up to
    # this many frames (cheaper one-person scenes, but a partner MediaPipe finds only now and
    # then is missed for longer: python -m bench.pipeline; 0: no back-off)
    second_person_search_max: int = 0
    # XNNPACK threads per MediaPipe model: more cut a frame's latency but spin-wait between
    # frames, which slows a small machine down (compare with python -m bench.pipeline)
    threads: int = 1

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(
                f"unknown pose backend {self.backend!r}: choose one of {', '.join(BACKENDS)}"
            )
        if self.max_people not in (1, 2):
            raise UserError(f"max_people must be 1 or 2, got {self.max_people}")
        if self.model_complexity not in (0, 1, 2):
            raise UserError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        check_size("pose threads", self.threads, 1, max_workers())
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            check_number(f"pose {name}", getattr(self, name), 0.0, 1.0)
        if min(self.second_person_every, self.second_person_search_every) < 1:
            raise UserError(
                "second_person_every and second_person_search_every must be 1 or "
                f"more, got {self.second_person_every} and "
                f"{self.second_person_search_every}"
            )
        check_size("pose second_person_search_max", self.second_person_search_max, 0, 10**6)


class PoseEstimator(Protocol):
    """What the pipeline needs from a pose backend."""

    def estimate(self, frame_bgr: np.ndarray) -> list[Person]:
        """People found in one BGR frame, most prominent first."""

    def reset(self) -> None:
        """Forget tracked people (a new video)."""

    def close(self) -> None:
        """Release the backend's resources."""


def _import_mediapipe():
    """Import mediapipe quietly, or say in one line what to install."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe as mp
    except ImportError as err:
        raise UserError(
            f"MediaPipe is not installed ({err}): pip install '{MEDIAPIPE_PIN}'"
        ) from None
    return mp


def _rgb(frame_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 frame -> contiguous RGB, checking it is an image."""
    if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        shape = None if frame_bgr is None else frame_bgr.shape
        raise UserError(f"expected a BGR image of shape (H, W, 3), got {shape}")
    import cv2

    # OpenCV's conversion: far quicker than numpy's copy through a reversed view
    return cv2.cvtColor(np.ascontiguousarray(frame_bgr), cv2.COLOR_BGR2RGB)


def _grey_out(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of `rgb` painted grey where the uint8 `mask` is set (OpenCV's masked copy: much
    quicker than numpy's boolean indexing)."""
    import cv2

    return cv2.copyTo(np.full_like(rgb, GREY), mask, rgb.copy())


def _person(image_lms, world_lms, size: tuple[int, int]) -> Person:
    """Build a Person from MediaPipe landmark lists (image and world)."""
    image = np.array([[p.x, p.y, p.z] for p in image_lms], dtype=np.float32)
    world = np.array([[p.x, p.y, p.z] for p in world_lms], dtype=np.float32)
    vis = np.array([p.visibility or 0.0 for p in image_lms], dtype=np.float32)
    return Person(image=image, world=world, visibility=vis, image_size=size)


def torso_size(person: Person) -> float:
    """Shoulder width plus torso length in pixels: how large a person appears."""
    p = person.pixels
    shoulders, hips = (p[11] + p[12]) / 2, (p[23] + p[24]) / 2
    return float(np.linalg.norm(p[11] - p[12]) + np.linalg.norm(shoulders - hips))


def is_same_person(a: Person, b: Person) -> bool:
    """True when two detections are one person seen twice (torso centres nearly coincide)."""
    return float(np.abs(a.torso_centre - b.torso_centre).max()) < SAME_PERSON_DISTANCE


def _threaded_pose(mp, threads: int, **kwargs):
    """`mp.solutions.pose.Pose` whose TFLite models run on `threads` XNNPACK threads.

    The solution API has no such option and runs each model on one thread; the graph's
    InferenceCalculator nodes take the count from their XNNPACK delegate options, set here.
    More threads cut one frame's latency but their pool spin-waits between frames, so a paced
    camera stream on a small machine costs more CPU a frame (see PoseSettings.threads).
    """
    from mediapipe.calculators.tensor import inference_calculator_pb2

    extension = inference_calculator_pb2.InferenceCalculatorOptions.ext

    class ThreadedPose(mp.solutions.pose.Pose):
        """The solution with XNNPACK threads set, whose start-up logging is silenced."""

        inference_threads: dict[str, int] = {}

        def __init__(self, **options) -> None:
            with native_stderr_silenced():
                super().__init__(**options)
                self._graph.wait_until_idle()  # the calculators open (and log) in graph threads

        def reset(self) -> None:
            with native_stderr_silenced():
                super().reset()
                self._graph.wait_until_idle()

        def _modify_calculator_options(self, config, calculator_params) -> None:
            super()._modify_calculator_options(config, calculator_params)
            self.inference_threads = {}
            for node in config.node:
                if node.calculator.startswith("InferenceCalculator"):
                    node.options.Extensions[extension].delegate.xnnpack.num_threads = threads
                    self.inference_threads[node.name] = threads

    return ThreadedPose(**kwargs)


class MediaPipePose:
    """The pose model bundled in mediapipe 0.10.21 (`solutions.pose`), offline, in tracking mode.

    It finds one person per call; a second person is looked for by running a second instance
    on the frame with the first person's segmentation masked out. That search runs in a worker
    thread while the first instance processes the next frame, so two cores share the two model
    runs; its result is taken at the next call, which reports the second person one frame late.
    The search runs every `second_person_every` frames while a second person is tracked (in
    between, their last pose is reported again; in tracking mode the second instance runs its
    landmark model on the region of their last landmarks, its detector only when it lost them)
    and every `second_person_search_every` frames while there is none (backing off to
    `second_person_search_max` where set), which keeps one-person scenes cheap. Results do not
    depend on timing: the same frames give the same people.
    """

    def __init__(self, settings: PoseSettings | None = None) -> None:
        settings = settings or PoseSettings()
        mp = _import_mediapipe()
        self._check_model(mp, settings.model_complexity)
        max_people = self.max_people = settings.max_people
        self.second_person_every = settings.second_person_every
        self.second_person_search_every = settings.second_person_search_every
        self.second_person_search_max = max(
            settings.second_person_search_max, settings.second_person_search_every
        )
        kwargs = dict(
            static_image_mode=False,
            model_complexity=settings.model_complexity,
            min_detection_confidence=settings.min_detection_confidence,
            min_tracking_confidence=settings.min_tracking_confidence,
        )
        threads = settings.threads
        self._first = _threaded_pose(mp, threads, enable_segmentation=max_people > 1, **kwargs)
        self._second = _threaded_pose(mp, threads, **kwargs) if max_people > 1 else None
        self._worker = (
            ThreadPoolExecutor(1, thread_name_prefix="second-person") if max_people > 1 else None
        )
        self._search_started: tuple[Future, Person] | None = None  # and who the first one was
        self._since_search = NEVER
        self._search_gap = self.second_person_search_every  # frames between searches for nobody
        self._last_second: Person | None = None
        self._size: tuple[int, int] | None = None
        self._quiet_frames = QUIET_FRAMES

    @staticmethod
    def _check_model(mp, model_complexity: int) -> None:
        """Make sure the model variant is where mediapipe looks: the full model (1) is bundled,
        the lite (0) and heavy (2) ones are fetched into a cache first (pose.model_files)."""
        root = Path(mp.__file__).parent
        if model_complexity != 1:
            ensure_pose_model(model_complexity, root)
            return
        path = root / "modules" / "pose_landmark" / "pose_landmark_full.tflite"
        if not path.is_file():
            raise UserError(
                f"the bundled MediaPipe pose model {path} is missing: reinstall {MEDIAPIPE_PIN}"
            )

    def estimate(self, frame_bgr: np.ndarray) -> list[Person]:
        """Up to two people in the frame, the one the first instance tracks first."""
        rgb = _rgb(frame_bgr)
        h, w = rgb.shape[:2]
        self._follow_size((w, h))
        quiet = self._quiet_frames > 0
        self._quiet_frames -= quiet
        with native_stderr_silenced() if quiet else nullcontext():
            first = self._first.process(rgb)  # meanwhile the last frame's search may be running
            self._finish_search()
        if first.pose_landmarks is None:
            self._last_second = None
            return []
        people = [
            _person(first.pose_landmarks.landmark, first.pose_world_landmarks.landmark, (w, h))
        ]
        if self._second is not None:
            self._maybe_start_search(rgb, first.segmentation_mask, people[0])
            if self._last_second is not None:
                people.append(self._last_second)
        return people

    def _finish_search(self) -> None:
        """Take the result of the search started on the previous frame, if there was one; after
        a search that found nobody where nobody was, wait longer before the next."""
        if self._search_started is None:
            return
        future, first = self._search_started
        self._search_started = None
        second = self._accept_second(future.result(), first)
        if second is None and self._last_second is None:
            self._search_gap = min(2 * self._search_gap, self.second_person_search_max)
        elif second is not None:
            self._search_gap = self.second_person_search_every
        self._last_second = second

    def _maybe_start_search(self, rgb: np.ndarray, mask: np.ndarray | None, first: Person) -> None:
        """Start the second-person search on this frame in the worker when one is due."""
        self._since_search += 1
        interval = self.second_person_every if self._last_second is not None else self._search_gap
        if self._since_search < interval:
            return
        self._since_search = 0
        masked = _grey_out(rgb, self._grown_mask(mask, first, rgb.shape[:2]))
        self._search_started = (self._worker.submit(self._search, masked), first)

    def _search(self, masked_rgb: np.ndarray) -> Person | None:
        """The second instance on a frame with the first person painted grey."""
        h, w = masked_rgb.shape[:2]
        result = self._second.process(masked_rgb)
        if result.pose_landmarks is None:
            return None
        return _person(result.pose_landmarks.landmark, result.pose_world_landmarks.landmark, (w, h))

    @staticmethod
    def _accept_second(second: Person | None, first: Person) -> Person | None:
        """Drop a second detection that is the first person again or someone far behind."""
        if second is None:
            return None
        too_small = torso_size(second) < MIN_SECOND_SCALE * torso_size(first)
        return None if too_small or is_same_person(first, second) else second

    @staticmethod
    def _grown_mask(
        segmentation: np.ndarray | None, first: Person, shape: tuple[int, int]
    ) -> np.ndarray:
        """0/1 mask of the first person (segmentation, else bounding box), grown by a margin."""
        import cv2

        if segmentation is None:
            mask = np.zeros(shape, np.uint8)
            x0, y0, x1, y1 = first.bbox()
            mask[y0:y1, x0:x1] = 1
        else:
            mask = (segmentation > 0.5).astype(np.uint8)
        kernel = np.ones((MASK_DILATE_PX, MASK_DILATE_PX), np.uint8)
        return cv2.dilate(mask, kernel)

    def _follow_size(self, size: tuple[int, int]) -> None:
        """Restart the graphs when the frame size changes: MediaPipe's tracking-mode smoothing
        (segmentation masks, landmarks) compares each frame with the last, of the same size."""
        if self._size is not None and size != self._size:
            self.reset()
        self._size = size

    def reset(self) -> None:
        """Forget tracked people (a new video)."""
        if self._search_started is not None:
            self._search_started[0].result()  # let the worker finish before its graph resets
            self._search_started = None
        for graph in (self._first, self._second):
            if graph is not None:
                graph.reset()
        self._last_second, self._since_search = None, NEVER
        self._search_gap = self.second_person_search_every
        self._quiet_frames = QUIET_FRAMES

    def close(self) -> None:
        """Release both MediaPipe graphs and the search thread."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
        for graph in (self._first, self._second):
            if graph is not None:
                graph.close()


class TasksPose:
    """MediaPipe Tasks `PoseLandmarker` in video mode with a user-supplied `.task` model file
    (settings.model_path; the complexity, thread and search settings are MediaPipePose's)."""

    def __init__(self, settings: PoseSettings) -> None:
        mp = _import_mediapipe()
        path = Path(settings.model_path or "")
        if path.suffix != ".task" or not path.is_file():
            raise UserError(
                f"pose model {path} not found or not a .task file: download "
                f"{TASK_MODEL_URL} and pass its path"
            )
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as err:
            raise UserError(
                f"this MediaPipe has no Tasks API ({err}): pip install '{MEDIAPIPE_PIN}'"
            ) from None
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=settings.max_people,
            min_pose_detection_confidence=settings.min_detection_confidence,
            min_tracking_confidence=settings.min_tracking_confidence,
        )
        try:
            self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            text = str(err).strip()
            first_line = text.splitlines()[0] if text else type(err).__name__
            raise UserError(f"cannot load pose model {path}: {first_line}") from None
        self._mp = mp
        self._last_ms = -1

    def estimate(self, frame_bgr: np.ndarray, timestamp_ms: int | None = None) -> list[Person]:
        """People found in the frame; timestamps must increase (one is made up when absent)."""
        rgb = _rgb(frame_bgr)
        h, w = rgb.shape[:2]
        ms = (
            self._last_ms + 33
            if timestamp_ms is None
            else max(int(timestamp_ms), self._last_ms + 1)
        )
        self._last_ms = ms
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        result = self._landmarker.detect_for_video(image, ms)
        return [
            _person(img, world, (w, h))
            for img, world in zip(result.pose_landmarks, result.pose_world_landmarks)
        ]

    def reset(self) -> None:
        """Nothing to forget: video-mode timestamps only keep increasing."""

    def close(self) -> None:
        """Release the landmarker."""
        self._landmarker.close()


def make_estimator(settings: PoseSettings | None = None) -> PoseEstimator:
    """Build the settings' backend; a `.task` model path selects the Tasks backend by itself."""
    settings = settings or PoseSettings()
    if settings.model_path is None and settings.backend == "tasks":
        raise UserError(
            f"the tasks pose backend needs a .task model file: download "
            f"{TASK_MODEL_URL} and pass its path"
        )
    return MediaPipePose(settings) if settings.model_path is None else TasksPose(settings)
