"""The weights registry: names, class lists, resolve, and downloads from a local HTTP server."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import yaml
from card_helpers import save_plain
from local_server import PAYLOAD
from shared_paths import SHARED

import weights
from common.errors import UserError
from model import ModelConfig, build_model
from ntu.labels import class_names
from weights import registry
from weights.__main__ import main as weights_main

OFFICIAL = SHARED / "weights" / "official"
SMALL_NET = {"channels": (8, 16), "strides": (1, 2)}  # a checkpoint that loads quickly


@pytest.fixture
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Swap the built-in registry for one entry whose digest is that of PAYLOAD."""
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        yaml.safe_dump(
            {
                "default": "tiny",
                "checkpoints": {
                    "tiny": {
                        "file": "tiny.pt",
                        "url": "https://example.invalid/save_models/tiny.pt",
                        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
                        "dataset": "ntu60",
                        "num_class": 60,
                        "labels": "ntu60",
                        "stream": "joint",
                        "benchmark": "xsub",
                        "accuracy": 1.0,
                        "licence": "test",
                    }
                },
            }
        )
    )
    monkeypatch.setattr(registry, "REGISTRY_FILE", reg)
    monkeypatch.delenv(registry.DIR_ENV, raising=False)
    return reg


def _dir_is_clean(folder: Path) -> bool:
    """True when no file (final or partial) was left in folder."""
    return not folder.exists() or not any(folder.iterdir())


def _free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_released_checkpoints_are_registered_with_their_facts() -> None:
    by_name = {e.name: e for e in weights.entries()}
    assert {
        "ntu60-xsub-joint",
        "ntu60-xview-joint",
        "ntu120-xsub-joint",
        "ntu120-xset-joint",
    } <= set(by_name)
    xsub = by_name["ntu60-xsub-joint"]
    assert xsub.file == "ntu_ShiftGCN_joint_xsub.pt"
    assert xsub.url == "https://github.com/kchengiva/Shift-GCN/raw/master/save_models/" + xsub.file
    assert xsub.sha256.startswith("7b73c469") and xsub.num_class == 60 and xsub.accuracy == 87.8
    assert by_name["ntu120-xset-joint"].num_class == 120
    assert all(e.licence == "CC BY-NC 4.0" and e.stream == "joint" for e in by_name.values())
    assert weights.default_name() in by_name


def test_class_names_match_class_counts() -> None:
    for entry in weights.entries():
        assert len(entry.class_names()) == entry.num_class
    assert class_names("ntu60")[0] == "drink water"
    ntu120_first60 = [name.rstrip(".") for name in class_names("ntu120")[:60]]
    assert ntu120_first60 == class_names("ntu60")
    with pytest.raises(UserError, match="no class names"):
        class_names("kinetics")


def test_class_names_equal_the_shared_label_maps() -> None:
    """The same names in the same order; the NTU-120 map's closing full stops are dropped."""
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED}")
    for dataset in ("ntu60", "ntu120"):
        ref = (SHARED / "fixtures" / f"label_map_{dataset}.txt").read_text().splitlines()
        expected = [line.strip().rstrip(".") for line in ref if line.strip()]
        assert class_names(dataset) == expected
    assert class_names("ntu120")[:60] == class_names("ntu60")


def test_weights_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(registry.DIR_ENV, raising=False)
    assert weights.weights_dir() == registry.PACKAGE_DIR
    monkeypatch.setenv(registry.DIR_ENV, str(tmp_path / "env"))
    assert weights.weights_dir() == tmp_path / "env"
    assert weights.weights_dir(tmp_path / "flag") == tmp_path / "flag"


def test_resolve_paths_names_and_errors(tmp_path: Path, fake_registry: Path) -> None:
    file = tmp_path / "mine.pt"
    file.write_bytes(b"x")
    assert weights.resolve(str(file)) == file
    with pytest.raises(UserError, match="not found"):
        weights.resolve(str(tmp_path / "absent.pt"))
    with pytest.raises(UserError, match="unknown checkpoint 'nope'; known names: tiny"):
        weights.resolve("nope")
    with pytest.raises(UserError, match=r"not in .*python -m weights fetch tiny.*by hand"):
        weights.resolve("tiny", fetch=False, directory=tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "tiny.pt").write_bytes(PAYLOAD)
    assert weights.resolve("tiny", fetch=False, directory=tmp_path / "w") == tmp_path / "w/tiny.pt"


