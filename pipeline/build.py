"""Pipelines from settings: the whole frames -> actions pipeline, or its pose half."""

from __future__ import annotations

import dataclasses
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

from model.card import KINECT_SKELETONS, ModelCard
from model.checkpoint import LoadedModel
from pose import SKELETON_FORMAT, BodyTracker, PoseEstimator, make_estimator

from .classifier import ClassifierSettings, StreamingClassifier
from .frames import FramePipeline
from .settings import PipelineSettings
from .windows import Member


def build_pipeline(
    settings: PipelineSettings,
    model: LoadedModel | None = None,
    background: bool = False,
    drop_late: bool = True,
    keep_history: bool = False,
) -> FramePipeline:
    """A FramePipeline from settings (see load_settings); loads the weights unless given (a
    model.LoadedModel: the network and its card). A checkpoint whose card does not fit the
    pipeline (its skeletons, window, fill or frame rate) is refused in one line."""
    from common.device import select_device
    from weights import load_model

    device = select_device(settings.device)
    if model is None:
        model = load_model(settings.weights_name(), device=device)
    net, card = model
    check_skeletons(card, settings.weights_name())
    members = ensemble_members(settings.classifier.ensemble, card, settings.weights_name(), device)
    if background and settings.live.torch_threads:
        torch.set_num_threads(settings.live.torch_threads)
    classifier = StreamingClassifier(
        net,
        with_registered_choices(settings.classifier, settings.weights_name()),
        card=card,
        device=device,
        runtime=settings.runtime,
        background=background,
        drop_late=drop_late,
        keep_history=keep_history,
        members=members,
        calibration=partial(int8_calibration, settings),
    )
    estimator, tracker = build_pose_stages(settings)
    return FramePipeline(estimator, tracker, classifier)


def check_skeletons(card: ModelCard, name: str) -> None:
    """Refuse a checkpoint trained on skeletons that this pose path no longer makes: one
    fine-tuned on an older mapping's (NTU's Kinect skeletons are what the mapping aims at)."""
    if card.skeleton_format != KINECT_SKELETONS:
        card.require(name, "this pipeline's pose mapping", skeleton_format=SKELETON_FORMAT)


def build_pose_stages(settings: PipelineSettings) -> tuple[PoseEstimator, BodyTracker]:
    """The pose estimator and body tracker of the `pose` and `tracker` settings: pixels -> the
    (3, 25, 2) skeletons the classifier gets (also what train.from_videos extracts with)."""
    return make_estimator(settings.pose), BodyTracker(settings.tracker)


def int8_calibration(settings: PipelineSettings, stream: str) -> list[np.ndarray]:
    """The windows that calibrate runtime int8: those the classifier would make of the skeletons
    in the `int8_calibration` folder (.npy, classify_video --save-skeleton), in `stream`."""
    from common.errors import UserError

    from .windows import calibration_windows

    folder = settings.int8_calibration
    files = sorted(Path(folder).glob("*.npy")) if folder else []
    if not files:
        raise UserError(
            f"runtime int8 has no int8 model of this checkpoint in the cache yet, and "
            f"int8_calibration ({folder or 'not set'}) holds no .npy skeletons to build one: "
            "make some with python -m app.classify_video VIDEOS --save-skeleton FOLDER and "
            "set int8_calibration: FOLDER"
        )
    c = with_registered_choices(settings.classifier, settings.weights_name())
    skeletons = (np.load(path, allow_pickle=False) for path in files)
    return calibration_windows(
        skeletons, c.window, c.stride, c.pad_to, stream, c.either_hand, c.faster
    )


def with_registered_choices(settings: ClassifierSettings, weights_name: str) -> ClassifierSettings:
    """The classifier settings with the test-time choices to use: the temperature and the
    faster views set, else the checkpoint's registered ones (weights.registry: the calibrated
    temperature, the faster views measured to help; 1 and none for a checkpoint not listed)."""
    from weights.registry import calibrated_temperature, registered_faster

    return dataclasses.replace(
        settings,
        temperature=(
            calibrated_temperature(weights_name)
            if settings.temperature is None
            else settings.temperature
        ),
        faster=registered_faster(weights_name) if settings.faster is None else settings.faster,
    )


def ensemble_members(
    names: list[str], card: ModelCard, model_name: str, device: torch.device
) -> list[Member]:
    """The ensemble's checkpoints that can vote on the model's classes, loaded (a released one
    fetched on first use): each that names every class of the model, by name (an NTU-120 model
    votes on NTU-60's classes). One that is the model itself, lacks one of its classes (a
    model of your own actions) or cannot be fetched (offline: a note says so) is left out: the
    ensemble then is the model alone."""
    import weights
    from common.download import DownloadFailed
    from common.errors import UserError

    wanted = list(card.class_names) if card.class_names else None
    if not names or not wanted:
        return []
    chosen = []
    for name in names:
        known = _class_names_of(name)
        if known is None or not set(wanted) <= set(known) or _same_file(name, model_name):
            continue
        try:
            member, member_card = weights.load_model(name, device=device)
        except (UserError, DownloadFailed) as err:  # offline: the model votes alone
            print(f"note: ensemble checkpoint {name} left out: {err}", file=sys.stderr)
            continue
        outputs = np.array([known.index(label) for label in wanted])
        chosen.append(Member(name, member, member_card, outputs))
    return chosen


def _class_names_of(name: str) -> list[str] | None:
    """A registered checkpoint's class names from the registry (no download); a file's from
    the file; None when neither says."""
    import weights
    from common.errors import UserError
    from weights.registry import is_path

    try:
        if is_path(name):
            names = weights.load_model(name).card.class_names
            return list(names) if names else None
        return weights.get(name).class_names()
    except UserError:
        return None


def _same_file(name: str, other: str) -> bool:
    """Whether two checkpoint names or files are the same checkpoint file."""
    import weights
    from common.errors import UserError
    from weights.registry import is_path

    def where(text: str) -> Path | None:
        try:
            return Path(text).resolve() if is_path(text) else weights.get(text).path()
        except UserError:
            return None

    first, second = where(name), where(other)
    return first is not None and second is not None and first.resolve() == second.resolve()
