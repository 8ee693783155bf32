"""`python -m bench.looped_windows`: a looped window computed on its own frames against in full.

The live classifier pads each window (100 frames) to 300 by looping it, as the released models
were trained. ShiftGCN's `loop_to` computes such a window on one period with circular temporal
padding (model.runtime.TorchRuntime); that differs from the full computation only near the
loop's two ends. This measures the difference on the windows the live app classifies (as a
classifier that keeps up takes them: pipeline.stream_windows) of the skeletons MediaPipe extracts
from both shared videos: logits, top-1 agreement, and the time of one window at 1 thread.

Needs ../shared (the videos and the released checkpoints).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common.cli import add_weights_flag, command_parser
from common.errors import cli_entry
from weights import default_name

from .shared import ARMWRESTLING, OFFICIAL, PAIRED, require_shared, use_released_weights

VIDEOS = (ARMWRESTLING, PAIRED / "S001C001P001R001A001_rgb.avi")
NTU120 = "ntu120-xsub-joint"  # beside the default, a model with twice the classes


def video_skeleton(path: Path) -> np.ndarray:
    """The (T, 3, 25, 2) skeletons the pipeline extracts from a video, one per frame."""
    from app.video_run import classify_video, video_pipeline
    from pipeline import load_settings

    pipeline = video_pipeline(load_settings())
    skeleton = classify_video(path, pipeline, progress=False).skeleton
    pipeline.close()
    return np.moveaxis(skeleton, 1, 0)


def compare(
    net: torch.nn.Module, windows: list[np.ndarray], pad_to: int, stream: str
) -> dict[str, float]:
    """Full and looped logits of each window: differences, agreement and time per window."""
    from model.preprocess import loop_period
    from pipeline import prepare_window

    diffs, prob_diffs, margins, agree, looped, full_s, loop_s = [], [], [], 0, 0, [], []
    for frames in windows:
        x = prepare_window(frames, pad_to, stream)
        period = loop_period(x, net.config.temporal_reduction)
        with torch.no_grad():
            began = time.perf_counter()
            full = net(torch.from_numpy(x)[None])[0]
            full_s.append(time.perf_counter() - began)
            if period is None:
                continue
            began = time.perf_counter()
            short = net(
                torch.from_numpy(np.ascontiguousarray(x[:, :period]))[None], loop_to=x.shape[1]
            )[0]
            loop_s.append(time.perf_counter() - began)
        looped += 1
        diffs.append(float((full - short).abs().max()))
        probs, short_probs = torch.softmax(full, 0), torch.softmax(short, 0)
        prob_diffs.append(float((probs - short_probs).abs().max()))
        agree += int(full.argmax() == short.argmax())
        if full.argmax() != short.argmax():  # how sure the full computation was
            top2 = probs.topk(2).values
            margins.append(float(top2[0] - top2[1]))
    return {
        "windows": len(windows),
        "looped": looped,
        "top1_agree": agree,
        "max_logit_diff": max(diffs, default=float("nan")),
        "median_logit_diff": float(np.median(diffs)) if diffs else float("nan"),
        "max_prob_diff": max(prob_diffs, default=float("nan")),
        "disagreement_margins": margins,
        "full_ms": 1000 * float(np.median(full_s)),
        "looped_ms": 1000 * float(np.median(loop_s)) if loop_s else float("nan"),
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.looped_windows", __doc__)
    add_weights_flag(
        parser,
        [default_name(), NTU120],
        nargs="+",
        note="one or more; default: "
        f"the registry's default and {NTU120}, a 60- and a 120-class model",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, live)")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Compare the looped and the full computation on each checkpoint and print the table."""
    args = build_parser().parse_args(argv)
    require_shared(*VIDEOS, OFFICIAL)
    use_released_weights()
    from model import fuse_for_inference
    from pipeline import load_settings, stream_windows
    from weights import load_model

    settings = load_settings().classifier
    skeletons = {path.name: video_skeleton(path) for path in VIDEOS}
    torch.set_num_threads(args.threads)
    print(
        f"windows of {settings.window} frames every {settings.stride}, looped to "
        f"{settings.pad_to}; {args.threads} torch thread(s)"
    )
    for weights in args.weights:
        loaded, card = load_model(weights)
        net = fuse_for_inference(loaded)
        for name, frames in skeletons.items():
            windows = [
                w.frames
                for w in stream_windows(
                    frames, settings.window, settings.stride, settings.min_frames, settings.fps
                )
            ]
            r = compare(net, windows, card.loop_to, card.stream)
            margins = ", ".join(f"{m:.3f}" for m in r["disagreement_margins"]) or "-"
            print(
                f"{weights} {name}: {r['looped']}/{r['windows']} windows loop exactly; top-1 "
                f"agrees in {r['top1_agree']}/{r['looped']}; logits differ by at most "
                f"{r['max_logit_diff']:.3f} (median {r['median_logit_diff']:.3f}), "
                f"probabilities by {r['max_prob_diff']:.3f}; where top-1 differs, the full "
                f"top-1 led by {margins}; "
                f"{r['full_ms']:.0f} ms in full, {r['looped_ms']:.0f} ms looped",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
