"""Learning your own actions from a few clips: train on SHOTS clips a class of some sequences,
test on the clips of the other sequences, over several draws.

    python -m bench.few_shot DIR [--shots 3] [--draws 5] [--held-out 3] [--recipe NAME|YAML ...]
        [--config YAML] [--set KEY=VALUE] [--cache-dir DIR] [--json OUT.json]

DIR holds a folder per class of clips named ID_SEQUENCE_CLASS.<video> (UT-Interaction's naming,
../shared/fixtures/ut_set1): a sequence is one take of one pair of people. Each draw holds out
`--held-out` sequences at random, trains with train.from_videos (the Teach panel's path) on SHOTS
clips a class drawn from the other sequences (all of them where a class has fewer), and names
every held-out clip as classify_video does: its skeletons through the live classifier
(pipeline.StreamingClassifier, every window kept) with the trained checkpoint, the video's
class the top-1 of pipeline.summary.video_probabilities. Skeletons are extracted once into the
cache (the held-out clips' pose is not run again: the cache holds the same tracker output), and
each clip's extraction time is kept with it, so that a draw's extraction figure is what its
training clips cost. Prints each recipe's mean and spread of top-1, the seconds of extraction
and of training, and the load average (this machine is shared: compare recipes within a run).
Recipes: few_shot (train/configs/few_shot.yaml, the default), finetune (finetune.yaml, the
earlier SGD recipe), or a YAML file; --config (keys in a YAML file) and --set change every
recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.cli import add_config_flags, command_parser, parse_assignments
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from common.yaml_files import deep_merge, read_yaml
from model import load_model
from pipeline import PipelineSettings, StreamingClassifier, load_settings
from pipeline.build import with_registered_choices
from pipeline.summary import video_probabilities
from train.from_videos import FEW_SHOT_CONFIG, FINETUNE_CONFIG, find_classes, from_videos
from train.video_skeletons import Extraction, extract_videos

RECIPES = {"few_shot": FEW_SHOT_CONFIG, "finetune": FINETUNE_CONFIG}
NAME = re.compile(r"^\d+_(\d+)_\d+$")  # ID_SEQUENCE_CLASS
DEFAULT_CACHE = Path.home() / ".cache" / "shiftgcn-live" / "few_shot"


def sequence_of(path: Path) -> int:
    """The sequence (take) of a clip named ID_SEQUENCE_CLASS.<video>."""
    match = NAME.match(path.stem)
    if match is None:
        raise UserError(
            f"{path}: the name is not ID_SEQUENCE_CLASS (e.g. 17_3_0.avi); name the clips "
            "by their sequence so that draws can hold takes out"
        )
    return int(match.group(1))


def draw(
    classes: dict[str, list[Path]], shots: int, held_out: int, rng: np.random.Generator
) -> tuple[dict[str, list[Path]], list[tuple[str, Path]], list[int]]:
    """One draw: (training clips by class, held-out (class, clip) pairs, held-out sequences)."""
    sequences = sorted({sequence_of(p) for paths in classes.values() for p in paths})
    if held_out >= len(sequences):
        raise UserError(
            f"--held-out {held_out}: the clips have {len(sequences)} sequences; hold out fewer"
        )
    for _ in range(100):
        test = set(rng.choice(sequences, held_out, replace=False).tolist())
        pools = {n: [p for p in ps if sequence_of(p) not in test] for n, ps in classes.items()}
        if all(pools.values()):
            break
    else:
        raise UserError("no draw leaves every class a training clip; lower --held-out")
    train = {
        name: sorted(rng.choice(pool, min(shots, len(pool)), replace=False).tolist())
        for name, pool in pools.items()
    }
    tests = [(n, p) for n, ps in classes.items() for p in ps if sequence_of(p) in test]
    return train, tests, sorted(test)


def link_clips(folder: Path, clips: dict[str, list[Path]]) -> None:
    """folder/<class>/<clip>: links to the chosen clips, the layout from_videos reads."""
    for name, paths in clips.items():
        (folder / name).mkdir(parents=True)
        for path in paths:
            (folder / name / path.name).symlink_to(path.resolve())


def classify_clip(classifier: StreamingClassifier, skeleton: np.ndarray, fps: float) -> int:
    """The class classify_video names for a clip's (T, 3, 25, 2) skeletons at `fps`."""
    classifier.reset()
    for index, frame in enumerate(skeleton):
        classifier.push(frame, index / fps)
    classifier.finish()
    if not classifier.history:
        return -1
    return int(np.argmax(video_probabilities(classifier.history, classifier.window)))


