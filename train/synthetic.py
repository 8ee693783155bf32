"""Procedurally generated NTU-format ``.skeleton`` files of clearly different actions.

For tests and for trying the trainer without the dataset. Each class is one motion (waving,
jumping, squatting, clapping, ...) of a 25-joint body posed by forward kinematics at 30 fps
for 2-4 s, seen by Kinect-like cameras (camera 1 in front, 2 and 3 at +-45 degrees) in Kinect
axes (metres; x to the sensor's left, y up, z away from it). Performers differ in size,
tempo and amplitude; Gaussian noise is added to every joint. Names cycle through performers,
cameras and setups so that X-sub, X-view and X-set all get training and validation samples of
every class once there are at least 2 samples a class.
Beyond the number of distinct motions, classes repeat a motion in another held posture.

    python -m train.synthetic --out data/synthetic_raw --classes 6 --per-class 12
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cli import command_parser
from common.errors import UserError, cli_entry
from common.progress import progress_bar
from ntu.joints import NUM_JOINTS, joint
from ntu.splits import NTU60_XSUB_TRAIN_PERFORMERS, SampleName

FPS = 30
MAX_PER_CLASS = 2000

# Rest pose in the body's own frame (metres): x to the person's right, y up, person facing -z,
# origin at the spine base. Parents form the kinematic tree used to pose the body.
_REST = {
    0: (0.0, 0.0, 0.0),
    1: (0.0, 0.28, 0.0),
    20: (0.0, 0.50, 0.0),
    2: (0.0, 0.57, 0.0),
    3: (0.0, 0.72, 0.0),
    4: (-0.18, 0.47, 0.0),
    5: (-0.21, 0.20, 0.0),
    6: (-0.23, -0.05, 0.0),
    7: (-0.24, -0.12, 0.0),
    21: (-0.24, -0.20, 0.0),
    22: (-0.20, -0.13, -0.03),
    8: (0.18, 0.47, 0.0),
    9: (0.21, 0.20, 0.0),
    10: (0.23, -0.05, 0.0),
    11: (0.24, -0.12, 0.0),
    23: (0.24, -0.20, 0.0),
    24: (0.20, -0.13, -0.03),
    12: (-0.09, -0.02, 0.0),
    13: (-0.10, -0.45, 0.0),
    14: (-0.10, -0.85, 0.0),
    15: (-0.10, -0.90, -0.10),
    16: (0.09, -0.02, 0.0),
    17: (0.10, -0.45, 0.0),
    18: (0.10, -0.85, 0.0),
    19: (0.10, -0.90, -0.10),
}
_PARENT = {
    1: 0,
    20: 1,
    2: 20,
    3: 2,
    4: 20,
    5: 4,
    6: 5,
    7: 6,
    21: 7,
    22: 7,
    8: 20,
    9: 8,
    10: 9,
    11: 10,
    23: 11,
    24: 11,
    12: 0,
    13: 12,
    14: 13,
    15: 14,
    16: 0,
    17: 16,
    18: 17,
    19: 18,
}
_ORDER = (1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19)
SPINE_MID, NECK = joint("spine_mid"), joint("neck")
L_SHOULDER, L_ELBOW = joint("left_shoulder"), joint("left_elbow")
R_SHOULDER, R_ELBOW = joint("right_shoulder"), joint("right_elbow")
L_HIP, L_KNEE = joint("left_hip"), joint("left_knee")
R_HIP, R_KNEE = joint("right_hip"), joint("right_knee")
THIGH, SHIN = 0.43, 0.40  # leg segment lengths of the rest pose, for keeping feet down


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by `angle` (radians, shape (T,)) about x (0), y (1) or z (2)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.zeros((len(angle), 3, 3))
    m[:, axis, axis] = 1.0
    m[:, i, i], m[:, i, j], m[:, j, i], m[:, j, j] = c, -s, s, c
    return m


@dataclass
class _Pose:
    """Per-frame joint rotations and root motion that a motion function fills in."""

    t: np.ndarray  # seconds, (T,)
    freq: float  # repetitions per second
    amp: float  # amplitude factor

    def __post_init__(self) -> None:
        frames = len(self.t)
        self.local = {j: np.tile(np.eye(3), (frames, 1, 1)) for j in range(NUM_JOINTS)}
        self.root = np.zeros((frames, 3))
        self.yaw = np.zeros(frames)

    def wave(self, phase: float = 0.0) -> np.ndarray:
        """sin of the motion's phase, (T,)."""
        return np.sin(2 * np.pi * self.freq * self.t + phase)

    def pulse(self) -> np.ndarray:
        """0 -> 1 -> 0 once per repetition, (T,)."""
        return (1 - np.cos(2 * np.pi * self.freq * self.t)) / 2

    def turn(self, joint: int, axis: int, angle: np.ndarray | float) -> None:
        """Add a rotation about `axis` at `joint` (moves everything below it)."""
        angle = np.broadcast_to(np.asarray(angle, dtype=float), self.t.shape)
        self.local[joint] = self.local[joint] @ _rot(axis, angle)

    def bend_legs(self, hip: int, knee: int, angle: np.ndarray) -> None:
        """Thigh forward by `angle`, shin back by twice that, as in a squat or a step."""
        self.turn(hip, 0, angle)
        self.turn(knee, 0, -2 * angle)