def test_fetch_downloads_and_checks_digest(
    tmp_path: Path, server, fake_registry: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    base, served = server
    (served / "tiny.pt").write_bytes(PAYLOAD)
    monkeypatch.setenv(registry.URL_ENV, base)
    dest = tmp_path / "w"
    assert weights_main(["fetch", "tiny", "--dir", str(dest)]) == 0
    assert (dest / "tiny.pt").read_bytes() == PAYLOAD
    assert [p.name for p in dest.iterdir()] == ["tiny.pt"]
    assert "tiny: " in capsys.readouterr().out
    assert weights_main(["verify", "--dir", str(dest)]) == 0


def test_resolve_fetches_missing_file_with_progress(
    tmp_path: Path, server, fake_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = server
    (served / "tiny.pt").write_bytes(PAYLOAD)
    monkeypatch.setenv(registry.URL_ENV, base)
    seen: list[tuple[int, int | None]] = []
    path = weights.resolve(
        "tiny", directory=tmp_path / "w", progress=lambda done, total: seen.append((done, total))
    )
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(seen) > 1


def test_digest_mismatch_leaves_nothing(
    tmp_path: Path, server, fake_registry: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    base, served = server
    (served / "tiny.pt").write_bytes(PAYLOAD[:-1] + b"!")
    monkeypatch.setenv(registry.URL_ENV, base)
    dest = tmp_path / "w"
    assert weights_main(["fetch", "tiny", "--dir", str(dest)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "expected" in err[0] and "nothing was saved" in err[0]
    assert _dir_is_clean(dest)


def test_interrupted_download_leaves_nothing(
    tmp_path: Path, server, fake_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = server
    (served / "tiny.pt").write_bytes(PAYLOAD)
    monkeypatch.setenv(registry.URL_ENV, base)

    def interrupt(done: int, total: int | None) -> None:
        if done > len(PAYLOAD) // 2:
            raise KeyboardInterrupt

    dest = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):
        weights.fetch_checkpoint("tiny", dest, progress=interrupt)
    assert _dir_is_clean(dest)


def test_connection_cut_midway_leaves_nothing(
    tmp_path: Path, server, fake_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    monkeypatch.setenv(registry.URL_ENV, base + "/truncated")
    dest = tmp_path / "w"
    with pytest.raises(UserError, match="could not download tiny.pt"):
        weights.fetch_checkpoint("tiny", dest)
    assert _dir_is_clean(dest)


def test_offline_message_is_one_line_with_manual_instructions(
    tmp_path: Path, fake_registry: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    url_base = f"http://127.0.0.1:{_free_port()}/models"
    monkeypatch.setenv(registry.URL_ENV, url_base)
    dest = tmp_path / "w"
    assert weights_main(["fetch", "tiny", "--dir", str(dest)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    hint = f"download it by hand from {url_base}/tiny.pt and save it as {dest / 'tiny.pt'}"
    assert hint in err[0]
    assert _dir_is_clean(dest)


def test_verify_flags_a_damaged_file(tmp_path: Path, fake_registry: Path, capsys) -> None:
    (tmp_path / "tiny.pt").write_bytes(b"damaged")
    assert weights_main(["verify", "--dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out and "sha256 mismatch for tiny" in captured.err


def test_verify_fails_when_a_checkpoint_is_missing(
    tmp_path: Path, fake_registry: Path, capsys
) -> None:
    assert weights_main(["verify", "--dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "missing" in captured.out
    assert "missing: tiny" in captured.err and "python -m weights fetch tiny" in captured.err
    (tmp_path / "tiny.pt").write_bytes(PAYLOAD)
    assert weights_main(["verify", "tiny", "--dir", str(tmp_path)]) == 0
    assert weights_main(["verify", "nope", "--dir", str(tmp_path)]) == 1
    assert "unknown checkpoint 'nope'" in capsys.readouterr().err


def test_verify_the_released_checkpoints(capsys) -> None:
    if not OFFICIAL.is_dir():
        pytest.skip(f"released checkpoints not found at {OFFICIAL}")
    assert weights_main(["verify", "--dir", str(OFFICIAL)]) == 0
    statuses = {e.name: s for e, s in weights.verify(OFFICIAL)}
    assert all(
        statuses[n] == "ok"
        for n in ("ntu60-xsub-joint", "ntu60-xview-joint", "ntu120-xsub-joint", "ntu120-xset-joint")
    )


def test_register_own_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv(registry.DIR_ENV, raising=False)
    trained = tmp_path / "runs" / "best.pt"
    trained.parent.mkdir()
    save_plain(trained, build_model(ModelConfig(num_class=60, **SMALL_NET)))
    wdir = tmp_path / "w"
    assert (
        weights_main(
            [
                "register",
                "my-xsub",
                str(trained),
                "--dataset",
                "ntu60",
                "--accuracy",
                "88.2",
                "--dir",
                str(wdir),
            ]
        )
        == 0
    )
    entry = weights.get("my-xsub", wdir)
    assert entry.num_class == 60 and entry.accuracy == 88.2 and entry.url is None
    assert weights.resolve("my-xsub", directory=wdir) == trained
    assert weights_main(["list", "--dir", str(wdir)]) == 0
    assert "my-xsub" in capsys.readouterr().out
    with pytest.raises(UserError, match="released checkpoint's name"):
        weights.register("ntu60-xsub-joint", trained, "ntu60", directory=wdir)
    trained.unlink()
    with pytest.raises(UserError, match="is missing; put it back"):
        weights.resolve("my-xsub", directory=wdir)
