"""The demo clip (`--source demo`): fetched on first use from a fixed URL into the user's cache
folder, checked by its sha256 as checkpoints are, and one line to act on when offline."""

from __future__ import annotations

import hashlib
import re
import socket

import pytest
from local_server import PAYLOAD

from app import demo_clip
from common.errors import UserError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The user's cache folder, in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "shiftgcn-live" / "demo"


@pytest.fixture
def served_clip(server, monkeypatch):
    """The local server offers a stand-in clip under the demo's file name, registered as such."""
    base, folder = server
    (folder / demo_clip.FILE_NAME).write_bytes(PAYLOAD)
    monkeypatch.setattr(demo_clip, "SHA256", hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setattr(demo_clip, "SIZE", len(PAYLOAD))
    monkeypatch.setenv(demo_clip.URL_ENV, base)
    return folder / demo_clip.FILE_NAME


def test_fetched_once_into_the_cache_then_reused(cache, served_clip):
    path = demo_clip.demo_clip()
    assert path == cache / demo_clip.FILE_NAME and path.read_bytes() == PAYLOAD
    served_clip.unlink()  # the second use reads the cache, not the network
    assert demo_clip.resolve_source("demo") == str(path)
    assert demo_clip.resolve_source("clip.mp4") == "clip.mp4"
    assert sorted(p.name for p in cache.iterdir()) == [demo_clip.FILE_NAME]


def test_a_damaged_cached_or_served_clip_is_refused(cache, served_clip, monkeypatch):
    demo_clip.demo_clip()
    (cache / demo_clip.FILE_NAME).write_bytes(b"damaged")  # fetched again, whole
    assert demo_clip.demo_clip().read_bytes() == PAYLOAD
    (cache / demo_clip.FILE_NAME).unlink()
    served_clip.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(UserError, match="has sha256 .*, expected .*nothing was saved"):
        demo_clip.demo_clip()
    assert not any(cache.iterdir())


def test_offline_one_line_with_the_url_and_where_to_save_it(cache, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv(demo_clip.URL_ENV, f"http://127.0.0.1:{closed.getsockname()[1]}")
    with pytest.raises(UserError) as err:
        demo_clip.demo_clip()
    text = str(err.value)
    assert text.startswith(f"could not download {demo_clip.FILE_NAME} (") and "\n" not in text
    assert text.endswith(f"{demo_clip.demo_url()} and save it as {cache / demo_clip.FILE_NAME}")
    assert not cache.exists() or not any(cache.iterdir())


def test_the_real_url_is_pinned_to_a_commit_of_an_apache_licensed_repository(monkeypatch):
    monkeypatch.delenv(demo_clip.URL_ENV, raising=False)
    assert re.fullmatch(
        r"https://raw\.githubusercontent\.com/open-mmlab/mmaction2/[0-9a-f]{40}/demo/"
        r"demo_skeleton\.mp4",
        demo_clip.demo_url(),
    )
    assert re.fullmatch(r"[0-9a-f]{64}", demo_clip.SHA256) and "Apache-2.0" in demo_clip.LICENCE