def _waving(p: _Pose) -> None:
    p.turn(R_SHOULDER, 2, 1.9)
    p.turn(R_ELBOW, 2, p.amp * (0.8 + 0.5 * p.wave()))


def _jumping(p: _Pose) -> None:
    air = np.maximum(p.wave(), 0)
    crouch = 0.6 * p.amp * np.maximum(-p.wave(), 0)
    p.bend_legs(L_HIP, L_KNEE, crouch)
    p.bend_legs(R_HIP, R_KNEE, crouch)
    p.root[:, 1] = 0.25 * p.amp * air - (THIGH + SHIN) * (1 - np.cos(crouch))
    p.turn(L_SHOULDER, 0, 1.2 * air)
    p.turn(R_SHOULDER, 0, 1.2 * air)


def _squatting(p: _Pose) -> None:
    depth = 1.2 * p.amp * p.pulse()
    p.bend_legs(L_HIP, L_KNEE, depth)
    p.bend_legs(R_HIP, R_KNEE, depth)
    p.root[:, 1] = -(THIGH + SHIN) * (1 - np.cos(depth))
    p.turn(L_SHOULDER, 0, depth)
    p.turn(R_SHOULDER, 0, depth)


def _clapping(p: _Pose) -> None:
    inward = 0.3 + 0.3 * p.amp * p.wave()
    p.turn(R_SHOULDER, 1, inward)
    p.turn(L_SHOULDER, 1, -inward)
    p.turn(R_SHOULDER, 0, 1.3)
    p.turn(L_SHOULDER, 0, 1.3)
    p.turn(R_ELBOW, 0, 0.4)
    p.turn(L_ELBOW, 0, 0.4)


def _arms_up(p: _Pose) -> None:
    lift = 2.8 * p.amp * p.pulse()
    p.turn(R_SHOULDER, 2, lift)
    p.turn(L_SHOULDER, 2, -lift)


def _kicking(p: _Pose) -> None:
    kick = p.pulse() ** 3
    p.turn(R_HIP, 0, 1.4 * p.amp * kick)
    p.turn(R_KNEE, 0, -1.2 * np.sin(np.pi * kick))
    p.turn(L_SHOULDER, 0, 0.5 * kick)


def _bowing(p: _Pose) -> None:
    p.turn(SPINE_MID, 0, -1.1 * p.amp * p.pulse())
    p.turn(NECK, 0, -0.3 * p.pulse())


def _turning(p: _Pose) -> None:
    p.yaw = np.pi * p.amp * p.pulse()
    p.bend_legs(L_HIP, L_KNEE, 0.25 * np.maximum(p.wave(), 0) ** 2)
    p.bend_legs(R_HIP, R_KNEE, 0.25 * np.maximum(-p.wave(), 0) ** 2)


def _punching(p: _Pose) -> None:
    reach_r, reach_l = np.maximum(p.wave(), 0), np.maximum(-p.wave(), 0)
    p.turn(R_SHOULDER, 0, 1.0 + 0.5 * reach_r)
    p.turn(L_SHOULDER, 0, 1.0 + 0.5 * reach_l)
    p.turn(R_ELBOW, 0, 1.8 * (1 - reach_r * p.amp))
    p.turn(L_ELBOW, 0, 1.8 * (1 - reach_l * p.amp))


def _marching(p: _Pose) -> None:
    p.bend_legs(L_HIP, L_KNEE, 0.9 * p.amp * np.maximum(p.wave(), 0))
    p.bend_legs(R_HIP, R_KNEE, 0.9 * p.amp * np.maximum(-p.wave(), 0))
    p.turn(L_SHOULDER, 0, -0.5 * p.wave())
    p.turn(R_SHOULDER, 0, 0.5 * p.wave())


def _side_bending(p: _Pose) -> None:
    p.turn(SPINE_MID, 2, 0.5 * p.amp * p.wave())
    p.turn(R_SHOULDER, 2, 2.6 * np.maximum(-p.wave(), 0))
    p.turn(L_SHOULDER, 2, -2.6 * np.maximum(p.wave(), 0))


