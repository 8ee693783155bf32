"""The GUI's non-visual parts: frame hand-over, rates, image conversion, playback, recording,
settings, and the pipeline worker's frames and predictions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from gui_helpers import person_frames, random_checkpoint, write_video

from app.gui.media import LiveSource, Recorder
from app.gui.settings import GuiSettings, RunSettings, TeachSettings, load_gui_settings
from app.gui.workers import (
    Captured,
    PipelineWorker,
    RateMeter,
    build_live_pipeline,
    describe_model,
    to_qimage,
)
from common.device import DEVICE_CHOICES
from common.errors import UserError
from model import ModelCard
from pipeline import FrameResult, PipelineSettings, Prediction
from pipeline.sources import Frame, FrameBuffer


def _captured(index: int, size: int = 4, grey: int | None = None) -> Captured:
    """A plain frame numbered `index` (its grey level, unless given)."""
    image = np.full((size, size, 3), index if grey is None else grey, dtype=np.uint8)
    return Captured(Frame(image, index / 30, index, 0.0), time.perf_counter())


def test_frame_buffer_of_one_hands_over_the_newest_and_counts_the_dropped() -> None:
    buffer = FrameBuffer(1)
    for i in range(3):
        buffer.put(_captured(i))
    assert buffer.take(timeout=0.1).frame.index == 2
    assert buffer.dropped == 2
    assert buffer.take(timeout=0.01) is None and not buffer.closed
    buffer.put(_captured(3))
    buffer.close()
    assert not buffer.closed  # the last frame is still to be processed
    assert buffer.take(timeout=0.1).frame.index == 3
    assert buffer.closed and buffer.take(timeout=0.01) is None


def test_frame_buffer_of_two_keeps_the_newest_two_in_order() -> None:
    """A late frame is made up for: the one before the newest waits instead of being dropped."""
    buffer = FrameBuffer(2)
    for i in range(4):
        buffer.put(_captured(i))
    assert buffer.dropped == 2
    assert [buffer.take(timeout=0.1).frame.index for _ in range(2)] == [2, 3]
    assert buffer.take(timeout=0.01) is None


def test_frame_buffer_needs_room_for_a_frame() -> None:
    with pytest.raises(UserError, match="at least 1 frame"):
        FrameBuffer(0)


def test_frame_buffer_wakes_a_waiting_taker_on_close() -> None:
    buffer = FrameBuffer(2)
    results = []
    taker = threading.Thread(target=lambda: results.append(buffer.take(timeout=10)))
    taker.start()
    buffer.close()
    taker.join(timeout=5)
    assert not taker.is_alive() and results == [None]


def test_rate_meter_counts_events_per_second_in_its_window() -> None:
    meter = RateMeter(span_s=2.0)
    assert meter.rate() is None
    for i in range(11):
        meter.tick(now=100 + i * 0.1)  # 10 per second
    assert meter.rate() == pytest.approx(10.0)
    meter.tick(now=110.0)  # the old events fall out of the window
    assert meter.rate() is None


def test_to_qimage_keeps_pixels_and_colour_order() -> None:
    frame = np.zeros((6, 8, 3), dtype=np.uint8)
    frame[2, 3] = (255, 0, 0)  # blue in BGR
    image = to_qimage(frame[:, :, :])
    assert (image.width(), image.height()) == (8, 6)
    colour = image.pixelColor(3, 2)
    assert (colour.red(), colour.green(), colour.blue()) == (0, 0, 255)
    frame[2, 3] = 0
    assert image.pixelColor(3, 2).blue() == 255  # a deep copy: the worker may reuse its buffer


class _WaitLog(threading.Event):
    """A stop event that records how long it was asked to wait (the playback pacing)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


