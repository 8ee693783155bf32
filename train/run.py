"""Train Shift-GCN on NTU RGB+D arrays.

`python -m train.run --config train/configs/ntu60_xsub_joint.yaml`

Under `torchrun --nproc_per_node N -m train.run ...` it trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
from typing import Any

from common.cli import add_config_flags, add_device_flag, command_parser, config_overrides
from common.errors import cli_entry

from .config import load_config
from .trainer import train


def build_parser() -> argparse.ArgumentParser:
    """The command line; flags left out keep the config file's values."""
    parser = command_parser("python -m train.run", __doc__)
    add_config_flags(
        parser,
        "training YAML, e.g. train/configs/ntu60_xsub_joint.yaml",
        "model.channels=[32,64]",
        required=True,
    )
    parser.add_argument(
        "--data-dir", help="folder with {train,val}_data_<stream>.npy and {train,val}_label.pkl"
    )
    parser.add_argument("--work-dir", help="where checkpoints, metrics, scores and plots go")
    parser.add_argument(
        "--num-class", type=int, help="number of classes (for data that is not NTU)"
    )
    parser.add_argument("--epochs", type=int, help="epochs to train (default: the config's)")
    parser.add_argument(
        "--batch-size", type=int, help="global batch size, divided among DDP processes"
    )
    add_device_flag(parser, None, "default: the config's")
    parser.add_argument("--amp", action="store_true", default=None, help="mixed precision on CUDA")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --work-dir from last.pt"
    )
    return parser


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the flags set (`--set` first, named flags on top)."""
    return config_overrides(
        args,
        {
            "data_dir": args.data_dir,
            "work_dir": args.work_dir,
            "num_class": args.num_class,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "device": args.device,
            "amp": args.amp,
        },
    )


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Load the config, apply the flags, train."""
    args = build_parser().parse_args(argv)
    config = load_config(args.config, overrides_from(args))
    train(config, resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
