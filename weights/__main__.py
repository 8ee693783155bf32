"""`python -m weights list | fetch NAME... | verify | register NAME PATH`: manage checkpoints."""

from __future__ import annotations

import argparse
import sys

from common.cli import command_parser
from common.errors import UserError, cli_entry
from weights import registry


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per operation, each taking --dir."""
    parser = command_parser("python -m weights", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dir_help = f"weights directory (default: ${registry.DIR_ENV}, else {registry.PACKAGE_DIR})"
    for name, text in (
        ("list", "show the known checkpoints and whether each is present"),
        ("fetch", "download checkpoints (digest-checked)"),
        ("verify", "check that checkpoints are present with the right sha256"),
        ("register", "register one of the project's own checkpoints"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--dir", default=None, help=dir_help)
        if name == "fetch":
            cmd.add_argument("names", nargs="+", metavar="NAME", help="registered names, or 'all'")
        if name == "verify":
            cmd.add_argument(
                "names",
                nargs="*",
                metavar="NAME",
                help="registered names to check (default: every registered one)",
            )
        if name == "register":
            cmd.add_argument("name", help="short name to use with --weights")
            cmd.add_argument("path", help="the checkpoint file (.pt)")
            cmd.add_argument(
                "--dataset",
                choices=("ntu60", "ntu120"),
                help="the NTU label set; leave out for a checkpoint that names its "
                "own classes (python -m train.from_videos)",
            )
            cmd.add_argument(
                "--stream",
                default=None,
                help="the stream it was trained on (default: the checkpoint's)",
            )
            cmd.add_argument(
                "--benchmark", default="", help="the NTU benchmark it was evaluated on, e.g. xsub"
            )
            cmd.add_argument("--accuracy", type=float, default=None, help="top-1 in percent")
            cmd.add_argument(
                "--force", action="store_true", help="replace an entry of the same name"
            )
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    """Print one line per checkpoint: name, what it is, accuracy and whether it is here."""
    print(
        f"{'name':<22} {'dataset':<8} {'bench':<6} {'stream':<7} {'classes':>7} "
        f"{'top-1':>6}  status"
    )
    for entry, status in registry.verify(args.dir):
        acc = f"{entry.accuracy:.1f}" if entry.accuracy is not None else "-"
        print(
            f"{entry.name:<22} {entry.dataset:<8} {entry.benchmark:<6} {entry.stream:<7} "
            f"{entry.num_class:>7} {acc:>6}  {status}  {entry.path(args.dir)}"
        )
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Download each named checkpoint that is missing or damaged."""
    names = [e.name for e in registry.entries(args.dir)] if args.names == ["all"] else args.names
    for name in names:
        path = registry.fetch_checkpoint(name, args.dir)
        print(f"{name}: {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Report each checkpoint's digest status; exit 1 if one is missing or does not match."""
    checked = registry.verify(args.dir, args.names or None)
    for entry, status in checked:
        print(f"{entry.name:<22} {status:<8} {entry.path(args.dir)}")
    missing = [e.name for e, s in checked if s == "missing"]
    bad = [e.name for e, s in checked if s == "MISMATCH"]
    if bad or missing:
        problems = ([f"sha256 mismatch for {', '.join(bad)}"] if bad else []) + (
            [f"missing: {', '.join(missing)}"] if missing else []
        )
        raise UserError(
            f"{'; '.join(problems)}; delete any damaged file and fetch again "
            f"(python -m weights fetch {' '.join(bad + missing)})"
        )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """Add a trained checkpoint to the local registry so --weights NAME finds it."""
    entry = registry.register(
        args.name,
        args.path,
        args.dataset,
        stream=args.stream,
        benchmark=args.benchmark,
        accuracy=args.accuracy,
        directory=args.dir,
        force=args.force,
    )
    print(f"registered {entry.name}: {entry.path(args.dir)} ({entry.num_class} classes)")
    return 0


def warn_local_problems(directory: str | None) -> None:
    """Say on stderr which local registry entries were left out, and why."""
    for problem in registry.local_problems(directory).values():
        print(f"warning: {problem}", file=sys.stderr)


COMMANDS = {"list": cmd_list, "fetch": cmd_fetch, "verify": cmd_verify, "register": cmd_register}


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand."""
    args = build_parser().parse_args(argv)
    if args.command in ("list", "verify"):
        warn_local_problems(args.dir)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
