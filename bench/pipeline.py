"""Benchmark of the frames -> actions pipeline on this machine, and the window study.

    python -m bench.pipeline                 # pose fps, model inferences/s, classify_video fps,
                                             # a simulated live 30 fps camera, the bottleneck
    python -m bench.pipeline --camera-size 640x480 --json OUT.json   # webcam size; the figures
    python -m bench.pipeline --video clip.mp4 --camera-size 640x480 # another recording
    python -m bench.pipeline --window-study  # what window length, padding and frame rate do to
                                             # predictions on the NTU fixtures

Needs ../shared (the fixture video, NTU skeletons and released checkpoints). The default video
shows a person in only part of its frames, which bounds the predictions a second; `--video` takes
a recording with a person throughout (e.g. ../shared's paired NTU clip).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from common.cli import add_weights_flag, command_parser
from common.errors import cli_entry
from pipeline import FramePipeline, FrameResult
from pipeline.live import LiveCallbacks, LiveLoop
from pipeline.sources import Frame, FrameBuffer

from .shared import ARMWRESTLING, FIXTURES, OFFICIAL, require_shared, use_released_weights
from .timing import cpu_model, machine_line

PREPROCESSING = FIXTURES / "ntu_preprocessing_reference.npz"
CAMERA_FPS = 30.0


def _require_shared(video: Path) -> None:
    """Point the weights registry at the released files, or say what is missing."""
    require_shared(video, PREPROCESSING, OFFICIAL)
    use_released_weights()


def _frames(
    video: Path, limit: int | None = None, size: tuple[int, int] | None = None
) -> list[np.ndarray]:
    """The video's frames, decoded once, optionally resized to a webcam's (w, h)."""
    import cv2

    from pipeline.sources import VideoSource

    with VideoSource(video) as source:
        frames = [f.image for f, _ in zip(source, range(limit or 10**9))]
    return frames if size is None else [cv2.resize(f, size) for f in frames]


def _rate(fn, count: int) -> tuple[float, float]:
    """Calls per second of fn over `count` calls (after one warm-up call), and the CPU time
    (all threads of this process) per call in ms: what it costs whatever else the machine runs."""
    fn()
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        fn()
    return count / (time.perf_counter() - began), 1000 * (time.process_time() - cpu) / count


# ----------------------------------------------------------------------------- benchmark
def bench_pose(frames: list[np.ndarray]) -> dict[str, float]:
    """Frames per second of the offline MediaPipe backend with one and two people sought."""
    from pose import MediaPipePose, PoseSettings

    out = {}
    for label, kwargs in (
        ("1 person", dict(max_people=1)),
        ("2 people, second every frame", dict(second_person_every=1, second_person_search_every=1)),
        (
            "2 people, second every 3rd frame",
            dict(second_person_every=3, second_person_search_every=3),
        ),
        ("2 people, default (3rd / 10th)", {}),
    ):
        estimator = MediaPipePose(PoseSettings(**kwargs))
        began, cpu = time.perf_counter(), time.process_time()
        found = sum(len(estimator.estimate(f)) for f in frames)
        out[label] = len(frames) / (time.perf_counter() - began)
        out[label + " cpu ms"] = 1000 * (time.process_time() - cpu) / len(frames)
        estimator.close()
        print(
            f"pose  {label:34s} {out[label]:6.1f} frames/s, {out[label + ' cpu ms']:5.1f} ms CPU"
            f" a frame ({found} people in {len(frames)} frames)"
        )
    return out


def bench_model(weights: str, threads: tuple[int, ...] = (1, 2)) -> dict[str, float]:
    """Inferences per second of one window, per thread count: looped to 300 frames as the live
    classifier runs it (on the window's own frames, model.runtime), looped in full in eager
    PyTorch and in ONNX Runtime, unpadded."""
    from model.runtime import TorchRuntime, make_runtime
    from pipeline import load_settings, prepare_window
    from weights import load_model

    window = load_settings().classifier.window
    model = load_model(weights).net
    frames = np.random.default_rng(0).normal(size=(window, 3, 25, 2)).astype(np.float32)
    out = {}
    for count in threads:
        torch.set_num_threads(count)
        eager = TorchRuntime(model, looped=False)
        onnx = make_runtime(model, "onnx")  # after the thread count: its session takes it
        for label, pad, runtime in (
            ("looped to 300 (live)", 300, TorchRuntime(model)),
            ("looped to 300 in full", 300, eager),
            ("looped to 300, ONNX Runtime", 300, onnx),
            ("unpadded", 0, eager),
        ):
            x = prepare_window(frames, pad, "joint")
            rate, cpu_ms = _rate(lambda x=x, runtime=runtime: runtime(x), 3 if pad else 10)
            label = f"window {window} {label}, {count} thread(s)"
            out[label], out[label + " cpu ms"] = rate, cpu_ms
            print(
                f"model {label:44s} {rate:6.2f} inferences/s ({1000 / rate:.0f} ms, "
                f"{cpu_ms:.0f} ms CPU)"
            )
    torch.set_num_threads(1)
    out.update(_bench_live_classifier(frames))
    torch.set_num_threads(os.cpu_count() or 1)
    return out


def _bench_live_classifier(frames: np.ndarray) -> dict[str, float]:
    """Windows per second of the live classifier as the settings build it: every network of the
    ensemble, each on the window, its faster views and, with either_hand, the mirror images of
    those (1 thread)."""
    from pipeline import build_pipeline, load_settings

    settings = load_settings()
    pipeline = build_pipeline(settings)
    try:
        classifier = pipeline.classifier
        faster = [frames] * len(classifier.window_classifier.faster)  # each view costs the same
        rate, cpu_ms = _rate(lambda: classifier.window_classifier(frames, faster), 3)
    finally:
        pipeline.close()
    networks = 1 + len(classifier.members)
    label = (
        f"live classifier, window {classifier.window}: {networks} network(s) "
        f"x {classifier.window_classifier.views // networks} view(s), 1 thread(s)"
    )
    print(f"model {label:44s} {rate:6.2f} windows/s ({1000 / rate:.0f} ms, {cpu_ms:.0f} ms CPU)")
    return {label: rate, label + " cpu ms": cpu_ms}


def bench_classify_video(video: Path) -> float:
    """End-to-end frames per second of app.classify_video on `video` (default settings)."""
    from app.video_run import classify_video, video_pipeline
    from pipeline import load_settings

    pipeline = video_pipeline(load_settings())
    began = time.perf_counter()
    result = classify_video(video, pipeline, progress=False)
    fps = result.frames / (time.perf_counter() - began)
    pipeline.close()
    print(
        f"classify_video end to end               {fps:6.1f} frames/s  ({result.frames} frames,"
        f" {len(result.segments)} windows; top-1 {result.top5[0]['label']!r})"
    )
    return fps


class SimulatedCamera:
    """A camera made of decoded frames, played in a loop at `fps` by the clock until stopped:
    the live loop's source in the live figures (pipeline.live.LiveSource)."""

    def __init__(self, images: list[np.ndarray], fps: float = CAMERA_FPS) -> None:
        self.images, self.fps = images, fps

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Frame after frame, each at its time, until `stop` is set."""
        began, index = time.perf_counter(), 0
        while not stop.is_set():
            yield Frame(self.images[index % len(self.images)], index / self.fps, index, 0.0)
            index += 1
            stop.wait(max(0.0, began + index / self.fps - time.perf_counter()))

    def describe(self) -> str:
        """What plays, for the loop's status line."""
        return f"a simulated {self.fps:.0f} fps camera"

    def end_message(self) -> tuple[str, str]:
        """Never said: the camera plays until stopped."""
        return "info", "the simulated camera stopped"

    def close(self) -> None:
        """Nothing to release."""


def live_loop(
    frames: list[np.ndarray], depth: int, callbacks: LiveCallbacks | None = None
) -> LiveLoop:
    """The GUI's live loop (the class app.gui.workers.PipelineWorker runs) over a simulated
    30 fps camera, with a frame buffer of `depth` (live.frame_buffer)."""
    return LiveLoop(
        FrameBuffer(depth), callbacks, open_source=lambda _status: SimulatedCamera(frames)
    )


def measure_live(
    frames: list[np.ndarray], pipeline: FramePipeline, depth: int, seconds: float
) -> dict[str, float]:
    """Run the live loop over the simulated camera for `seconds`: processed fps, the share of
    frames dropped, pose ms, how long frames waited in the buffer, predictions a second and
    their latency (from the window's last frame being read to its prediction)."""
    pose_ms, waits, latencies = [], [], []

    def frame_done(_frame: Frame, result: FrameResult) -> None:
        pose_ms.append(result.timings["pose_ms"])
        waits.append(result.timings["wait_ms"])

    callbacks = LiveCallbacks(
        frame=frame_done, prediction=lambda prediction: latencies.append(prediction.latency_ms)
    )
    loop = live_loop(frames, depth, callbacks)
    timer = threading.Timer(seconds, loop.stop)
    began = time.perf_counter()
    timer.start()
    loop.run(pipeline)
    elapsed = time.perf_counter() - began
    timer.cancel()
    return {
        "processed fps": len(pose_ms) / elapsed,
        "dropped": loop.buffer.dropped / max(loop.delivered, 1),
        "pose ms": float(np.mean(pose_ms)) if pose_ms else float("nan"),
        "wait ms": float(np.mean(waits)) if waits else float("nan"),
        "predictions/s": len(latencies) / elapsed,
        "latency ms": float(np.mean(latencies)) if latencies else float("nan"),
    }


def bench_live(frames: list[np.ndarray], seconds: float = 10.0) -> dict[str, float]:
    """The GUI's live loop (pipeline.live.LiveLoop: a capture thread, the frame buffer of
    live.frame_buffer frames, pose on every frame taken, inference in its own thread) over a
    simulated 30 fps camera; see measure_live for the figures."""
    from pipeline import build_pipeline, load_settings

    settings = load_settings()
    pipeline = build_pipeline(settings, background=True)
    try:
        out = measure_live(frames, pipeline, settings.live.frame_buffer, seconds)
        pipeline.classifier.flush()
    finally:
        pipeline.close()
    print(
        f"live  30 fps camera, inference thread    {out['processed fps']:6.1f} frames/s "
        f"processed,"
        f" {100 * out['dropped']:.0f}% of frames dropped, {out['wait ms']:.0f} ms in the buffer, "
        f"pose {out['pose ms']:.1f} ms, "
        f"{out['predictions/s']:.2f} predictions/s, latency {out['latency ms']:.0f} ms"
    )
    return out


def run_benchmark(
    weights: str, video: Path = ARMWRESTLING, size: tuple[int, int] | None = None
) -> dict[str, float]:
    """All measurements, then which stage limits the end-to-end rate; the headline figures."""
    shown = f" resized to {size[0]}x{size[1]} for pose and the live camera" if size else ""
    print(machine_line())
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPU(s), {torch.get_num_threads()} "
        f"torch threads; video {video.name}{shown}"
    )
    frames = _frames(video, size=size)
    pose = bench_pose(frames)
    model = bench_model(weights)
    classify_fps = bench_classify_video(video)
    live = bench_live(frames)
    from pipeline import load_settings

    classifier = load_settings().classifier
    pose_fps = pose["2 people, default (3rd / 10th)"]
    # the pipeline runs the model with live.torch_threads (1) beside MediaPipe
    model_rate = model[next(k for k in model if "live classifier" in k and k.endswith("(s)"))]
    model_fps = model_rate * classifier.stride  # frames per second the model alone can follow
    stage = "pose estimation" if pose_fps < model_fps else "the Shift-GCN inference"
    print(
        f"\nbottleneck of classify_video: {stage} (pose {pose_fps:.1f} frames/s; the model, "
        f"one window every {classifier.stride} frames, {model_fps:.1f} frames/s); "
        f"end to end {classify_fps:.1f} frames/s"
    )
    pose_cores = pose["2 people, default (3rd / 10th) cpu ms"] * CAMERA_FPS / 1000
    model_cpu = model[next(k for k in model if "live classifier" in k and k.endswith("cpu ms"))]
    model_cores = model_cpu / 1000 * CAMERA_FPS / classifier.stride
    print(
        f"CPU budget of a 30 fps camera: pose {pose_cores:.2f} cores + the model every "
        f"{classifier.stride} frames {model_cores:.2f} cores = {pose_cores + model_cores:.2f} "
        f"of {os.cpu_count()} cores (the inference thread drops windows when it lags)"
    )
    keeps_up = live["processed fps"] >= 0.95 * CAMERA_FPS
    print(
        f"live path {'keeps up with' if keeps_up else 'falls behind'} a 30 fps camera: "
        f"{live['processed fps']:.1f} frames/s with inference in its own thread"
    )
    return {
        "live_fps": live["processed fps"],
        "dropped_fraction": live["dropped"],
        "predictions_per_s": live["predictions/s"],
        "latency_ms": live["latency ms"],
        "classify_video_fps": classify_fps,
    }


