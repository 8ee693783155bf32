"""Train Shift-GCN on NTU RGB+D arrays.

`python -m train.run --config train/configs/ntu60_xsub_joint.yaml`

Under `torchrun --nproc_per_node N -m train.run ...` it trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
from typing import Any

from common.errors import cli_entry

from .config import load_config, parse_assignments
from .trainer import train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; flags left out keep the config file's values."""
    parser = argparse.ArgumentParser(
        prog="python -m train.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--config", required=True, help="YAML file, e.g. train/configs/ntu60_xsub_joint.yaml"
    )
    parser.add_argument(
        "--data-dir", help="folder with {train,val}_data_<stream>.npy and {train,val}_label.pkl"
    )
    parser.add_argument("--work-dir", help="where checkpoints, metrics, scores and plots go")
    parser.add_argument(
        "--num-class", type=int, help="number of classes (for data that is not NTU)"
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument(
        "--batch-size", type=int, help="global batch size, divided among DDP processes"
    )
    parser.add_argument("--device", help="auto, cpu or cuda (default: the config's, auto)")
    parser.add_argument("--amp", action="store_true", default=None, help="mixed precision on CUDA")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --work-dir from last.pt"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set base_lr=0.05 --set model.channels=[32,64]",
    )
    return parser.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the flags set (`--set` first, named flags on top)."""
    named = {
        "data_dir": args.data_dir,
        "work_dir": args.work_dir,
        "num_class": args.num_class,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "device": args.device,
        "amp": args.amp,
    }
    return {**parse_assignments(args.set), **{k: v for k, v in named.items() if v is not None}}


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Load the config, apply the flags, train."""
    args = parse_args(argv)
    config = load_config(args.config, overrides_from(args))
    train(config, resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
