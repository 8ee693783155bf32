"""A registered entry's metadata (class names, stream) sets what its checkpoint file lacks, and
one rule tells a checkpoint path from a registered name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from card_helpers import save_plain

import weights
from common.errors import UserError
from model import ModelConfig, build_model, load_model
from ntu.labels import class_names
from weights import registry

SMALL_NET = {"channels": (8, 16), "strides": (1, 2)}


@pytest.fixture
def wdir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "w"
    folder.mkdir()
    monkeypatch.setenv(registry.DIR_ENV, str(folder))
    return folder


def _plain_state_dict(path: Path, num_class: int = 120) -> Path:
    """A file as the released ones are: a bare state_dict of the released network, no class
    names, no stream."""
    torch.save(build_model(ModelConfig(num_class=num_class)).state_dict(), path)
    return path


def test_a_registered_bone_state_dict_loads_as_a_bone_model(wdir):
    path = _plain_state_dict(wdir / "bone120.pt")
    weights.register("mine-bone", path, "ntu120", stream="bone", directory=wdir)
    _, card = weights.load_model("mine-bone")
    assert card.stream == "bone" and card.labels() == class_names("ntu120")
    assert load_model(path).card.stream == "joint"  # the file alone says nothing of its stream


def test_the_entry_and_a_project_file_must_agree(wdir):
    path = wdir / "joint.pt"
    save_plain(path, build_model(ModelConfig(num_class=60, **SMALL_NET)), stream="joint")
    with pytest.raises(UserError, match="carries other stream than those given") as err:
        load_model(path, stream="bone")
    assert "\n" not in str(err.value)
    assert load_model(path, stream="joint").card.stream == "joint"


def test_model_load_model_takes_files_only(tmp_path):
    with pytest.raises(UserError, match="ntu60-xsub-joint not found"):
        load_model("ntu60-xsub-joint")


@pytest.mark.parametrize(
    "text, is_path",
    [
        ("ntu60-xsub-joint", True),
        ("models/best.pt", True),
        ("best.pt", True),
        ("best.pth", True),
        ("my-actions", False),
        ("ntu120-xset-bone", False),
    ],
)
def test_one_rule_tells_a_path_from_a_name(tmp_path, monkeypatch, text, is_path):
    """Text with a folder or a .pt ending is a path; other text is a name unless such a file
    exists here (a file beats a name, so the first case is a path in this folder)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ntu60-xsub-joint").write_bytes(b"")
    assert registry.is_path(text) is is_path
    assert registry.is_path(Path(text))
