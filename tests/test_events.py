"""Action events: rules, the detector (per person, held for a time), the JSON-lines log with
snapshots, the --on-event command (its input, and one that hangs is cut off without holding
anything up) and python -m app.watch end to end on a generated video."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from card_helpers import save_plain
from mjpeg_server import MjpegServer
from pose_helpers import astronaut_video
from shared_paths import REPO_ROOT
from video_set_helpers import moving_person

from app.events import EventCommand, EventDetector, EventLog, EventRule, FrameRing
from app.watch import _CtrlC
from app.watch import main as watch
from common.errors import UserError
from model import ModelConfig, build_model
from ntu.labels import class_names
from pipeline import Prediction

pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py
CLASSES = ["walking", "falling", "sitting down"]
EVENT_KEYS = {
    "event",
    "rule",
    "label",
    "index",
    "person",
    "start",
    "end",
    "duration",
    "peak_score",
    "peak_time",
    "source",
    "logged_at",
    "snapshot",
}


def prediction(end: float, falling: float) -> Prediction:
    """A prediction for a window ending at `end` with the given score for "falling"."""
    probs = np.array([(1 - falling) / 2, falling, (1 - falling) / 2])
    return Prediction(probs, probs, end - 3.3, end, 100, 0.5, 1.0, 1.0, CLASSES)


def test_rules_are_read_and_name_one_class():
    rule = EventRule.parse("falling >= 0.6 for 1 s")
    assert (rule.label, rule.threshold, rule.hold_s) == ("falling", 0.6, 1.0)
    assert EventRule.parse("drink water>=0.5") == EventRule("drink water", 0.5, 0.0)
    ntu60 = class_names("ntu60")
    assert EventRule.parse("Falling>=0.5").class_index(ntu60) == ntu60.index("falling")
    assert EventRule.parse("drink>=0.5").class_index(ntu60) == ntu60.index("drink water")
    for text, words in (
        ("falling", "CLASS>=SCORE"),
        ("falling>=1.5", "(0, 1]"),
        ("flying>=0.5", "no class"),
        ("wear>=0.5", "several classes"),
    ):
        with pytest.raises(UserError) as raised:
            EventRule.parse(text).class_index(ntu60)
        assert words in str(raised.value) and "\n" not in str(raised.value)


def test_an_event_is_a_run_that_held_per_person():
    detector = EventDetector([EventRule.parse("falling>=0.6 for 1s")], CLASSES, "cam")
    times = (4.0, 4.5, 5.0, 5.5, 6.0, 6.5)
    frames = {t: np.full((4, 4, 3), int(10 * t), np.uint8) for t in times}
    for t, score in ((4.0, 0.7), (4.5, 0.9), (5.0, 0.65)):
        assert detector.update(prediction(t, score), 1, frames[t]) == []
    [event] = detector.update(prediction(5.5, 0.2), 1, frames[5.5])
    assert (event.label, event.person, event.end, event.peak_score) == ("falling", 1, 5.0, 0.9)
    assert event.start == pytest.approx(0.7) and event.peak_time == 4.5
    assert event.peak_frame is frames[4.5] and event.source == "cam"
    # person 2 holds it for 0.5 s only, then the source ends: no event
    assert detector.update(prediction(6.0, 0.7), 2, frames[6.0]) == []
    assert detector.update(prediction(6.5, 0.8), 2, frames[6.5]) == [] and detector.finish() == []
    # another main person ends a person's run: person 3's held run becomes an event
    for t in (7.0, 8.0):
        detector.update(prediction(t, 0.9), 3)
    [ended] = detector.update(prediction(8.5, 0.9), 4)
    assert ended.person == 3 and ended.number == 2


def test_the_frame_ring_gives_the_frame_a_window_ended_on():
    ring = FrameRing(seconds=1.0, max_width=8, max_frames=5)
    for t in range(60):
        ring.add(t / 20, np.full((8, 16, 3), t, np.uint8))  # 20 a second: every 4th is kept
    assert ring.at(2.55)[0, 0, 0] == 48 and ring.at(2.55).shape == (4, 8, 3)
    assert ring.at(2.45)[0, 0, 0] == 48 and ring.at(2.35)[0, 0, 0] == 44
    assert ring.at(0.0)[0, 0, 0] == 36  # older than kept: the oldest kept


def test_the_log_is_json_lines_with_snapshots(tmp_path):
    detector = EventDetector([EventRule.parse("falling>=0.5")], CLASSES, "clip.mp4")
    log = EventLog(tmp_path / "events.jsonl")
    frame = np.zeros((48, 64, 3), np.uint8)
    detector.update(prediction(2.0, 0.8), 0, frame)
    for event in detector.update(prediction(2.5, 0.1), 0, frame) + [
        *detector.update(prediction(3.0, 0.9), 0, None),
        *detector.finish(),
    ]:
        log.write(event)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == [1, 2]
    assert all(set(r) == EVENT_KEYS for r in records)
    assert records[0]["label"] == "falling" and records[0]["rule"] == "falling>=0.5"
    assert cv2.imread(records[0]["snapshot"]).shape == (48, 64, 3)
    assert records[1]["snapshot"] is None  # no frame was kept for it


def test_the_command_gets_the_event_and_a_hanging_one_is_cut_off(tmp_path):
    detector = EventDetector([EventRule.parse("falling>=0.5")], CLASSES)
    detector.update(prediction(2.0, 0.8), 3)
    [event] = detector.finish()
    out = tmp_path / "got.txt"
    writer = (
        "import json, os, sys; e = json.load(sys.stdin); "
        f"open({str(out)!r}, 'w').write(e['label'] + ' ' + os.environ['SHIFTGCN_EVENT_PERSON'])"
    )
    command = EventCommand([sys.executable, "-c", writer], timeout_s=30)
    command.submit(event)
    command.close()
    assert out.read_text() == "falling 3" and command.problems == []

    problems: list[str] = []
    sleeper = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(60)']); time.sleep(60)"
    )
    hanging = EventCommand([sys.executable, "-c", sleeper], 1.0, problems.append)
    began = time.perf_counter()
    hanging.submit(event)
    hanging.submit(event)
    submitted = time.perf_counter() - began
    hanging.close()
    waited = time.perf_counter() - began
    assert (
        problems
        == [
            f"on-event command {hanging.argv[0].rsplit('/', 1)[-1]} ran past 1 s "
            f"for event {event.number}: cut off"
        ]
        * 2
    )
    assert submitted < waited / 10  # recognition never waited for the command

    failing = EventCommand([sys.executable, "-c", "import sys; sys.exit('no mail server')"])
    failing.submit(event)
    failing.close()
    assert "failed" in failing.problems[0] and "no mail server" in failing.problems[0]


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A small untrained Shift-GCN whose classes include "falling"."""
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    config = ModelConfig(num_class=len(CLASSES), channels=(16, 32), strides=(1, 2))
    save_plain(path, build_model(config), class_names=CLASSES)
    return path


