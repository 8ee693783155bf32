"""Inference folding: a Shift-GCN rewritten into eval-only modules whose constants are precomputed.

The training blocks (model.shift_gcn) compute the plain math in both modes; every inference path
(model.runtime, model.export, the benchmarks) calls `fuse_for_inference` on the loaded network,
as torchvision's and PYSKL's fusion steps do. Fusing folds each BatchNorm into the linear map or
shift kernel before it, builds the shift kernels once with negligible taps pruned, gates the graph
convolution's features once, and caches the features of an empty body slot. Training, validation
and checkpoints use the unfused network, whose state_dict is the released one.
"""

from __future__ import annotations

import torch
from torch import nn

from .shift_gcn import (
    ConvBN,
    Residual,
    ShiftGCN,
    ShiftGraphConv,
    ShiftTemporalConv,
    permute_columns,
    pointwise,
)
from .temporal_shift import TemporalShift, apply_shift, shift_kernels


def fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.modules.batchnorm._BatchNorm
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a map linear per output channel followed by an eval-mode BatchNorm."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    bias = torch.zeros_like(bn.running_mean) if bias is None else bias
    return weight * scale.view(shape), (bias - bn.running_mean) * scale + bn.bias


class FusedPointwise(nn.Module):
    """A 1x1 convolution (temporal stride `stride`) with its BatchNorm folded in."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        weight, bias = fold_batch_norm(conv.weight, conv.bias, bn)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.stride = conv.stride[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise(x, self.weight, self.bias, self.stride)


class FusedShift(nn.Module):
    """A TemporalShift's pruned kernels, with an optional following BatchNorm folded in."""

    def __init__(self, shift: TemporalShift, bn: nn.BatchNorm2d | None = None) -> None:
        super().__init__()
        (t_kernel, self.t_radius), v_kernel = shift_kernels(
            shift.xpos, shift.ypos, shift.stride, prune=True
        )
        bias = None
        if bn is not None:
            t_kernel, bias = fold_batch_norm(t_kernel, None, bn)
        self.register_buffer("t_kernel", t_kernel)
        self.register_buffer("v_kernel", None if v_kernel is None else v_kernel[0])
        self.register_buffer("bias", bias)
        self.v_radius = 0 if v_kernel is None else v_kernel[1]
        self.stride, self.circular = shift.stride, shift.circular

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v_kernel = None if self.v_kernel is None else (self.v_kernel, self.v_radius)
        t_kernel = (self.t_kernel, self.t_radius)
        return apply_shift(x, t_kernel, v_kernel, self.stride, self.bias, self.circular)


class FusedGraphConv(nn.Module):
    """A ShiftGraphConv with its gate applied, both biases moved into the BatchNorm's statistics
    and the down projection's BatchNorm folded.

    The linear map's bias b[k] shifts every joint's channel k before the BatchNorm, so it becomes
    `mean - b`; the down projection adds after the BatchNorm, so its bias joins the BN's shift.
    """

    def __init__(self, conv: ShiftGraphConv) -> None:
        super().__init__()
        joints, self.out_channels = conv.joints, conv.out_channels
        bn = conv.bn
        self.eps = bn.eps
        self.register_buffer("shift_in", conv.shift_in)
        self.register_buffer("shift_out", conv.shift_out)
        self.register_buffer("mask", torch.tanh(conv.Feature_Mask) + 1)
        self.register_buffer("linear", conv.Linear_weight.detach())
        self.register_buffer("mean", bn.running_mean - conv.Linear_bias.view(-1).repeat(joints))
        self.register_buffer("var", bn.running_var)
        self.register_buffer("scale", bn.weight.detach())
        shift, down = bn.bias.detach(), None
        if isinstance(conv.down, ConvBN):
            weight, bias = fold_batch_norm(conv.down[0].weight, conv.down[0].bias, conv.down[1])
            down = weight.view(self.out_channels, -1).t().contiguous()
            shift = shift + bias.repeat(joints)
        self.register_buffer("shift", shift)
        self.register_buffer("down", down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * t * v, c)  # free for a channels_last x
        y = permute_columns(rows.view(n * t, v * c), self.shift_in).view(n * t, v, c)
        y = torch.mm((y * self.mask).view(n * t * v, c), self.linear)
        y = permute_columns(y.view(n * t, -1), self.shift_out)
        y = nn.functional.batch_norm(
            y, self.mean, self.var, self.scale, self.shift, False, 0.0, self.eps
        )
        y_rows = y.view(n * t * v, self.out_channels)
        if self.down is None:
            y_rows.add_(rows)
        else:
            y_rows.addmm_(rows, self.down)  # the down projection, accumulated in place
        # from y_rows, the tensor written in place: an ONNX trace would miss a write through a view
        return y_rows.view(n, t, v, self.out_channels).permute(0, 3, 1, 2).relu_()