def test_top1(
    weights: Path,
    pipeline: PipelineSettings,
    tests: list[tuple[str, Path]],
    extraction: Extraction,
) -> tuple[float, list[dict[str, Any]]]:
    """Top-1 of the held-out clips with a trained checkpoint, and each clip's answer (its
    classifier settings resolved as build_pipeline resolves them for that checkpoint)."""
    model, card = load_model(weights)
    classifier = StreamingClassifier(
        model,
        with_registered_choices(pipeline.classifier, str(weights)),
        card=card,
        device="cpu",
        runtime=pipeline.runtime,
        keep_history=True,
    )
    answers = []
    for name, path in tests:
        index = classify_clip(
            classifier, extraction.skeletons[path].skeleton, pipeline.classifier.fps
        )
        said = card.labels()[index] if index >= 0 else None
        answers.append({"clip": f"{name}/{path.name}", "said": said, "right": said == name})
    classifier.close()
    return float(np.mean([a["right"] for a in answers])), answers


def run_draw(
    recipe: Path,
    overrides: dict[str, Any],
    train: dict[str, list[Path]],
    tests: list[tuple[str, Path]],
    extraction: Extraction,
    pipeline: PipelineSettings,
    cache_dir: Path,
) -> dict[str, Any]:
    """Train one recipe on one draw's clips through from_videos and test it."""
    with tempfile.TemporaryDirectory(prefix="few-shot-") as tmp:
        clips = Path(tmp) / "clips"
        link_clips(clips, train)
        load = os.getloadavg()[0]
        began = time.perf_counter()
        summary = from_videos(
            clips,
            Path(tmp) / "work",
            config_path=recipe,
            overrides=overrides,
            cache_dir=cache_dir,
            workers=1,
            progress=False,
        )
        seconds_call = time.perf_counter() - began
        top1, answers = test_top1(Path(summary["weights"]), pipeline, tests, extraction)
    extraction_seconds = sum(
        extraction.skeletons[p].seconds for paths in train.values() for p in paths
    )
    return {
        "top1": top1,
        "seconds_train": float(summary["training"]["seconds"]),
        "seconds_from_videos": round(seconds_call, 2),
        "seconds_extraction": round(extraction_seconds, 2),
        "load_average": round((load + os.getloadavg()[0]) / 2, 2),
        "validation_top1": summary["training"]["best_top1"],
        # the frozen recipe: clips whose features were computed (the others: cached by a draw
        # before, so this draw's training seconds are less than a first training's)
        "features_computed": summary["training"].get("clips_computed"),
        "train_clips": sum(map(len, train.values())),
        "answers": answers,
    }


def summarise(draws: list[dict[str, Any]]) -> dict[str, Any]:
    """A recipe's figures over the draws."""
    top1 = np.array([d["top1"] for d in draws])
    return {
        "top1_mean": round(float(top1.mean()), 4),
        "top1_min": round(float(top1.min()), 4),
        "top1_max": round(float(top1.max()), 4),
        "top1_std": round(float(top1.std()), 4),
        "seconds_train": round(float(np.mean([d["seconds_train"] for d in draws])), 2),
        "seconds_extraction": round(float(np.mean([d["seconds_extraction"] for d in draws])), 2),
        "load_average": round(float(np.mean([d["load_average"] for d in draws])), 2),
        "draws": draws,
    }


