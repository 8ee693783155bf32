"""Turn a folder of NTU RGB+D ``.skeleton`` files into the training arrays of each benchmark.

Writes ``OUT/<benchmark>/{train,val}_data_<stream>.npy`` (N, 3, 300, 25, 2) float32 for the four
streams and ``{train,val}_label.pkl`` (a pickled ``(sample_names, labels)`` pair). Files are
parsed and normalised in worker processes; arrays are streamed sample by sample into .npy files
(which the trainer memory-maps) under temporary names and renamed when complete; the label
pickles, the completion marker, are all removed before the first array is replaced and written
after the last, so a killed run leaves no output that looks complete. Ctrl-C or kill stop the
workers and end with one line. Empty samples are dropped by looking at the data; unreadable
files, and values that overflow float32, are reported with their line and skipped.

    python -m train.gendata --dataset ntu60 --data-path RAW_DIR --out data/ntu60
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import pickle
import shutil
import signal
import struct
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.cli import command_parser
from common.errors import UserError, cli_entry
from common.fileio import atomic_write
from common.limits import check_size, max_workers
from common.progress import progress_bar
from model.preprocess import STREAMS, is_empty, make_stream, normalize_sample
from ntu.joints import NUM_BODIES, NUM_JOINTS
from ntu.splits import DATASETS, SampleName, in_dataset, is_training, parse_sample_name
from train.skeleton import MAX_FRAMES, SkeletonFileError, read_skeleton

SPLITS = ("train", "val")
SAMPLE_SHAPE = (3, MAX_FRAMES, NUM_JOINTS, NUM_BODIES)
SAMPLE_BYTES = int(np.prod(SAMPLE_SHAPE)) * 4
IN_FLIGHT_PER_WORKER = 8  # files queued per worker: keeps workers busy, memory bounded
SHARED_MEMORY_DIR = Path("/dev/shm")  # where Linux keeps shared memory (a tmpfs)
MAX_MESSAGE = 1000  # characters of a worker's note on a file: under a pipe's atomic write


def data_file(folder: Path, split: str, stream: str) -> Path:
    """Where one split's array of one stream goes."""
    return Path(folder) / f"{split}_data_{stream}.npy"


def label_file(folder: Path, split: str) -> Path:
    """Where one split's (sample_names, labels) pickle goes; written last, it marks completion."""
    return Path(folder) / f"{split}_label.pkl"


@dataclass
class Summary:
    """What a run did: samples written per benchmark and split, and what it skipped and why."""

    written: dict[str, dict[str, int]] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    ignored: int = 0
    outside: int = 0

    def lines(self) -> list[str]:
        """A human-readable report, one fact per line."""
        out = [
            f"{bench}: " + ", ".join(f"{split} {n} samples" for split, n in counts.items())
            for bench, counts in self.written.items()
        ]
        if self.empty:
            out.append(
                f"dropped {len(self.empty)} samples with no skeleton: "
                + " ".join(self.empty[:5])
                + (" ..." if len(self.empty) > 5 else "")
            )
        if self.corrupt:
            out.append(f"skipped {len(self.corrupt)} unreadable files:")
            out += [f"  {message}" for message in self.corrupt]
        if self.ignored:
            out.append(f"left out {self.ignored} samples named in the ignore list")
        if self.outside:
            out.append(f"left out {self.outside} files outside the dataset or with other names")
        return out


