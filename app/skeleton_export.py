"""Skeletons other toolboxes read: PYSKL / MMAction2 skeleton annotations.

PYSKL's data format (github.com/kennymckormick/pyskl, tools/data/README.md): one pickle holding
`{"split": {name: [frame_dir, ...]}, "annotations": [clip, ...]}`, each clip a dict with
`frame_dir` (str), `label` (int), `img_shape` and `original_shape` ((height, width)),
`total_frames` (int), `keypoint` (M, T, V, C) and, for 2D keypoints, `keypoint_score` (M, T, V).
Two layouts: `coco17`, the 17 COCO keypoints in pixels from MediaPipe's image landmarks (C=2,
scores = landmark visibility; what PYSKL's 2D models take), and `ntu25`, the NTU 25-joint 3D
skeleton in metres as the classifier sees it (C=3, no scores, as PYSKL's NTU 3D annotations).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from common.fileio import atomic_write
from ntu.joints import NUM_BODIES
from pose import Person

LAYOUTS = ("coco17", "ntu25")
# COCO's 17 keypoints in their order (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
# ankles; left before right) as BlazePose landmark indices.
COCO17_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
DEFAULT_SPLIT = "all"  # the split every clip is listed in (name it in the toolbox's config)


@dataclass
class SkeletonClip:
    """One video's skeletons as the pipeline made them, frame by frame: the NTU (3, 25, 2) array
    and COCO-17 pixels and scores for each body slot."""

    image_shape: tuple[int, int] = (0, 0)  # (height, width)
    ntu: list[np.ndarray] = field(default_factory=list)
    coco: list[np.ndarray] = field(default_factory=list)  # (2, 17, 2) per frame
    coco_score: list[np.ndarray] = field(default_factory=list)  # (2, 17) per frame

    def add(
        self,
        skeleton: np.ndarray,
        slots: Sequence[Person | None],
        image_shape: tuple[int, ...],
    ) -> None:
        """Keep one frame: its (3, 25, 2) NTU skeleton and who holds each body slot (a
        FrameResult's `skeleton` and `slots`); `image_shape` is the frame's numpy shape."""
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.ntu.append(np.asarray(skeleton, dtype=np.float32))
        points = np.zeros((NUM_BODIES, len(COCO17_FROM_BLAZEPOSE), 2), np.float32)
        scores = np.zeros((NUM_BODIES, len(COCO17_FROM_BLAZEPOSE)), np.float32)
        for slot, person in enumerate(list(slots)[:NUM_BODIES]):
            if person is not None:
                points[slot], scores[slot] = coco17(person)
        self.coco.append(points)
        self.coco_score.append(scores)

    def annotation(self, frame_dir: str, label: int, layout: str = "coco17") -> dict[str, Any]:
        """The clip as one PYSKL annotation dict; body slots empty in every frame are left out
        (at least one body stays)."""
        check_layout(layout)
        if not self.ntu:
            raise UserError(f"no frames in {frame_dir}: no skeleton to save")
        if layout == "ntu25":
            keypoint = np.stack(self.ntu, axis=1).transpose(3, 1, 2, 0)  # (M, T, 25, 3)
            score = None
        else:
            keypoint = np.stack(self.coco, axis=1)  # (M, T, 17, 2)
            score = np.stack(self.coco_score, axis=1)  # (M, T, 17)
        present = [m for m in range(len(keypoint)) if np.any(keypoint[m])] or [0]
        clip = {
            "frame_dir": frame_dir,
            "label": int(label),
            "img_shape": self.image_shape,
            "original_shape": self.image_shape,
            "total_frames": len(self.ntu),
            "keypoint": np.ascontiguousarray(keypoint[present], dtype=np.float32),
        }
        if score is not None:
            clip["keypoint_score"] = np.ascontiguousarray(score[present], dtype=np.float32)
        return clip


def coco17(person: Person) -> tuple[np.ndarray, np.ndarray]:
    """A person's COCO-17 keypoints: (17, 2) pixels from the image landmarks, (17,) visibility."""
    index = list(COCO17_FROM_BLAZEPOSE)
    return person.pixels[index], person.visibility[index]


def write_pyskl(
    path: str | os.PathLike,
    annotations: Sequence[dict[str, Any]],
    split: dict[str, list[str]] | None = None,
) -> Path:
    """Write PYSKL's annotation pickle atomically: every clip in `split` (default: all in one
    split named DEFAULT_SPLIT)."""
    path = Path(path)
    names = [clip["frame_dir"] for clip in annotations]
    if len(set(names)) != len(names):
        raise UserError(f"two clips share a frame_dir in {path}: name the videos apart")
    data = {"split": split or {DEFAULT_SPLIT: names}, "annotations": list(annotations)}
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def check_layout(layout: str) -> str:
    """`layout` when it is one of LAYOUTS, else one UserError line."""
    if layout not in LAYOUTS:
        raise UserError(f"unknown skeleton layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    return layout
