"""Measure the NTU data pipeline: parse and normalise time per file, gendata files per second.

Runs on the shared fixtures (when ../shared is present), on a synthetic set written to a
temporary folder, and on any folder given with --skeletons, with each --workers count.

    python -m bench.data [--files 500] [--workers 1 2] [--skeletons RAW_DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common.cli import command_parser
from common.errors import UserError, cli_entry
from model.preprocess import normalize_sample
from train import gendata, synthetic
from train.skeleton import read_skeleton

from .shared import SKELETONS


def stage_times(folder: Path, limit: int = 100, repeats: int = 3) -> tuple[float, float]:
    """Milliseconds per file to parse and to normalise (up to `limit` files, best of `repeats`:
    the least disturbed by other processes)."""
    paths = sorted(folder.glob("*.skeleton"))[:limit]
    parse, norm = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        raws = [read_skeleton(p) for p in paths]
        parsed = time.perf_counter()
        for raw in raws:
            normalize_sample(raw)
        parse.append(parsed - start)
        norm.append(time.perf_counter() - parsed)
    return 1e3 * min(parse) / len(paths), 1e3 * min(norm) / len(paths)


def gendata_rate(folder: Path, workers: int, out: Path) -> float:
    """Files per second of a full gendata run (both NTU-60 benchmarks, four streams)."""
    files = len(list(folder.glob("*.skeleton")))
    start = time.perf_counter()
    gendata.generate("ntu60", folder, out, workers=workers, progress=False)
    return files / (time.perf_counter() - start)


def run(sets: dict[str, Path], workers: list[int], scratch: Path) -> list[str]:
    """One line of figures per data set."""
    lines = []
    for label, folder in sets.items():
        files = len(list(folder.glob("*.skeleton")))
        parse_ms, norm_ms = stage_times(folder)
        rates = ", ".join(
            f"{w} worker(s) {gendata_rate(folder, w, scratch / label):.0f} files/s" for w in workers
        )
        lines.append(
            f"{label} ({files} files): parse {parse_ms:.1f} ms/file, "
            f"normalise {norm_ms:.1f} ms/file; gendata {rates}"
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags of bench.data."""
    parser = command_parser("python -m bench.data", __doc__)
    parser.add_argument("--files", type=int, default=500, help="size of the synthetic set")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="data-loading process counts to measure, each in turn (default: 1 2)",
    )
    parser.add_argument("--skeletons", help="also measure this folder of .skeleton files")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    args = build_parser().parse_args(argv)
    if args.files < 10 or min(args.workers) < 1:
        raise UserError("--files must be at least 10 and --workers at least 1")
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        scratch = Path(tmp)
        sets = {}
        if SKELETONS.is_dir():
            sets["fixtures"] = SKELETONS
        else:
            print(f"(fixtures not found at {SKELETONS}; skipping them)")
        if args.skeletons:
            if not Path(args.skeletons).is_dir():
                raise UserError(f"--skeletons {args.skeletons} is not a folder")
            sets["given"] = Path(args.skeletons)
        synthetic.generate(
            scratch / "synthetic_raw", classes=10, per_class=args.files // 10, progress=False
        )
        sets["synthetic"] = scratch / "synthetic_raw"
        for line in run(sets, args.workers, scratch):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
