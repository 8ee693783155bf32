"""The adaptive temporal shift against a slow, obviously-correct loop, and its gradients."""

from __future__ import annotations

import math

import pytest
import torch

from model.temporal_shift import TemporalShift, temporal_shift

OFFSETS_Y = [-2.7, -1.0, -0.35, 0.0, 0.25, 0.5, 1.6, 3.2]  # negative, fractional, beyond +-1
OFFSETS_X = [0.4, -1.3, 0.0, 2.5, -0.6, 1e-10, -1e-10, 0.9]


def reference_shift(
    x: torch.Tensor, xpos: list[float], ypos: list[float], stride: int
) -> torch.Tensor:
    """The spec's formula, one output value at a time."""
    n_size, channels, frames, joints = x.shape
    out = torch.zeros(n_size, channels, frames // stride, joints, dtype=x.dtype)

    def q(n: int, c: int, t: int, v: int) -> float:
        inside = 0 <= t < frames and 0 <= v < joints
        return float(x[n, c, t, v]) if inside else 0.0

    for c in range(channels):
        y = ypos[c] + (0.5 if stride > 1 else 0.0)
        xo = xpos[c]
        y1, x1 = math.floor(y), math.floor(xo)
        dy, dx = y - y1, xo - x1
        for n in range(n_size):
            for t in range(frames // stride):
                for v in range(joints):
                    ts = t * stride
                    out[n, c, t, v] = (
                        q(n, c, ts + y1, v + x1) * (1 - dx) * (1 - dy)
                        + q(n, c, ts + y1, v + x1 + 1) * dx * (1 - dy)
                        + q(n, c, ts + y1 + 1, v + x1) * (1 - dx) * dy
                        + q(n, c, ts + y1 + 1, v + x1 + 1) * dx * dy
                    )
    return out


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("frames", [12, 9])
def test_shift_equals_the_reference_loop(stride, frames):
    torch.manual_seed(stride)
    x = torch.randn(2, len(OFFSETS_Y), frames, 5, dtype=torch.float64)
    xpos = torch.tensor(OFFSETS_X, dtype=torch.float64)
    ypos = torch.tensor(OFFSETS_Y, dtype=torch.float64)
    expected = reference_shift(x, OFFSETS_X, OFFSETS_Y, stride)
    torch.testing.assert_close(temporal_shift(x, xpos, ypos, stride), expected)
    pruned = temporal_shift(x, xpos, ypos, stride, prune=True)
    torch.testing.assert_close(pruned, expected, atol=1e-8, rtol=0)


@pytest.mark.parametrize("stride", [1, 2])
def test_gradcheck_in_input_and_both_offsets(stride):
    torch.manual_seed(0)
    x = torch.randn(1, 6, 8, 4, dtype=torch.float64, requires_grad=True)
    # away from integers (where the bilinear weights have kinks), on both sides of zero, beyond +-1
    xpos = torch.tensor([0.3, -0.7, 1.4, -1.6, 0.05, 2.2], dtype=torch.float64, requires_grad=True)
    ypos = torch.tensor(
        [-2.3, 0.6, -0.45, 1.7, 3.35, -1.2], dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(
        lambda a, b, c: temporal_shift(a, b, c, stride), (x, xpos, ypos)
    )


def test_module_is_differentiable_in_training_and_identity_at_zero_offsets():
    shift = TemporalShift(4, stride=1)
    with torch.no_grad():
        shift.ypos.zero_()
        shift.xpos.zero_()
    x = torch.randn(2, 4, 10, 25)
    torch.testing.assert_close(shift(x), x)
    shift.ypos.data.fill_(0.5)
    shift(x).sum().backward()
    assert shift.ypos.grad is not None and shift.ypos.grad.abs().sum() > 0
    assert shift.xpos.grad is not None
