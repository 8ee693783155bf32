"""Action events in the window's pipeline worker: the rules of gui.yaml turn its predictions
into logged events with snapshots, emitted for the Events list; a network source's drops reach
the window as messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import pytest
from mjpeg_server import MjpegServer
from shared_paths import REPO_ROOT
from test_gui_workers import _captured, _ClipPipeline
from video_set_helpers import moving_person

from app.events import EventRule
from app.gui.media import LiveSource
from app.gui.settings import GuiSettings, RunSettings
from app.gui.workers import EventSettings, PipelineWorker, RateMeter
from common.errors import UserError
from pipeline.live import LiveCallbacks, LiveLoop
from pipeline.sources import FrameBuffer, StreamSettings


def test_the_worker_logs_events_and_emits_them(tmp_path) -> None:
    log = tmp_path / "events.jsonl"
    buffer = FrameBuffer(3)
    meters = {name: RateMeter() for name in ("capture", "pose", "inference")}
    worker = PipelineWorker(
        RunSettings.defaults(GuiSettings()),
        {},
        2,
        buffer,
        meters,
        build=lambda settings, config, progress: _ClipPipeline(predict_at=1),
        events=EventSettings([EventRule.parse("wave>=0.5"), EventRule.parse("clap>=0.5")], log),
    )
    emitted = []
    worker.event_ready.connect(emitted.append)
    for i in range(3):
        buffer.put(_captured(i, size=8, grey=60))
    buffer.close()
    worker.run()
    [event] = emitted  # wave at 0.9 in both predictions; clap never
    assert (event.label, event.end, event.peak_score, event.person) == ("wave", 99.0, 0.9, -1)
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["snapshot"] == event.snapshot and record["label"] == "wave"
    assert cv2.imread(event.snapshot).shape == (8, 8, 3)


def test_a_rule_that_cannot_be_read_is_refused_with_the_gui_settings() -> None:
    assert [str(r) for r in GuiSettings(event_rules=["falling>=0.6 for 1s"]).rules()] == [
        "falling>=0.6 for 1s"
    ]
    with pytest.raises(UserError, match="cannot read the event rule"):
        GuiSettings(event_rules=["falling above 0.6"])


def test_the_window_hears_of_a_stream_that_drops_and_comes_back() -> None:
    """The live loop's capture over a network stream that is cut once and then killed: its
    messages (the worker's, the window's banner) say it is reconnecting, that it is back, and
    finally that it is lost."""
    server = MjpegServer(moving_person("sway", 10), per_connection=[20, 20])
    stream = StreamSettings(retry_first_s=0.2, retry_max_s=0.4, give_up_after_s=1.0)
    buffer = FrameBuffer(100)
    messages: list[tuple[str, str]] = []
    loop = LiveLoop(
        buffer,
        LiveCallbacks(message=lambda kind, text: messages.append((kind, text))),
        open_source=lambda say: LiveSource(server.url, True, stream, say),
    )
    loop.capture()
    texts = [text for _, text in messages]
    assert texts[0].startswith(f"playing stream {server.url}")
    assert any("reconnecting in 0.2 s (attempt 1)" in t for t in texts)
    assert any("reconnected" in t for t in texts)
    assert messages[-1][0] == "error" and "not back within 1 s" in messages[-1][1]
    assert buffer.closed is False and buffer.dropped == 0  # 40 frames wait for processing


EVENT_LIST_SCRIPT = """
import numpy as np
from app.gui.qtenv import prepare_qt_environment
prepare_qt_environment()
from PyQt5.QtWidgets import QApplication
from app.events import Event
from app.gui.widgets import EventList
app = QApplication([])
events = EventList()
for number, frame in ((1, np.full((90, 160, 3), 200, np.uint8)), (2, None)):
    events.add_event(Event(number, "falling>=0.6", "falling", 42, 3, 1.0, 4.5, 0.83, 4.0,
                           snapshot="/x/event.png" if frame is not None else None,
                           peak_frame=frame))
top, below = events.item(0), events.item(1)
print(events.count(), repr(top.text()), top.icon().isNull(), below.icon().isNull(),
      below.toolTip())
"""


@pytest.mark.gui
def test_the_events_list_shows_the_newest_first_with_its_snapshot(qt_display) -> None:
    env = {**os.environ, **qt_display, "PYTHONPATH": str(REPO_ROOT)}
    env = {key: value for key, value in env.items() if value != ""}
    run = subprocess.run(
        [sys.executable, "-c", EVENT_LIST_SCRIPT],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == (
        "2 'falling 83%\\n1.0-4.5 s · person 3' True False /x/event.png"
    )


@pytest.mark.gui
@pytest.mark.slow
def test_run_demo_plays_a_network_stream_until_it_is_lost(qt_display, tmp_path) -> None:
    """run_demo.py --source URL: frames and predictions from an MJPEG stream on 127.0.0.1; when
    the server is killed the banner says the stream is lost, after the reconnecting tries, and
    the smoke run exits 1 (a run that ended on a fault, as for a camera unplugged)."""
    from gui_helpers import person_frames, random_checkpoint, run_demo

    server = MjpegServer(person_frames(30), per_connection=[150], fps=15)
    checkpoint = random_checkpoint(tmp_path / "untrained.pt")
    run = run_demo(
        [
            "--source",
            server.url,
            "--weights",
            str(checkpoint),
            "--device",
            "cpu",
            "--set",
            "stream.give_up_after_s=2",
            "--quit-after",
            "60",
        ],
        qt_display,
        tmp_path,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]  # a fault
    assert run.number("frames shown") >= 1 and run.number("predictions") >= 1
    assert run.summary["banner"].startswith(f"stream {server.url} lost after 150 frames")
