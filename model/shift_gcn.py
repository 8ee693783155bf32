"""Shift-GCN (Cheng et al., CVPR 2020), laid out so the released state_dicts load as they are."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .config import ExcitationConfig, ModelConfig
from .excitation import ChannelExcitation, MotionExcitation
from .temporal_shift import TemporalShift


def shift_indices(joints: int, channels: int, direction: int) -> torch.Tensor:
    """Index of the non-local spatial shift over a frame flattened in (v, c) order.

    direction=+1 is the shift in (channel j of joint i comes from joint i + j), -1 the shift out.
    """
    i = torch.arange(joints).repeat_interleave(channels)
    j = torch.arange(channels).repeat(joints)
    return (i * channels + j + direction * j * channels) % (joints * channels)


def pointwise(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int = 1
) -> torch.Tensor:
    """A 1x1 convolution with a temporal stride, as one matrix product over channels_last data.

    On a channels_last x the (n, t, v) rows are already contiguous, so this is a single GEMM with
    no layout conversion; the result is channels_last too.
    """
    if stride > 1:
        x = x[:, :, ::stride]
    n, c, t, v = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(n * t * v, c)
    out = torch.addmm(bias, rows, weight.flatten(1).t())
    return out.view(n, t, v, -1).permute(0, 3, 1, 2)


def permute_columns(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[:, index]: as a gather with the index broadcast over rows, which PyTorch's CPU kernel runs
    on every thread (`index_select` runs on one). An exported graph gathers whole rows of the
    transpose instead, because ONNX Runtime copies a column gather element by element."""
    if torch.jit.is_tracing():
        return x.t().index_select(0, index).t().contiguous()
    return torch.gather(x, 1, index.expand(x.shape[0], -1))


class ConvBN(nn.Sequential):
    """1x1 convolution followed by BatchNorm2d (keys `0.*`, `1.*`: the spatial block's `down`)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self[1](pointwise(x, self[0].weight, self[0].bias))


class Residual(nn.Module):
    """The unit's 1x1 residual projection; keys `conv.*` and `bn.*` as in the checkpoints."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(pointwise(x, self.conv.weight, self.conv.bias, self.conv.stride[0]))


