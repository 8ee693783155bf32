"""Your own actions from a few clips: the released network frozen, a linear head fitted on its
features (TrainConfig.recipe "frozen").

Every training clip, and augmented copies of it (mirror image, partner's slot swapped, a small
turn about the vertical axis, another speed, a later start), goes through the live classifier
(pipeline.StreamingClassifier, the same windows every `stride` frames and the same fused
network) with the base weights; the network's pooled features (the head's input) are kept per
clip in a cache, so that adding a clip computes only that clip's. A multinomial logistic
regression on them, each window counted as classify_video counts it, becomes the head: the
checkpoint is an ordinary Shift-GCN checkpoint that every inference path reads unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from common.device import select_device
from common.errors import UserError
from common.fileio import atomic_write
from common.settings import settings_from_dict, settings_to_dict
from model import ModelCard, build_model, fuse_for_inference, save_checkpoint
from ntu.joints import MIRRORED_JOINTS
from pipeline import ClassifierSettings, StreamingClassifier
from pipeline.summary import video_probabilities, window_weights

from .config import TrainConfig
from .finetune import load_base_weights

CLASSIFIERS = ("lda", "logistic", "nearest_mean")
FEATURE_FORMAT = "few-shot-features-3"  # bump when what a cached feature file means changes
ARRAYS = ("features", "frames", "motion", "ends", "copy")  # a cached clip's: one row per window


@dataclass
class FewShotSettings:
    """The frozen recipe's settings (TrainConfig.few_shot; train/configs/few_shot.yaml sets the
    measured ones: python -m bench.few_shot)."""

    copies: int = 8  # augmented copies of each training clip, besides the clip itself
    mirror: bool = True  # a copy may be the mirror image (left and right exchanged)
    swap_bodies: bool = True  # a copy may put the partner in the main body slot
    rotate_deg: float = 15.0  # turn about the vertical axis, uniform in +-rotate_deg
    speed: float = 0.2  # play a copy at a speed uniform in 1 +- speed
    shift_s: float = 0.3  # drop up to this many seconds from a copy's start
    classifier: str = "lda"  # lda | logistic | nearest_mean (on the pooled features)
    shrinkage: float = 0.99  # lda: the within-class covariance shrunk this far to its mean variance
    l2: float = 0.01  # logistic: the weight penalty (on standardised features)
    stride: int = 30  # frames between a training clip's windows (the live classifier's: 15)
    threads: int = 1  # torch threads for the features: one is spin-free on a busy CPU and
    # leaves a core to the live view's pose

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise UserError(
                f"config: few_shot.classifier {self.classifier!r} is not one of "
                f"{', '.join(CLASSIFIERS)}"
            )
        if not 0 <= self.copies <= 64:
            raise UserError(f"config: few_shot.copies must be 0-64, got {self.copies}")
        if not (0 <= self.speed < 1 and self.rotate_deg >= 0 and self.shift_s >= 0):
            raise UserError(
                "config: few_shot.speed must be in [0, 1), rotate_deg and shift_s not negative"
            )
        if not (1 <= self.stride <= 1000 and 1 <= self.threads <= 256):
            raise UserError("config: few_shot.stride must be 1-1000 and threads 1-256")
        if not 0 < self.shrinkage <= 1:
            raise UserError("config: few_shot.shrinkage must be in (0, 1]")
        if self.l2 < 0:
            raise UserError("config: few_shot.l2 must not be negative")


def few_shot_settings(config: TrainConfig) -> FewShotSettings:
    """The `few_shot:` section of a training config as settings (one line for a bad key)."""
    return settings_from_dict(FewShotSettings, config.few_shot, "training config few_shot")


# ---------------------------------------------------------------- augmentation
def mirrored(skeleton: np.ndarray) -> np.ndarray:
    """The mirror image of (T, 3, 25, 2) camera-space joints: x negated, left and right joints
    exchanged (what a mirror-image video would give)."""
    out = skeleton[:, :, list(MIRRORED_JOINTS)].copy()
    out[:, 0] *= -1
    return out


def swapped_bodies(skeleton: np.ndarray) -> np.ndarray | None:
    """The two body slots exchanged, or None when the partner is missing in a frame the main
    person shows (the main slot must not be empty where it was not)."""
    present = skeleton.reshape(len(skeleton), 3 * 25, 2).any(axis=1)
    if not present[:, 1].any() or (present[:, 0] & ~present[:, 1]).any():
        return None
    return skeleton[..., ::-1].copy()


def turned(skeleton: np.ndarray, degrees: float) -> np.ndarray:
    """The scene turned about the vertical (y) axis through the people's mean position."""
    out = skeleton.copy()
    present = skeleton.any(axis=1)  # (T, 25, 2)
    if not present.any():
        return out
    points = np.moveaxis(skeleton, 1, -1)[present]  # (P, 3)
    centre = points.mean(axis=0)
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    x, z = skeleton[:, 0] - centre[0], skeleton[:, 2] - centre[2]
    out[:, 0] = np.where(present, centre[0] + cos * x + sin * z, 0.0)
    out[:, 2] = np.where(present, centre[2] - sin * x + cos * z, 0.0)
    return out