def test_watch_logs_events_and_cuts_a_hanging_command_off(tmp_path, capsys, small_checkpoint):
    video = astronaut_video(tmp_path / "person.mp4", count=48)
    log = tmp_path / "events.jsonl"
    hang = f"{sys.executable} -c 'import time; time.sleep(60)'"
    status = watch(
        [
            str(video),
            "--rule",
            "falling>=0.001",
            "--rule",
            "walking>=0.001 for 0.2s",
            "--events",
            str(log),
            "--weights",
            str(small_checkpoint),
            "--device",
            "cpu",
            "--set",
            "classifier.window=16",
            "--set",
            "classifier.stride=8",
            "--on-event",
            hang,
            "--on-event-timeout",
            "0.5",
        ]
    )
    out = capsys.readouterr()
    assert status == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and {r["label"] for r in records} <= {"falling", "walking"}
    assert all(set(r) == EVENT_KEYS and r["source"] == str(video) for r in records)
    assert all(cv2.imread(r["snapshot"]).shape == (256, 256, 3) for r in records)
    assert f"{len(records)} events logged to {log}" in out.out
    assert out.err.count("cut off") == len(records)


def test_watch_refuses_a_bad_rule_in_one_line(tmp_path, capsys, small_checkpoint):
    status = watch([str(tmp_path / "x.mp4"), "--rule", "falling", "--events", str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert (
        status == 1 and err.startswith("error: cannot read the event rule") and err.count("\n") == 1
    )


def test_ctrl_c_ends_the_watch_with_the_open_events_logged(tmp_path, small_checkpoint):
    """A watch on a network stream, interrupted while an event is still open (every prediction
    qualifies): it exits 0 and the log holds that event, complete."""
    server = MjpegServer(moving_person("sway", 20), per_connection=[100_000])
    log = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.watch",
            server.url,
            "--rule",
            "walking>=0.0001",
            "--events",
            str(log),
            "--weights",
            str(small_checkpoint),
            "--device",
            "cpu",
            "--set",
            "classifier.window=16",
            "--set",
            "classifier.stride=4",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C reaches it even where the test runner was started in the background, whose
        # children inherit an ignored SIGINT (Python then never raises KeyboardInterrupt)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while server.sent < 150 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        server.kill()
    assert process.returncode == 0, err
    assert "stopped (Ctrl-C)" in err and f"1 events logged to {log}" in out
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["label"] == "walking" and record["end"] > record["start"]
    assert cv2.imread(record["snapshot"]) is not None


def test_a_first_ctrl_c_asks_the_watch_to_stop_and_a_second_interrupts():
    """The first Ctrl-C only sets the stop event (the watch ends after the frame in hand, its
    log complete); a second raises at once; the earlier handler comes back afterwards."""
    before = signal.getsignal(signal.SIGINT)
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt), _CtrlC(stop) as ctrl_c:
        signal.raise_signal(signal.SIGINT)
        assert stop.wait(5) and ctrl_c.pressed
        signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
