"""The network against the published implementation: logits, shapes, size, loading errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from card_helpers import save_plain
from shared_paths import REPO_ROOT, require_shared

import model
from common.errors import UserError
from model import ExcitationConfig, ModelConfig, ShiftGCN, build_model, load_model
from model.shift_gcn import Residual, ShiftGraphConv
from model.summary import measure_cost

RELEASED = {
    "ntu_ShiftGCN_joint_xsub": 60,
    "ntu_ShiftGCN_joint_xview": 60,
    "ntu120_ShiftGCN_joint_xsub": 120,
    "ntu120_ShiftGCN_joint_xsetup": 120,
}


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    data = np.load(require_shared("fixtures", "shiftgcn_reference_logits.npz"))
    return {key: data[key] for key in data.files}


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("name", sorted(RELEASED))
def test_released_checkpoint_matches_reference_logits(name, fused, reference):
    net, card = model.load_model(require_shared("weights", "official", f"{name}.pt"))
    if fused:
        net = model.fuse_for_inference(net)
    assert net.num_class == RELEASED[name] and not net.training
    assert len(card.class_names) == RELEASED[name]
    for inputs in ("T300", "T64"):
        with torch.no_grad():
            logits = net(torch.from_numpy(reference[inputs])).numpy()
        np.testing.assert_allclose(logits, reference[f"{name}__{inputs}"], rtol=0, atol=1e-4)


def test_weight_count_and_flops_match_the_paper():
    cost = measure_cost(ShiftGCN(ModelConfig(num_class=60)))
    assert cost.parameters == 693_107
    assert abs(cost.paper_gflops - 2.5) / 2.5 < 0.10
    assert cost.gmacs > cost.paper_gflops  # the full count includes the shift graph linear map


@pytest.mark.parametrize("frames", [64, 70, 75, 5])
def test_any_window_length_is_loop_padded_to_a_multiple_of_four(frames):
    net = ShiftGCN().eval()
    x = torch.randn(1, 3, frames, 25, 2)
    padded_length = -(-frames // 4) * 4
    looped = torch.cat([x] * (padded_length // frames + 1), dim=2)[:, :, :padded_length]
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(looped))


def test_training_step_runs_and_changes_offsets():
    net = ShiftGCN(ModelConfig(num_class=5)).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = net.l1.tcn1.shift_in.ypos.detach().clone()
    loss = torch.nn.functional.cross_entropy(
        net(torch.randn(2, 3, 16, 25, 2)), torch.tensor([0, 3])
    )
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, net.l1.tcn1.shift_in.ypos.detach())


@pytest.mark.parametrize("placement", ["series", "parallel"])
def test_excitation_variants_load_the_released_weights_they_share(placement):
    path = require_shared("weights", "official", "ntu_ShiftGCN_joint_xsub.pt")
    config = ModelConfig(
        motion_excitation=ExcitationConfig(placement),
        channel_excitation=ExcitationConfig(placement, temporal_conv=False),
    )
    loaded = model.load_model(path, config=config)
    net, report = loaded.net, loaded.report
    plain = torch.load(path, weights_only=True)
    assert report.missing and all(key not in plain for key in report.missing)
    assert all(".series." in k or ".parallel." in k for k in report.missing)
    torch.testing.assert_close(
        net.state_dict()["l3.gcn1.Linear_weight"], plain["l3.gcn1.Linear_weight"]
    )
    with torch.no_grad():
        assert net(torch.randn(1, 3, 32, 25, 2)).shape == (1, 60)


def test_project_checkpoint_round_trip(tmp_path):
    config = ModelConfig(num_class=4, channel_excitation=ExcitationConfig("parallel"))
    net = ShiftGCN(config).eval()
    path = tmp_path / "best.pt"
    save_plain(path, net, class_names=list("abcd"), stream="bone", extra={"epoch": 3})
    loaded, card = model.load_model(path)
    assert card.labels() == list("abcd") and card.stream == "bone"
    assert loaded.config == config
    x = torch.randn(1, 3, 8, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left


def test_load_errors_are_one_clear_line(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(2)}, foreign)
    small = tmp_path / "small.pt"
    torch.save(ShiftGCN(ModelConfig(num_class=7)).state_dict(), small)
    cases = [
        (tmp_path / "missing.pt", "not found"),
        (corrupt, "not a readable PyTorch checkpoint"),
        (foreign, "not a Shift-GCN checkpoint"),
    ]
    for path, expected in cases:
        with pytest.raises(UserError, match=expected) as err:
            model.load_model(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="has 7 classes but the model config asks for 60"):
        model.load_model(small, config=ModelConfig(num_class=60))
    state = ShiftGCN(ModelConfig(num_class=7)).state_dict()
    state.pop("l4.tcn1.bn2.weight")
    torch.save(state, small)
    with pytest.raises(UserError, match="lacks 1 keys"):
        model.load_model(small)


def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path):
    """A diverged or damaged file would give NaN probabilities everywhere: one line instead."""
    state = ShiftGCN(ModelConfig(num_class=7)).state_dict()
    state["l3.gcn1.Linear_weight"][0, 0] = float("nan")
    path = tmp_path / "diverged.pt"
    torch.save(state, path)
    with pytest.raises(UserError, match="non-finite weights .* l3.gcn1.Linear_weight") as err:
        model.load_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_importing_model_pulls_in_no_gui_or_vision_library():
    code = "import sys, model; print(sorted({'cv2', 'mediapipe', 'PyQt5'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_summary_command_prints_the_counts():
    out = subprocess.run(
        [sys.executable, "-m", "model.summary"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "693,107" in out.stdout and "GFLOPs" in out.stdout


def test_summary_command_reports_a_bad_config_in_one_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  num_classes: 60\n")
    out = subprocess.run(
        [sys.executable, "-m", "model.summary", "--config", str(bad)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert (
        out.returncode == 1
        and out.stderr.count("\n") == 1
        and "unknown keys num_classes" in out.stderr
    )


def test_yaml_config_selects_a_variant(tmp_path: Path):
    path = tmp_path / "variant.yaml"
    path.write_text(
        "model:\n  num_class: 10\n  motion_excitation: {placement: parallel}\n"
        "  channel_excitation: {placement: series, temporal_conv: false}\n"
    )
    config = ModelConfig.from_yaml(path)
    assert config.motion_excitation == ExcitationConfig("parallel")
    assert config.channel_excitation == ExcitationConfig("series", temporal_conv=False)
    net = model.build_model(config)
    assert len(net.l5.parallel) == 1 and len(net.l5.series) == 1
    with pytest.raises(UserError, match="placement 'beside'"):
        ModelConfig.from_dict({"motion_excitation": {"placement": "beside"}})


VARIANTS = {
    "plain": ModelConfig(num_class=9),
    "ME": ModelConfig(num_class=9, motion_excitation=ExcitationConfig("parallel")),
    "CE": ModelConfig(num_class=9, channel_excitation=ExcitationConfig("series")),
}


def _trained_looking(config: ModelConfig) -> ShiftGCN:
    """A network in eval mode whose BatchNorm statistics and offsets are away from their
    initial values, so that a folding error would show."""
    net = ShiftGCN(config)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        for unit in net.units:
            unit.tcn1.shift_out.ypos.uniform_(-3, 3)
    return net.eval()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fused_network_gives_the_unfused_logits(variant):
    """Folded BatchNorms, pruned shift kernels and skipped empty bodies keep the function:
    within 1e-5 of the logits' scale (float32 rounds the two orders of operations apart; a
    folding error is of the order of the logits)."""
    torch.manual_seed(0)
    net = _trained_looking(VARIANTS[variant])
    fused = model.fuse_for_inference(net)
    x = torch.randn(3, 3, 24, 25, 2)
    x[1, ..., 1] = 0  # one person
    x[2] = 0  # nobody
    with torch.no_grad():
        unfused_logits, fused_logits = net(x), fused(x)
        again = fused(x)  # the empty-body features now come from the cache
    scale = float(unfused_logits.abs().max())
    torch.testing.assert_close(fused_logits, unfused_logits, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(again, fused_logits, rtol=0, atol=1e-6 * scale)


def test_fusing_copies_and_leaves_the_network_and_its_checkpoint_alone(tmp_path):
    torch.manual_seed(2)
    net = _trained_looking(ModelConfig(num_class=4))
    before = {key: value.clone() for key, value in net.state_dict().items()}
    fused = model.fuse_for_inference(net)
    assert fused is not net and model.fuse_for_inference(fused) is fused
    assert fused.num_class == 4  # the class names and stream are the card's, beside the network
    after = net.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[key], before[key]) for key in before)
    assert isinstance(net.l1.gcn1, ShiftGraphConv) and isinstance(net.l5.residual, Residual)
    net.train()  # the unfused network still trains
    net.eval()
    path = tmp_path / "best.pt"
    save_plain(path, net, class_names=list("abcd"), stream="bone")
    loaded = model.load_model(path).net
    x = torch.randn(1, 3, 8, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
        torch.testing.assert_close(model.fuse_for_inference(loaded)(x), fused(x))


def test_a_fused_network_refuses_training_and_saving(tmp_path):
    fused = model.fuse_for_inference(ShiftGCN(ModelConfig(num_class=3)))
    assert not fused.training and not any(p.requires_grad for p in fused.parameters())
    with pytest.raises(RuntimeError, match="for inference only"):
        fused.train()
    assert not fused.training and fused.eval() is fused
    other = torch.nn.Linear(2, 2)
    assert model.fuse_for_inference(other) is other  # nothing to fuse
    with pytest.raises(TypeError, match="save the network it was fused from"):
        save_plain(tmp_path / "fused.pt", fused)
    assert not (tmp_path / "fused.pt").exists()


def test_class_names_with_control_characters_load_escaped(tmp_path):
    """A checkpoint's class names reach terminals and the GUI: escape codes come out harmless."""
    path = tmp_path / "odd.pt"
    net = build_model(ModelConfig(num_class=2, channels=(16, 32), strides=(1, 2)))
    save_plain(path, net, class_names=["wave\x1b[31m", "clap\nnext"])
    assert load_model(path).card.labels() == ["wave\\x1b[31m", "clap\\nnext"]
