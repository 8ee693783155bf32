"""Excitation blocks from video networks (TEA, ACTION-Net), adapted to skeletons (N, C, T, V).

Each block computes an attention `a` from its input and offers `excitation(x) = x * a`; in series
a unit's output becomes `x + x * a`, in parallel `x * a` is added beside the temporal branch.
"""

from __future__ import annotations

import torch
from torch import nn


class MotionExcitation(nn.Module):
    """Attention from feature differences between neighbouring frames (TEA's ME)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.squeeze = nn.Sequential(
            nn.Conv2d(channels, squeezed, 1, bias=False), nn.BatchNorm2d(squeezed)
        )
        self.transform = nn.Conv2d(
            squeezed, squeezed, (1, 3), padding=(0, 1), groups=squeezed, bias=False
        )
        self.expand = nn.Sequential(
            nn.Conv2d(squeezed, channels, 1, bias=False), nn.BatchNorm2d(channels)
        )

    def excitation(self, x: torch.Tensor) -> torch.Tensor:
        f = self.squeeze(x)
        motion = self.transform(f[:, :, 1:]) - f[:, :, :-1]
        motion = nn.functional.pad(motion, (0, 0, 0, 1))  # zero for the last frame
        attention = torch.sigmoid(self.expand(motion.mean(3, keepdim=True))) - 0.5
        return x * attention


class ChannelExcitation(nn.Module):
    """Channel attention from joint-pooled features, optionally mixed over time (ACTION-Net CE)."""

    def __init__(self, channels: int, reduction: int = 16, temporal_conv: bool = True) -> None:
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, squeezed, 1)
        self.temporal = (
            nn.Conv2d(squeezed, squeezed, (3, 1), padding=(1, 0))
            if temporal_conv
            else nn.Identity()
        )
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def excitation(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(3, keepdim=True)
        attention = torch.sigmoid(self.expand(torch.relu(self.temporal(self.squeeze(pooled)))))
        return x * attention
