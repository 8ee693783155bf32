"""How far the pose path's skeleton is from Kinect's, on a video recorded with both.

    python -m bench.skeleton_gap                  # the paired NTU clip in ../shared (mirror on)
    python -m bench.skeleton_gap --no-mirror      # the same without exchanging left and right
    python -m bench.skeleton_gap --video V.avi --skeleton S.skeleton --json gap.json

The video goes through the app's own pose stages (pipeline's settings, as the GUI and
classify_video run them); both skeletons are then normalised as the model's input is. Printed:
the error of each joint and its mean (over all joints, and over those Kinect tracked rather than
inferred), bone lengths of the pose path over Kinect's, and the classifier's top-5 on each
skeleton with the whole clip looped to 300 frames, as the released models were trained.

Kinect's skeleton is ground truth only where Kinect saw the joint: each joint line of a
`.skeleton` file also gives the joint's pixel in the RGB video (colorX, colorY), and where that
pixel lies far from the joint in the video (more than a quarter of the torso's length in the
image from where the pose path finds it), Kinect guessed. The figures are given over all joints
and over the joints where Kinect's own pixel agrees with the video; `--overlay` draws both
skeletons on a frame so that anyone can see which one is on the body.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from common.cli import add_weights_flag, command_parser
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from common.progress import progress_bar
from model.checkpoint import LoadedModel
from ntu.joints import BONES, EDGES, JOINT_NAMES, joint
from pose import Person

from .shared import PAIRED, use_released_weights

VIDEO = PAIRED / "S001C001P001R001A001_rgb.avi"
SKELETON = PAIRED / "S001C001P001R001A001.skeleton"
# 0-based NTU joints of the hands: wrists, hands, hand tips and thumbs.
HAND_JOINTS = (6, 7, 10, 11, 21, 22, 23, 24)
COLOR_XY = (5, 6)  # joint line columns: the joint's pixel in the RGB video (colorX, colorY)
# Kinect's pixel of a joint agrees with the video when it lies within this share of the torso's
# image length (spine base to spine at the shoulders) from the pose path's pixel of the joint.
AGREEMENT = 0.25


@dataclass
class Gap:
    """Distances between the pose path's normalised skeleton and Kinect's, in metres."""

    frames: int
    mean: float  # over all joints and frames
    hands: float  # over the hand joints
    mean_tracked: float  # over the joints Kinect tracked (not inferred)
    hands_tracked: float
    mean_agreeing: float  # over the joints where Kinect's own pixel agrees with the video
    hands_agreeing: float
    agreeing_share: float  # of all joint-frames
    per_joint: dict[str, float]
    image_gap_px: dict[str, float]  # median distance of Kinect's pixel from the pose path's
    bone_ratio: dict[str, float]  # median length, pose path over Kinect
    top5_kinect: list[dict]
    top5_pose: list[dict]
    top5_pose_either_hand: list[dict]  # averaged with the mirror image (classifier.either_hand)


def detect_people(video: str | os.PathLike) -> list[tuple[float, list[Person]]]:
    """(timestamp, people) of every frame of the video, by the app's pose estimator."""
    from pipeline import build_pose_stages, load_settings
    from pipeline.sources import VideoSource

    estimator, _ = build_pose_stages(load_settings())
    try:
        with VideoSource(video) as source:
            frames = [
                (frame.timestamp, estimator.estimate(frame.image))
                for frame in progress_bar(source, desc="pose", unit="frame", leave=False)
            ]
    finally:
        estimator.close()
    if not frames:
        raise UserError(f"{video}: no frame could be read; check that it is a video file")
    return frames


def track(frames: list[tuple[float, list[Person]]], overrides: dict | None = None) -> np.ndarray:
    """(T, 3, 25, 2) NTU skeletons of detected people through the app's body tracker."""
    from pipeline import build_pose_stages, load_settings

    _, tracker = build_pose_stages(load_settings(overrides=overrides))
    return np.stack([tracker.update(people, timestamp) for timestamp, people in frames])


