"""Network cameras: an MJPEG stream served on 127.0.0.1 by the test goes through the live path
(app.api.Recognizer.stream) into predictions; a stream cut and then killed mid-stream is
reopened, then ends cleanly; a URL that never answers is one line after a bounded wait."""

from __future__ import annotations

import socket

import pytest
from card_helpers import save_plain
from mjpeg_server import MjpegServer
from video_set_helpers import moving_person

from app.api import Recognizer
from common.errors import UserError
from model import ModelConfig, build_model
from pipeline import load_settings
from pipeline.sources import NetworkSource, StreamSettings, is_stream_url, open_source

pytestmark = pytest.mark.usefixtures("keep_torch_threads")  # conftest.py
QUICK_STREAM = {
    "open_timeout_s": 5.0,
    "read_timeout_s": 2.0,
    "retry_first_s": 0.2,
    "retry_max_s": 0.4,
    "give_up_after_s": 1.5,
}


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A small untrained Shift-GCN with named classes (fast; no shared files needed)."""
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    config = ModelConfig(num_class=3, channels=(16, 32), strides=(1, 2))
    save_plain(path, build_model(config), class_names=["sway", "bob", "stand"])
    return path


def recognizer(checkpoint) -> Recognizer:
    """A live recogniser with a short window, so that two seconds of stream give predictions."""
    settings = load_settings(
        overrides={
            "weights": str(checkpoint),
            "device": "cpu",
            "classifier": {"window": 16, "stride": 4, "min_frames": 4},
            "stream": QUICK_STREAM,
        }
    )
    return Recognizer(settings, live=True)


def test_stream_urls_are_told_from_files_and_cameras():
    assert is_stream_url("rtsp://10.0.0.2:554/live") and is_stream_url("HTTPS://cam/x.m3u8")
    assert not is_stream_url("clip.mp4") and not is_stream_url("0") and not is_stream_url(3)


def test_an_mjpeg_stream_gives_live_predictions(small_checkpoint):
    server = MjpegServer(moving_person("sway", 20), per_connection=[75])
    with recognizer(small_checkpoint) as live:
        predictions = list(live.stream(server.url))
    assert len(predictions) >= 2
    assert all(p.label in ("sway", "bob", "stand") and 0 <= p.score <= 1 for p in predictions)
    assert all(p.person >= 0 and len(p.top5) == 3 for p in predictions)
    ends = [p.end for p in predictions]
    assert ends == sorted(ends) and live.dropped >= 0


def test_a_stream_cut_then_killed_is_reopened_then_ends_cleanly(small_checkpoint):
    """Connection 1 is cut after 45 frames: the source reconnects (the status says so) and
    predictions continue; the server is then killed: reconnecting fails until give_up_after_s
    and the stream ends without an error."""
    server = MjpegServer(moving_person("bob", 20), per_connection=[45, 45])
    messages: list[str] = []
    source = open_source(server.url, StreamSettings(**QUICK_STREAM), messages.append)
    assert isinstance(source, NetworkSource)
    with recognizer(small_checkpoint) as live:
        predictions = list(live.stream(source, on_status=messages.append))
    assert server.killed.is_set() and server.connections == 2
    assert source.reconnects == 1 and source.drops == 2
    assert any("reconnecting in" in m for m in messages)
    assert any("reconnected" in m for m in messages)
    reconnected_at = next(i for i, m in enumerate(messages) if "reconnected" in m)
    assert any("lost" in m for m in messages[reconnected_at + 1 :])  # the kill, retried
    assert len(predictions) >= 2


def test_a_url_that_never_answers_is_one_line():
    """A server that accepts the connection and never replies: refused after open_timeout_s."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/stream"
    try:
        with pytest.raises(UserError) as raised:
            NetworkSource(url, StreamSettings(open_timeout_s=1.0, read_timeout_s=1.0))
    finally:
        silent.close()
    message = str(raised.value)
    assert "\n" not in message and url in message and "within 1 s" in message