def few_shot(
    folder: Path,
    shots: int,
    draws: int,
    held_out: int,
    recipes: list[str],
    overrides: dict[str, Any],
    cache_dir: Path,
    seed: int = 0,
) -> dict[str, Any]:
    """Every recipe on the same draws; the first recipe's figures at the top level."""
    classes = find_classes(folder)
    pipeline = load_settings(None)
    everything = sorted(p for paths in classes.values() for p in paths)
    extraction = extract_videos(everything, pipeline, cache_dir, workers=1)
    missing = [p for p in everything if p not in extraction.skeletons]
    if missing:
        raise UserError(f"{missing[0]} could not be read; remove it from {folder}")
    if any(np.isnan(extraction.skeletons[p].seconds) for p in everything):
        print("note: some clips were cached without their extraction time; those count as NaN")
    paths = {name: recipe_path(name) for name in recipes}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in recipes}
    torch.set_num_threads(1)  # the live classifier's setting; spin-free on a busy machine
    for index in range(draws):
        train, tests, held = draw(classes, shots, held_out, np.random.default_rng(seed + index))
        for name in recipes:
            row = run_draw(paths[name], overrides, train, tests, extraction, pipeline, cache_dir)
            row["held_out_sequences"] = held
            results[name].append(row)
            print(
                f"draw {index + 1}/{draws} {name}: top-1 {row['top1']:.3f} on {len(tests)} "
                f"clips of sequences {held}; {row['train_clips']} training clips, extraction "
                f"{row['seconds_extraction']:.1f} s, training {row['seconds_train']:.1f} s "
                f"(load average {row['load_average']})",
                flush=True,
            )
    summaries = {name: summarise(rows) for name, rows in results.items()}
    return {
        **summaries[recipes[0]],
        "recipe": recipes[0],
        "shots": shots,
        "held_out": held_out,
        "recipes": {n: {k: v for k, v in s.items() if k != "draws"} for n, s in summaries.items()},
        "by_recipe": summaries,
        "overrides": overrides,
        "cpu_threads": len(os.sched_getaffinity(0)),
    }


def recipe_path(name: str) -> Path:
    """A recipe's YAML: a known name or a file."""
    if name in RECIPES:
        return RECIPES[name]
    path = Path(name)
    if not path.is_file():
        raise UserError(f"--recipe {name}: neither {', '.join(RECIPES)} nor a YAML file")
    return path


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.few_shot", __doc__)
    parser.add_argument("folder", type=Path, help="a folder per class of ID_SEQUENCE_CLASS clips")
    parser.add_argument("--shots", type=int, default=3, help="training clips a class")
    parser.add_argument(
        "--draws", type=int, default=5, help="draws of held-out sequences (default: 5)"
    )
    parser.add_argument("--held-out", type=int, default=3, help="sequences held out a draw")
    parser.add_argument(
        "--recipe",
        action="append",
        help="few_shot (default), finetune, or a training YAML; repeat to compare on the "
        "same draws",
    )
    add_config_flags(
        parser, "training keys applied to every recipe (a YAML mapping)", "few_shot.copies=4"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the draws and the training (default: 0)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="skeleton and feature cache"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Run the draws and print each recipe's figures."""
    args = build_parser().parse_args(argv)
    if args.shots < 1 or args.draws < 1:
        raise UserError("--shots and --draws must be at least 1")
    recipes = args.recipe or ["few_shot"]
    result = few_shot(
        args.folder,
        args.shots,
        args.draws,
        args.held_out,
        recipes,
        deep_merge(read_yaml(args.config) if args.config else {}, parse_assignments(args.set)),
        args.cache_dir,
        args.seed,
    )
    for name, figures in result["recipes"].items():
        print(
            f"{name}: top-1 mean {figures['top1_mean']:.3f} (min {figures['top1_min']:.3f}, "
            f"max {figures['top1_max']:.3f}, std {figures['top1_std']:.3f}) over {args.draws} "
            f"draws of {args.shots} clips a class; extraction {figures['seconds_extraction']:.1f} "
            f"s + training {figures['seconds_train']:.1f} s a draw "
            f"(load average {figures['load_average']}, {result['cpu_threads']} cores)"
        )
    if args.json:
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
