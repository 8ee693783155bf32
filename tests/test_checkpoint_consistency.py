"""A project checkpoint whose parts disagree (head size, class names, stream, config) is refused
when loaded, in one line naming the file, instead of failing later at prediction time."""

from __future__ import annotations

import pytest
import torch
from card_helpers import save_plain

import model
from common.errors import UserError
from model import ModelConfig, ShiftGCN

SMALL = {"channels": (8, 16), "strides": (1, 2)}


def _saved(tmp_path, **changes):
    """A small project checkpoint as written before model cards (class names and stream at the
    top level), then `changes` written into its dict (tests/test_model_card.py: with a card)."""
    path = tmp_path / "ckpt.pt"
    save_plain(path, ShiftGCN(ModelConfig(num_class=4, **SMALL)))
    data = torch.load(path, weights_only=True)
    del data["card"]
    data.update({"class_names": list("abcd"), "stream": "joint", **changes})
    torch.save(data, path)
    return path


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"class_names": [f"c{i}" for i in range(60)]}, "head has 4 classes but it names 60"),
        ({"class_names": "abcd"}, "class_names are not a list of strings"),
        ({"stream": "skeleton"}, "stream 'skeleton', not one of joint"),
        ({"stream": None}, "stream None"),
        (
            {"model_config": {**ModelConfig(num_class=120, **SMALL).to_dict()}},
            "has 4 classes but the model config asks for 120",
        ),
    ],
)
def test_inconsistent_checkpoints_are_one_line(tmp_path, changes, expected):
    path = _saved(tmp_path, **changes)
    with pytest.raises(UserError, match=expected) as err:
        model.load_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_consistent_checkpoint_still_loads(tmp_path):
    loaded = model.load_model(_saved(tmp_path, stream="bone_motion"))
    assert loaded.card.stream == "bone_motion" and loaded.card.labels() == list("abcd")
