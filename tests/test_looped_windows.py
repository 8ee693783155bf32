"""A looped window computed on its own frames (ShiftGCN.forward's loop_to) and where it is used."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pose_helpers import streaming
from shared_paths import FIXTURES, OFFICIAL_WEIGHTS, require

from model import ModelConfig, ShiftGCN, fuse_for_inference
from model.preprocess import loop_period
from model.runtime import TorchRuntime
from pipeline import prepare_window


@pytest.fixture(scope="module")
def wide_net() -> ShiftGCN:
    """An untrained network whose temporal shifts reach up to 6 frames (wider than a short
    period at the deepest units, so the wrap repeats the period)."""
    torch.manual_seed(0)
    net = ShiftGCN(ModelConfig())
    for unit in net.units:
        for shift in (unit.tcn1.shift_in, unit.tcn1.shift_out):
            shift.ypos.data.uniform_(-6, 6)
    return net.eval()


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("period", [8, 20])
def test_one_period_gives_the_logits_of_the_endless_loop(wide_net, period, fused):
    """On one period with circular shifts = on the long loop with circular shifts (no ends)."""
    net = fuse_for_inference(wide_net) if fused else wide_net
    torch.manual_seed(1)
    x = torch.randn(2, 3, period, 25, 2)
    x[1, ..., 1] = 0  # one person in the second sample: the empty-body cache takes the loop too
    loop = x.repeat(1, 1, 6, 1, 1)
    with torch.no_grad():
        short = net(x, loop_to=6 * period)
        long = net(loop, loop_to=6 * period)
        zero_padded = net(loop)
        unfused_short = wide_net(x, loop_to=6 * period)
    torch.testing.assert_close(short, long, rtol=0, atol=1e-4)
    torch.testing.assert_close(short, unfused_short, rtol=0, atol=1e-4)
    assert (short - zero_padded).abs().max() > 1e-2  # the long window's ends do differ
    assert not any(
        shift.circular for unit in net.units for shift in (unit.tcn1.shift_in, unit.tcn1.shift_out)
    )


def test_a_period_that_does_not_divide_the_loop_weights_its_frames_by_their_count(wide_net):
    """8 frames looped to 20 (5 output frames of a 2-frame period): frame 0 thrice, 1 twice."""
    torch.testing.assert_close(wide_net.loop_weights(8, 20), torch.tensor([3, 2]) / 5)
    with pytest.raises(ValueError, match="multiples of 4"):
        wide_net.loop_weights(10, 300)


def test_the_period_of_a_padded_window():
    """A window filled at both ends loops with its length; a shorter person does not loop;
    a length that is no multiple of 4 loops with the first multiple of its length."""
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(100, 3, 25, 2)).astype(np.float32)
    assert loop_period(prepare_window(frames, 300, "joint"), 4) == 100
    assert loop_period(prepare_window(frames[:30], 300, "joint"), 4) == 60
    partial = frames.copy()
    partial[90:, :, :, 1] = 0  # the second person left before the window's end
    assert loop_period(prepare_window(partial, 300, "joint"), 4) is None
    assert loop_period(prepare_window(frames[:45], 300, "joint"), 4) == 180


def test_the_torch_runtime_runs_one_period(wide_net):
    frames = np.random.default_rng(2).normal(size=(100, 3, 25, 2)).astype(np.float32)
    x = prepare_window(frames, 300, "joint")
    with torch.no_grad():
        expected = wide_net(torch.from_numpy(x[:, :100])[None], loop_to=300)[0].numpy()
        full = wide_net(torch.from_numpy(x)[None])[0].numpy()
    # the runtime runs the fused network; untrained logits reach 150, hence the relative tolerance
    np.testing.assert_allclose(TorchRuntime(wide_net)(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(TorchRuntime(wide_net, looped=False)(x), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("checkpoint", ["ntu_ShiftGCN_joint_xsub", "ntu120_ShiftGCN_joint_xsub"])
def test_looped_windows_agree_with_the_full_windows_on_ntu_skeletons(checkpoint):
    """The steady live windows (the last 100 frames, every 15) of NTU-format skeletons (the
    paired real Kinect recording and the skeleton fixtures, which carry real data's edge cases):
    computed on one period, the top-1 class is the full 300-frame window's in at least 9 of 10
    windows that loop (bench.looped_windows measures the same on MediaPipe skeletons of both
    videos, with the shorter first windows)."""
    from model import load_model

    net = load_model(require(OFFICIAL_WEIGHTS / f"{checkpoint}.pt")).net
    from train.skeleton import read_skeleton

    samples = list(np.load(require(FIXTURES / "ntu_preprocessing_reference.npz"))["raw"])
    samples.append(read_skeleton(require(FIXTURES / "paired" / "S001C001P001R001A001.skeleton")))
    looped = agree = 0
    for sample in samples:
        filled = np.flatnonzero(np.abs(sample).sum(axis=(0, 2, 3)))
        frames = np.moveaxis(sample[:, : filled[-1] + 1] if len(filled) else sample[:, :0], 1, 0)
        for end in range(100, len(frames) + 1, 15):
            x = prepare_window(frames[end - 100 : end], 300, "joint")
            period = loop_period(x, 4)
            if period is None:
                continue
            with torch.no_grad():
                full = net(torch.from_numpy(x)[None])
                short = net(
                    torch.from_numpy(np.ascontiguousarray(x[:, :period]))[None], loop_to=300
                )
            looped += 1
            agree += int(full.argmax() == short.argmax())
    assert looped >= 5 and agree >= 0.9 * looped, (agree, looped)


def test_the_streaming_classifier_uses_the_loop():
    """looped=True (the default) and False give the same top-1 on a real sample's window."""
    from model import load_model

    net = load_model(require(OFFICIAL_WEIGHTS / "ntu_ShiftGCN_joint_xsub.pt"))
    sample = np.load(require(FIXTURES / "ntu_preprocessing_reference.npz"))["raw"][3]
    frames = np.moveaxis(sample[:, :40], 1, 0)
    tops = []
    for looped in (True, False):
        classifier = streaming(net, window=40, stride=40, min_frames=16, looped=looped)
        prediction = [classifier.push(f, i / 30) for i, f in enumerate(frames)][-1]
        tops.append((prediction.top(1)[0]["index"], prediction.probs))
    assert tops[0][0] == tops[1][0]
    assert not np.allclose(tops[0][1], tops[1][1], atol=1e-6)  # the loop did run
