"""The weights registry under bad input: damaged local registries, files that are no checkpoint,
registered files altered on disk, and hostile download servers (downgrades, endless bodies)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from card_helpers import save_plain

import weights
from common import download
from common.errors import UserError
from model import ModelConfig, build_model
from weights import registry
from weights.__main__ import main as weights_main

SMALL_NET = {"channels": (8, 16), "strides": (1, 2)}
PAYLOAD = b"0123456789abcdef" * 4096  # 64 kB


@pytest.fixture
def wdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(registry.DIR_ENV, raising=False)
    folder = tmp_path / "w"
    folder.mkdir()
    return folder


def _checkpoint(path: Path, num_class: int = 60, stream: str = "joint") -> Path:
    save_plain(path, build_model(ModelConfig(num_class=num_class, **SMALL_NET)), stream=stream)
    return path


@pytest.mark.parametrize(
    "local",
    [
        {"checkpoints": {"broken": {"file": 3}, "text": "not a mapping"}},
        {"checkpoints": ["a", "list"]},
        "checkpoints: [unclosed\n",
    ],
)
def test_a_damaged_local_registry_hides_no_released_checkpoint(wdir, local, capsys):
    text = local if isinstance(local, str) else yaml.safe_dump(local)
    (wdir / registry.LOCAL_REGISTRY_NAME).write_text(text)
    names = {e.name for e in weights.entries(wdir)}
    assert {"ntu60-xsub-joint", "ntu120-xset-joint"} <= names
    assert weights.get("ntu60-xsub-joint", wdir).num_class == 60
    assert weights_main(["list", "--dir", str(wdir)]) == 0
    captured = capsys.readouterr()
    assert "ntu60-xsub-joint" in captured.out and captured.err.startswith("warning: ")
    if isinstance(local, dict) and isinstance(local["checkpoints"], dict):
        with pytest.raises(UserError, match="entry 'broken' is malformed"):
            weights.get("broken", wdir)


def test_register_refuses_what_is_no_checkpoint_of_the_dataset(wdir, tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    cases = [
        ([str(text), "--dataset", "ntu60"], "not a readable PyTorch checkpoint"),
        (
            [str(_checkpoint(tmp_path / "c60.pt")), "--dataset", "ntu120"],
            "has 60 classes but ntu120 has 120",
        ),
        (
            [
                str(_checkpoint(tmp_path / "bone.pt", stream="bone")),
                "--dataset",
                "ntu60",
                "--stream",
                "joint",
            ],
            "carries other stream than those given for it",
        ),
    ]
    for args, message in cases:
        assert weights_main(["register", "mine", *args, "--dir", str(wdir)]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (wdir / registry.LOCAL_REGISTRY_NAME).exists()
    assert (
        weights_main(
            [
                "register",
                "mine",
                str(tmp_path / "bone.pt"),
                "--dataset",
                "ntu60",
                "--dir",
                str(wdir),
            ]
        )
        == 0
    )
    assert weights.get("mine", wdir).stream == "bone"


def test_an_altered_registered_file_is_refused_before_use(wdir, tmp_path, monkeypatch):
    """Bytes changed after registering: resolve and load_model say which file, in one line;
    an unchanged file is hashed once (the digest is cached by size and mtime)."""
    path = _checkpoint(wdir / "mine.pt")
    weights.register("mine", path, "ntu60", directory=wdir)
    monkeypatch.setenv(registry.DIR_ENV, str(wdir))
    hashed = []
    real = registry.sha256_of
    monkeypatch.setattr(registry, "sha256_of", lambda p: (hashed.append(p), real(p))[1])
    assert weights.load_model("mine").card.num_class == 60
    assert weights.resolve("mine") == path
    assert len(hashed) == 1  # the second start read the cache
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match its registered sha256") as err:
        weights.load_model("mine")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_redirect_from_https_to_http_is_refused():
    handler = download._SafeRedirects()
    request = urllib.request.Request("https://example.invalid/model.pt")
    for target in (
        "http://example.invalid/model.pt",
        "ftp://example.invalid/model.pt",
        "file:///etc/passwd",
    ):
        with pytest.raises(UserError, match="refused"):
            handler.redirect_request(request, None, 302, "Found", {}, target)
    follow = handler.redirect_request(
        request, None, 302, "Found", {}, "https://mirror.invalid/model.pt"
    )
    assert follow.full_url == "https://mirror.invalid/model.pt"


class _Hostile(http.server.BaseHTTPRequestHandler):
    """/endless sends bytes without a length until the client hangs up; /huge announces 1 TB."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        if self.path.endswith("/huge/tiny.pt"):
            self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        try:
            while True:
                self.wfile.write(PAYLOAD)
        except OSError:
            pass

    def log_message(self, *args) -> None:
        """Keep the test output clean."""


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        yaml.safe_dump(
            {
                "default": "tiny",
                "checkpoints": {
                    "tiny": {
                        "file": "tiny.pt",
                        "url": "https://example.invalid/tiny.pt",
                        "size": 4 * len(PAYLOAD),
                        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
                        "dataset": "ntu60",
                        "num_class": 60,
                        "labels": "ntu60",
                    }
                },
            }
        )
    )
    monkeypatch.setattr(registry, "REGISTRY_FILE", reg)
    monkeypatch.delenv(registry.DIR_ENV, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["endless", "huge"])
def test_a_download_is_capped_at_the_registered_size(tmp_path, hostile, monkeypatch, path):
    monkeypatch.setenv(registry.URL_ENV, f"{hostile}/{path}")
    dest = tmp_path / "dl"
    with pytest.raises(UserError, match=f"registry allows {4 * len(PAYLOAD)}"):
        weights.fetch_checkpoint("tiny", dest, progress=lambda done, total: None)
    assert not dest.exists() or not any(dest.iterdir())
