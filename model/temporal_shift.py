"""The adaptive temporal shift: per-channel learnable, bilinearly interpolated offsets in (T, V).

For channel c with offsets (x, y) and stride s, output frame t at joint v is the input sampled at
the real position (t*s + y, v + x), with y + 0.5 in place of y when s > 1 and zero outside the
input. Bilinear sampling is separable, and sampling every frame at the same fractional offset is a
convolution: each channel's shift is a depthwise convolution along T whose kernel holds the two
interpolation weights `1 - frac(y)` and `frac(y)` at taps `floor(y)` and `floor(y) + 1`, followed by
the same along V. Zero padding gives the zero outside, the stride is the convolution's stride, and
the kernels are differentiable in the offsets. `python -m bench.temporal_shift` times it against
gather-and-lerp and `grid_sample` on channels_last input, the layout the network runs in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEGLIGIBLE_WEIGHT = 1e-7
"""Fused kernels (model.fuse) drop taps lighter than this (released V offsets are about 1e-10)."""


def shift_kernel(offset: torch.Tensor, prune: bool = False) -> tuple[torch.Tensor, int]:
    """Per-channel interpolation kernels (C, 2R+1) centred on tap R, and R, for `offset` (C,)."""
    lower = torch.floor(offset)
    frac = offset - lower  # carries the gradient with respect to the offsets
    taps = lower.long()
    if prune:
        weights = torch.stack([1 - frac, frac], 1)
        keep = weights.abs() >= NEGLIGIBLE_WEIGHT
        taps_used = torch.stack([taps, taps + 1], 1)[keep]
    else:
        taps_used = torch.cat([taps, taps + 1])
    radius = int(taps_used.abs().max()) if taps_used.numel() else 0
    kernel = offset.new_zeros(offset.shape[0], 2 * radius + 1)
    lower_weight, upper_weight = 1 - frac, frac
    if prune:
        lower_weight = lower_weight * keep[:, 0]
        upper_weight = upper_weight * keep[:, 1]
    for tap, weight in ((taps, lower_weight), (taps + 1, upper_weight)):
        inside = tap.abs() <= radius  # pruned taps may fall outside the kernel
        index = (tap + radius).clamp(0, 2 * radius)[:, None]
        kernel = kernel.scatter_add(1, index, (weight * inside)[:, None])
    return kernel, radius


def _wrap_frames(x: torch.Tensor, radius: int) -> torch.Tensor:
    """`x` (N, C, T, V) with `radius` frames at each end taken from its other end (circular).

    Concatenation keeps the channels_last layout (F.pad's circular mode does not, and is slower).
    """
    frames = x.shape[2]
    if radius > frames:  # a short period: repeat it until it covers the kernel
        copies = -(-radius // frames)
        start = copies * frames - radius
        return torch.cat([x] * (2 * copies + 1), dim=2)[:, :, start : start + frames + 2 * radius]
    return torch.cat([x[:, :, frames - radius :], x, x[:, :, :radius]], dim=2)


def _depthwise(
    x: torch.Tensor,
    kernel: torch.Tensor,
    radius: int,
    dim: int,
    stride: int,
    bias: torch.Tensor | None,
    circular: bool = False,
) -> torch.Tensor:
    channels = kernel.shape[0]  # static, so that an exported graph knows the kernel's shape
    if dim == 2:
        weight = kernel.view(channels, 1, -1, 1)
        if circular:
            x, radius = _wrap_frames(x, radius), 0
        return F.conv2d(x, weight, bias, stride=(stride, 1), padding=(radius, 0), groups=channels)
    weight = kernel.view(channels, 1, 1, -1)
    return F.conv2d(x, weight, bias, padding=(0, radius), groups=channels)


def shift_kernels(
    xpos: torch.Tensor, ypos: torch.Tensor, stride: int, prune: bool = False
) -> tuple[tuple[torch.Tensor, int], tuple[torch.Tensor, int] | None]:
    """The T and V kernels of a shift; the V kernel is None where pruning leaves the identity.

    `prune` drops interpolation weights below NEGLIGIBLE_WEIGHT (for inference with fixed offsets).
    """
    t_kernel = shift_kernel(ypos + 0.5 if stride > 1 else ypos, prune)
    v_kernel, v_radius = shift_kernel(xpos, prune)
    if prune and v_radius == 0 and bool((v_kernel == 1).all()):
        return t_kernel, None
    return t_kernel, (v_kernel, v_radius)


def apply_shift(
    x: torch.Tensor,
    t_kernel: tuple[torch.Tensor, int],
    v_kernel: tuple[torch.Tensor, int] | None,
    stride: int,
    bias: torch.Tensor | None = None,
    circular: bool = False,
) -> torch.Tensor:
    """Run the depthwise convolutions of `shift_kernels` on `x` (N, C, T, V), adding `bias` last.

    `circular` samples frames outside `x` from its other end instead of taking zeros.
    """
    out_frames = x.shape[2] // stride
    t_bias = bias if v_kernel is None else None
    t_weight = t_kernel[0].to(x.dtype)
    x = _depthwise(x, t_weight, t_kernel[1], 2, stride, t_bias, circular)[:, :, :out_frames]
    if v_kernel is None:
        return x
    return _depthwise(x, v_kernel[0].to(x.dtype), v_kernel[1], 3, 1, bias)


def temporal_shift(
    x: torch.Tensor,
    xpos: torch.Tensor,
    ypos: torch.Tensor,
    stride: int = 1,
    prune: bool = False,
    circular: bool = False,
) -> torch.Tensor:
    """Shift `x` (N, C, T, V) by per-channel offsets; returns (N, C, T // stride, V).

    `circular` treats `x` as one period of a looped sequence (see TemporalShift.circular).
    """
    return apply_shift(x, *shift_kernels(xpos, ypos, stride, prune), stride, circular=circular)


class TemporalShift(nn.Module):
    """Learnable per-channel shift along T (`ypos`) and V (`xpos`), as in the released models.

    With `circular` set, the input is one period of a looped sequence: frames before its start
    and after its end come from its other end (ShiftGCN.forward's `loop_to`).
    """

    def __init__(self, channels: int, stride: int = 1, init_scale: float = 1.0) -> None:
        super().__init__()
        self.stride = stride
        self.circular = False
        self.xpos = nn.Parameter(torch.empty(channels).uniform_(-1e-8, 1e-8))
        self.ypos = nn.Parameter(torch.empty(channels).uniform_(-init_scale, init_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.xpos, self.ypos, self.stride, circular=self.circular)

    def extra_repr(self) -> str:
        return f"channels={self.xpos.numel()}, stride={self.stride}"
