"""The adaptive temporal shift: per-channel learnable, bilinearly interpolated offsets in (T, V).

For channel c with offsets (x, y) and stride s, output frame t at joint v is the input sampled at
the real position (t*s + y, v + x), with y + 0.5 in place of y when s > 1 and zero outside the
input. Bilinear sampling is separable, so it is done as one linear interpolation along T followed
by one along V, each a pair of gathers; both are differentiable in the input and the offsets.
"""
from __future__ import annotations

import torch
from torch import nn


def _interpolate_along(x: torch.Tensor, dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Sample `x` (N, C, T, V) along `dim` at real `positions` (C, L) per channel, zero outside."""
    length = x.shape[dim]
    lower = torch.floor(positions)
    frac = positions - lower  # carries the gradient with respect to the offsets
    lower = lower.long()
    out = None
    for index, weight in ((lower, 1 - frac), (lower + 1, frac)):
        inside = (index >= 0) & (index < length)
        weight = weight * inside
        index = index.clamp(0, length - 1)
        if dim == 2:
            shape = (x.shape[0], x.shape[1], index.shape[1], x.shape[3])
            gathered = x.gather(2, index[None, :, :, None].expand(shape))
            term = gathered * weight[None, :, :, None]
        else:
            shape = (x.shape[0], x.shape[1], x.shape[2], index.shape[1])
            gathered = x.gather(3, index[None, :, None, :].expand(shape))
            term = gathered * weight[None, :, None, :]
        out = term if out is None else out + term
    return out


def sample_positions(
    xpos: torch.Tensor, ypos: torch.Tensor, stride: int, frames: int, joints: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real sampling positions along T (C, T_out) and V (C, V) for each channel."""
    if stride > 1:
        ypos = ypos + 0.5
    out_frames = frames // stride
    t = torch.arange(out_frames, device=ypos.device, dtype=ypos.dtype) * stride
    v = torch.arange(joints, device=xpos.device, dtype=xpos.dtype)
    return t[None, :] + ypos[:, None], v[None, :] + xpos[:, None]


def temporal_shift(
    x: torch.Tensor, xpos: torch.Tensor, ypos: torch.Tensor, stride: int = 1
) -> torch.Tensor:
    """Shift `x` (N, C, T, V) by per-channel offsets; returns (N, C, T // stride, V)."""
    frames, joints = x.shape[2], x.shape[3]
    t_pos, v_pos = sample_positions(xpos, ypos, stride, frames, joints)
    return _interpolate_along(_interpolate_along(x, 2, t_pos), 3, v_pos)


class TemporalShift(nn.Module):
    """Learnable per-channel shift along T (`ypos`) and V (`xpos`), as in the released models."""

    def __init__(self, channels: int, stride: int = 1, init_scale: float = 1.0) -> None:
        super().__init__()
        self.stride = stride
        self.xpos = nn.Parameter(torch.empty(channels).uniform_(-1e-8, 1e-8))
        self.ypos = nn.Parameter(torch.empty(channels).uniform_(-init_scale, init_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.xpos, self.ypos, self.stride)

    def extra_repr(self) -> str:
        return f"channels={self.xpos.numel()}, stride={self.stride}"
