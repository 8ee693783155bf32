"""`python -m bench.temporal_shift`: three implementations of the adaptive temporal shift, timed.

- gather-and-lerp: per channel, gather the two neighbouring frames (then joints) and interpolate;
- grid_sample: bilinear sampling with one sampling grid per channel;
- depthwise convolution (the model's): a two-tap interpolation kernel per channel.
All three compute the spec's formula; the script checks they agree before timing them. The input
is channels_last, the layout the model keeps its activations in.
"""

from __future__ import annotations

import argparse
import functools
from typing import Callable

import torch
import torch.nn.functional as F

from common.cli import command_parser
from common.errors import cli_entry
from model.temporal_shift import temporal_shift

from .timing import best_seconds


def gather_and_lerp(
    x: torch.Tensor, xpos: torch.Tensor, ypos: torch.Tensor, stride: int
) -> torch.Tensor:
    """Linear interpolation along T then V, each from two gathers with zero outside."""

    def along(x: torch.Tensor, dim: int, positions: torch.Tensor) -> torch.Tensor:
        lower = torch.floor(positions)
        frac = positions - lower
        out = 0
        for index, weight in ((lower.long(), 1 - frac), (lower.long() + 1, frac)):
            inside = (index >= 0) & (index < x.shape[dim])
            index = index.clamp(0, x.shape[dim] - 1)
            shape = list(x.shape)
            shape[dim] = index.shape[1]
            view = [1, x.shape[1], 1, 1]
            view[dim] = index.shape[1]
            gathered = x.gather(dim, index.view(view).expand(shape))
            out = out + gathered * (weight * inside).view(view)
        return out

    y = ypos + 0.5 if stride > 1 else ypos
    frames = torch.arange(x.shape[2] // stride, dtype=x.dtype) * stride
    joints = torch.arange(x.shape[3], dtype=x.dtype)
    x = along(x, 2, frames[None] + y[:, None])
    return along(x, 3, joints[None] + xpos[:, None])


def grid_sampled(
    x: torch.Tensor, xpos: torch.Tensor, ypos: torch.Tensor, stride: int
) -> torch.Tensor:
    """F.grid_sample on (N*C, 1, T, V) with a grid per channel (align_corners maps ends to ends)."""
    n, c, frames, joints = x.shape
    y = ypos + 0.5 if stride > 1 else ypos
    t = (torch.arange(frames // stride, dtype=x.dtype) * stride)[None] + y[:, None]
    v = torch.arange(joints, dtype=x.dtype)[None] + xpos[:, None]
    grid_t = (t / (frames - 1) * 2 - 1)[:, :, None].expand(c, t.shape[1], joints)
    grid_v = (v / (joints - 1) * 2 - 1)[:, None, :].expand(c, t.shape[1], joints)
    grid = torch.stack([grid_v, grid_t], -1).repeat(n, 1, 1, 1)
    out = F.grid_sample(x.reshape(n * c, 1, frames, joints), grid, align_corners=True)
    return out.view(n, c, -1, joints)


def _forward_backward(shift: Callable[[], torch.Tensor]) -> None:
    shift().sum().backward()


IMPLEMENTATIONS = {
    "gather-and-lerp": gather_and_lerp,
    "grid_sample": grid_sampled,
    "depthwise conv": temporal_shift,
}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m bench.temporal_shift", __doc__)
    parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Check the three implementations agree, then time them."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"CPU, {torch.get_num_threads()} threads; channels_last input; offsets like the released "
        f"model's (|y| up to 6)"
    )
    print(
        f"{'input (N,C,T,V)':>20} {'stride':>6} {'implementation':>16} {'forward ms':>11}"
        f" {'fwd+bwd ms':>11}"
    )
    for shape in ((2, 64, 64, 25), (16, 64, 300, 25)):  # one live window; a training batch of 8
        for stride in (1, 2):
            x = torch.randn(*shape).contiguous(memory_format=torch.channels_last)
            x.requires_grad_()
            xpos = torch.empty(shape[1]).uniform_(-2e-10, 2e-10).requires_grad_()
            ypos = torch.empty(shape[1]).uniform_(-6, 6).requires_grad_()
            reference = temporal_shift(x, xpos, ypos, stride)
            for name, shift in IMPLEMENTATIONS.items():
                # grid_sample's normalised coordinates lose precision on long windows
                torch.testing.assert_close(
                    shift(x, xpos, ypos, stride), reference, atol=1e-3, rtol=1e-3
                )
                call = functools.partial(shift, x, xpos, ypos, stride)
                with torch.no_grad():
                    forward = best_seconds(call, repeats=5, inner=3, budget=3)
                backward = functools.partial(_forward_backward, call)
                both = best_seconds(backward, repeats=3, inner=2, budget=3)
                print(
                    f"{str(shape):>20} {stride:6d} {name:>16} {forward * 1e3:11.2f}"
                    f" {both * 1e3:11.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
