"""The flags the pipeline commands (classify_video, run_demo.py) share, and the pipeline settings
they make: pipeline/configs/pipeline.yaml, then --config, then --set, then the named flags."""

from __future__ import annotations

import argparse
from typing import Any

from common.cli import add_config_flags, add_device_flag, add_weights_flag, config_overrides
from pipeline import PipelineSettings, load_settings

FROM_CONFIG = "default: the configuration's"


def add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
    """--weights, --device, --config/--set, --mirror and --either-hand; a flag left out is None,
    so that the configuration's value holds."""
    add_weights_flag(parser, note=f"{FROM_CONFIG}, out of the box the registry's default")
    add_device_flag(parser, None, f"{FROM_CONFIG}, auto")
    add_config_flags(
        parser, "YAML overriding pipeline/configs/pipeline.yaml", "classifier.stride=10"
    )
    parser.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        help="the source is a mirror image (a selfie view, NTU's own videos): "
        f"exchange left and right ({FROM_CONFIG}, no)",
    )
    parser.add_argument(
        "--either-hand",
        action=argparse.BooleanOptionalAction,
        help="average each window's prediction with its mirror image's, so that "
        f"left- and right-handed actions read alike ({FROM_CONFIG}, no)",
    )


def pipeline_settings(
    args: argparse.Namespace, classifier: dict[str, Any] | None = None, **flags: Any
) -> PipelineSettings:
    """The pipeline settings the command line asks for; `classifier` and `flags` are the
    command's own flags as configuration keys (None: left out)."""
    return load_settings(
        args.config,
        config_overrides(
            args,
            {
                "weights": args.weights,
                "device": args.device,
                "tracker": {"mirror": args.mirror},
                "classifier": {"either_hand": args.either_hand, **(classifier or {})},
                **flags,
            },
        ),
    )