def retimed(skeleton: np.ndarray, speed: float, skip: int) -> np.ndarray:
    """The clip played `speed` times as fast (nearest frame), its first `skip` frames dropped."""
    length = len(skeleton)
    index = np.arange(skip, length, speed).astype(int)
    index = index[index < length]
    return skeleton[index] if len(index) else skeleton[-1:]


def augmented_copies(
    skeleton: np.ndarray, settings: FewShotSettings, fps: float, seed: int
) -> list[np.ndarray]:
    """The clip itself, then `settings.copies` copies, each with a random mirror, slot swap,
    turn, speed and start (seeded by `seed`: the same clip gives the same copies)."""
    rng = np.random.default_rng(seed)
    clips = [skeleton]
    for _ in range(settings.copies):
        clip = skeleton
        if settings.mirror and rng.random() < 0.5:
            clip = mirrored(clip)
        if settings.swap_bodies and rng.random() < 0.5:
            clip = swapped_bodies(clip) if swapped_bodies(clip) is not None else clip
        if settings.rotate_deg:
            clip = turned(clip, rng.uniform(-settings.rotate_deg, settings.rotate_deg))
        speed = rng.uniform(1 - settings.speed, 1 + settings.speed)
        skip = int(rng.uniform(0, settings.shift_s) * fps)
        clips.append(retimed(clip, speed, min(skip, len(clip) // 3)))
    return clips


# ---------------------------------------------------------------- features
class FeatureTap:
    """The base network, fused, in a StreamingClassifier (foreground, every window kept): pushes
    a clip's frames and returns the head's input for each of the live classifier's windows."""

    def __init__(
        self, net: nn.Module, card: ModelCard, settings: ClassifierSettings, device: torch.device
    ) -> None:
        self.fused = fuse_for_inference(net)
        self._captured: list[torch.Tensor] = []
        self.fused.fc.register_forward_hook(lambda _m, inputs, _o: self._captured.append(inputs[0]))
        self.settings = settings
        # one forward pass a window: the window's own features (no mirror, turned or faster views)
        own = replace(settings, either_hand=False, faster=[], rotations=[])
        self.classifier = StreamingClassifier(
            self.fused, own, card=card, device=device, runtime="torch", keep_history=True
        )

    def clip(self, skeleton: np.ndarray) -> dict[str, np.ndarray]:
        """A (T, 3, 25, 2) clip at the classifier's fps through the live classifier: for each of
        its windows the features (W, C), frames showing someone and motion (what classify_video
        weighs a window by)."""
        self.classifier.reset()
        self._captured.clear()
        for index, frame in enumerate(skeleton):
            self.classifier.push(frame, index / self.settings.fps)
        self.classifier.finish()
        history = self.classifier.history
        features = (
            torch.cat(self._captured).float().cpu().numpy()
            if history
            else np.zeros((0, self.fused.fc.in_features), np.float32)
        )
        return {
            "features": features,
            "frames": np.array([p.frames for p in history], dtype=np.int64),
            "motion": np.array([p.motion for p in history], dtype=np.float64),
            "ends": np.array([p.timestamp for p in history], dtype=np.float64),
        }


def skeleton_digest(skeleton: np.ndarray) -> str:
    """A clip's identity in the feature cache: the SHA-1 of its skeleton array."""
    return hashlib.sha1(np.ascontiguousarray(skeleton).tobytes()).hexdigest()[:20]


class FeatureCache:
    """`<folder>/<key>/<clip digest>.npz`: each clip's window features and weights per copy,
    under a key of everything they depend on (base weights, classifier and augmentation)."""

    def __init__(self, folder: Path, key_parts: dict[str, Any]) -> None:
        text = json.dumps({"format": FEATURE_FORMAT, **key_parts}, sort_keys=True)
        self.folder = Path(folder) / hashlib.sha1(text.encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)

    def load(self, digest: str) -> dict[str, np.ndarray] | None:
        """A clip's cached arrays, or None (absent or unreadable: compute again)."""
        try:
            with np.load(self.folder / f"{digest}.npz") as data:
                arrays = {k: data[k] for k in ARRAYS}
        except (OSError, KeyError, ValueError):
            return None
        rows = {len(array) for array in arrays.values()}
        return arrays if len(rows) == 1 else None  # one row a window in every array

    def save(self, digest: str, arrays: dict[str, np.ndarray]) -> None:
        """Keep a clip's arrays (written atomically)."""
        with atomic_write(self.folder / f"{digest}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def base_key(base_weights: str | None) -> str:
    """What identifies the base weights in the feature cache: a file's path, size and time, or
    the registered name (registered files are digest-checked)."""
    if base_weights is None:
        raise UserError("config: the frozen recipe needs base_weights (a trained network)")
    path = Path(base_weights)
    if path.is_file():
        stat = path.stat()
        return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return base_weights


# ---------------------------------------------------------------- the head
def fit_logistic(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, classes: int, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """A weighted multinomial logistic regression (L-BFGS, on standardised features, L2 penalty
    `l2`), folded back to (W (classes, C), b (classes,)) on the raw features."""
    x = torch.from_numpy(features).double()
    mean, scale = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    z = (x - mean) / scale
    y = torch.from_numpy(labels).long()
    w = torch.from_numpy(weights / weights.sum()).double()
    weight = torch.zeros(classes, z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1, max_iter=200, history_size=20, line_search_fn="strong_wolfe"
    )

    def loss_fn() -> torch.Tensor:
        optimizer.zero_grad()
        losses = nn.functional.cross_entropy(z @ weight.T + bias, y, reduction="none")
        loss = (losses * w).sum() + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(loss_fn)
    folded = (weight / scale).detach()
    return folded.numpy(), (bias - folded @ mean).detach().numpy()


def fit_nearest_mean(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest weighted class mean (Euclidean) as a linear head: 2 m_c . f - |m_c|^2."""
    means = np.stack(
        [
            np.average(features[labels == c], axis=0, weights=weights[labels == c])
            for c in range(classes)
        ]
    )
    return 2 * means, -np.square(means).sum(axis=1)


def fit_lda(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, classes: int, shrinkage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Linear discriminant analysis with equal priors: the weighted class means and their shared
    within-class covariance, shrunk towards its mean variance (few samples, 256 features)."""
    share = weights / weights.sum()
    means = np.stack(
        [
            np.average(features[labels == c], axis=0, weights=weights[labels == c])
            for c in range(classes)
        ]
    )
    centred = features - means[labels]
    covariance = (centred * share[:, None]).T @ centred
    size = len(covariance)
    covariance = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / size * np.eye(
        size
    )
    weight = np.linalg.solve(covariance, means.T).T
    return weight, -0.5 * (weight * means).sum(axis=1)


def fit_head(
    features: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    classes: int,
    settings: FewShotSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """The head's (W, b) by the settings' classifier."""
    if settings.classifier == "lda":
        return fit_lda(features, labels, weights, classes, settings.shrinkage)
    if settings.classifier == "nearest_mean":
        return fit_nearest_mean(features, labels, weights, classes)
    return fit_logistic(features, labels, weights, classes, settings.l2)


@dataclass
class ClipFeatures:
    """One clip's windows and those of its copies: features, frames showing someone, motion,
    when each window ends (seconds) and which copy each came from (0: the clip itself)."""

    label: int
    features: np.ndarray
    frames: np.ndarray
    motion: np.ndarray
    ends: np.ndarray
    copy: np.ndarray

    def windows(self, copy: int) -> list[SimpleNamespace]:
        """One copy's windows as classify_video reads predictions (frames, motion, timestamp)."""
        own = self.copy == copy
        return [
            SimpleNamespace(frames=f, motion=m, timestamp=t)
            for f, m, t in zip(self.frames[own], self.motion[own], self.ends[own])
        ]

    def weights(self, window: int) -> np.ndarray:
        """Each window's weight as classify_video gives it among the windows of its copy."""
        out = np.zeros(len(self.copy))
        for copy in np.unique(self.copy):
            out[self.copy == copy] = window_weights(self.windows(copy), window)
        return out


def stack(clips: list[ClipFeatures], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window of `clips`: (features, labels, weights)."""
    return (
        np.concatenate([c.features for c in clips]),
        np.concatenate([np.full(len(c.copy), c.label) for c in clips]),
        np.concatenate([c.weights(window) for c in clips]),
    )


def clip_top1(weight: np.ndarray, bias: np.ndarray, clip: ClipFeatures, window: int) -> int:
    """The class classify_video would name for the clip itself (copy 0), from its features."""
    logits = clip.features[clip.copy == 0] @ weight.T + bias
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    windows = clip.windows(0)
    for w, p in zip(windows, probs):
        w.raw_probs = p
    return int(np.argmax(video_probabilities(windows, window)))


def leave_one_out(
    clips: list[ClipFeatures], classes: int, settings: FewShotSettings, window: int
) -> float | None:
    """Video-level top-1 (%) of each clip with the head fitted on the others (and their copies);
    None unless every class has two clips."""
    counts = np.bincount([c.label for c in clips], minlength=classes)
    if counts.min() < 2:
        return None
    right = 0
    for held in range(len(clips)):
        rest = [c for i, c in enumerate(clips) if i != held]
        weight, bias = fit_head(*stack(rest, window), classes, settings)
        right += clip_top1(weight, bias, clips[held], window) == clips[held].label
    return 100.0 * right / len(clips)


# ---------------------------------------------------------------- the run
def train_frozen(
    config: TrainConfig,
    clips: list[tuple[int, np.ndarray]],
    classifier: ClassifierSettings,
    cache_folder: Path,
    on_clip: Callable[[int, int], None] | None = None,
    val_clips: list[tuple[int, np.ndarray]] | None = None,
    card: ModelCard | None = None,
) -> dict[str, Any]:
    """Fit the head on `clips` ((label, (T, 3, 25, 2) skeleton) pairs) and write best.pt and
    last.pt in config.work_path, with `card` (default: config.model_card() with the classifier's
    windows) and the measured top-1; returns the run's figures: seconds, windows, and the
    video-level top-1 (%) of `val_clips` or, without them, of each clip left out in turn."""
    settings = few_shot_settings(config)
    began = time.perf_counter()
    torch.manual_seed(config.seed)
    device = select_device(config.device)
    net = build_model(config.model_config())
    base_card = load_base_weights(net, base_weights_name(config), config.stream)
    net.to(device).eval()
    features = ClipFeatureSource(net, base_card, config, classifier, cache_folder, device)
    total = len(clips) + len(val_clips or [])
    progress = (lambda done, _: on_clip(done, total)) if on_clip else None
    train = features.clips(clips, settings, progress)
    val_settings = replace(settings, copies=0, stride=classifier.stride)
    val = features.clips(val_clips or [], val_settings, None)
    feature_seconds = time.perf_counter() - began
    fitted = time.perf_counter()
    window = classifier.window
    weight, bias = fit_head(*stack(train, window), config.classes, settings)
    with torch.no_grad():
        net.fc.weight.copy_(torch.from_numpy(weight))
        net.fc.bias.copy_(torch.from_numpy(bias))
    fit_seconds = time.perf_counter() - fitted
    if val_clips:
        right = [clip_top1(weight, bias, clip, window) == clip.label for clip in val]
        top1, validation = 100.0 * float(np.mean(right)) if right else None, "held out"
    else:
        top1 = leave_one_out(train, config.classes, settings, window)
        validation = "each clip left out in turn"
    work = config.work_path
    work.mkdir(parents=True, exist_ok=True)
    card = card or config.model_card(
        window=classifier.window, loop_to=classifier.pad_to, fps=classifier.fps
    )
    if top1 is not None:
        card = replace(card, accuracy=round(top1, 2), accuracy_note=f"video top-1, {validation}")
    for name in ("best.pt", "last.pt"):
        save_checkpoint(
            work / name,
            net,
            card,
            extra={"few_shot": settings_to_dict(settings), "recipe": config.recipe},
        )
    return {
        "windows": int(sum(len(c.copy) for c in train)),
        "val_windows": int(sum(len(c.copy) for c in val)),
        "clips_computed": features.computed,
        "seconds": round(time.perf_counter() - began, 2),
        "feature_seconds": round(feature_seconds, 2),
        "fit_seconds": round(fit_seconds, 3),
        "best_top1": top1,
        "validation": validation,
        "epochs": 1,
        "best_epoch": 1,
    }


class ClipFeatureSource:
    """Clips' window features from the cache, computed (and cached) where missing."""

    def __init__(
        self,
        net: nn.Module,
        card: ModelCard,
        config: TrainConfig,
        classifier: ClassifierSettings,
        folder: Path,
        device: torch.device,
    ) -> None:
        self.net, self.card, self.config, self.classifier = net, card, config, classifier
        self.folder, self.device = Path(folder), device
        self.computed = 0

    def clips(
        self,
        clips: list[tuple[int, np.ndarray]],
        settings: FewShotSettings,
        on_clip: Callable[[int, int], None] | None,
    ) -> list[ClipFeatures]:
        """Each clip's ClipFeatures (clips where no window shows someone are left out)."""
        augment = settings_to_dict(settings)
        for key in ("l2", "shrinkage", "classifier", "threads"):
            augment.pop(key)
        cache = FeatureCache(
            self.folder,
            {
                "base": base_key(self.config.base_weights),
                "classifier": settings_to_dict(
                    replace(self.classifier, either_hand=False, faster=[], rotations=[])
                ),
                "augment": augment,
                "seed": self.config.seed,
            },
        )
        tap: FeatureTap | None = None
        out: list[ClipFeatures] = []
        threads = torch.get_num_threads()
        torch.set_num_threads(settings.threads)
        try:
            for done, (label, skeleton) in enumerate(clips, start=1):
                digest = skeleton_digest(skeleton)
                arrays = cache.load(digest)
                if arrays is None:
                    taken = replace(self.classifier, stride=settings.stride)
                    tap = tap or FeatureTap(self.net, self.card, taken, self.device)
                    fps, seed = self.classifier.fps, self.config.seed
                    arrays = clip_arrays(tap, skeleton, settings, fps, seed, digest)
                    cache.save(digest, arrays)
                    self.computed += 1
                if len(arrays["copy"]):
                    out.append(ClipFeatures(label, **arrays))
                if on_clip is not None:
                    on_clip(done, len(clips))
        finally:
            torch.set_num_threads(threads)
        return out


def base_weights_name(config: TrainConfig) -> str:
    """The base checkpoint (checked: the frozen recipe has nothing to learn without one)."""
    base_key(config.base_weights)
    return str(config.base_weights)


def clip_arrays(
    tap: FeatureTap,
    skeleton: np.ndarray,
    settings: FewShotSettings,
    fps: float,
    seed: int,
    digest: str,
) -> dict[str, np.ndarray]:
    """The windows' features, weights and copy numbers of a clip and its augmented copies."""
    clip_seed = int(digest[:8], 16) ^ seed
    parts = [tap.clip(c) for c in augmented_copies(skeleton, settings, fps, clip_seed)]
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in ARRAYS if k != "copy"}
    arrays["copy"] = np.concatenate([np.full(len(p["frames"]), i) for i, p in enumerate(parts)])
    return arrays
