"""A plain ST-GCN (Yan et al., AAAI 2018) on the NTU graph: the baseline for Shift-GCN's speed.

Spatial-configuration partition (root, centripetal, centrifugal around the spine-shoulder joint),
learnable edge importance, temporal kernel 9, the same ten-unit layout as Shift-GCN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ntu.joints import BONES, NUM_JOINTS

CENTRE = 20  # spine at the shoulders, the partition's centre in the paper's NTU setting


def spatial_partition() -> np.ndarray:
    """Three normalised adjacency matrices (3, V, V): self, towards the centre, away from it."""
    edges = [(c, p) for c, p in BONES if c != p]
    adjacency = np.eye(NUM_JOINTS)
    for child, parent in edges:
        adjacency[child, parent] = adjacency[parent, child] = 1
    hops = np.full((NUM_JOINTS, NUM_JOINTS), np.inf)
    reach = [np.linalg.matrix_power(adjacency, d) > 0 for d in range(NUM_JOINTS)]
    for d in range(NUM_JOINTS - 1, -1, -1):
        hops[reach[d]] = d
    degree = adjacency.sum(0)
    normalised = adjacency / degree[None, :]
    partition = np.zeros((3, NUM_JOINTS, NUM_JOINTS))
    for i in range(NUM_JOINTS):
        for j in range(NUM_JOINTS):
            if adjacency[j, i] == 0:
                continue
            if hops[j, CENTRE] == hops[i, CENTRE]:
                partition[0, j, i] = normalised[j, i]
            elif hops[j, CENTRE] > hops[i, CENTRE]:
                partition[1, j, i] = normalised[j, i]
            else:
                partition[2, j, i] = normalised[j, i]
    return partition.astype(np.float32)


class GraphConv(nn.Module):
    """Sum over partitions k of A_k-weighted neighbours of a 1x1-convolved input."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int) -> None:
        super().__init__()
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, 1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        x = self.conv(x).view(n, self.partitions, -1, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, adjacency)


class STGCNBlock(nn.Module):
    """Graph convolution, then BN-ReLU-temporal conv (9x1)-BN, residual, ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        stride: int = 1,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, adjacency.shape[0])
        self.edge_importance = nn.Parameter(torch.ones_like(adjacency))
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (9, 1), (stride, 1), (4, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(0.5),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, (stride, 1)), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x, adjacency * self.edge_importance))
        return torch.relu(y + self.residual(x) if self.residual is not None else y)


class STGCN(nn.Module):
    """ST-GCN classifier over (N, 3, T, 25, M) skeletons."""

    def __init__(self, num_class: int = 60, num_person: int = 2) -> None:
        super().__init__()
        self.register_buffer("adjacency", torch.from_numpy(spatial_partition()))
        self.data_bn = nn.BatchNorm1d(num_person * 3 * NUM_JOINTS)
        layout = [
            (3, 64, 1),
            (64, 64, 1),
            (64, 64, 1),
            (64, 64, 1),
            (64, 128, 2),
            (128, 128, 1),
            (128, 128, 1),
            (128, 256, 2),
            (256, 256, 1),
            (256, 256, 1),
        ]
        self.blocks = nn.ModuleList(
            STGCNBlock(cin, cout, self.adjacency, stride, residual=i > 0)
            for i, (cin, cout, stride) in enumerate(layout)
        )
        self.fc = nn.Linear(256, num_class)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        for block in self.blocks:
            x = block(x, self.adjacency)
        return self.fc(x.view(n, m, x.shape[1], -1).mean(3).mean(1))
