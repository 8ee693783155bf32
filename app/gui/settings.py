"""The GUI's settings: its own (defaults here, app/gui/gui.yaml overriding, read once at start)
and what one run uses (the controls' values, defaulting to the pipeline's YAML)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.events import EventRule
from common.errors import UserError
from common.settings import settings_from_dict
from common.yaml_files import read_yaml
from pipeline import PipelineSettings, load_settings

GUI_YAML = Path(__file__).resolve().parent / "gui.yaml"


@dataclass(frozen=True)
class TeachSettings:
    """The Teach panel: its folder (beside the window's output), countdown, clip length, and
    training keys over train.from_videos' default recipe, train/configs/few_shot.yaml (e.g.
    {few_shot: {classifier: logistic}}, or {recipe: sgd, epochs: 5})."""

    folder: str = "shiftgcn-teach"  # holds clips/<class>/, models/<time>/ and skeletons/
    countdown_s: int = 3  # seconds between Record and the clip's start
    clip_s: int = 3  # length of a clip
    training: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GuiSettings:
    """The desktop GUI's own settings; the pipeline's (checkpoint, device, window, pose,
    classifier) are pipeline/configs/pipeline.yaml's."""

    source: str = "0"  # camera index, or a video file
    # below this confidence the action reads "no known action": with the calibrated temperature,
    # 69 % of the development set's right windows and none of a non-NTU clip's reach 0.25
    threshold: float = 0.25
    top_k: int = 5  # bars in the live chart
    recorded_top_k: int = 3  # classes written onto recorded video frames
    stats_interval_ms: int = 500  # how often the rates refresh
    realtime_video: bool = True  # play video files at their own frame rate (false: at once)
    # action event rules (app.events), e.g. ["falling>=0.3 for 1s"]: events fill the Events list
    event_rules: list[str] = field(default_factory=list)
    event_log: str = "shiftgcn-events.jsonl"  # appended to, in the output folder
    teach: TeachSettings = field(default_factory=TeachSettings)

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("threshold", self.threshold, 0.0, 1.0),
            ("top_k", self.top_k, 1, 20),
            ("recorded_top_k", self.recorded_top_k, 0, 20),
            ("stats_interval_ms", self.stats_interval_ms, 50, 10_000),
        ):
            if not low <= value <= high:
                raise UserError(f"{name} {value} is outside [{low}, {high}]")
        self.rules()

    def rules(self) -> list[EventRule]:
        """The event rules, parsed (one UserError line for one that cannot be read)."""
        return [EventRule.parse(str(text)) for text in self.event_rules]


def load_gui_settings(path: str | Path = GUI_YAML) -> GuiSettings:
    """The GUI's settings: GuiSettings' defaults with the keys of the YAML file at `path` on top."""
    return settings_from_dict(GuiSettings, read_yaml(path), str(path))


@dataclass
class RunSettings:
    """What one run uses: the source, the checkpoint, the device, the window, the threshold,
    whether the source is a mirror image and whether either hand reads alike; `pipeline` holds
    the rest (the settings run_demo's --config and --set gave), which these fields override."""

    source: str
    weights: str
    device: str
    window: int
    threshold: float
    mirror: bool
    either_hand: bool
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)

    @classmethod
    def defaults(cls, gui: GuiSettings, pipeline: PipelineSettings | None = None) -> RunSettings:
        """The GUI's source and threshold with the pipeline settings' checkpoint, device, window
        and handedness (default: pipeline/configs/pipeline.yaml's)."""
        pipeline = pipeline or load_settings()
        return cls(
            source=gui.source,
            weights=pipeline.weights_name(),
            device=pipeline.device,
            window=pipeline.classifier.window,
            threshold=gui.threshold,
            mirror=pipeline.tracker.mirror,
            either_hand=pipeline.classifier.either_hand,
            pipeline=pipeline,
        )

    def pipeline_config(self) -> PipelineSettings:
        """The pipeline's settings for this run: `pipeline` with these choices on top (`weights`
        still a name or path: the worker resolves it, downloading if need be)."""
        base = self.pipeline
        return dataclasses.replace(
            base,
            weights=self.weights,
            device=self.device,
            tracker=dataclasses.replace(base.tracker, mirror=self.mirror),
            classifier=dataclasses.replace(
                base.classifier, window=self.window, either_hand=self.either_hand
            ),
        )
