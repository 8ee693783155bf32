"""Your own actions from your own videos: fine-tune Shift-GCN on folders of clips.

    python -m train.from_videos VIDEOS --work-dir W [--val VIDEOS2] [--base-weights NAME|PATH]
        [--epochs N] [--config YAML] [--pipeline-config YAML] [--set KEY=VALUE] [--overwrite]

VIDEOS holds one folder per class (VIDEOS/<class name>/*.mp4|avi|mov|mkv). Every video goes
through the live app's own pose path (pipeline's settings: two bodies, the same mapping,
resampled to the classifier's frame rate); the skeletons are cached in W/skeletons. Clips are cut
into the live classifier's windows, split into training and validation by video (stratified,
seeded) unless --val names a second folder. By default (train/configs/few_shot.yaml) the NTU
network stays frozen and a new head is fitted on its features, every clip learning and each scored
with the head fitted on the others; `--config train/configs/finetune.yaml` fine-tunes units 5-10
by SGD instead (the earlier recipe, with a validation split). W/best.pt carries the class names:
give it to `app.classify_video --weights`, `run_demo.py --weights` or `weights register`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pickle
import random
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.cli import add_config_flags, add_device_flag, command_parser, config_overrides
from common.errors import UserError, cli_entry, one_line
from common.fileio import atomic_write, file_lock
from common.limits import check_number
from common.yaml_files import deep_merge, read_yaml
from model.card import ModelCard
from pipeline import ClassifierSettings, clip_windows, load_settings, prepare_window
from pipeline.sources import list_videos
from pose import SKELETON_FORMAT

from .config import OWN_VIDEOS, TrainConfig, load_config
from .few_shot import train_frozen
from .gendata import data_file, label_file
from .trainer import BEST, CONFUSION_PNG, CURVES_PNG, LAST, LOG, METRICS, SCORES, train
from .video_skeletons import Extraction, default_workers, extract_videos

CONFIGS = Path(__file__).resolve().parent / "configs"
FINETUNE_CONFIG = CONFIGS / "finetune.yaml"  # the SGD recipe (units 5-10 and a new head)
FEW_SHOT_CONFIG = CONFIGS / "few_shot.yaml"  # the frozen network and a fitted head
DEFAULT_CONFIG = FEW_SHOT_CONFIG  # python -m bench.few_shot: better and faster on a few clips
SUMMARY = "summary.json"
FEATURES = "features"  # the frozen recipe's feature cache, inside the skeleton cache folder
LOCK_NAME = ".lock"  # held by the run using the work folder
RUN_FILES = (LAST, BEST, METRICS, LOG, SCORES, CURVES_PNG, CONFUSION_PNG, "config.yaml", SUMMARY)
VAL_FRACTION = 0.25


def find_classes(root: Path) -> dict[str, list[Path]]:
    """{class name: its videos} from root/<class>/*.<video> (folders starting with '.' skipped)."""
    if not root.is_dir():
        raise UserError(f"video folder {root} does not exist; give a folder of class folders")
    classes: dict[str, list[Path]] = {}
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            name = class_name(folder)
            classes[name] = sorted(classes.get(name, []) + list_videos(folder))
    if len(classes) < 2:
        raise UserError(
            f"{root} has {len(classes)} class folders; make at least two "
            f"({root}/<class name>/*.mp4), one per action"
        )
    empty = [name for name, videos in classes.items() if not videos]
    if empty:
        raise UserError(
            f"class folder {root / empty[0]} has no videos (.mp4, .avi, .mov, .mkv); "
            "add clips or remove the folder"
        )
    return classes


def class_name(folder: Path) -> str:
    """A class folder's name as a label: Unicode NFC (a "café" typed two ways is one class);
    a name with control characters (terminal escape codes, line breaks) is refused."""
    name = unicodedata.normalize("NFC", folder.name)
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise UserError(
            f"class folder {one_line(repr(folder.name))} has control characters in its name; "
            "rename it with printable characters"
        )
    return name


def readable_only(classes: dict[str, list[Path]], extraction: Extraction) -> dict[str, list[Path]]:
    """Each class's videos that extraction could read (the others were reported as it ran)."""
    return {
        name: [p for p in paths if extraction.skeletons.get(p) is not None]
        for name, paths in classes.items()
    }


def split_videos(
    classes: dict[str, list[Path]], fraction: float, seed: int
) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Stratified by class, seeded: about `fraction` of each class's videos for validation (at
    least one where a class has two or more, never all)."""
    rng = random.Random(seed)
    train, val = {}, {}
    for name, videos in classes.items():
        shuffled = sorted(videos)
        rng.shuffle(shuffled)
        count = min(len(videos) - 1, max(1, round(fraction * len(videos))))
        val[name], train[name] = sorted(shuffled[:count]), sorted(shuffled[count:])
    return train, val


@dataclass
class SplitData:
    """A split's windows: names (class/video#start), labels, and videos without a usable window."""

    names: list[str]
    labels: list[int]
    windows: list[np.ndarray]
    unusable: list[Path]


def make_split(
    videos: dict[str, list[Path]],
    class_names: list[str],
    extraction: Extraction,
    classifier: ClassifierSettings,
    stride: int,
) -> SplitData:
    """Cut every readable video of a split into windows labelled with its class."""
    data = SplitData([], [], [], [])
    for name, paths in videos.items():
        for path in paths:
            skeleton = extraction.skeletons.get(path)
            if skeleton is None:
                continue  # unreadable: already reported
            windows = clip_windows(
                skeleton.skeleton, classifier.window, stride, classifier.min_frames, classifier.fps
            )
            if not windows:
                data.unusable.append(path)
            for start, frames in windows:
                data.names.append(f"{name}/{path.name}#{start}")
                data.labels.append(class_names.index(name))
                data.windows.append(frames)
    return data


def write_split(folder: Path, split: str, data: SplitData, card: ModelCard) -> None:
    """gendata's layout: `<split>_data_<stream>.npy` (N, 3, T, 25, 2), each window filled and
    normalised as the live classifier does for a model of this card (looped to its `loop_to`
    frames: prepare_window), then the label file."""
    folder.mkdir(parents=True, exist_ok=True)
    array = np.stack([prepare_window(w, card.loop_to, card.stream) for w in data.windows])
    with atomic_write(data_file(folder, split, card.stream)) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    with atomic_write(label_file(folder, split)) as tmp, open(tmp, "wb") as handle:
        pickle.dump((data.names, data.labels), handle)


def own_card(config: TrainConfig, classifier: ClassifierSettings) -> ModelCard:
    """The model card of a model of one's own actions: the live classifier's windows (its
    length, fill and frame rate, which the base checkpoint's card must share, as its stream the
    config's) of skeletons made by this pose path (pose.SKELETON_FORMAT)."""
    if config.base_weights:
        from weights import load_model

        base, name = load_model(config.base_weights).card, f"base weights {config.base_weights}"
        where = "the classifier section of the pipeline settings"
        base.require(name, where, loop_to=classifier.pad_to, fps=classifier.fps)
        base.require(name, "the training config", stream=config.stream)
    return config.model_card(
        window=classifier.window,
        loop_to=classifier.pad_to,
        fps=classifier.fps,
        skeleton_format=SKELETON_FORMAT,
    )


def check_classes(split: str, labels: list[int], class_names: list[str]) -> None:
    """Every class needs a window in the training split; validation needs some window."""
    present = set(labels)
    if split == "train":
        missing = [n for i, n in enumerate(class_names) if i not in present]
        if missing:
            raise UserError(
                f"class {missing[0]!r} has no usable video (no person found in "
                "enough frames); add clips where the whole body is in view"
            )
    elif not present:
        raise UserError(
            "the validation split has no usable window; add videos (two or more a "
            "class) or give --val VIDEOS2"
        )


def train_head(
    config: TrainConfig,
    train_videos: dict[str, list[Path]],
    val_videos: dict[str, list[Path]],
    extraction: Extraction,
    classifier: ClassifierSettings,
    feature_folder: Path,
    on_clip: Callable[[int, int], None] | None,
    card: ModelCard,
) -> tuple[dict[str, Any], list[Path]]:
    """The frozen recipe (train.few_shot) on the clips of both splits, best.pt with `card`: the
    training figures and the videos without a person in min_frames frames."""
    class_names = list(config.class_names or [])
    unusable: list[Path] = []

    def clips(group: dict[str, list[Path]]) -> list[tuple[int, np.ndarray]]:
        out = []
        for name, paths in group.items():
            for path in paths:
                clip = extraction.skeletons.get(path)
                if clip is None:
                    continue  # unreadable: already reported
                if clip.frames_with_person < classifier.min_frames:
                    unusable.append(path)
                    continue
                out.append((class_names.index(name), clip.skeleton))
        return out

    train_clips, val_clips = clips(train_videos), clips(val_videos)
    check_classes("train", [label for label, _ in train_clips], class_names)
    if val_videos:
        check_classes("val", [label for label, _ in val_clips], class_names)
    training = train_frozen(
        config, train_clips, classifier, feature_folder, on_clip, val_clips, card
    )
    return training, unusable


def recipe_config(given: dict[str, Any]) -> Path:
    """The recipe whose keys a run's --config and overrides change: the SGD one when they say
    `recipe: sgd` (train/configs/finetune.yaml does), else the default few-clip recipe."""
    return FINETUNE_CONFIG if given.get("recipe") == "sgd" else DEFAULT_CONFIG


def prepare_work_dir(work_dir: Path, overwrite: bool) -> bool:
    """Refuse to replace a finished run unless asked; with --overwrite, remove its files. A run
    that was stopped (last.pt but no summary) is continued: returns True to resume it."""
    if (work_dir / LAST).is_file() and not overwrite:
        if not (work_dir / SUMMARY).is_file():
            print(
                f"continuing the interrupted run in {work_dir} from {LAST} "
                "(add --overwrite to start again)"
            )
            return True
        raise UserError(
            f"{work_dir} already holds a trained model; add --overwrite to train "
            "again there (the skeleton cache is kept) or give another --work-dir"
        )
    for name in RUN_FILES:
        (work_dir / name).unlink(missing_ok=True)
    return False


def _one_run_per_work_dir(run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Hold the work folder's lock for the whole run: a second run on it is refused in one line
    (two runs would mix their data, checkpoints and summary); the kernel frees it on a kill."""

    @functools.wraps(run)
    def locked(videos: Path, work_dir: Path, **kwargs: Any) -> dict[str, Any]:
        work_dir = Path(work_dir)
        if work_dir.exists() and not work_dir.is_dir():
            raise UserError(f"--work-dir {work_dir} is a file, not a folder; give a folder")
        with file_lock(work_dir / LOCK_NAME, f"work folder {work_dir}", wait=False):
            return run(videos, work_dir, **kwargs)

    return locked


@_one_run_per_work_dir
def from_videos(
    videos: Path,
    work_dir: Path,
    *,
    val: Path | None = None,
    val_fraction: float = VAL_FRACTION,
    config_path: Path | None = None,
    pipeline_config: Path | None = None,
    overrides: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    stride: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_video: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_clip: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Extract, split, fine-tune (recipe sgd) or fit a head on the frozen network's features
    (recipe frozen: `on_clip(done, total)` after each clip's features); returns the summary
    also written to W/summary.json. `config_path` overrides keys of the recipe it names
    (`recipe: sgd`, train/configs/finetune.yaml; else train/configs/few_shot.yaml)."""
    work_dir = Path(work_dir)
    check_number("--val-fraction", val_fraction, 0.0, 0.9)
    if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise UserError(f"--cache-dir {cache_dir} is a file, not a folder; give a folder")
    if val is not None and Path(val).resolve() == Path(videos).resolve():
        raise UserError(
            f"--val {val} is the training folder: nothing would be held out; give a folder "
            "of other clips, or leave --val out to hold some of these back"
        )
    classes = find_classes(videos)
    class_names = list(classes)
    pipeline = load_settings(pipeline_config)
    classifier = pipeline.classifier
    given = deep_merge(read_yaml(config_path) if config_path else {}, overrides or {})
    config = load_config(
        recipe_config(given),
        {
            **given,
            "dataset": OWN_VIDEOS,
            "num_class": len(class_names),
            "class_names": class_names,
            "data_dir": str(work_dir / "data"),
            "work_dir": str(work_dir),
        },
    )
    val_classes = find_classes(val) if val is not None else {}
    unknown = sorted(set(val_classes) - set(class_names))
    if unknown:
        raise UserError(f"--val {val} has class {unknown[0]!r}, which {videos} lacks")
    resume = prepare_work_dir(work_dir, overwrite)
    everything = sorted(
        {p for group in (classes, val_classes) for ps in group.values() for p in ps}
    )
    extraction = extract_videos(
        everything, pipeline, cache_dir or work_dir / "skeletons", workers, progress, on_video
    )
    held_out = True
    if val is None:  # held out from the clips that could be read (an unreadable one is reported)
        readable = readable_only(classes, extraction)
        train_videos, val_videos = split_videos(readable, val_fraction, config.seed)
        if not any(val_videos.values()):  # one video a class (a first Teach session)
            val_videos, held_out = train_videos, False
        if not held_out and config.recipe == "sgd":
            print(
                "validation: every class has one video, so the training windows are scored "
                "(nothing held out; record more clips for a real figure)"
            )
    else:
        train_videos, val_videos = classes, val_classes
    card = own_card(config, classifier)  # a base that does not fit fails before training
    if config.recipe == "frozen":  # every clip learns unless --val names others
        if val is None:
            train_videos, val_videos, held_out = classes, {}, False
        features = Path(cache_dir or work_dir / "skeletons") / FEATURES
        training, unusable = train_head(
            config, train_videos, val_videos, extraction, classifier, features, on_clip, card
        )
        windows = {"train": training.pop("windows"), "val": training.pop("val_windows")}
    else:
        stride = stride or max(1, classifier.window // 2)
        splits = {}
        for split, group in (("train", train_videos), ("val", val_videos)):
            splits[split] = make_split(group, class_names, extraction, classifier, stride)
            check_classes(split, splits[split].labels, class_names)
            write_split(work_dir / "data", split, splits[split], card)
        config = dataclasses.replace(
            config, batch_size=min(config.batch_size, len(splits["train"].labels))
        )
        began = time.perf_counter()
        state = train(config, resume=resume, on_epoch=on_epoch, card=card)
        training = {
            "epochs": state.epoch,
            "seconds": round(time.perf_counter() - began, 1),
            "best_top1": state.best_top1,
            "best_epoch": state.best_epoch,
        }
        windows = {s: len(d.labels) for s, d in splits.items()}
        unusable = [p for d in splits.values() for p in d.unusable]
    summary = {
        "classes": class_names,
        "recipe": config.recipe,
        "videos": {
            s: sum(map(len, g.values())) for s, g in (("train", train_videos), ("val", val_videos))
        },
        "windows": windows,
        "held_out_validation": held_out,
        "unreadable": [str(p) for p in extraction.unreadable],
        "no_person": [str(p) for p in unusable],
        "extraction": {
            "videos": extraction.extracted,
            "from_cache": len(extraction.skeletons) - extraction.extracted,
            "frames": extraction.frames,
            "seconds": round(extraction.seconds, 2),
            "frames_per_second": round(extraction.frames_per_second, 1),
        },
        "training": training,
        "weights": str(work_dir / BEST),
    }
    with atomic_write(work_dir / SUMMARY) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def build_parser() -> argparse.ArgumentParser:
    """The command line; training flags left out keep the training YAML's values."""
    parser = command_parser("python -m train.from_videos", __doc__)
    parser.add_argument("videos", type=Path, help="folder with one folder of videos per class")
    parser.add_argument(
        "--work-dir",
        type=Path,
        required=True,
        help="where the skeleton cache, the windows and the model go",
    )
    parser.add_argument(
        "--val",
        type=Path,
        help="validation videos in the same layout (default: a stratified share of VIDEOS)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=VAL_FRACTION,
        help="share of each class's videos held out for validation when --val is not "
        "given (default: %(default)s)",
    )
    parser.add_argument(
        "--base-weights",
        help="the checkpoint to start from, a registered name "
        "or file (default: the training config's base_weights); 'none' for "
        "random weights",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="passes over the training windows, SGD recipe only (default: the config's)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="windows a training step, SGD recipe only (default: the config's)",
    )
    add_device_flag(parser, None, "default: the training config's")
    add_config_flags(
        parser,
        "training YAML whose keys override the recipe's (default: train/configs/few_shot.yaml; "
        "one with recipe: sgd, such as finetune.yaml, overrides the SGD recipe)",
        "few_shot.classifier=logistic",
    )
    parser.add_argument(
        "--pipeline-config",
        type=Path,
        metavar="YAML",
        help="YAML overriding pipeline/configs/pipeline.yaml (pose, window)",
    )
    parser.add_argument("--cache-dir", type=Path, help="skeleton cache (default W/skeletons)")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="extraction processes (default: one per two cores)",
    )
    parser.add_argument(
        "--stride",
        type=int,
        help="frames between training windows (default: half the classifier's window)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="train again in a work dir that holds a model"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (they show only on a terminal anyway)",
    )
    return parser


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The training keys the flags set (--set first, named flags on top)."""
    out = config_overrides(
        args, {"epochs": args.epochs, "batch_size": args.batch_size, "device": args.device}
    )
    if args.base_weights is not None:
        out["base_weights"] = None if args.base_weights.lower() == "none" else args.base_weights
    return out


def training_line(summary: dict[str, Any]) -> str:
    """What the training step did and reached, in one line."""
    trained, windows, videos = summary["training"], summary["windows"], summary["videos"]
    if summary["recipe"] != "frozen":
        return (
            f"training: {windows['train']} windows from {videos['train']} videos, "
            f"{trained['epochs']} epochs in {trained['seconds']} s; best validation top-1 "
            f"{trained['best_top1']:.1f}% ({windows['val']} windows) at epoch "
            f"{trained['best_epoch']}"
        )
    top1 = trained["best_top1"]
    score = (
        f"validation top-1 {top1:.1f}% ({trained['validation']})"
        if top1 is not None
        else "no validation figure (record two clips a class for one)"
    )
    return (
        f"training: a head on the frozen network's features, {windows['train']} windows from "
        f"{videos['train']} videos in {trained['seconds']} s ({trained['clips_computed']} "
        f"clips' features computed, the rest from the cache); {score}"
    )


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Train on a folder of videos and print where the model is and what it reached."""
    args = build_parser().parse_args(argv)
    summary = from_videos(
        args.videos,
        args.work_dir,
        val=args.val,
        val_fraction=args.val_fraction,
        config_path=args.config,
        pipeline_config=args.pipeline_config,
        overrides=training_overrides(args),
        cache_dir=args.cache_dir,
        workers=args.workers,
        stride=args.stride,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    ext = summary["extraction"]
    print(
        f"extraction: {ext['videos']} videos ({ext['frames']} frames) in {ext['seconds']} s, "
        f"{ext['frames_per_second']} frames/s; {ext['from_cache']} from the cache; "
        f"{len(summary['unreadable'])} unreadable, {len(summary['no_person'])} without a person"
    )
    print(training_line(summary))
    print(f"model: {summary['weights']} (classes: {', '.join(summary['classes'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