def _hands_on_head(p: _Pose) -> None:
    up = p.pulse()
    p.turn(R_SHOULDER, 2, 2.3 * p.amp * up)
    p.turn(L_SHOULDER, 2, -2.3 * p.amp * up)
    p.turn(R_ELBOW, 2, 2.2 * up)
    p.turn(L_ELBOW, 2, -2.2 * up)


# (name, motion, repetitions per second at the base tempo)
MOTIONS: tuple[tuple[str, Callable[[_Pose], None], float], ...] = (
    ("waving", _waving, 1.5),
    ("jumping", _jumping, 1.2),
    ("squatting", _squatting, 0.5),
    ("clapping", _clapping, 2.0),
    ("arms up", _arms_up, 0.4),
    ("kicking", _kicking, 0.6),
    ("bowing", _bowing, 0.4),
    ("turning around", _turning, 0.3),
    ("punching", _punching, 1.2),
    ("marching", _marching, 1.0),
    ("side bending", _side_bending, 0.5),
    ("hands on head", _hands_on_head, 0.4),
)
# Classes beyond the motions above repeat them held in another posture (forward lean, side
# lean, knee bend in radians) and, every other wrap-around, at a faster tempo.
POSTURES = (
    (0.0, 0.0, 0.0),
    (0.4, 0.0, 0.0),
    (0.0, 0.35, 0.0),
    (0.0, 0.0, 0.4),
    (0.4, 0.35, 0.0),
    (0.4, 0.0, 0.4),
    (0.0, 0.35, 0.4),
    (-0.25, 0.0, 0.0),
    (0.0, -0.35, 0.0),
    (-0.25, 0.0, 0.4),
)
FAST_TEMPO = 1.6
MAX_CLASSES = len(MOTIONS) * len(POSTURES)


def class_names(num_classes: int) -> list[str]:
    """Names of the first `num_classes` synthetic classes."""
    names = []
    for k in range(num_classes):
        variant = k // len(MOTIONS)
        name = MOTIONS[k % len(MOTIONS)][0]
        names.append(name if variant == 0 else f"{name}, posture {variant}")
    return names


def pose_sequence(label: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 25, 3) joints of one performance of class `label` in the body's own frame."""
    _, motion, base_freq = MOTIONS[label % len(MOTIONS)]
    variant = label // len(MOTIONS)
    tempo = (FAST_TEMPO if variant % 2 else 1.0) * rng.uniform(0.9, 1.1)
    pose = _Pose(np.arange(frames) / FPS, base_freq * tempo, rng.uniform(0.85, 1.1))
    motion(pose)
    _hold_posture(pose, *POSTURES[variant])
    return _forward_kinematics(pose, scale=rng.uniform(0.88, 1.1))


def _hold_posture(p: _Pose, forward: float, side: float, knees: float) -> None:
    """Lean the trunk and bend the knees for the whole performance."""
    p.turn(SPINE_MID, 0, -forward)
    p.turn(SPINE_MID, 2, side)
    p.bend_legs(L_HIP, L_KNEE, np.full(p.t.shape, knees))
    p.bend_legs(R_HIP, R_KNEE, np.full(p.t.shape, knees))
    p.root[:, 1] -= (THIGH + SHIN) * (1 - np.cos(knees))


def _forward_kinematics(pose: _Pose, scale: float) -> np.ndarray:
    """Joint positions from the rest pose and the per-joint rotations, (T, 25, 3)."""
    frames = len(pose.t)
    world = {0: pose.local[0]}
    xyz = np.zeros((frames, NUM_JOINTS, 3))
    for child in _ORDER:
        parent = _PARENT[child]
        offset = scale * (np.asarray(_REST[child]) - _REST[parent])
        xyz[:, child] = xyz[:, parent] + world[parent] @ offset
        world[child] = world[parent] @ pose.local[child]
    xyz += pose.root[:, None, :]
    return xyz @ _rot(1, pose.yaw).transpose(0, 2, 1)


def place_in_camera(body: np.ndarray, sample: SampleName, rng: np.random.Generator) -> np.ndarray:
    """Body-frame joints (T, 25, 3) -> Kinect camera space of the sample's camera and setup."""
    view = {1: 0.0, 2: -45.0, 3: 45.0}.get(sample.camera, 0.0) + rng.uniform(-8, 8)
    # Facing the sensor: the body's -z towards it, so its right (+x) is on the sensor's left (+x).
    facing = _rot(1, np.array([math.radians(view)]))[0]
    tilt = _rot(0, np.array([math.radians(rng.uniform(-5, 5))]))[0]
    position = np.array(
        [
            rng.uniform(-0.4, 0.4),
            -0.3 + 0.15 * (sample.setup % 4) + rng.uniform(-0.05, 0.05),
            2.6 + 0.12 * (sample.setup % 6) + rng.uniform(-0.2, 0.2),
        ]
    )
    return body @ (tilt @ facing).T + position


