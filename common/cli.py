"""Every command's parser built one way: the module docstring as its help, the shared flags
(--device, --weights, --config/--set) added alike and read alike."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from .device import DEVICE_CHOICES, is_device_name
from .errors import UserError, excerpt
from .version import version
from .yaml_files import MAX_DEPTH, deep_merge, load_yaml_text

WEIGHTS_HELP = (
    "checkpoint: a registered name (python -m weights list; a missing released one "
    "is downloaded) or a .pt file"
)


def command_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser whose help is `doc` (the command module's docstring) as written, with
    --version (the project's, common.version)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s (shiftgcn-live {version()})",
        help="print the version and exit",
    )
    return parser


class _DeviceChoices(tuple):
    """DEVICE_CHOICES as argparse shows them; `in` also takes cuda:N, as select_device does."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and is_device_name(name)


def add_device_flag(
    parser: argparse.ArgumentParser,
    default: str | None = "auto",
    note: str = "default: %(default)s",
) -> None:
    """--device auto|cpu|cuda|cuda:N (auto: a GPU where there is one, else the CPU)."""
    parser.add_argument(
        "--device",
        choices=_DeviceChoices(DEVICE_CHOICES),
        default=default,
        help=f"where the model runs: auto (a GPU where there is one, else the "
        f"CPU), cpu, cuda or cuda:N; {note}",
    )


def add_weights_flag(
    parser: argparse.ArgumentParser,
    default: str | None = None,
    *,
    required: bool = False,
    note: str = "default: the registry's default (%(default)s)",
    nargs: str | None = None,
) -> None:
    """--weights: always a checkpoint; a default given is the registry's (weights.default_name)."""
    parser.add_argument(
        "--weights",
        default=default,
        required=required,
        nargs=nargs,
        help=WEIGHTS_HELP if required else f"{WEIGHTS_HELP}; {note}",
    )


def add_config_flags(
    parser: argparse.ArgumentParser,
    what: str,
    example: str,
    *,
    required: bool = False,
    default: Path | None = None,
) -> None:
    """--config YAML and --set KEY.SUB=VALUE (repeatable, read by config_overrides) over it."""
    shown = f" (default: {default})" if default is not None else ""
    parser.add_argument(
        "--config",
        type=Path,
        required=required,
        default=default,
        metavar="YAML",
        help=f"{what}{shown}",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one configuration key with a YAML value, dots reaching "
        f"into sections, e.g. --set {example} (repeatable; above --config, "
        "below the named flags)",
    )


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Turn `a.b=value` strings (value in YAML syntax) into a nested mapping."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or "" in key.split("."):
            raise UserError(f"--set {excerpt(item)}: expected KEY=VALUE, e.g. --set base_lr=0.05")
        try:
            value = load_yaml_text(text)
        except yaml.YAMLError as err:
            raise UserError(
                f"--set {excerpt(item)}: the value is not valid YAML ({str(err).splitlines()[0]})"
            ) from None
        if key.count(".") >= MAX_DEPTH:
            raise UserError(f"--set {excerpt(item)}: more than {MAX_DEPTH} levels of keys")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(
                    f"--set {excerpt(item)}: {part} is set to a value above; set one or the other"
                )
        node[leaf] = value
    return out


def config_overrides(args: argparse.Namespace, flags: dict[str, Any]) -> dict[str, Any]:
    """The configuration keys the command line sets: `--set` first, the named flags on top
    (`flags` nests like the YAML; a flag left out, None, sets nothing)."""
    return deep_merge(parse_assignments(args.set), _given(flags))


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    """`flags` without its None values and the sections they leave empty."""
    out = {}
    for key, value in flags.items():
        if isinstance(value, dict):
            value = _given(value)
        if value is not None and value != {}:
            out[key] = value
    return out
