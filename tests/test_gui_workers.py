"""The GUI's non-visual parts: frame hand-over, rates, image conversion, playback and recording."""
from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import person_frames, random_checkpoint, write_video

from app.gui.engine import Engine, EngineOutput, LiveSource, Recorder, RunSettings
from app.gui.workers import Captured, PipelineWorker, RateMeter, to_qimage
from app.sources import Frame, FrameBuffer
from common.device import DEVICE_CHOICES
from common.errors import UserError


def _captured(index: int) -> Captured:
    """A tiny frame numbered `index`."""
    image = np.full((4, 4, 3), index, dtype=np.uint8)
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
    assert source.end_message() == ("info", "video ended after 10 frames; press Start to play "
                                            "it again")


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
    settings = RunSettings.defaults()
    assert settings.source == "0" and 0 < settings.threshold < 1
    assert settings.window >= 4 and settings.device in DEVICE_CHOICES


class _ClipEngine:
    """Stands in for Engine on a clip shorter than a stride: no prediction until finish()."""

    def __init__(self) -> None:
        self.finished = False

    def describe(self) -> str:
        return "stand-in"

    def process(self, frame: Frame) -> EngineOutput:
        return EngineOutput(frame.image, 1, None, None)

    def finish(self) -> tuple[list[tuple[str, float]], float]:
        self.finished = True
        return [("wave", 0.9)], 0.1

    def close(self) -> None:
        """Nothing to release."""


def _run_worker(engine: _ClipEngine, stop_first: bool) -> tuple[list, list]:
    """Run a PipelineWorker in this thread over 3 frames; return (people per frame, predictions)."""
    buffer = FrameBuffer(1)
    meters = {name: RateMeter() for name in ("capture", "pose", "inference")}
    worker = PipelineWorker(lambda progress: engine, buffer, meters, deque())
    shown, predictions = [], []
    worker.frame_ready.connect(lambda image, people: shown.append(people))
    worker.prediction_ready.connect(predictions.append)
    for i in range(3):
        buffer.put(_captured(i))
    buffer.close()
    if stop_first:
        worker.stop()
    worker.run()
    return shown, predictions


def test_a_source_that_runs_out_ends_on_a_prediction_of_its_last_frames() -> None:
    engine = _ClipEngine()
    shown, predictions = _run_worker(engine, stop_first=False)
    assert shown == [1] and predictions == [[("wave", 0.9)]]  # a buffer of one keeps the newest
    assert engine.finished


def test_a_stopped_run_gives_no_final_prediction() -> None:
    engine = _ClipEngine()
    shown, predictions = _run_worker(engine, stop_first=True)
    assert shown == [] and predictions == [] and not engine.finished


def test_mirror_and_either_hand_settings_reach_the_pipeline(tmp_path: Path) -> None:
    """The GUI's Mirrored source and Either hand boxes (and run_demo's flags) set the pipeline's
    tracker and classifier; the defaults come from the pipeline YAML."""
    from app.gui.launch import build_parser, run_settings

    defaults = RunSettings.defaults()
    assert (defaults.mirror, defaults.either_hand) == (False, False)
    args = build_parser().parse_args(["--mirror", "--either-hand"])
    settings = run_settings(args)
    assert settings.mirror and settings.either_hand
    settings.weights = str(random_checkpoint(tmp_path / "untrained.pt"))
    settings.device = "cpu"
    engine = Engine(settings)
    try:
        assert engine.pipeline.tracker.mirror and engine.classifier.either_hand
    finally:
        engine.close()
    flags = build_parser().parse_args(["--no-mirror"])
    assert not run_settings(flags).mirror