def kinect_skeletons(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, 25, 2) Kinect skeletons of the file's frames and their (T, 25, 2) tracked mask."""
    from train.skeleton import read_tracking

    raw, tracked = read_tracking(path)
    length = int(np.flatnonzero(np.abs(raw).sum(axis=(0, 2, 3)) > 0)[-1]) + 1 if raw.any() else 0
    if length == 0:
        raise UserError(f"{path}: the skeleton file holds no body")
    return np.transpose(raw[:, :length], (1, 0, 2, 3)), tracked[:length]


def kinect_pixels(path: str | os.PathLike, frames: int) -> np.ndarray:
    """(T, 25, 2) Kinect's own pixel (colorX, colorY) of each joint of its body 0 in the video."""
    from train.skeleton import XYZ, read_joint_columns

    columns = read_joint_columns(path, XYZ + COLOR_XY)
    return np.transpose(columns[3:, :frames, :, 0], (1, 2, 0))


def pose_pixels(people: list[Person], near: np.ndarray, mirror: bool) -> np.ndarray:
    """(25, 2) pixels of the NTU joints of the detected person nearest to `near` (25, 2), with
    the pose path's left and right (exchanged for a mirrored source); NaN when nobody is there."""
    from pose.ntu import NTU_FROM_BLAZEPOSE, mirrored

    best = np.full((len(JOINT_NAMES), 2), np.nan)
    for person in people:
        seen = mirrored(person) if mirror else person
        pixels = NTU_FROM_BLAZEPOSE @ seen.pixels
        if mirror:  # back into the video's own pixel columns
            pixels[:, 0] = person.image_size[0] - pixels[:, 0]
        if np.isnan(best).all() or _distance(pixels, near) < _distance(best, near):
            best = pixels
    return best


def pixel_skeletons(
    people: list[tuple[float, list[Person]]], skeleton: str | os.PathLike, mirror: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 25, 2) pixels of Kinect's joints and of the pose path's, frame by frame."""
    kinect_px = kinect_pixels(skeleton, len(people))
    pose_px = np.stack([pose_pixels(p, k, mirror) for (_, p), k in zip(people, kinect_px)])
    return kinect_px, pose_px


def draw_overlay(
    video: str | os.PathLike, index: int, kinect_px: np.ndarray, pose_px: np.ndarray, out: Path
) -> None:
    """Write frame `index` of the video with Kinect's skeleton at its own pixels (green) and the
    pose path's (orange), as a PNG: where they part, the frame shows which one is on the body."""
    import cv2

    from pipeline.sources import VideoSource

    with VideoSource(video) as source:
        image = next((f.image for f in source if f.index == index), None)
    if image is None:
        raise UserError(f"--overlay-frame {index}: {video} has no such frame")
    for pixels, colour in ((kinect_px[index], (0, 200, 0)), (pose_px[index], (0, 165, 255))):
        if np.isnan(pixels).any():
            continue
        points = np.round(pixels).astype(int)
        for child, parent in EDGES:
            cv2.line(image, tuple(points[child]), tuple(points[parent]), colour, 3, cv2.LINE_AA)
        for point in points:
            cv2.circle(image, tuple(point), 6, colour, -1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"{out}: could not encode the overlay as PNG")
    with atomic_write(out) as tmp:
        Path(tmp).write_bytes(png.tobytes())


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=1).mean())


def image_agreement(kinect_px: np.ndarray, pose_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 25) pixel distances between Kinect's and the pose path's image positions of each
    joint, and the mask of those within AGREEMENT of the torso's image length (Kinect saw them)."""
    gap = np.linalg.norm(kinect_px - pose_px, axis=2)
    torso = np.linalg.norm(
        kinect_px[:, joint("spine_base")] - kinect_px[:, joint("spine_shoulder")], axis=1
    )
    with np.errstate(invalid="ignore"):
        return gap, gap <= AGREEMENT * torso[:, None]


def normalised(frames: np.ndarray) -> np.ndarray:
    """(T, 3, 25, 2) -> the model's normalised (3, 300, 25, 2) input, the clip looped to the
    length of NTU's training samples."""
    from model.preprocess import prepare_window
    from ntu.recording import SAMPLE_LENGTH

    return prepare_window(frames, SAMPLE_LENGTH, "joint")


