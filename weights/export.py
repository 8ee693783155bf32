"""`python -m weights.export`: a registered or saved Shift-GCN checkpoint as an ONNX graph.

    python -m weights.export --weights ntu60-xsub-joint --out model.onnx            # any T, any N
    python -m weights.export --weights ntu60-xsub-joint --out model.onnx --frames 300 --batch 1

The graph (model.export) takes `x` (N, 3, T, 25, 2) float32, T a multiple of 4, and gives
`logits` (N, num_class); `runtime: onnx` in the pipeline settings runs it with ONNX Runtime.
"""

from __future__ import annotations

import argparse
import sys

from common.cli import add_weights_flag, command_parser
from common.errors import cli_entry
from common.fileio import check_not_input, written_in_place
from common.limits import MAX_BATCH, MAX_PAD, check_size

from .registry import load_model, resolve


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = command_parser("python -m weights.export", __doc__)
    add_weights_flag(parser, required=True)
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    parser.add_argument(
        "--frames", type=int, help="a fixed window length (a multiple of 4); default: dynamic"
    )
    parser.add_argument("--batch", type=int, help="a fixed batch size; default: dynamic")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from model.export import export_onnx  # torch and onnx are needed only here

    if args.frames is not None:
        check_size("--frames", args.frames, 4, MAX_PAD)
    if args.batch is not None:
        check_size("--batch", args.batch, 1, MAX_BATCH)
    stream = written_in_place(args.out, "--out")  # /dev/stdout: the report goes to stderr
    check_not_input("--out", args.out, [resolve(args.weights)])
    net, card = load_model(args.weights)
    path = export_onnx(net, args.out, args.frames, args.batch, card)
    shape = (
        f"{args.batch or 'N'}, 3, {args.frames or 'T'}, {net.config.num_point}, "
        f"{net.config.num_person}"
    )
    size = "" if stream else f" ({path.stat().st_size / 1e6:.1f} MB)"
    print(
        f"wrote {path}{size}: x ({shape}) -> logits ({args.batch or 'N'}, {net.num_class})",
        file=sys.stderr if stream else sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
