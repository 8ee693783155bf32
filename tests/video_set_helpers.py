"""Videos of two visibly different movements made from a real photograph of a person
(skimage's astronaut): the picture sways sideways, or bobs up and down and grows and shrinks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pose_helpers import astronaut_bgr, write_video

MOVES = ("sway", "bob")


def moving_person(move: str, count: int, phase: float = 0.0, size: int = 256) -> list[np.ndarray]:
    """`count` frames of the astronaut doing `move` (see MOVES), starting at `phase`."""
    import cv2

    photo = cv2.resize(astronaut_bgr(), (size, size))
    frames = []
    for i in range(count):
        angle = phase + 2 * np.pi * i / 20
        if move == "sway":
            matrix = np.float32([[1, 0, 40 * np.sin(angle)], [0, 1, 0]])
        else:
            scale = 1 + 0.15 * np.sin(angle)
            matrix = cv2.getRotationMatrix2D((size / 2, size / 2), 0, scale)
            matrix[1, 2] += 30 * np.cos(angle)
        frames.append(cv2.warpAffine(photo, matrix, (size, size), borderMode=cv2.BORDER_REFLECT))
    return frames


def write_video_set(root: Path, per_class: int = 3, frames: int = 36) -> Path:
    """root/<move>/<move>_<n>.mp4 at 15 fps, each clip starting at another phase."""
    for move in MOVES:
        (root / move).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            write_video(
                root / move / f"{move}_{n}.mp4",
                moving_person(move, frames, phase=n * 1.3),
                fps=15.0,
            )
    return root