def generate(
    dataset: str,
    data_path: str | os.PathLike,
    out: str | os.PathLike,
    benchmarks: Iterable[str] | None = None,
    ignored_samples: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Summary:
    """Parse, normalise and write every benchmark's arrays; returns what was written and skipped."""
    spec = DATASETS.get(dataset)
    if spec is None:
        raise UserError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")
    benchmarks = tuple(dict.fromkeys(benchmarks or spec.benchmarks))  # in order, once each
    unknown = [b for b in benchmarks if b not in spec.benchmarks]
    if unknown:
        raise UserError(
            f"{dataset} has no benchmark {unknown[0]!r}; use {' or '.join(spec.benchmarks)}"
        )
    summary = Summary()
    samples = _list_samples(Path(data_path), dataset, _read_ignore_list(ignored_samples), summary)
    writers: dict[tuple[str, str], _SplitWriter] = {}
    try:
        _check_disk_space(Path(out), len(samples) * len(benchmarks))
        for bench in benchmarks:
            for split in SPLITS:
                capacity = sum(_split_of(s, dataset, bench) == split for s in samples.values())
                writers[bench, split] = _SplitWriter(Path(out) / bench, split, capacity)
        with (
            _stops_between_samples() as stop,
            contextlib.closing(
                _load_all(Path(data_path), list(samples), workers, progress, stop)
            ) as loaded,
        ):
            for name, result in loaded:
                streams = _streams(result) if isinstance(result, np.ndarray) else None
                if isinstance(result, np.ndarray) and streams is None:
                    result = _too_large(Path(data_path) / name)
                if isinstance(result, str):
                    tqdm.write(f"skipped: {result}", file=sys.stderr)
                    summary.corrupt.append(result)
                elif result is None:
                    summary.empty.append(name)
                else:
                    for bench in benchmarks:
                        split = _split_of(samples[name], dataset, bench)
                        writers[bench, split].add(name, samples[name].label, streams)
        _publish(writers, summary)
    except OSError as err:
        raise UserError(f"cannot write the arrays under {out}: {err}") from None
    finally:
        for writer in writers.values():
            writer.discard()
    return summary


def _publish(writers: dict[tuple[str, str], _SplitWriter], summary: Summary) -> None:
    """Move every array into place, then write every label file: the label files are the run's
    completion marker, so all of them go first (a re-run killed here must not leave new train
    data beside old validation data, both looking complete) and come back last."""
    for writer in writers.values():
        label_file(writer.folder, writer.split).unlink(missing_ok=True)
    for (bench, split), writer in writers.items():
        summary.written.setdefault(bench, {})[split] = writer.move_arrays()
    for writer in writers.values():
        writer.write_labels()


def _split_of(sample: SampleName, dataset: str, benchmark: str) -> str:
    """'train' or 'val'."""
    return "train" if is_training(sample, dataset, benchmark) else "val"


def _read_ignore_list(path: str | os.PathLike | None) -> set[str]:
    """Sample names (with or without .skeleton) to leave out, one a line."""
    if path is None:
        return set()
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read the ignore list {path}: {err}") from None
    return {line.strip().removesuffix(".skeleton") for line in text.splitlines() if line.strip()}


def _list_samples(
    data_path: Path, dataset: str, ignored: set[str], summary: Summary
) -> dict[str, SampleName]:
    """The dataset's .skeleton files in data_path, by file name, in name order."""
    if not data_path.is_dir():
        raise UserError(f"data path {data_path} is not a folder of .skeleton files")
    samples = {}
    for name in sorted(p.name for p in data_path.glob("*.skeleton")):
        sample = parse_sample_name(name)
        if sample is None or not in_dataset(sample, dataset):
            summary.outside += 1
        elif name.removesuffix(".skeleton") in ignored:
            summary.ignored += 1
        else:
            samples[name] = sample
    if not samples:
        raise UserError(
            f"no {dataset} .skeleton files (named like S001C001P001R001A001.skeleton) "
            f"in {data_path}"
        )
    return samples


def _check_disk_space(out: Path, sample_slots: int) -> None:
    """Refuse to start when the arrays cannot fit, rather than failing part of the way."""
    out.mkdir(parents=True, exist_ok=True)
    needed = sample_slots * len(STREAMS) * SAMPLE_BYTES
    free = shutil.disk_usage(out).free
    if needed > free:
        raise UserError(
            f"the arrays need up to {needed / 1e9:.1f} GB but {out} has "
            f"{free / 1e9:.1f} GB free; free space or choose fewer --benchmarks"
        )


def load_sample(path: Path) -> np.ndarray | str | None:
    """Normalised joints of one file; None if it holds no skeleton; a message if unreadable
    or if its values do not stay finite in float32 through the normalisation."""
    try:
        raw = read_skeleton(path)
    except SkeletonFileError as err:
        return str(err)
    if is_empty(raw):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        sample = normalize_sample(raw)
    return sample if np.isfinite(sample).all() else _too_large(path)


def _too_large(path: Path | str) -> str:
    """The message for a file whose values overflow float32 on the way to the arrays."""
    return f"{path}: coordinates too large: not finite in float32 once normalised"


def _streams(sample: np.ndarray) -> dict[str, np.ndarray] | None:
    """Every stream of a normalised sample; None when one is not finite (bones, motion overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        streams = {stream: make_stream(sample, stream) for stream in STREAMS}
    return streams if all(np.isfinite(a).all() for a in streams.values()) else None


def _load_all(
    data_path: Path, names: list[str], workers: int | None, progress: bool, stop: _StopRequest
) -> Iterator[tuple[str, np.ndarray | str | None]]:
    """(name, load_sample result) for every name, in order, parsed by `workers` processes;
    raises KeyboardInterrupt between two results once a stop is requested."""
    workers = workers or os.cpu_count() or 1
    paths = [data_path / name for name in names]
    bar = progress_bar(
        total=len(paths), unit="file", desc="gendata", enabled=progress, smoothing=0.1
    )
    with bar:
        if workers == 1:
            yield from _counted(zip(names, map(load_sample, paths)), bar, stop)
            return
        with _SampleSlots(_slot_count(workers, len(paths))) as slots:
            pool = ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(slots.name,))
            try:
                results = _bounded_map(pool, paths, slots, stop)
                yield from _counted(zip(names, results), bar, stop)
            except BrokenProcessPool:
                stop.check()  # the whole process group was killed: a stop like any other
                raise UserError(
                    "a gendata worker process died (killed, or out of memory?); "
                    "run gendata again, with fewer --workers if memory is short"
                ) from None
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # at most `workers` files to end


def _slot_count(workers: int, files: int) -> int:
    """Files in flight: IN_FLIGHT_PER_WORKER a worker, fewer where shared memory is small (Docker
    gives 64 MB), never fewer than one a worker (else refused: a worker writing past the end of a
    full /dev/shm dies of SIGBUS)."""
    wanted = min(files, workers * IN_FLIGHT_PER_WORKER)
    if not SHARED_MEMORY_DIR.is_dir():  # not Linux: the system sizes it
        return wanted
    free = shutil.disk_usage(SHARED_MEMORY_DIR).free
    fits = free // 2 // SAMPLE_BYTES  # half of it: leave room for others
    if fits < min(files, workers):
        needed = 2 * min(files, workers) * SAMPLE_BYTES
        raise UserError(
            f"shared memory ({SHARED_MEMORY_DIR}) has {free / 1e6:.1f} MB free, {workers} "
            f"workers need {needed / 1e6:.1f} MB; give fewer --workers or more shared memory "
            "(docker run --shm-size)"
        )
    return min(wanted, fits)


class _SampleSlots:
    """Shared memory for `count` samples, which workers fill and the main process reads.

    A worker sends back only a short status, never the sample itself: a worker killed while
    sending a large result leaves half a message in the pipe, and the pool then waits for the
    rest without end. (Short messages are written to a pipe all at once or not at all.)"""

    def __init__(self, count: int) -> None:
        self.count = count
        self.memory = shared_memory.SharedMemory(create=True, size=count * SAMPLE_BYTES)
        self.name = self.memory.name

    def __enter__(self) -> _SampleSlots:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.memory.close()
        self.memory.unlink()

    def take(self, index: int) -> np.ndarray:
        """A copy of the sample in slot `index` (the slot is then free for the next file)."""
        return _slot(self.memory, index).copy()


def _slot(memory: shared_memory.SharedMemory, index: int) -> np.ndarray:
    """Slot `index` of the shared sample memory, as an array."""
    return np.ndarray(SAMPLE_SHAPE, np.float32, buffer=memory.buf, offset=index * SAMPLE_BYTES)


_worker_memory: shared_memory.SharedMemory | None = None  # each worker's view of the slots


def _start_worker(memory_name: str) -> None:
    """A worker leaves Ctrl-C to the main process, which stops the pool (no worker prints a
    traceback when a run is stopped; a kill of the whole process group still ends it), and
    opens the shared sample slots."""
    global _worker_memory
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _worker_memory = shared_memory.SharedMemory(memory_name)


def _load_into_slot(path: Path, index: int) -> bool | str | None:
    """load_sample in a worker: True with the sample in slot `index`, else its short result."""
    result = load_sample(path)
    if not isinstance(result, np.ndarray):
        return result if result is None else result[:MAX_MESSAGE]
    _slot(_worker_memory, index)[...] = result
    return True


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM (kill) as Ctrl-C, so that a kill also stops the workers and cleans up."""

    def interrupt(_signum, _frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _StopRequest:
    """Ctrl-C or kill, noted by a signal handler and acted on by the main loop between samples.

    A handler that raised at once could land inside the pool's own threading code (a lock taken,
    not yet released) and hang its shutdown; setting a flag is safe anywhere."""

    def __init__(self) -> None:
        self.requested = False

    def note(self, _signum: int, _frame: object) -> None:
        self.requested = True

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was requested."""
        if self.requested:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _stops_between_samples() -> Iterator[_StopRequest]:
    """While the samples load, Ctrl-C and kill only request a stop (signal handlers can be set
    from the main thread alone; elsewhere the caller's own handling stays)."""
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop.note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stop.check()


def _bounded_map(
    pool: ProcessPoolExecutor, paths: list[Path], slots: _SampleSlots, stop: _StopRequest
) -> Iterator[np.ndarray | str | None]:
    """load_sample over paths in order, with at most one file per slot in flight (memory stays
    bounded however slow the writer): file i goes to slot i % slots.count, once file
    i - slots.count has been taken out of it."""
    pending: deque[Future] = deque()
    for index, path in enumerate(paths):
        if len(pending) == slots.count:
            yield _take(pending.popleft(), index, slots, stop)
        pending.append(pool.submit(_load_into_slot, path, index % slots.count))
    for index in range(len(paths), len(paths) + len(pending)):
        yield _take(pending.popleft(), index, slots, stop)


def _take(
    future: Future, index: int, slots: _SampleSlots, stop: _StopRequest
) -> np.ndarray | str | None:
    """The result of the file that went to slot `index % slots.count`."""
    status = _wait_for(future, stop)
    return slots.take(index % slots.count) if status is True else status


def _wait_for(future: Future, stop: _StopRequest) -> object:
    """The future's result, checking for a stop request every tenth of a second (a worker that
    dies makes the pool broken, which raises here rather than waiting without end)."""
    while not future.done():
        stop.check()
        concurrent.futures.wait((future,), timeout=0.1)
    return future.result()


def _counted(items: Iterable, bar: tqdm, stop: _StopRequest) -> Iterator:
    """Pass items through, advancing the progress bar; a requested stop ends it between items."""
    for item in items:
        stop.check()
        yield item
        bar.update()


class _SplitWriter:
    """The four stream arrays and the labels of one split, written under temporary names.

    Samples are appended to each .npy file in turn (a header sized for `capacity` rows, fixed at
    the end), so memory stays flat: a memory map kept every written page in the process's RSS.
    """

    def __init__(self, folder: Path, split: str, capacity: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.split = folder, split
        self.names: list[str] = []
        self.labels: list[int] = []
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": False,
            "shape": (capacity, *SAMPLE_SHAPE),
        }
        self.files = {}
        for stream in STREAMS:
            self.files[stream] = self._part(stream).open("wb")
            np.lib.format.write_array_header_1_0(self.files[stream], header)

    def _part(self, stream: str) -> Path:
        final = data_file(self.folder, self.split, stream)
        return final.with_name(f".{final.name}.part")

    def add(self, name: str, label: int, streams: dict[str, np.ndarray]) -> None:
        """Append one sample of every stream (through Python's file write, not ndarray.tofile:
        a kill's KeyboardInterrupt raised inside tofile's C code comes out as a TypeError)."""
        for stream, file in self.files.items():
            file.write(memoryview(np.ascontiguousarray(streams[stream], dtype=np.float32)))
        self.names.append(name)
        self.labels.append(label)

    def move_arrays(self) -> int:
        """Trim the arrays to the samples written and move them into place; the sample count."""
        self._close()
        for stream in STREAMS:
            _trim_npy(self._part(stream), len(self.names))
            os.replace(self._part(stream), data_file(self.folder, self.split, stream))
        return len(self.names)

    def write_labels(self) -> None:
        """Write the (names, labels) pickle, which marks the split complete."""
        with atomic_write(label_file(self.folder, self.split)) as tmp, tmp.open("wb") as f:
            pickle.dump((self.names, self.labels), f)

    def discard(self) -> None:
        """Remove what finish() did not move into place (after an error or an interrupt)."""
        self._close()
        for stream in STREAMS:
            self._part(stream).unlink(missing_ok=True)

    def _close(self) -> None:
        for file in self.files.values():
            file.close()


def _trim_npy(path: Path, rows: int) -> None:
    """Shrink a C-ordered .npy file to its first `rows` rows: rewrite the header, cut the rest."""
    with path.open("r+b") as f:
        version = np.lib.format.read_magic(f)
        read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_{version[1]}")
        shape, _, dtype = read_header(f)
        offset = f.tell()
        header = repr(
            {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": (rows, *shape[1:]),
            }
        )
        size_format = "<H" if version == (1, 0) else "<I"
        prefix = np.lib.format.magic(*version)
        body = header.ljust(offset - len(prefix) - struct.calcsize(size_format) - 1) + "\n"
        f.seek(0)
        f.write(prefix + struct.pack(size_format, len(body)) + body.encode("latin1"))
        f.truncate(offset + rows * int(np.prod(shape[1:])) * dtype.itemsize)


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags of train.gendata."""
    parser = command_parser("python -m train.gendata", __doc__)
    parser.add_argument(
        "--dataset", required=True, choices=sorted(DATASETS), help="which NTU RGB+D release"
    )
    parser.add_argument("--data-path", required=True, help="folder of .skeleton files")
    parser.add_argument("--out", required=True, help="output folder; one subfolder per benchmark")
    parser.add_argument(
        "--benchmarks", nargs="+", help="default: xsub xview (ntu60), xsub xset (ntu120)"
    )
    parser.add_argument("--ignored-samples", help="optional file of sample names to leave out")
    parser.add_argument(
        "--workers", type=int, default=None, help="parsing processes (default: one per CPU core)"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Run gendata from the command line and print the summary."""
    args = build_parser().parse_args(argv)
    if args.workers is not None:
        check_size("--workers", args.workers, 1, max_workers())
    try:
        with _terminate_as_interrupt():
            summary = generate(
                args.dataset,
                args.data_path,
                args.out,
                args.benchmarks,
                args.ignored_samples,
                args.workers,
            )
    except KeyboardInterrupt:
        raise UserError(
            f"stopped: the splits under {args.out} this run had not finished have "
            "no label file (incomplete); run gendata again"
        ) from None
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
