"""The model card: every checkpoint says what it recognises and the input it expects, every
consumer reads it and refuses one it does not fit in one line, and a fine-tuned model's live
windows are filled exactly as its training windows were."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from card_helpers import save_plain
from shared_paths import OFFICIAL_WEIGHTS, require

import weights
from common.errors import UserError
from model import ModelCard, ModelConfig, ShiftGCN, load_model, save_checkpoint
from model.card import KINECT_SKELETONS
from ntu.labels import class_names
from pipeline import ClassifierSettings, StreamingClassifier
from pipeline.classifier import Member
from pose import SKELETON_FORMAT
from train.config import OWN_VIDEOS, TrainConfig
from train.from_videos import SplitData, clip_windows, own_card, write_split
from train.gendata import data_file

TINY = {"channels": [8, 16], "strides": [1, 2]}
MOVES = ["bob", "sway"]


def one_line(err: pytest.ExceptionInfo) -> str:
    """The error's message, checked to be a single line."""
    text = str(err.value)
    assert "\n" not in text and text
    return text


def own_config(tmp_path, **changes) -> TrainConfig:
    """A training config for two actions of one's own (train.from_videos')."""
    return TrainConfig(
        dataset=OWN_VIDEOS,
        num_class=2,
        class_names=MOVES,
        model=TINY,
        data_dir=str(tmp_path / "data"),
        work_dir=str(tmp_path / "work"),
        **changes,
    )


def person_clip(frames: int, seed: int = 0) -> np.ndarray:
    """(T, 3, 25, 2) joints of one moving person, body slot 1 empty."""
    rng = np.random.default_rng(seed)
    clip = np.zeros((frames, 3, 25, 2), np.float32)
    base = rng.normal(0, 0.3, (3, 25)) + np.array([0.0, 1.0, 3.0])[:, None]
    sway = 0.1 * np.sin(np.arange(frames) / 4.0)
    clip[..., 0] = base + sway[:, None, None]
    return clip


class Recorder(torch.nn.Module):
    """A stand-in network that keeps every input it is given."""

    def __init__(self, num_class: int) -> None:
        super().__init__()
        self.num_class = num_class
        self.inputs: list[np.ndarray] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x[0].numpy().copy())
        return torch.zeros(len(x), self.num_class)


# ---------------------------------------------------------------- the record itself
def test_a_card_round_trips_and_a_contradicting_one_is_one_line():
    card = ModelCard(2, MOVES, "bone", window=32, loop_to=0, fps=25.0, source="fine-tuned")
    assert ModelCard.from_dict(card.to_dict(), "x.pt") == card
    assert card.class_names == tuple(MOVES) and card.labels() == MOVES
    with pytest.raises(UserError) as err:
        ModelCard(120, class_names("ntu60"))  # a 120-class card with 60 names
    assert "120 classes but names 60" in one_line(err)
    for bad in ({"stream": "skeleton"}, {"loop_to": -1}, {"fps": 0}, {"source": "found"}):
        with pytest.raises(UserError):
            ModelCard(2, MOVES, **bad)
    with pytest.raises(UserError, match="another version") as err:
        ModelCard.from_dict({**card.to_dict(), "version": 99}, "x.pt")
    assert one_line(err).startswith("x.pt")


def test_a_file_whose_card_contradicts_itself_or_its_head_is_refused(tmp_path):
    path = tmp_path / "odd.pt"
    save_plain(path, ShiftGCN(ModelConfig(num_class=60, **TINY)))
    data = torch.load(path, weights_only=True)
    data["card"] = {**data["card"], "num_class": 120}  # 120 classes, 60 names
    torch.save(data, path)
    with pytest.raises(UserError) as err:
        load_model(path)
    assert str(path) in one_line(err) and "120 classes but names 60" in str(err.value)
    data["card"] = {**data["card"], "num_class": 2, "class_names": MOVES}
    torch.save(data, path)
    with pytest.raises(UserError, match="has 60 classes but its model card says 2") as err:
        load_model(path)
    one_line(err)