def test_live_source_plays_a_video_at_its_frame_rate(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", person_frames(10, size=64), fps=20.0)
    source = LiveSource(str(video), realtime=True)
    stop = _WaitLog()
    frames = list(source.frames(stop))
    source.close()
    assert [f.index for f in frames] == list(range(10))
    assert stop.waits and all(0 < w <= 1 / 20 + 1e-6 for w in stop.waits)  # paced, never ahead
    assert source.describe() == "clip.mp4 64x64 @ 20 fps"
    assert source.end_message() == (
        "info",
        "video ended after 10 frames; press Start to play it again",
    )


def test_live_source_stops_when_asked(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", person_frames(40, size=64), fps=10.0)
    source = LiveSource(str(video))
    stop = threading.Event()
    frames = []
    for frame in source.frames(stop):
        frames.append(frame)
        stop.set()
    source.close()
    assert len(frames) == 1


def test_recorder_fills_skipped_time_and_writes_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    recorder = Recorder(path, fps=10.0)
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    for timestamp in (0.0, 0.1, 0.4):  # the GUI skipped the frames at 0.2 and 0.3
        recorder.write(frame, timestamp)
    assert not path.exists()  # appears only when finished
    recorder.close()
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == recorder.frames == 5
    capture.release()


def test_recorder_without_frames_leaves_nothing(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "none.mp4", fps=10.0)
    recorder.close()
    assert list(tmp_path.iterdir()) == []


def test_run_settings_defaults_come_from_the_yaml_files() -> None:
    settings = RunSettings.defaults(load_gui_settings())
    assert settings.source == "0" and 0 < settings.threshold < 1
    assert settings.window >= 4 and settings.device in DEVICE_CHOICES


def test_gui_settings_are_the_defaults_with_the_yaml_on_top(tmp_path: Path) -> None:
    assert load_gui_settings() == GuiSettings()  # the shipped gui.yaml overrides nothing
    own = tmp_path / "gui.yaml"
    own.write_text("threshold: 1\nteach: {clip_s: 5, training: {epochs: 2}}\n")
    settings = load_gui_settings(own)
    assert settings.threshold == 1.0 and isinstance(settings.threshold, float)
    assert settings.teach == TeachSettings(clip_s=5, training={"epochs": 2})
    assert settings.top_k == GuiSettings().top_k  # what the file leaves out keeps its default


@pytest.mark.parametrize(
    "text, message",
    [
        ("top_k: many", "top_k: 'many' is not a whole number"),
        ("source: 0", "source: 0 is not a text"),
        (
            "teach: {seconds: 2}",
            "unknown setting 'teach.seconds'; known: folder, countdown_s, clip_s,",
        ),
        ("teach: 3", "teach must be a mapping of keys to values"),
        ("threshold: 1.5", "threshold 1.5 is outside [0.0, 1.0]"),
        ("realtime_video: 1", "realtime_video: 1 is not true or false"),
    ],
)
def test_gui_settings_refuse_a_bad_yaml_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    own = tmp_path / "gui.yaml"
    own.write_text(text + "\n")
    with pytest.raises(UserError) as caught:
        load_gui_settings(own)
    assert str(caught.value).startswith(f"{own}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def _prediction(timestamp: float, best: float = 0.9) -> Prediction:
    """A two-class prediction whose best class is 'wave'."""
    probs = np.array([best, 1 - best])
    return Prediction(
        probs=probs,
        raw_probs=probs,
        start=0.0,
        timestamp=timestamp,
        frames=3,
        motion=0.0,
        inference_ms=1.0,
        latency_ms=5.0,
        class_names=["wave", "clap"],
    )


class _ClipPipeline:
    """Stands in for FramePipeline on a clip: a prediction on frame `predict_at` (None: none
    before the end), then one over the last frames when the source runs out."""

    def __init__(self, predict_at: int | None = None, card: ModelCard | None = None) -> None:
        self.predict_at = predict_at
        self.finished = self.closed = False
        self.arrivals: list[float | None] = []
        self.classifier = SimpleNamespace(
            card=card or ModelCard(2, ["wave", "clap"], source="unknown"),
            class_names=["wave", "clap"],
            stream="joint",
            window=4,
            device="cpu",
            members=[],
        )

    def process(
        self,
        image: np.ndarray,
        timestamp: float,
        capture_ms: float = 0.0,
        arrival: float | None = None,
    ) -> FrameResult:
        self.arrivals.append(arrival)
        index = len(self.arrivals) - 1
        fresh = _prediction(timestamp) if index == self.predict_at else None
        return FrameResult(
            index=index,
            timestamp=timestamp,
            people=[],
            slots=[None, None],
            identities=[-1, -1],
            skeleton=np.zeros((3, 25, 2), np.float32),
            prediction=fresh,
            new_prediction=fresh is not None,
        )

    def finish(self) -> Prediction:
        self.finished = True
        return _prediction(99.0)

    def close(self) -> None:
        self.closed = True


def _run_worker(
    pipeline: _ClipPipeline,
    frames: int,
    stop_first: bool = False,
    depth: int = 1,
    recorder: Recorder | None = None,
    size: int = 4,
) -> tuple[list, list]:
    """Run a PipelineWorker in this thread over `frames` buffered frames; return (people per
    frame shown, predictions emitted)."""
    buffer = FrameBuffer(depth)
    meters = {name: RateMeter() for name in ("capture", "pose", "inference")}
    settings = RunSettings.defaults(GuiSettings())
    worker = PipelineWorker(
        settings, {}, 2, buffer, meters, build=lambda settings, config, progress: pipeline
    )
    shown, predictions = [], []
    worker.frame_ready.connect(lambda image, people: shown.append(people))
    worker.prediction_ready.connect(predictions.append)
    worker.set_recorder(recorder)
    for i in range(frames):
        buffer.put(_captured(i, size, grey=128 if recorder else None))
    buffer.close()
    if stop_first:
        worker.stop()
    worker.run()
    return shown, predictions


def test_a_source_that_runs_out_ends_on_a_prediction_of_its_last_frames() -> None:
    pipeline = _ClipPipeline()
    shown, predictions = _run_worker(pipeline, 3)
    assert shown == [0]  # a buffer of one keeps the newest frame
    assert [p.timestamp for p in predictions] == [99.0] and pipeline.finished and pipeline.closed


def test_the_worker_emits_the_pipelines_own_prediction_with_the_frames_arrival() -> None:
    """The Prediction object reaches the window as the pipeline made it (one source of the
    chart, the action and the latency), and the pipeline learns when each frame was read."""
    pipeline = _ClipPipeline(predict_at=1)
    shown, predictions = _run_worker(pipeline, 3, depth=3)
    assert shown == [0, 0, 0]
    assert [p.timestamp for p in predictions] == [1 / 30, 99.0]
    assert all(isinstance(p, Prediction) for p in predictions)
    assert all(a is not None and a <= time.perf_counter() for a in pipeline.arrivals)


def test_a_stopped_run_gives_no_final_prediction() -> None:
    pipeline = _ClipPipeline()
    shown, predictions = _run_worker(pipeline, 3, stop_first=True)
    assert shown == [] and predictions == [] and not pipeline.finished and pipeline.closed


def test_recorded_frames_carry_the_shown_prediction(tmp_path: Path) -> None:
    """An annotated recording draws the classes of the prediction on screen; the worker closes
    it when the run ends."""
    path = tmp_path / "rec.mp4"
    _run_worker(
        _ClipPipeline(predict_at=1), 4, depth=4, recorder=Recorder(path, fps=30.0), size=128
    )
    capture = cv2.VideoCapture(str(path))
    frames = [capture.read()[1] for _ in range(4)]
    capture.release()
    assert all(f is not None for f in frames)
    # frame 0 came before the prediction: plain grey; from frame 1 on, the classes' dark panel
    darkened = [128 - float(f[:20, :60].mean()) for f in frames]
    assert darkened[0] < 5 and all(d > 30 for d in darkened[1:]), darkened


def test_the_model_description_names_the_checkpoint_and_how_it_runs() -> None:
    released = ModelCard(
        2, ["wave", "clap"], source="released", dataset="ntu60", benchmark="xsub", accuracy=87.8
    )
    text = describe_model("ntu60-xsub-joint", _ClipPipeline(card=released))
    lines = text.splitlines()
    assert lines[0] == "ntu60-xsub-joint" and lines[1].startswith("NTU60 xsub")
    assert lines[2:] == [  # the model card's key facts, then how it runs
        "2 classes · joint stream",
        "windows looped to 300 frames at 30 fps",
        "skeletons: ntu-kinect-v2 (subject-left)",
        "window 4 frames · cpu",
    ]
    assert describe_model("/some/where/own.pt", _ClipPipeline()).splitlines()[:2] == [
        "own.pt",
        "2 classes · joint stream",
    ]
    voting = _ClipPipeline()
    voting.classifier.members = ["ntu60-xview-joint"]
    assert describe_model("ntu60-xsub-joint", voting).splitlines()[-1] == (
        "with ntu60-xview-joint voting"
    )


def test_mirror_and_either_hand_settings_reach_the_pipeline(tmp_path: Path) -> None:
    """The GUI's Mirrored source and Either hand boxes (and run_demo's flags) set the pipeline's
    tracker and classifier; the defaults come from the pipeline settings."""
    from app.gui.launch import build_parser, run_settings

    gui = GuiSettings()
    defaults = RunSettings.defaults(gui)
    pipeline_defaults = PipelineSettings()
    assert (defaults.mirror, defaults.either_hand) == (
        pipeline_defaults.tracker.mirror,
        pipeline_defaults.classifier.either_hand,
    )
    args = build_parser().parse_args(["--mirror", "--either-hand"])
    settings = run_settings(args, gui)
    assert settings.mirror and settings.either_hand
    assert not run_settings(build_parser().parse_args(["--no-either-hand"]), gui).either_hand
    settings.weights = str(random_checkpoint(tmp_path / "untrained.pt"))
    settings.device = "cpu"
    pipeline = build_live_pipeline(settings, settings.pipeline_config())
    try:
        assert pipeline.tracker.settings.mirror and pipeline.classifier.either_hand
        assert pipeline.classifier.window == settings.window
    finally:
        pipeline.close()
    flags = build_parser().parse_args(["--no-mirror"])
    assert not run_settings(flags, gui).mirror


def test_the_teach_worker_stops_at_the_next_report(monkeypatch, tmp_path):
    """Stop asked during training ends the run at the next epoch report: `stopped` says where,
    no checkpoint is reported, `finished` still comes; asked before the run, nothing starts."""
    import train.from_videos
    from app.gui.teach import TrainWorker

    epochs_run = []

    def fake_from_videos(*_args, on_video, on_epoch, **_kwargs):
        for done in (1, 2):
            on_video(done, 2)
        for epoch in range(1, 11):
            epochs_run.append(epoch)
            on_epoch({"epoch": epoch})
        return {"weights": "best.pt"}

    monkeypatch.setattr(train.from_videos, "from_videos", fake_from_videos)
    worker = TrainWorker(tmp_path, {"epochs": 10})
    seen = {"done": [], "stopped": [], "finished": 0}
    worker.done.connect(seen["done"].append)
    worker.stopped.connect(seen["stopped"].append)
    worker.finished.connect(lambda: seen.update(finished=seen["finished"] + 1))

    def stop_after_epoch_3(stage: str, done: int, _total: int) -> None:
        if (stage, done) == ("training", 3):
            worker.stop()

    worker.progress.connect(stop_after_epoch_3)
    worker.run()
    assert seen == {"done": [], "stopped": ["training 3/10"], "finished": 1}
    assert epochs_run == [1, 2, 3]

    epochs_run.clear()
    early = TrainWorker(tmp_path, {"epochs": 10})
    early.stopped.connect(seen["stopped"].append)
    early.stop()
    early.run()
    assert seen["stopped"][-1] == "before it began" and epochs_run == []
