"""One detected person: BlazePose's 33 landmarks in image and world coordinates, with visibility."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_LANDMARKS = 33

# BlazePose landmark indices ("left" is the person's left).
NOSE = 0
LEFT_EAR, RIGHT_EAR = 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_PINKY, RIGHT_PINKY = 17, 18
LEFT_INDEX, RIGHT_INDEX = 19, 20
LEFT_THUMB, RIGHT_THUMB = 21, 22
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_FOOT, RIGHT_FOOT = 31, 32  # foot index: the tip of the foot
TORSO = [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]

# Lines between landmarks for drawing a BlazePose skeleton on the image.
POSE_EDGES = (
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (25, 27),
    (27, 29),
    (29, 31),
    (27, 31),
    (24, 26),
    (26, 28),
    (28, 30),
    (30, 32),
    (28, 32),
    (0, 7),
    (0, 8),
)


@dataclass
class Person:
    """One person in one frame, as a pose estimator reports it.

    image: (33, 3) x, y normalised to the frame (0..1), z relative depth (image landmarks).
    world: (33, 3) metres, origin between the hips, x right, y down, z away from the camera.
    visibility: (33,) in 0..1, how likely each landmark is visible.
    image_size: (width, height) of the frame in pixels, to place the person in camera space.
    """

    image: np.ndarray
    world: np.ndarray
    visibility: np.ndarray
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        """Coerce to float32 arrays and check the shapes once, here."""
        self.image = np.asarray(self.image, dtype=np.float32).reshape(NUM_LANDMARKS, 3)
        self.world = np.asarray(self.world, dtype=np.float32).reshape(NUM_LANDMARKS, 3)
        self.visibility = np.asarray(self.visibility, dtype=np.float32).reshape(NUM_LANDMARKS)

    @property
    def pixels(self) -> np.ndarray:
        """(33, 2) landmark positions in pixels, for drawing and tracking."""
        w, h = self.image_size
        return self.image[:, :2] * np.array([w, h], dtype=np.float32)

    @property
    def score(self) -> float:
        """Mean visibility of the torso landmarks: how confidently the person is seen."""
        return float(self.visibility[TORSO].mean())

    @property
    def torso_centre(self) -> np.ndarray:
        """Normalised image position of the mean of shoulders and hips: where the person is."""
        return self.image[TORSO, :2].mean(axis=0)

    def bbox(self, pad: float = 0.1) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) pixel box around the landmarks, padded by `pad` of its size, clipped."""
        w, h = self.image_size
        p = self.pixels
        x0, y0 = p.min(axis=0)
        x1, y1 = p.max(axis=0)
        px, py = (x1 - x0) * pad, (y1 - y0) * pad
        return (
            int(max(0, x0 - px)),
            int(max(0, y0 - py)),
            int(min(w, x1 + px)),
            int(min(h, y1 + py)),
        )
