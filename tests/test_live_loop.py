"""The live loop (pipeline.live): a generated video file stands in for a camera, pose is a stand-in;
the loop gives what the frame pipeline gives frame by frame, ends with the source or when
stopped, reports failures in one line; the GUI's worker and bench.pipeline's live figure run
this very loop."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import empty_frames, write_video
from pose_helpers import person_from_world, standing_world, streaming
from test_pipeline import FakeModel

from app.gui.media import LiveSource
from app.gui.settings import GuiSettings, RunSettings
from app.gui.workers import PipelineWorker
from common.errors import UserError
from pipeline import FramePipeline, FrameResult, Prediction
from pipeline.live import Captured, LiveCallbacks, LiveLoop, RateMeter
from pipeline.sources import Frame, FrameBuffer
from pose import BodyTracker

FPS = 30.0


class SwayingPerson:
    """A pose estimator stand-in: one standing person, swaying a little more every call."""

    def __init__(self) -> None:
        self.calls = 0

    def estimate(self, _frame: np.ndarray) -> list:
        world = standing_world()
        world[:, 0] += 0.02 * np.sin(self.calls / 3)
        self.calls += 1
        return [person_from_world(world)]

    def reset(self) -> None:
        self.calls = 0

    def close(self) -> None:
        pass


def frame_pipeline(finishes: list[int] | None = None) -> FramePipeline:
    """Stand-in pose, the real tracker and streaming classifier (a stand-in network, short
    windows); `finishes` counts calls of finish()."""
    classifier = streaming(FakeModel(), window=16, stride=4, min_frames=8, pad_to=0)
    pipeline = FramePipeline(SwayingPerson(), BodyTracker(), classifier)
    if finishes is not None:
        finish = pipeline.finish
        pipeline.finish = lambda: finishes.append(1) or finish()
    return pipeline


class Heard:
    """Everything a loop told its callbacks."""

    def __init__(self) -> None:
        self.frames: list[tuple[Frame, FrameResult]] = []
        self.predictions: list[Prediction] = []
        self.messages: list[tuple[str, str]] = []
        self.ends = 0

    def callbacks(self) -> LiveCallbacks:
        def end() -> None:
            self.ends += 1

        return LiveCallbacks(
            frame=lambda frame, result: self.frames.append((frame, result)),
            prediction=self.predictions.append,
            message=lambda kind, text: self.messages.append((kind, text)),
            end=end,
        )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "camera.mp4", empty_frames(30, size=64), fps=FPS)


def test_the_loop_gives_what_the_pipeline_gives_frame_by_frame(clip: Path) -> None:
    """A video played as a camera (in real time, through the capture thread and a buffer deep
    enough to drop nothing): every frame processed in order, the predictions of the same
    pipeline fed the same frames directly, the final one over the last frames, the source's
    messages, one end."""
    heard = Heard()
    loop = LiveLoop(
        FrameBuffer(64),
        heard.callbacks(),
        open_source=lambda say: LiveSource(str(clip), realtime=True, on_status=say),
    )
    loop.run(frame_pipeline())

    direct = frame_pipeline()
    expected = [
        result.prediction
        for index in range(30)
        if (result := direct.process(np.zeros((64, 64, 3), np.uint8), index / FPS)).new_prediction
    ] + [direct.finish()]
    assert [frame.index for frame, _ in heard.frames] == list(range(30))
    assert [p.timestamp for p in heard.predictions] == [p.timestamp for p in expected]
    for got, want in zip(heard.predictions, expected):
        np.testing.assert_allclose(got.raw_probs, want.raw_probs, atol=1e-6)
    assert heard.messages == [
        ("status", "playing camera.mp4 64x64 @ 30 fps"),
        ("info", "video ended after 30 frames; press Start to play it again"),
    ]
    assert heard.ends == 1 and loop.fps == FPS and loop.delivered == 30
    assert all(result.timings["wait_ms"] >= 0 for _, result in heard.frames)
    assert all(p.latency_ms > 0 for p in heard.predictions[:-1])
    assert loop.meters["capture"].rate() and loop.meters["pose"].rate()
    assert loop.meters["inference"].rate()
    assert not any(t.name == "capture" for t in threading.enumerate())


def test_a_stopped_loop_ends_soon_without_a_final_prediction(tmp_path: Path) -> None:
    """Stopped while a 10 s video plays: run() returns before its end, the capture thread is
    over and no prediction of the last frames comes (that is for a source that ran out)."""
    video = write_video(tmp_path / "long.mp4", empty_frames(300, size=64), fps=FPS)
    heard, finishes = Heard(), []
    loop = LiveLoop(
        FrameBuffer(1), heard.callbacks(), open_source=lambda say: LiveSource(str(video))
    )
    threading.Timer(0.8, loop.stop).start()
    loop.run(frame_pipeline(finishes))
    assert 0 < len(heard.frames) < 300 and finishes == [] and heard.ends == 1
    assert heard.messages[-1][0] == "status"  # no "video ended"
    assert not any(t.name == "capture" for t in threading.enumerate())


def test_a_source_that_does_not_open_is_one_error_line() -> None:
    heard = Heard()

    def no_camera(_say):
        raise UserError("no camera 3: check that it is plugged in")

    loop = LiveLoop(FrameBuffer(1), heard.callbacks(), open_source=no_camera)
    loop.run(frame_pipeline())
    assert heard.messages == [("error", "no camera 3: check that it is plugged in")]
    assert heard.frames == [] and heard.predictions == [] and heard.ends == 1


def test_a_failing_pipeline_is_reported_and_capture_stops(clip: Path) -> None:
    """A pipeline that fails on a frame ends the run with one message; the capture thread,
    reading a video in real time, is stopped and joined."""
    pipeline = frame_pipeline()

    def broken(*_args, **_kwargs):
        raise RuntimeError("out of memory")

    pipeline.process = broken
    heard = Heard()
    loop = LiveLoop(
        FrameBuffer(1), heard.callbacks(), open_source=lambda say: LiveSource(str(clip))
    )
    loop.run(pipeline)
    assert ("error", "processing stopped: RuntimeError: out of memory") in heard.messages
    assert heard.ends == 1 and loop.stopped
    assert not any(t.name == "capture" for t in threading.enumerate())


def test_frames_put_by_someone_else_are_processed_until_the_buffer_closes() -> None:
    """Without a source the loop processes what others put into its buffer."""
    buffer: FrameBuffer[Captured] = FrameBuffer(8)
    for index in range(8):
        image = np.zeros((8, 8, 3), np.uint8)
        buffer.put(Captured(Frame(image, index / FPS, index, 0.0), time.perf_counter()))
    buffer.close()
    heard = Heard()
    LiveLoop(buffer, heard.callbacks()).run(frame_pipeline())
    assert [frame.index for frame, _ in heard.frames] == list(range(8))
    assert [p.timestamp for p in heard.predictions] == [7 / FPS]  # min_frames 8: the end's


def test_bench_live_figure_runs_the_gui_workers_loop() -> None:
    """bench.pipeline's live figures come from the very loop class the GUI's worker runs, over
    its simulated camera; the figures are measured from the loop's callbacks."""
    from bench.pipeline import live_loop, measure_live

    meters = {name: RateMeter() for name in ("capture", "pose", "inference")}
    worker = PipelineWorker(RunSettings.defaults(GuiSettings()), {}, 2, FrameBuffer(1), meters)
    images = empty_frames(5, size=32)
    assert type(live_loop(images, 2)) is type(worker.loop) is LiveLoop
    figures = measure_live(images, frame_pipeline(), depth=2, seconds=1.0)
    assert figures["processed fps"] > 0 and 0 <= figures["dropped"] < 1
    assert figures["predictions/s"] > 0 and figures["latency ms"] > 0
    assert figures["wait ms"] >= 0 and figures["pose ms"] > 0
