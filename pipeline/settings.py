"""The pipeline's typed settings: the dataclasses' defaults are the one home of its values;
pipeline/configs/pipeline.yaml, a user's YAML and overrides (--set key.sub=value) replace
single keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import weights
from common.device import DEVICE_CHOICES
from common.errors import UserError
from common.limits import check_size, max_workers
from common.settings import settings_from_dict
from common.yaml_files import deep_merge, read_yaml
from model.runtime import RUNTIMES
from pose import PoseSettings, TrackerSettings

from .classifier import ClassifierSettings
from .sources import StreamSettings

MAX_FRAME_BUFFER = 300  # camera frames (10 s at 30 fps)
SITE_CONFIG = Path(__file__).resolve().parent / "configs" / "pipeline.yaml"


@dataclass
class LiveSettings:
    """How the live app shares the CPU between pose and the model."""

    background_inference: bool = True  # run the model in its own thread, pose on every frame
    torch_threads: int = 1  # intra-op threads for the model in the live app (0: torch's own)
    frame_buffer: int = 2  # camera frames waiting for pose; when full the oldest is dropped

    def __post_init__(self) -> None:
        check_size("live torch_threads", self.torch_threads, 0, max_workers())
        check_size("live frame_buffer", self.frame_buffer, 1, MAX_FRAME_BUFFER)


@dataclass
class SummarySettings:
    """How a recorded video's windows become its top-5 (app.classify_video)."""

    # share of a class's video score that comes from its clearest stretch of windows rather than
    # from the mean over all of them, so that a short action (a fall, a kick, a sit-down) is not
    # averaged away by the seconds around it (0: the weighted mean alone; docs/accuracy.md)
    peak_weight: float = 0.5
    peak_span: float = 1.0  # seconds of consecutive window ends that make one stretch
    # below this top-1 score the video reads "no known action" (0: always name the top-1); with
    # the calibrated temperature, a video of no NTU action (arm wrestling) scores 0.077 and the
    # real sets' right answers 0.10 and more (python -m bench.real_set, docs/accuracy.md)
    unknown_below: float = 0.08

    def __post_init__(self) -> None:
        for name, low, high in (
            ("peak_weight", 0.0, 1.0),
            ("peak_span", 0.0, 60.0),
            ("unknown_below", 0.0, 1.0),
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not low <= value <= high:
                raise UserError(f"bad summary settings: {name}={value!r} (in [{low}, {high}])")


@dataclass
class PipelineSettings:
    """Everything the frames -> actions pipeline is built from (build_pipeline)."""

    weights: str | None = None  # registry name or checkpoint path; None: the registry's default
    device: str = DEVICE_CHOICES[0]  # auto | cpu | cuda
    # torch | onnx (ONNX Runtime, CPU only: python -m bench.model) | int8 (ONNX Runtime with
    # int8 matrix products, CPU only, faster; a window's top-1 agrees with fp32's in only 56-87 %
    # of real windows, hence not the default: python -m bench.int8, docs/speed.md)
    runtime: str = RUNTIMES[0]
    # runtime int8: a folder of .npy skeletons of real people (classify_video --save-skeleton)
    # whose windows calibrate the int8 model, built on first use once per checkpoint into the
    # user's cache (shiftgcn-live/int8/, beside the checkpoint digests; delete it to recalibrate)
    int8_calibration: str | None = None
    pose: PoseSettings = field(default_factory=PoseSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)
    stream: StreamSettings = field(default_factory=StreamSettings)  # network cameras

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise UserError(
                f"unknown runtime {self.runtime!r}; expected one of {', '.join(RUNTIMES)}"
            )

    def weights_name(self) -> str:
        """The checkpoint to load: the one named, else the registry's default."""
        return self.weights or weights.default_name()


def load_settings(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> PipelineSettings:
    """The defaults, overlaid by pipeline/configs/pipeline.yaml, a user's YAML file and `overrides`
    (a nested mapping). A wrong key or value is one UserError line naming it and its source."""
    layers: list[tuple[str, dict[str, Any]]] = [(f"config {SITE_CONFIG}", read_yaml(SITE_CONFIG))]
    if path is not None:
        layers.append((f"config {path}", read_yaml(path)))
    if overrides:
        layers.append(("the settings given", overrides))
    data: dict[str, Any] = {}
    settings = PipelineSettings()
    for where, layer in layers:
        data = deep_merge(data, layer)
        settings = settings_from_dict(PipelineSettings, data, where)
    return settings