class FusedShiftGCN(ShiftGCN):
    """An eval-only ShiftGCN of fused blocks that computes only the body slots holding a skeleton.

    A body slot that is all zeros (one person in view, as in most NTU classes) always gives the
    same features for a given window length, loop and slot: they are computed once and reused.
    """

    def __init__(self, net: ShiftGCN) -> None:
        super().__init__(net.config)
        self.load_state_dict(net.state_dict())
        self._empty_features: dict[tuple, torch.Tensor] = {}
        super().train(False)
        self.requires_grad_(False)
        _fold_children(self)

    def train(self, mode: bool = True) -> FusedShiftGCN:
        if mode:
            raise RuntimeError(
                "a fused Shift-GCN is for inference only; train the network before "
                "model.fuse_for_inference"
            )
        return super().train(False)

    def features(
        self,
        x: torch.Tensor,
        bodies: torch.Tensor,
        frame_weights: torch.Tensor | None = None,
        loop_to: int | None = None,
    ) -> torch.Tensor:
        """As ShiftGCN.features, computing only the body slots that hold a skeleton."""
        n, _, t, _, m = x.shape
        present = x.detach().abs().amax(dim=(1, 2, 3)).ne(0).flatten()  # (N*M,) in (n, m) order
        if bool(present.all()):
            return self.body_features(bodies, frame_weights)
        features = bodies.new_empty(n * m, self.fc.in_features)
        if bool(present.any()):
            kept = bodies[present].contiguous(memory_format=torch.channels_last)
            features[present] = self.body_features(kept, frame_weights)
        empty = ~present
        slots = torch.arange(m, device=x.device).repeat(n)[empty]
        key = (t, loop_to, x.shape[1], x.shape[3], m, x.dtype, x.device)
        if key not in self._empty_features:
            zeros = x.new_zeros(1, x.shape[1], t, x.shape[3], m)
            self._empty_features[key] = self.body_features(
                self.normalise_bodies(zeros), frame_weights
            )
        features[empty] = self._empty_features[key][slots]
        return features


def _fold_children(module: nn.Module) -> None:
    """Replace, below `module`, every block that has a fused form by that form."""
    for name, child in module.named_children():
        if isinstance(child, ConvBN):
            setattr(module, name, FusedPointwise(child[0], child[1]))
        elif isinstance(child, Residual):
            setattr(module, name, FusedPointwise(child.conv, child.bn))
        elif _is_pointwise_bn(child):
            setattr(module, name, FusedPointwise(child[0], child[1]))
        elif isinstance(child, ShiftGraphConv):
            setattr(module, name, FusedGraphConv(child))
        elif isinstance(child, ShiftTemporalConv):
            child.shift_in = FusedShift(child.shift_in)
            child.shift_out = FusedShift(child.shift_out, child.bn2)
            child.bn2 = nn.Identity()
        else:
            _fold_children(child)


def _is_pointwise_bn(module: nn.Module) -> bool:
    """Whether `module` is a Sequential of a 1x1 convolution and a BatchNorm2d (excitation)."""
    if type(module) is not nn.Sequential or len(module) != 2:
        return False
    conv, bn = module
    return (
        isinstance(conv, nn.Conv2d)
        and isinstance(bn, nn.BatchNorm2d)
        and conv.kernel_size == (1, 1)
        and conv.groups == 1
        and conv.stride[1] == 1
        and conv.padding == (0, 0)
    )


def fuse_for_inference(net: nn.Module) -> nn.Module:
    """An eval-only fused copy of a ShiftGCN `net`, which stays as it is; a network that is fused
    already or is no ShiftGCN (the ST-GCN baseline, tests' stand-ins) comes back as it is."""
    if isinstance(net, FusedShiftGCN) or not isinstance(net, ShiftGCN):
        return net
    with torch.no_grad():
        parameter = next(net.parameters())
        return FusedShiftGCN(net).to(parameter.device, parameter.dtype)
