"""The classifier's test-time choices: an ensemble voting by class name, the temperature, and the
temperature that bench.real_set --calibrate fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from card_helpers import save_plain

from common.errors import UserError
from model import ModelConfig, build_model
from model.preprocess import mirror, prepare_window
from model.runtime import make_runtime
from pipeline import ClassifierSettings, StreamingClassifier
from pipeline.build import ensemble_members
from pipeline.prediction import softmax
from weights import load_model

SMALL = {"channels": (16, 32), "strides": (1, 2)}


def _checkpoint(path, names: list[str], seed: int):
    torch.manual_seed(seed)
    net = build_model(ModelConfig(num_class=len(names), **SMALL))
    save_plain(path, net, class_names=names)
    return str(path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    return {
        "main": _checkpoint(folder / "main.pt", ["wave", "clap", "jump"], 0),
        "wider": _checkpoint(folder / "wider.pt", ["sit", "jump", "wave", "kick", "clap"], 1),
        "narrower": _checkpoint(folder / "narrower.pt", ["wave", "clap"], 2),
    }


def _frames(count: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = np.zeros((count, 3, 25, 2), np.float32)
    frames[..., 0] = rng.normal(0, 0.3, (count, 3, 25)) + np.array([0, 1, 3])[:, None]
    return frames


def test_members_vote_on_the_models_classes_by_name(checkpoints):
    _, card = load_model(checkpoints["main"])
    members = ensemble_members(
        [checkpoints["wider"], checkpoints["narrower"], checkpoints["main"]],
        card,
        checkpoints["main"],
        torch.device("cpu"),
    )
    # the narrower one lacks "jump", the last is the model itself: only "wider" votes
    assert [m.name for m in members] == [checkpoints["wider"]]
    np.testing.assert_array_equal(members[0].outputs, [2, 4, 1])  # wave, clap, jump
    assert ensemble_members([checkpoints["wider"]], card, "x", torch.device("cpu"))
    assert ensemble_members([], card, checkpoints["main"], torch.device("cpu")) == []


def test_the_prediction_averages_each_networks_probabilities(checkpoints):
    """raw_probs = the mean of the model's probabilities and the member's restricted to the
    model's classes and renormalised, each averaged with its mirror image, at the temperature."""
    model, card = load_model(checkpoints["main"])
    member = ensemble_members([checkpoints["wider"]], card, "", torch.device("cpu"))
    settings = ClassifierSettings(
        window=20, stride=20, min_frames=4, temperature=2.0, either_hand=True, faster=[]
    )
    classifier = StreamingClassifier(
        model, settings, card=card, device="cpu", runtime="torch", members=member
    )
    frames = _frames()
    for index, frame in enumerate(frames):
        prediction = classifier.push(frame, index / 30)
    assert prediction is not None and classifier.members == [checkpoints["wider"]]

    x = prepare_window(frames, settings.pad_to, "joint")

    def probs(net, outputs=None):
        run = make_runtime(net, "torch", torch.device("cpu"), True)
        p = (softmax(run(x) / 2.0) + softmax(run(mirror(x)) / 2.0)) / 2
        return p if outputs is None else p[outputs] / p[outputs].sum()

    expected = (probs(model) + probs(member[0].model, member[0].outputs)) / 2
    np.testing.assert_allclose(prediction.raw_probs, expected, rtol=1e-5, atol=1e-6)
    assert prediction.raw_probs.sum() == pytest.approx(1.0)


def test_bad_test_time_settings_are_one_line():
    faster = ({"faster": [1.0]}, {"faster": [8.0]}, {"faster": "2"}, {"faster": [2.0] * 5})
    for bad in (
        {"temperature": 0.0},
        {"temperature": float("nan")},
        {"ensemble": "ntu60"},
        *faster,
    ):
        with pytest.raises(UserError, match="bad classifier settings"):
            ClassifierSettings(**bad)


def test_calibration_finds_the_temperature_that_made_the_probabilities():
    """Windows whose labels are drawn from softmax(logits / 3) fit best near temperature 3."""
    from bench.real_set import fit_temperature

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, (4000, 6))
    truth = softmax_rows(logits / 3.0)
    labels = [[int(rng.choice(6, p=row))] for row in truth]
    window_probs = [softmax_rows(logits[i : i + 1]) for i in range(len(logits))]
    fitted, best, at_one = fit_temperature(window_probs, labels, temperature=1.0)
    assert 2.5 < fitted < 3.6 and best < at_one


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_the_registry_calibrates_the_released_pair_by_name_or_file(
    tmp_path, monkeypatch, checkpoints
):
    """The released NTU-60 pair has its temperature and its 2x view in the registry, by name
    or by file (as the GUI gives it); a model of one's own has neither (temperature 1, no
    faster view: it learnt its actions at its user's pace); settings that say win."""
    from pipeline.build import with_registered_choices
    from weights.registry import calibrated_temperature, get, registered_faster

    monkeypatch.setenv("SHIFTGCN_WEIGHTS_DIR", str(tmp_path))
    xview_file = str(get("ntu60-xview-joint").path())
    assert calibrated_temperature("ntu60-xsub-joint") == calibrated_temperature(xview_file) == 3.0
    assert registered_faster("ntu60-xsub-joint") == registered_faster(xview_file) == [2.0]
    assert calibrated_temperature(checkpoints["main"]) == 1.0
    assert registered_faster(checkpoints["main"]) == []
    released = with_registered_choices(ClassifierSettings(), "ntu60-xsub-joint")
    assert (released.temperature, released.faster) == (3.0, [2.0])
    own = with_registered_choices(ClassifierSettings(), checkpoints["main"])
    assert (own.temperature, own.faster) == (1.0, [])
    chosen = ClassifierSettings(temperature=2.0, faster=[])
    assert with_registered_choices(chosen, "ntu60-xsub-joint") == chosen