class ShiftGraphConv(nn.Module):
    """Spatial shift graph convolution: shift in, feature mask, per-joint linear, shift out."""

    def __init__(self, in_channels: int, out_channels: int, joints: int = 25) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.joints = in_channels, out_channels, joints
        self.down = (
            ConvBN(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        )
        self.Linear_weight = nn.Parameter(
            torch.empty(in_channels, out_channels).normal_(0, math.sqrt(1.0 / out_channels))
        )
        self.Linear_bias = nn.Parameter(torch.zeros(1, 1, out_channels))
        self.Feature_Mask = nn.Parameter(torch.zeros(1, joints, in_channels))
        self.bn = nn.BatchNorm1d(joints * out_channels)
        self.register_buffer("shift_in", shift_indices(joints, in_channels, +1))
        self.register_buffer("shift_out", shift_indices(joints, out_channels, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * t * v, c)  # free for a channels_last x
        y = permute_columns(rows.view(n * t, v * c), self.shift_in).view(n * t, v, c)
        y = y * (torch.tanh(self.Feature_Mask) + 1)
        y = torch.addmm(self.Linear_bias.view(-1), y.view(n * t * v, c), self.Linear_weight)
        y = self.bn(permute_columns(y.view(n * t, -1), self.shift_out))
        y = y.view(n, t, v, self.out_channels).permute(0, 3, 1, 2)  # channels_last
        return y.add_(self.down(x)).relu_()


class ShiftTemporalConv(nn.Module):
    """Adaptive temporal shift convolution: BN, shift, 1x1 conv, ReLU, strided shift, BN."""

    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.shift_in = TemporalShift(channels, stride=1)
        self.temporal_linear = nn.Conv2d(channels, channels, 1)
        nn.init.kaiming_normal_(self.temporal_linear.weight, mode="fan_out")
        self.shift_out = TemporalShift(channels, stride=stride)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shift_in(self.bn(x))
        linear = self.temporal_linear
        x = pointwise(x, linear.weight, linear.bias).relu_()
        return self.bn2(self.shift_out(x))


def _excitation(kind: type[nn.Module], config: ExcitationConfig, channels: int) -> nn.Module | None:
    if config.placement == "none":
        return None
    if kind is ChannelExcitation:
        return ChannelExcitation(channels, config.reduction, config.temporal_conv)
    return MotionExcitation(channels, config.reduction)


class ShiftGCNUnit(nn.Module):
    """relu(tcn1(gcn1(x)) + residual(x)), with optional excitation blocks in series or parallel."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        residual: bool = True,
        joints: int = 25,
        motion_excitation: ExcitationConfig | None = None,
        channel_excitation: ExcitationConfig | None = None,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.gcn1 = ShiftGraphConv(in_channels, out_channels, joints)
        self.tcn1 = ShiftTemporalConv(out_channels, stride)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = Residual(in_channels, out_channels, stride)
        self.series = nn.ModuleList()
        self.parallel = nn.ModuleList()
        for kind, config in (
            (MotionExcitation, motion_excitation),
            (ChannelExcitation, channel_excitation),
        ):
            config = config or ExcitationConfig()
            block = _excitation(kind, config, out_channels)
            if block is not None:
                (self.series if config.placement == "series" else self.parallel).append(block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gcn1(x)
        y = self.tcn1(g)
        for block in self.parallel:  # beside the temporal branch, at the unit's temporal stride
            y = y + block.excitation(g)[:, :, :: self.stride][:, :, : y.shape[2]]
        if self.residual is not None:
            y = y.add_(self.residual(x))
        y = y.relu_()
        for block in self.series:  # after the unit
            y = y + block.excitation(y)
        return y


HEAD_INIT_CLASSES = 60  # the head's initial weights are scaled as for at least this many classes


class ShiftGCN(nn.Module):
    """The Shift-GCN classifier: input (N, 3, T, 25, M=2) in metres, output (N, num_class) logits.

    T need not be a multiple of the network's temporal reduction (4): shorter-by-a-few windows are
    padded by looping the window from its start, the way the training samples were padded.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        self.num_class = config.num_class
        joints, people = config.num_point, config.num_person
        self.data_bn = nn.BatchNorm1d(people * config.in_channels * joints)
        in_channels = config.in_channels
        for index, (channels, stride) in enumerate(zip(config.channels, config.strides), start=1):
            unit = ShiftGCNUnit(
                in_channels,
                channels,
                stride,
                residual=index > 1,
                joints=joints,
                motion_excitation=config.motion_excitation,
                channel_excitation=config.channel_excitation,
            )
            self.add_module(f"l{index}", unit)
            in_channels = channels
        self.fc = nn.Linear(in_channels, config.num_class)
        # The published std, sqrt(2 / classes), at most NTU-60's: for a handful of classes it
        # would give a fresh network logits four times NTU's (a first loss of 24 for 4 classes)
        head_std = math.sqrt(2.0 / max(config.num_class, HEAD_INIT_CLASSES))
        nn.init.normal_(self.fc.weight, 0, head_std)
        nn.init.constant_(self.data_bn.weight, 1)
        nn.init.constant_(self.data_bn.bias, 0)

    @property
    def units(self) -> list[ShiftGCNUnit]:
        return [getattr(self, f"l{i}") for i in range(1, len(self.config.channels) + 1)]

    def pad_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Loop-pad T up to a multiple of the temporal reduction so strided branches agree."""
        frames = x.shape[2]
        multiple = self.config.temporal_reduction
        missing = -frames % multiple
        if missing == 0:
            return x
        repeats = -(-missing // frames)
        loop = torch.cat([x] * (repeats + 1), dim=2)
        return loop[:, :, : frames + missing]

    def forward(self, x: torch.Tensor, loop_to: int | None = None) -> torch.Tensor:
        """Logits of `x` (N, C, T, V, M); with `loop_to`, of `x` looped to that many frames.

        A looped window repeats its T frames, and the network is local in time: its features are
        computed on the T frames alone with every temporal shift wrapping around (circular
        padding), then averaged with the weight each frame has in the loop. That is exact except
        near the loop's first and last frames, where the long window pads with zeros; it costs
        about T / loop_to of the work. T and loop_to must be multiples of the temporal reduction.
        """
        if x.dim() != 5:
            raise ValueError(f"expected input (N, C, T, V, M), got shape {tuple(x.shape)}")
        weights = None
        if loop_to is None:
            x = self.pad_frames(x)
        else:
            weights = self.loop_weights(x.shape[2], loop_to).to(x)
        n, m = x.shape[0], x.shape[4]
        bodies = self.normalise_bodies(x)
        with self.circular_shifts(loop_to is not None):
            features = self.features(x, bodies, weights, loop_to)
        return self.fc(features.view(n, m, -1).mean(1))

    @property
    def loops_exactly(self) -> bool:
        """Whether `loop_to` applies (excitation blocks pad their time convolutions with zeros)."""
        return not any(unit.series or unit.parallel for unit in self.units)

    def loop_weights(self, frames: int, loop_to: int) -> torch.Tensor:
        """How much each output frame of a `frames`-long period counts in a loop of `loop_to`."""
        multiple = self.config.temporal_reduction
        if frames % multiple or loop_to % multiple or not 0 < frames <= loop_to:
            raise ValueError(
                f"a looped window needs frames ({frames}) <= loop_to ({loop_to}), "
                f"both multiples of {multiple}"
            )
        if not self.loops_exactly:
            raise ValueError("looped windows need a network without excitation blocks")
        period, total = frames // multiple, loop_to // multiple
        counts = (total - torch.arange(period) + period - 1) // period
        return counts.float() / total

    @contextmanager
    def circular_shifts(self, on: bool) -> Iterator[None]:
        """Within the block every temporal shift wraps around its input's ends when `on`."""
        shifts = [unit.tcn1.shift_in for unit in self.units]
        shifts += [unit.tcn1.shift_out for unit in self.units]
        before = [shift.circular for shift in shifts]
        for shift in shifts:
            shift.circular = on
        try:
            yield
        finally:
            for shift, state in zip(shifts, before):
                shift.circular = state

    def normalise_bodies(self, x: torch.Tensor) -> torch.Tensor:
        """data_bn over (m, v, c) channels, then bodies folded into the batch: (N*M, C, T, V)."""
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        # channels_last keeps (T, V, C) contiguous: the spatial shift's (v, c) frame vectors are
        # then views, and every convolution and BatchNorm runs without layout copies.
        return x.contiguous(memory_format=torch.channels_last)

    def body_features(
        self, bodies: torch.Tensor, frame_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The ten units, then the mean over frames and joints: (B, C, T, V) -> (B, 256).

        `frame_weights` (T',), summing to 1, weight the output frames instead of a plain mean.
        """
        for unit in self.units:
            bodies = unit(bodies)
        if frame_weights is None:
            return bodies.flatten(2).mean(2)
        return (bodies.mean(3) * frame_weights).sum(2)

    def features(
        self,
        x: torch.Tensor,
        bodies: torch.Tensor,
        frame_weights: torch.Tensor | None = None,
        loop_to: int | None = None,
    ) -> torch.Tensor:
        """Features (N*M, 256) of the bodies of `x` (N, C, T, V, M), normalised as `bodies`.

        Every body slot is computed; the fused network (model.fuse) skips empty ones.
        """
        return self.body_features(bodies, frame_weights)


def build_model(config: ModelConfig | None = None) -> ShiftGCN:
    """A freshly initialised Shift-GCN (the released architecture by default)."""
    return ShiftGCN(config)