def sample_names(label: int, count: int) -> list[SampleName]:
    """`count` distinct names for class `label`, alternating split-relevant fields."""
    train_p = sorted(NTU60_XSUB_TRAIN_PERFORMERS)
    val_p = [p for p in range(1, 41) if p not in NTU60_XSUB_TRAIN_PERFORMERS]
    names = []
    for i in range(count):
        performers = train_p if i % 2 == 0 else val_p
        names.append(
            SampleName(
                setup=1 + i % 17,  # alternates odd (X-set val) and even (X-set train)
                camera=1 + i % 3,  # camera 1 (X-view val) first, then 2 (X-view train)
                performer=performers[(i // 2) % len(performers)],
                replication=1 + i // 680,  # 680 = lcm of the cycles above: keeps names distinct
                action=label + 1,
            )
        )
    return names


def format_skeleton(bodies: np.ndarray, present: np.ndarray | None = None) -> str:
    """NTU .skeleton text of (M, T, 25, 3) camera-space joints; body m is listed in frame t
    where present[m, t] (default: every body in every frame), in body order."""
    num_bodies, frames = bodies.shape[:2]
    present = np.ones((num_bodies, frames), bool) if present is None else present
    x, y = bodies[..., 0], bodies[..., 1]
    z = np.maximum(bodies[..., 2], 0.5)
    columns = [
        x,
        y,
        bodies[..., 2],
        256 - 365 * x / z,
        212 - 365 * y / z,  # depth image (512 x 424) projection
        960 - 1081 * x / z,
        540 - 1081 * y / z,  # colour image (1920 x 1080) projection
        np.ones_like(x),
        np.zeros_like(x),
        np.zeros_like(x),
        np.zeros_like(x),  # orientation
        np.full_like(x, 2),  # tracking state: tracked
    ]
    values = np.stack(columns, axis=-1).reshape(-1, len(columns))
    line_format = " ".join(["%.7g"] * len(columns))
    # body-major: line (m * frames + t) * 25 + joint; one % call formats every line at once
    table = "\n".join([line_format] * len(values)) % tuple(values.ravel().tolist())
    joint_lines = table.split("\n")
    out = [str(frames)]
    for t in range(frames):
        listed = np.flatnonzero(present[:, t])
        out.append(str(len(listed)))
        for m in listed:
            first = (m * frames + t) * NUM_JOINTS
            out += [f"{72057594037931101 + m} 0 1 1 1 1 0 0.01 -0.2 2", str(NUM_JOINTS)]
            out += joint_lines[first : first + NUM_JOINTS]
    return "\n".join(out) + "\n"


def generate(
    out: str | Path, classes: int, per_class: int, seed: int = 0, progress: bool = True
) -> list[Path]:
    """Write classes x per_class .skeleton files into `out`; returns their paths."""
    if classes < 1 or per_class < 1:
        raise UserError("--classes and --per-class must be at least 1")
    if per_class > MAX_PER_CLASS:
        raise UserError(f"--per-class can be at most {MAX_PER_CLASS}")
    if classes > MAX_CLASSES:
        raise UserError(f"--classes can be at most {MAX_CLASSES}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    jobs = [(label, name) for label in range(classes) for name in sample_names(label, per_class)]
    paths = []
    for label, name in progress_bar(jobs, desc="synthetic", unit="file", enabled=progress):
        frames = int(rng.integers(2 * FPS, 4 * FPS + 1))
        body = pose_sequence(label, frames, rng)
        xyz = place_in_camera(body, name, rng) + rng.normal(0, 0.006, body.shape)
        path = out / f"{name}.skeleton"
        path.write_text(format_skeleton(xyz[None]))
        paths.append(path)
    return paths


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags of train.synthetic."""
    parser = command_parser("python -m train.synthetic", __doc__)
    parser.add_argument("--out", required=True, help="folder for the .skeleton files")
    parser.add_argument("--classes", type=int, required=True, help="number of action classes")
    parser.add_argument("--per-class", type=int, required=True, help="samples per class")
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed: the same seed, the same files"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Write the synthetic set and print where it went."""
    args = build_parser().parse_args(argv)
    paths = generate(args.out, args.classes, args.per_class, args.seed)
    print(f"wrote {len(paths)} .skeleton files of {args.classes} classes to {args.out}")
    print("classes: " + ", ".join(class_names(args.classes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