# ---------------------------------------------------------------- loading with the card
def test_a_fine_tuned_own_actions_checkpoint_loads_with_its_card(tmp_path):
    """The card of a model of one's own actions: the live classifier's windows, pose's
    skeletons, its base and its measured accuracy; load_model gives it back beside the net."""
    classifier = ClassifierSettings(window=32, stride=8)
    config = own_config(tmp_path, base_weights="base.pt")
    card = dataclasses.replace(
        own_card(dataclasses.replace(config, base_weights=None), classifier),
        source="fine-tuned",
        base="base.pt",
        accuracy=83.3,
        accuracy_note="video top-1, each clip left out in turn",
    )
    assert (card.window, card.loop_to, card.fps) == (32, classifier.pad_to, classifier.fps)
    assert card.skeleton_format == SKELETON_FORMAT and card.labels() == MOVES
    path = tmp_path / "best.pt"
    save_checkpoint(path, ShiftGCN(config.model_config()), card)
    net, loaded = load_model(path)
    assert loaded == card and not hasattr(net, "class_names") and not hasattr(net, "stream")
    assert "fine-tuned on videos from base.pt · top-1 83.3 %" in loaded.summary()


def test_the_released_checkpoints_cards_come_from_the_registry():
    """The released files carry no card: the registry's entry and NTU's facts make it."""
    card = weights.get("ntu60-xsub-joint").card()
    assert card.source == "released" and (card.dataset, card.benchmark) == ("ntu60", "xsub")
    assert card.accuracy == 87.8 and card.labels() == class_names("ntu60")
    assert (card.window, card.loop_to, card.fps) == (None, 300, 30.0)
    assert card.skeleton_format == KINECT_SKELETONS and card.stream == "joint"
    assert "NTU60 xsub · top-1 87.8 % reported" in card.summary()


def test_a_released_file_loads_with_its_card_by_name_and_by_path():
    official = require(OFFICIAL_WEIGHTS / "ntu_ShiftGCN_joint_xsub.pt").parent
    by_name = weights.load_model("ntu60-xsub-joint", directory=official)
    assert by_name.card == weights.get("ntu60-xsub-joint").card()
    by_path = weights.load_model(official / "ntu_ShiftGCN_joint_xsub.pt", directory=official)
    assert by_path.card == by_name.card  # the GUI passes the downloaded file
    alone = load_model(official / "ntu_ShiftGCN_joint_xsub.pt").card  # the file alone
    assert alone.source == "unknown" and alone.labels() == class_names("ntu60")


def test_an_older_project_checkpoint_gets_a_card_from_what_it_holds(tmp_path):
    path = tmp_path / "old.pt"
    save_plain(path, ShiftGCN(ModelConfig(num_class=2, **TINY)))
    data = torch.load(path, weights_only=True)
    del data["card"]
    data.update({"class_names": MOVES, "stream": "bone"})
    torch.save(data, path)
    card = load_model(path).card
    assert card.labels() == MOVES and card.stream == "bone" and card.loop_to == 300
    assert card.source == "trained" and card.window is None


# ---------------------------------------------------------------- consumers refuse a mismatch
def test_a_base_of_another_stream_is_refused_for_fine_tuning(tmp_path):
    """A bone-stream model as the base of joint-stream training data, in one line."""
    from train.finetune import load_base_weights

    base = tmp_path / "bone.pt"
    save_plain(base, ShiftGCN(ModelConfig(num_class=60, **TINY)), stream="bone")
    with pytest.raises(UserError, match="stream 'bone'.*gives 'joint'") as err:
        load_base_weights(ShiftGCN(ModelConfig(num_class=2, **TINY)), str(base), "joint")
    assert str(base) in one_line(err)


def test_own_training_data_refuses_a_base_filled_otherwise(tmp_path):
    base = tmp_path / "unlooped.pt"
    net = ShiftGCN(ModelConfig(num_class=60, **TINY))
    save_checkpoint(base, net, dataclasses.replace(ModelCard.known(60), loop_to=0))
    config = own_config(tmp_path, base_weights=str(base))
    with pytest.raises(UserError, match="loop_to 0 .* gives 300") as err:
        own_card(config, ClassifierSettings())
    assert "classifier.pad_to" in one_line(err)
    assert own_card(config, ClassifierSettings(pad_to=0)).loop_to == 0
    bone = tmp_path / "bone.pt"
    save_plain(bone, net, stream="bone")
    with pytest.raises(UserError, match="stream 'bone' .* the training config gives 'joint'"):
        own_card(own_config(tmp_path, base_weights=str(bone)), ClassifierSettings())


