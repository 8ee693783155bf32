"""Helpers for the pose, pipeline and classify_video tests: shared fixtures, synthetic people,
real photographs and generated videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from shared_paths import SHARED, require  # noqa: F401 (re-exported for the pose tests)

from pose import Person

VIDEO = SHARED / "fixtures" / "video" / "armwrestling_340x256.mp4"
PREPROCESSING = SHARED / "fixtures" / "ntu_preprocessing_reference.npz"
OFFICIAL_WEIGHTS = SHARED / "weights" / "official"

# A person facing the camera, MediaPipe world axes (metres, hip centre origin, x to the image
# right, y down): the person's left side is on the image's right.
_HALF = {  # left-side landmark -> (x, y, z); the right side mirrors x
    11: (0.18, -0.45, 0.0),
    13: (0.22, -0.20, 0.0),
    15: (0.24, 0.02, 0.0),
    17: (0.25, 0.10, 0.0),
    19: (0.24, 0.11, 0.0),
    21: (0.22, 0.08, -0.02),
    23: (0.10, 0.0, 0.0),
    25: (0.10, 0.42, 0.0),
    27: (0.10, 0.82, 0.0),
    29: (0.10, 0.86, 0.05),
    31: (0.10, 0.88, -0.10),
    1: (0.02, -0.63, -0.08),
    2: (0.035, -0.63, -0.08),
    3: (0.05, -0.63, -0.07),
    7: (0.07, -0.60, 0.0),
    9: (0.02, -0.55, -0.08),
}
_MIRROR = {1: 4, 2: 5, 3: 6, 7: 8, 9: 10}  # left face landmark -> right one (limbs: index + 1)
RIGHT_ARM = (14, 16, 18, 20, 22)


def standing_world() -> np.ndarray:
    """(33, 3) world landmarks of a person standing, arms down, facing the camera."""
    world = np.zeros((33, 3), dtype=np.float32)
    world[0] = (0.0, -0.60, -0.10)
    for left, (x, y, z) in _HALF.items():
        right = _MIRROR.get(left, left + 1)
        world[left] = (x, y, z)
        world[right] = (-x, y, z)
    return world


def person_from_world(
    world: np.ndarray,
    centre_x: float = 0.5,
    size: tuple[int, int] = (640, 480),
    visibility: float = 0.99,
    distance: float = 2.5,
) -> Person:
    """A Person whose image landmarks are the world ones seen by a camera `distance` metres away."""
    w, h = size
    focal = w  # pixels
    depth = distance + world[:, 2]
    image = np.empty_like(world)
    image[:, 0] = centre_x + focal * world[:, 0] / depth / w
    image[:, 1] = 0.5 + focal * world[:, 1] / depth / h
    image[:, 2] = world[:, 2]
    return Person(image=image, world=world, visibility=np.full(33, visibility), image_size=size)


def raise_right_hand(world: np.ndarray) -> np.ndarray:
    """The same pose with the person's right arm raised straight above the shoulder."""
    raised = world.copy()
    shoulder = world[12]
    for k, index in enumerate(RIGHT_ARM):
        raised[index] = shoulder + (0.0, -0.25 * (1 + k // 2) - 0.05 * (k % 2), 0.0)
    return raised


def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut: a real photograph of one person, as a BGR frame."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """Write BGR frames as an MP4 with OpenCV."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MP4 here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def astronaut_video(
    path: Path, count: int = 24, fps: float = 30.0, size: tuple[int, int] = (256, 256)
) -> Path:
    """A short video of the astronaut photograph drifting sideways (a person in every frame)."""
    image = cv2.resize(astronaut_bgr(), size)
    frames = [np.roll(image, 2 * i, axis=1) for i in range(count)]
    return write_video(path, frames, fps)


def blank_video(path: Path, count: int = 12, fps: float = 30.0) -> Path:
    """A short grey video with nobody in it."""
    return write_video(path, [np.full((128, 160, 3), 90, np.uint8)] * count, fps)


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    """The first `limit` frames of a video."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def streaming(
    model,
    *,
    background: bool = False,
    drop_late: bool = True,
    keep_history: bool = False,
    runtime: str = "torch",
    **settings,
):
    """A StreamingClassifier on the CPU with ClassifierSettings(**settings), giving the model's
    own probabilities unless asked otherwise (no mirror-image or faster views, temperature 1).
    `model` is a model.LoadedModel (the network and its card), or a network whose card is made
    here: its classes and stream (a stand-in's class attributes), windows as the settings fill
    them."""
    from model import LoadedModel, ModelCard
    from pipeline import ClassifierSettings, StreamingClassifier

    own = {"either_hand": False, "faster": [], "temperature": 1.0}
    chosen = ClassifierSettings(**{**own, **settings})
    if isinstance(model, LoadedModel):
        model, card = model
    else:
        names = getattr(model, "class_names", None)
        card = ModelCard(
            len(names) if names else model.num_class,
            names,
            getattr(model, "stream", "joint"),
            loop_to=chosen.pad_to,
            fps=chosen.fps,
        )
    return StreamingClassifier(
        model,
        chosen,
        card=card,
        device="cpu",
        runtime=runtime,
        background=background,
        drop_late=drop_late,
        keep_history=keep_history,
    )