def write_json(
    path: Path, figures: dict[str, float], size: tuple[int, int] | None, video: Path = ARMWRESTLING
) -> None:
    """The headline figures with what they were measured on, atomically, for run-to-run
    comparison."""
    import json

    from common.fileio import atomic_write

    record = dict(
        figures,
        video=video.name,
        camera_size=f"{size[0]}x{size[1]}" if size else "as recorded",
        cpu=cpu_model(),
        cpus=os.cpu_count(),
        load_average=list(os.getloadavg()),
        torch=torch.__version__,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


# ----------------------------------------------------------------------------- window study
def _sample_length(sample: np.ndarray) -> int:
    """Frames up to the last non-empty one of a (3, 300, 25, 2) sample."""
    filled = np.flatnonzero(np.abs(sample).sum(axis=(0, 2, 3)) > 0)
    return int(filled[-1]) + 1 if len(filled) else 0


def _windows(sample: np.ndarray, window: int, step: int, rate: int) -> list[np.ndarray]:
    """(T, 3, 25, 2) windows of `window` frames ending every `step` frames of the sample (30 fps),
    cut as the live classifier cuts them (pipeline.cut_window); a short sample is one window.
    `rate` > 1: a camera that gives every rate-th frame, resampled to 30 fps (frames repeat)."""
    from pipeline import cut_window

    length = _sample_length(sample)
    frames = np.transpose(sample[:, :length], (1, 0, 2, 3))
    kept = np.arange(0, length, rate)
    ends = range(window, length + 1, step) if length > window else [length]
    return [
        cut_window(
            kept / CAMERA_FPS, frames[kept], (end - 1) / CAMERA_FPS, window, CAMERA_FPS
        ).frames
        for end in ends
    ]


def _study_samples(weights: str) -> tuple[list[np.ndarray], list[str]]:
    """The non-empty NTU fixture samples (synthetic Kinect skeletons) and the skeleton the
    pipeline extracts from the fixture video (real motion, two people), as (3, 300, 25, 2)."""
    from app.video_run import classify_video, video_pipeline
    from pipeline import load_settings

    data = np.load(PREPROCESSING)
    samples = [s for s in data["raw"] if _sample_length(s) > 0]
    names = [str(n).split(".")[0] for n, s in zip(data["names"], data["raw"]) if _sample_length(s)]
    pipeline = video_pipeline(load_settings(overrides={"weights": weights}))
    video = classify_video(ARMWRESTLING, pipeline, progress=False).skeleton[:, :300]
    pipeline.close()
    padded = np.zeros((3, 300, 25, 2), dtype=np.float32)
    padded[:, : video.shape[1]] = video
    return samples + [padded], names + [ARMWRESTLING.stem]


def window_study(
    weights: str, windows: tuple[int, ...] = (32, 48, 64, 100), step: int = 16
) -> None:
    """Top-1 agreement of windowed predictions with the full looped sample, per setting."""
    from model import fuse_for_inference
    from model.preprocess import normalize_sample
    from pipeline import WindowClassifier
    from weights import load_model

    loaded = load_model(weights)
    model, card = fuse_for_inference(loaded.net), loaded.card
    samples, names = _study_samples(weights)
    with torch.no_grad():
        full = np.stack([normalize_sample(s) for s in samples])
        reference = model(torch.from_numpy(full)).argmax(1).numpy()
    print(
        f"{len(samples)} samples: "
        + ", ".join(f"{n} ({_sample_length(s)} frames)" for n, s in zip(names, samples))
    )
    settings = [(w, 300, 1) for w in windows] + [(w, 0, 1) for w in windows] + [(64, 300, 2)]
    print(
        "agree: windows whose top-1 is the full sample's; shorter: the same, counting only "
        "windows shorter than their sample; video: mean over a sample's windows"
    )
    print(
        f"{'window':>6} {'padding':>13} {'camera':>7} {'windows':>7} {'agree':>6} "
        f"{'shorter':>9} {'video':>6} {'ms/window':>9}"
    )
    for window, pad, rate in settings:
        agree = total = videos = part_agree = part_total = 0
        spent = 0.0
        classify = WindowClassifier(model, card=card, pad_to=pad, looped=False)  # in full, one view
        for sample, ref in zip(samples, reference):
            windows = _windows(sample, window, step, rate)
            began = time.perf_counter()
            probs = np.stack([classify(w) for w in windows])
            spent += time.perf_counter() - began
            hits = probs.argmax(1) == ref
            agree, total = agree + int(hits.sum()), total + len(hits)
            if _sample_length(sample) > window:
                part_agree, part_total = part_agree + int(hits.sum()), part_total + len(hits)
            videos += int(probs.mean(0).argmax() == ref)
        print(
            f"{window:6d} {('loop to ' + str(pad)) if pad else 'none':>13} "
            f"{CAMERA_FPS / rate:5.0f}fps {total:7d} {agree / total:6.2f} "
            f"{part_agree / max(part_total, 1):5.2f}/{part_total:<3d} "
            f"{videos:>2d}/{len(samples):<3d} {1000 * spent / total:9.0f}"
        )


def _size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 640x480, got {text!r}"
        ) from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.pipeline", __doc__)
    parser.add_argument(
        "--window-study",
        action="store_true",
        help="measure window length, padding and camera rate on NTU fixtures",
    )
    add_weights_flag(parser, note="default: the pipeline settings' checkpoint")
    parser.add_argument(
        "--camera-size",
        metavar="WxH",
        type=_size,
        help="resize the video's frames for pose and the live camera, e.g. "
        "640x480 for a webcam (default: as recorded)",
    )
    parser.add_argument(
        "--video",
        type=Path,
        default=ARMWRESTLING,
        help="the recording to measure on (default: ../shared's %(default)s)",
    )
    parser.add_argument(
        "--json",
        metavar="OUT.json",
        type=Path,
        help="also write live_fps, dropped_fraction, predictions_per_s, "
        "latency_ms, classify_video_fps (with the CPU and its load)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark or the window study."""
    args = build_parser().parse_args(argv)
    _require_shared(args.video)
    from pipeline import load_settings

    args.weights = args.weights or load_settings().weights_name()
    if args.window_study:
        window_study(args.weights)
    else:
        figures = run_benchmark(args.weights, args.video, args.camera_size)
        if args.json:
            write_json(args.json, figures, args.camera_size, args.video)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