def joint_errors(pose: np.ndarray, kinect: np.ndarray) -> np.ndarray:
    """(T, 25) distances of body 0's joints after normalising each skeleton on its own."""
    length = len(kinect)
    ours, theirs = normalised(pose)[:, :length, :, 0], normalised(kinect)[:, :length, :, 0]
    return np.linalg.norm(ours - theirs, axis=0)


def bone_ratios(pose: np.ndarray, kinect: np.ndarray) -> dict[str, float]:
    """Median length of each bone of body 0 in the pose path over its median length in Kinect."""
    ratios = {}
    for child, parent in BONES:
        if child == parent:
            continue
        ours = np.linalg.norm(pose[:, :, child, 0] - pose[:, :, parent, 0], axis=1)
        theirs = np.linalg.norm(kinect[:, :, child, 0] - kinect[:, :, parent, 0], axis=1)
        ratios[f"{JOINT_NAMES[parent]}-{JOINT_NAMES[child]}"] = float(
            np.median(ours[ours > 0]) / np.median(theirs[theirs > 0])
        )
    return ratios


def top5(model: LoadedModel, frames: np.ndarray, either_hand: bool = False) -> list[dict]:
    """The classifier's (a network and its card) five likeliest classes for the whole clip
    filled as its card says (looped to 300 frames; averaged with its mirror image's with
    `either_hand`), computed in full (no loop on its own frames)."""
    from pipeline import WindowClassifier, top_k

    card = model.card
    classify = WindowClassifier(
        model.net, card=card, pad_to=card.loop_to, either_hand=either_hand, looped=False
    )
    return top_k(classify(frames), 5, card.labels())


def with_kinect_joints(pose: np.ndarray, kinect: np.ndarray, names: list[str]) -> np.ndarray:
    """The pose path's skeletons (T, 3, 25, 2) with body 0's `names` joints placed as Kinect
    has them relative to its spine middle: which joints decide the classifier's reading."""
    out = pose.copy()
    centre = joint("spine_mid")
    for name in names:
        j = joint(name)
        out[:, :, j, 0] = kinect[:, :, j, 0] - kinect[:, :, centre, 0] + pose[:, :, centre, 0]
    return out


def measure(
    people: list[tuple[float, list[Person]]],
    skeleton: str | os.PathLike,
    model: LoadedModel,
    mirror: bool,
) -> Gap:
    """Compare the pose path's skeletons of a video's detected people with the Kinect skeleton
    of the same recording."""
    kinect, tracked = kinect_skeletons(skeleton)
    pose = track(people, {"tracker": {"mirror": mirror}})
    if len(pose) != len(kinect):
        raise UserError(
            f"the video has {len(pose)} frames but {skeleton} has {len(kinect)}: "
            f"they are not the same recording"
        )
    if not pose[:, :, :, 0].any():
        raise UserError("the pose path found nobody in the video; nothing to compare")
    errors = joint_errors(pose, kinect)
    seen = tracked[:, :, 0]
    pixel_gap, agrees = image_agreement(*pixel_skeletons(people, skeleton, mirror))
    hands = list(HAND_JOINTS)
    return Gap(
        frames=len(kinect),
        mean=float(errors.mean()),
        hands=float(errors[:, hands].mean()),
        mean_tracked=float(errors[seen].mean()),
        hands_tracked=float(errors[:, hands][seen[:, hands]].mean()),
        mean_agreeing=float(errors[agrees].mean()),
        hands_agreeing=float(errors[:, hands][agrees[:, hands]].mean()),
        agreeing_share=float(agrees.mean()),
        per_joint={name: float(errors[:, j].mean()) for j, name in enumerate(JOINT_NAMES)},
        image_gap_px={
            name: float(np.nanmedian(pixel_gap[:, j])) for j, name in enumerate(JOINT_NAMES)
        },
        bone_ratio=bone_ratios(pose, kinect),
        top5_kinect=top5(model, kinect),
        top5_pose=top5(model, pose),
        top5_pose_either_hand=top5(model, pose, either_hand=True),
    )


