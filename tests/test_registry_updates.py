"""The local registry under concurrent and hostile updates: a lock around read-modify-write
(real processes), a file that does not parse left untouched, names that --weights can use,
no silent replacement, `_base_` loops and chains bounded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from card_helpers import save_plain

from common.errors import UserError
from model import ModelConfig, build_model
from weights import registry
from weights.__main__ import main as weights_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "own.pt"
    net = build_model(ModelConfig(num_class=3, channels=(16,), strides=(1,)))
    save_plain(path, net, class_names=["a", "b", "c"])
    return path


def test_concurrent_registers_all_land(tmp_path, checkpoint):
    """Six processes register at once: every entry is in the file afterwards."""
    code = (
        "import sys; from weights import registry; "
        "registry.register(sys.argv[1], sys.argv[2], None, directory=sys.argv[3])"
    )
    names = [f"mine-{i}" for i in range(6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, name, str(checkpoint), str(tmp_path)], cwd=ROOT
        )
        for name in names
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * len(names)
    assert sorted(e.name for e in registry.entries(tmp_path) if e.name in names) == names


def test_a_registry_that_does_not_parse_is_left_untouched(tmp_path, checkpoint):
    registry.register("first", checkpoint, None, directory=tmp_path)
    local = tmp_path / registry.LOCAL_REGISTRY_NAME
    damaged = local.read_text() + "oops: [\n"
    local.write_text(damaged)
    with pytest.raises(UserError, match="is not valid YAML"):
        registry.register("second", checkpoint, None, directory=tmp_path)
    assert local.read_text() == damaged


@pytest.mark.parametrize(
    "name",
    ["my/model", "model.pt", "", "two\nlines", "a b", ".hidden", "x" * 65, "ntu60-xsub-joint"],
)
def test_names_that_weights_cannot_use_are_refused(tmp_path, checkpoint, capsys, name):
    status = weights_main(["register", name, str(checkpoint), "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1, err
    assert not (tmp_path / registry.LOCAL_REGISTRY_NAME).exists()


def test_an_existing_name_is_replaced_only_with_force(tmp_path, checkpoint, capsys):
    other = tmp_path / "other.pt"
    other.write_bytes(checkpoint.read_bytes())
    assert weights_main(["register", "mine", str(checkpoint), "--dir", str(tmp_path)]) == 0
    assert weights_main(["register", "mine", str(other), "--dir", str(tmp_path)]) == 1
    assert "add --force" in capsys.readouterr().err
    assert registry.get("mine", tmp_path).file == str(checkpoint)
    args = ["register", "mine", str(other), "--dir", str(tmp_path), "--force"]
    assert weights_main(args) == 0
    assert registry.get("mine", tmp_path).file == "other.pt"


def test_a_registry_base_that_loops_is_reported_not_a_crash(tmp_path, capsys):
    local = tmp_path / registry.LOCAL_REGISTRY_NAME
    local.write_text(f"_base_: {local.name}\ncheckpoints: {{}}\n")
    assert [e.name for e in registry.entries(tmp_path)][:1] == ["ntu60-xsub-joint"]
    assert "leads back to itself" in registry.local_problems(tmp_path)[""]
    assert weights_main(["list", "--dir", str(tmp_path)]) == 0
    assert "leads back to itself" in capsys.readouterr().err


def test_accuracy_must_be_a_percentage(tmp_path, checkpoint):
    for accuracy in (float("nan"), 101.0, -1.0):
        with pytest.raises(UserError, match="from 0 to 100"):
            registry.register("mine", checkpoint, None, accuracy=accuracy, directory=tmp_path)


def test_a_registry_url_that_is_not_http_is_not_fetched(tmp_path):
    from common.download import DownloadFailed, download

    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    for url in (f"file://{secret}", "ftp://example.invalid/x.pt"):
        with pytest.raises(DownloadFailed, match="only http and https"):
            download(url, tmp_path / "x.pt", None)
    assert not (tmp_path / "x.pt").exists()