def test_the_live_classifier_refuses_settings_and_members_its_card_does_not_fit():
    net = Recorder(2)
    card = ModelCard(2, MOVES, window=32, source="fine-tuned")
    settings = ClassifierSettings(window=32, stride=8, either_hand=False, ensemble=[])

    def classifier(chosen: ClassifierSettings, members=()) -> StreamingClassifier:
        return StreamingClassifier(
            net, chosen, card=card, device="cpu", runtime="torch", members=members
        )

    classifier(settings).close()
    classifier(dataclasses.replace(settings, window=64)).close()  # filled alike: allowed
    for changes, key in (({"pad_to": 0}, "loop_to"), ({"fps": 25}, "fps")):
        with pytest.raises(UserError, match=f"trained with {key}") as err:
            classifier(dataclasses.replace(settings, **changes))
        assert "its model card" in one_line(err)
    other = dataclasses.replace(ModelCard.known(60), loop_to=0)
    member = Member("other.pt", Recorder(60), other, np.array([0, 1]))
    with pytest.raises(UserError, match="member other.pt gives 0; leave that member out") as err:
        classifier(settings, [member])
    one_line(err)


def test_a_pipeline_refuses_a_model_of_another_pose_mapping():
    from pipeline.build import check_skeletons

    check_skeletons(ModelCard.known(60), "ntu60-xsub-joint")  # Kinect's: what pose aims at
    check_skeletons(ModelCard(2, MOVES, skeleton_format=SKELETON_FORMAT), "mine.pt")
    old = ModelCard(2, MOVES, skeleton_format="ntu-mapping-0")
    with pytest.raises(UserError, match="mine.pt was trained with skeleton_format") as err:
        check_skeletons(old, "mine.pt")
    assert "train.from_videos" in one_line(err)


def test_export_writes_the_card_into_the_graph_and_refuses_another_length(tmp_path):
    from model.export import card_of, export_onnx

    net = ShiftGCN(ModelConfig(num_class=2, **TINY)).eval()
    card = ModelCard(2, MOVES, window=32, source="fine-tuned")
    with pytest.raises(UserError, match="--frames 64: .* 300 frames long") as err:
        export_onnx(net, tmp_path / "m.onnx", frames=64, card=card)
    assert "--frames 300" in one_line(err) and not (tmp_path / "m.onnx").exists()
    path = export_onnx(net, tmp_path / "m.onnx", card=card)
    assert card_of(path) == card


def test_the_gui_model_panel_shows_the_cards_key_facts():
    from types import SimpleNamespace

    from app.gui.workers import describe_model

    card = weights.get("ntu60-xsub-joint").card()
    settings = ClassifierSettings(either_hand=False, ensemble=[])
    classifier = StreamingClassifier(
        Recorder(60), settings, card=card, device="cpu", runtime="torch"
    )
    text = describe_model("ntu60-xsub-joint", SimpleNamespace(classifier=classifier))
    assert "60 classes · joint stream" in text and "looped to 300 frames" in text
    assert "NTU60 xsub · top-1 87.8 % reported" in text


# ---------------------------------------------------------------- one fill, live and training
@pytest.mark.parametrize("pad_to", [300, 0])
@pytest.mark.parametrize("length", [20, 32], ids=["short clip", "full window"])
def test_live_and_training_windows_of_a_fine_tuned_model_are_filled_alike(tmp_path, pad_to, length):
    """A clip cut into training data (train.from_videos: clip_windows, write_split) and the
    same clip pushed through the live classifier with the fine-tuned model's card give the
    network the same array."""
    classifier = ClassifierSettings(window=32, stride=32, min_frames=4, pad_to=pad_to)
    card = own_card(own_config(tmp_path), classifier)
    clip = person_clip(length)
    windows = clip_windows(clip, classifier.window, classifier.stride, classifier.min_frames)
    data = SplitData(
        [f"bob/clip#{s}" for s, _ in windows], [0] * len(windows), [w for _, w in windows], []
    )
    write_split(tmp_path / "data", "train", data, card)
    trained = np.load(data_file(tmp_path / "data", "train", card.stream))
    with open(tmp_path / "data" / "train_label.pkl", "rb") as handle:
        assert pickle.load(handle) == (data.names, [0])

    net = Recorder(2)
    live = StreamingClassifier(
        net,
        dataclasses.replace(classifier, either_hand=False, faster=[], ensemble=[]),
        card=card,
        device="cpu",
        runtime="torch",
    )
    for index, frame in enumerate(clip):
        live.push(frame, index / classifier.fps)
    live.finish()
    assert len(trained) == len(net.inputs) == 1
    assert trained.shape[2] == max(length, pad_to)
    np.testing.assert_array_equal(net.inputs[0], trained[0])