def report(gap: Gap) -> str:
    """The figures as text, one per line."""
    lines = [
        f"{gap.frames} frames; error after normalisation, metres: mean {gap.mean:.3f} "
        f"(hands {gap.hands:.3f}); joints Kinect tracked: mean {gap.mean_tracked:.3f} "
        f"(hands {gap.hands_tracked:.3f})",
        f"joints where Kinect's own pixel agrees with the video ({gap.agreeing_share:.0%} of "
        f"all): mean {gap.mean_agreeing:.3f} (hands {gap.hands_agreeing:.3f})",
        "per joint: error in metres; Kinect's pixel from the pose path's (median)",
    ]
    lines += [
        f"  {name:15s} {error:.3f}  {gap.image_gap_px[name]:5.0f} px"
        for name, error in gap.per_joint.items()
    ]
    lines.append("bone length, pose path / Kinect (median over frames):")
    lines += [f"  {name:31s} {ratio:.2f}" for name, ratio in gap.bone_ratio.items()]
    for who, top in (
        ("Kinect", gap.top5_kinect),
        ("pose path", gap.top5_pose),
        ("pose path, either hand,", gap.top5_pose_either_hand),
    ):
        lines.append(
            f"top-5 on the {who} skeleton: "
            + "; ".join(f"{t['label']} {t['score']:.3f}" for t in top)
        )
    return "\n".join(lines)


def _joint_names(text: str) -> list[str]:
    names = text.split(",")
    unknown = [n for n in names if n not in JOINT_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no NTU joint {unknown[0]!r}; the names are {', '.join(JOINT_NAMES)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.skeleton_gap", __doc__)
    parser.add_argument("--video", type=Path, default=VIDEO, help="an RGB video")
    parser.add_argument(
        "--skeleton",
        type=Path,
        default=SKELETON,
        help="the Kinect .skeleton file of the same recording",
    )
    add_weights_flag(parser, note="default: the pipeline settings' checkpoint")
    parser.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the video is a mirror image of the skeleton's scene (NTU's are)",
    )
    parser.add_argument(
        "--kinect-joints",
        type=_joint_names,
        help="also classify the pose path's skeleton with these joints (comma-separated NTU "
        "names, e.g. right_elbow,right_wrist) taken from Kinect",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--overlay",
        type=Path,
        help="write a PNG of one frame with Kinect's skeleton (green) and the pose path's (orange)",
    )
    parser.add_argument(
        "--overlay-frame", type=int, default=60, help="the frame --overlay draws (default 60)"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Measure and print the gap; non-zero exit on a missing or mismatched file."""
    args = build_parser().parse_args(argv)
    for path in (args.video, args.skeleton):
        if not path.is_file():
            raise UserError(
                f"{path} not found: pass --video and --skeleton, or put ../shared "
                f"beside the checkout"
            )
    use_released_weights()
    from model import fuse_for_inference
    from pipeline import load_settings
    from weights import load_model

    loaded = load_model(args.weights or load_settings().weights_name())
    model = replace(loaded, net=fuse_for_inference(loaded.net))
    people = detect_people(args.video)
    gap = measure(people, args.skeleton, model, args.mirror)
    print(report(gap))
    if args.kinect_joints:
        kinect, _ = kinect_skeletons(args.skeleton)
        pose = track(people, {"tracker": {"mirror": args.mirror}})
        mixed = with_kinect_joints(pose, kinect, args.kinect_joints)
        print(
            f"top-5 with Kinect's {', '.join(args.kinect_joints)}: "
            + "; ".join(f"{t['label']} {t['score']:.3f}" for t in top5(model, mixed))
        )
    if args.overlay:
        kinect_px, pose_px = pixel_skeletons(people, args.skeleton, args.mirror)
        draw_overlay(args.video, args.overlay_frame, kinect_px, pose_px, args.overlay)
    if args.json:
        with atomic_write(args.json) as tmp:
            Path(tmp).write_text(json.dumps(asdict(gap), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
