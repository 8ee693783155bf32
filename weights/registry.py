"""Checkpoint names -> files: the registry, the weights directory, class names, fetch on demand."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.cache import user_cache_dir
from common.download import DEFAULT_MAX_BYTES, ProgressFn, download, manual_hint, sha256_of
from common.errors import UserError, excerpt
from common.fileio import atomic_write, file_lock
from common.yaml_files import read_yaml
from model.card import ModelCard
from ntu.labels import class_names

PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = PACKAGE_DIR / "registry.yaml"
LOCAL_REGISTRY_NAME = "local_registry.yaml"
# In the user's cache folder, never the weights folder: {real path: [size, mtime_ns, sha256]}
DIGEST_CACHE_FILE = "checkpoint-digests.json"
DIR_ENV = "SHIFTGCN_WEIGHTS_DIR"
URL_ENV = "SHIFTGCN_WEIGHTS_URL"
LOCK_NAME = ".local_registry.lock"  # beside the local registry: held while it is rewritten
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
OWN_DATASET = "own"  # the dataset of a registered checkpoint that names its own classes


@dataclass(frozen=True)
class WeightEntry:
    """One known checkpoint: where it lives, how to get it and what it recognises."""

    name: str
    file: str
    sha256: str
    dataset: str
    num_class: int
    labels: str
    stream: str = "joint"
    benchmark: str = ""
    accuracy: float | None = None
    licence: str = ""
    url: str | None = None  # None for the project's own checkpoints (registered, not downloaded)
    size: int | None = None  # bytes; a download larger than this is refused
    # divides the logits before the softmax so that scores mean what they say on real people
    # (python -m bench.real_set --calibrate); None: the network's own (1)
    temperature: float | None = None
    # the speeds of the faster views that help it on real people (classifier.faster; python -m
    # bench.real_set); None: none
    faster: list[float] | None = None

    def __post_init__(self) -> None:
        """Refuse fields of the wrong kind here rather than deep in a later command."""
        wrong = [
            name
            for name, kinds in _FIELD_KINDS.items()
            if not isinstance(getattr(self, name), kinds)
            or isinstance(getattr(self, name), bool)
            and bool not in kinds
        ]
        if wrong:
            raise TypeError(f"field {wrong[0]} is {getattr(self, wrong[0])!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise TypeError("field sha256 is not 64 hexadecimal digits")

    def max_bytes(self) -> int:
        """The most bytes a download of this file may bring: its size, else a general bound."""
        return self.size if self.size else DEFAULT_MAX_BYTES

    def download_url(self) -> str | None:
        """The URL to fetch from; $SHIFTGCN_WEIGHTS_URL replaces its base (a mirror, tests)."""
        base = os.environ.get(URL_ENV)
        if self.url is None or not base:
            return self.url
        return f"{base.rstrip('/')}/{self.file}"

    def path(self, directory: str | os.PathLike | None = None) -> Path:
        """Where the file is (or will be): an absolute registered path, or in the weights dir."""
        file = Path(self.file).expanduser()
        return file if file.is_absolute() else weights_dir(directory) / file

    def class_names(self) -> list[str]:
        """The label of each output of this checkpoint, in output order (read from the file for
        a checkpoint that names its own classes)."""
        if self.labels:
            return class_names(self.labels)
        from model.checkpoint import load_model  # torch is needed only here

        return load_model(self.path()).card.labels()

    def card(self) -> ModelCard:
        """What this entry says of its file as a model.ModelCard (a released file has none of
        its own): NTU's input, the entry's classes, stream and published accuracy."""
        names = class_names(self.labels) if self.labels else None
        known = ModelCard.known(self.num_class, names, self.stream)
        if self.url is None:  # a project file registered here: its own card says the rest
            return known
        return dataclasses.replace(
            known,
            source="released",
            dataset=self.dataset,
            benchmark=self.benchmark,
            accuracy=self.accuracy,
            accuracy_note=f"published top-1 on {self.dataset} {self.benchmark} (validation split)",
        )


_FIELD_KINDS = {
    "file": (str,),
    "sha256": (str,),
    "dataset": (str,),
    "num_class": (int,),
    "labels": (str,),
    "stream": (str,),
    "benchmark": (str,),
    "accuracy": (int, float, type(None)),
    "licence": (str,),
    "url": (str, type(None)),
    "size": (int, type(None)),
    "temperature": (int, float, type(None)),
    "faster": (list, type(None)),
}


def weights_dir(override: str | os.PathLike | None = None) -> Path:
    """The checkpoint directory: `override` (--dir), else $SHIFTGCN_WEIGHTS_DIR, else weights/."""
    chosen = override or os.environ.get(DIR_ENV) or PACKAGE_DIR
    return Path(chosen).expanduser().resolve()


def entries(directory: str | os.PathLike | None = None) -> list[WeightEntry]:
    """The released checkpoints followed by the well-formed ones registered in the weights
    directory (a damaged local registry never hides the released checkpoints)."""
    builtin = _read_entries(REGISTRY_FILE)[0]
    local = _read_entries(weights_dir(directory) / LOCAL_REGISTRY_NAME, strict=False)[0]
    return builtin + [e for e in local if e.name not in {b.name for b in builtin}]


def local_problems(directory: str | os.PathLike | None = None) -> dict[str, str]:
    """What is wrong in the weights directory's local registry: entry name (or '') -> why."""
    return _read_entries(weights_dir(directory) / LOCAL_REGISTRY_NAME, strict=False)[1]


def get(name: str, directory: str | os.PathLike | None = None) -> WeightEntry:
    """The entry called `name`; a UserError naming the known ones when there is none."""
    known = entries(directory)
    for entry in known:
        if entry.name == name:
            return entry
    problems = local_problems(directory)
    if name in problems or "" in problems:
        raise UserError(problems.get(name, problems.get("")))
    names = ", ".join(e.name for e in known)
    raise UserError(f"unknown checkpoint '{name}'; known names: {names} (or give a .pt file path)")


def default_name() -> str:
    """The checkpoint used when the user names none."""
    return str(_load_yaml(REGISTRY_FILE).get("default"))


def fetch_checkpoint(
    name: str, directory: str | os.PathLike | None = None, progress: ProgressFn | None = None
) -> Path:
    """Make the registered checkpoint `name` present and digest-checked; return its path."""
    entry = get(name, directory)
    dest = entry.path(directory)
    if dest.is_file() and sha256_of(dest) == entry.sha256:
        return dest
    url = entry.download_url()
    if url is None:
        raise UserError(
            f"checkpoint '{name}' is a local one with no download URL and {dest} "
            f"is missing or changed; register it again with python -m weights register"
        )
    return download(url, dest, entry.sha256, progress, max_bytes=entry.max_bytes())


def resolve(
    name_or_path: str | os.PathLike,
    fetch: bool = True,
    directory: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """A checkpoint file for a path or a registered name, fetching a missing one if allowed."""
    as_path = Path(name_or_path).expanduser()
    if as_path.is_file():
        return as_path
    if as_path.is_dir() and str(name_or_path) not in {e.name for e in entries(directory)}:
        raise UserError(_folder_given(as_path))
    if is_path(name_or_path):
        raise UserError(
            f"checkpoint file {as_path} not found; give an existing .pt file "
            f"or a registered name (python -m weights list)"
        )
    entry = get(str(name_or_path), directory)
    dest = entry.path(directory)
    if dest.is_file():
        return checked(entry, dest)
    url = entry.download_url()
    if url is None:
        raise UserError(
            f"checkpoint file {dest} of '{entry.name}' is missing; "
            f"put it back, or register the file again (python -m weights register)"
        )
    if not fetch:
        raise UserError(
            f"checkpoint '{entry.name}' is not in {dest.parent}; run python -m "
            f"weights fetch {entry.name}, or {manual_hint(url, dest)}"
        )
    return fetch_checkpoint(entry.name, directory, progress)


def load_model(
    name_or_path: str | os.PathLike,
    device: str | Any = "cpu",
    config: Any = None,
    *,
    directory: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
) -> Any:
    """A ShiftGCN and its model card (model.load_model's LoadedModel: `net, card = ...`) for a
    checkpoint file or a registered name, fetched on first use; a registered entry's card
    (WeightEntry.card) is a file's that carries none, and must agree with one it carries."""
    from model.checkpoint import load_model as load_file  # torch is needed only here

    path = resolve(name_or_path, directory=directory, progress=progress)
    entry = registered_entry(name_or_path, directory)
    return load_file(path, device, config, card=entry.card() if entry else None)


def _folder_given(folder: Path) -> str:
    """What to say when a folder is given as a checkpoint: the file in it to pass instead."""
    if (folder / "best.pt").is_file():
        return f"{folder} is a folder (a training work folder); pass {folder / 'best.pt'}"
    inside = sorted(p.name for p in folder.iterdir() if p.suffix in (".pt", ".pth"))
    if inside:
        return f"{folder} is a folder; pass one of its checkpoint files: {', '.join(inside[:3])}"
    return (
        f"{folder} is a folder with no .pt file in it; pass a checkpoint file or a registered "
        f"name (python -m weights list)"
    )


def checked(entry: WeightEntry, path: Path) -> Path:
    """`path` if its sha256 is the registered one (a UserError otherwise). The digest is cached
    by size and modification time, so an unchanged file is hashed once, not on every start."""
    if cached_sha256(path) == entry.sha256:
        return path
    again = (
        f"python -m weights fetch {entry.name} downloads it again"
        if entry.url
        else "register it again (python -m weights register) if you changed it on purpose"
    )
    raise UserError(
        f"checkpoint file {path} of '{entry.name}' does not match its registered "
        f"sha256 (changed or damaged); {again}"
    )


def cached_sha256(path: Path) -> str:
    """The file's sha256, from the user's digest cache while its size and mtime are unchanged
    (nothing is written beside the checkpoints: a shared weights folder may be read-only)."""
    cache_file = user_cache_dir(DIGEST_CACHE_FILE)
    stat = path.stat()
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
        cache = cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        cache = {}
    key = os.path.realpath(path)
    known = cache.get(key)
    if (
        isinstance(known, list)
        and len(known) == 3
        and known[:2] == [stat.st_size, stat.st_mtime_ns]
    ):
        return str(known[2])
    digest = sha256_of(path)
    cache = {name: entry for name, entry in cache.items() if os.path.exists(name)}  # gone: dropped
    cache[key] = [stat.st_size, stat.st_mtime_ns, digest]
    try:
        with atomic_write(cache_file) as tmp:
            tmp.write_text(json.dumps(cache), encoding="utf-8")
    except OSError:  # no writable cache folder: hash again next time
        pass
    return digest


def verify(
    directory: str | os.PathLike | None = None, names: list[str] | None = None
) -> list[tuple[WeightEntry, str]]:
    """Each entry (or each named one) with 'ok', 'missing' or 'MISMATCH' for its file."""
    chosen = entries(directory) if names is None else [get(n, directory) for n in names]
    results = []
    for entry in chosen:
        path = entry.path(directory)
        if not path.is_file():
            status = "missing"
        else:
            status = "ok" if sha256_of(path) == entry.sha256 else "MISMATCH"
        results.append((entry, status))
    return results


def register(
    name: str,
    path: str | os.PathLike,
    dataset: str | None,
    *,
    stream: str | None = None,
    benchmark: str = "",
    accuracy: float | None = None,
    directory: str | os.PathLike | None = None,
    force: bool = False,
) -> WeightEntry:
    """Add one of the project's own checkpoints to the weights directory's local registry,
    after loading it: a file that is no Shift-GCN checkpoint of `dataset` is refused.

    With no `dataset`, the checkpoint must carry its class names (train.from_videos): the
    entry's dataset is then OWN_DATASET and its labels are read from the file. The registry file
    is read, changed and written under a lock (concurrent registers all land); one that does not
    parse is refused untouched; an existing name is replaced only with `force`.
    """
    check_name(name)
    if accuracy is not None and not 0 <= accuracy <= 100:  # NaN fails too
        raise UserError(f"--accuracy {accuracy}: give the top-1 in percent, from 0 to 100")
    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise UserError(f"checkpoint file {source} not found; give the .pt file to register")
    dataset, labels, stream, num_class = _check_content(source, dataset, stream)
    folder = weights_dir(directory)
    file = source.name if source.parent == folder else str(source)
    entry = WeightEntry(
        name=name,
        file=file,
        sha256=sha256_of(source),
        dataset=dataset,
        num_class=num_class,
        labels=labels,
        stream=stream,
        benchmark=benchmark,
        accuracy=accuracy,
        licence="project's own",
    )
    local_file = folder / LOCAL_REGISTRY_NAME
    with file_lock(folder / LOCK_NAME, f"the registry {local_file}"):
        data = _load_yaml(local_file)  # a file that does not parse: refused, left as it is
        checkpoints = data.setdefault("checkpoints", {}) or {}
        if not isinstance(checkpoints, dict):
            raise UserError(
                f"registry file {local_file}: 'checkpoints' is not a mapping; fix or move it "
                "away (nothing was changed)"
            )
        if name in checkpoints and not force:
            raise UserError(
                f"'{name}' is already registered in {local_file}; add --force to replace it "
                "or choose another name"
            )
        checkpoints[name] = {k: v for k, v in dataclasses.asdict(entry).items() if k != "name"}
        data["checkpoints"] = checkpoints
        with atomic_write(local_file) as tmp:
            tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return entry


def check_name(name: str) -> None:
    """Refuse, in one line, a name that --weights could never find: not a plain word (a folder
    separator, a space, a line break, a .pt ending reads as a file), or a released name."""
    if not NAME_PATTERN.fullmatch(name) or is_path(name):
        raise UserError(
            f"{excerpt(name)} cannot be a checkpoint name: use 1 to 64 letters, digits, "
            "'-', '_' or '.', starting with a letter or digit, not ending in .pt or .pth"
        )
    if name in {e.name for e in _read_entries(REGISTRY_FILE)[0]}:
        raise UserError(f"'{name}' is a released checkpoint's name; choose another name")


def _check_content(
    source: Path, dataset: str | None, stream: str | None
) -> tuple[str, str, str, int]:
    """Load `source` as a Shift-GCN checkpoint of `dataset` (None: one that names its own
    classes); return the entry's dataset, labels, stream and class count."""
    import torch

    from model.checkpoint import load_model  # torch is needed only here

    card = load_model(source, stream=stream).card
    if dataset is None:
        data = torch.load(source, map_location="cpu", weights_only=True)
        if not data.get("class_names") and not (data.get("card") or {}).get("class_names"):
            raise UserError(
                f"{source} does not name its own classes; give --dataset ntu60 or ntu120"
            )
        return OWN_DATASET, "", card.stream, card.num_class
    expected = len(class_names(dataset))
    if card.num_class != expected:
        raise UserError(
            f"{source} has {card.num_class} classes but {dataset} has {expected}; "
            f"give the --dataset it was trained on"
        )
    return dataset, dataset, card.stream, card.num_class


def calibrated_temperature(name_or_path: str | os.PathLike) -> float:
    """The registry's calibrated temperature of a checkpoint, named or given as its file (the
    GUI passes the downloaded file); 1 for a checkpoint the registry does not calibrate."""
    entry = registered_entry(name_or_path)
    return float(entry.temperature or 1.0) if entry else 1.0


def registered_faster(name_or_path: str | os.PathLike) -> list[float]:
    """The registry's faster views for a checkpoint, named or given as its file; none for one
    the registry does not list (a model of your own actions)."""
    entry = registered_entry(name_or_path)
    return [float(speed) for speed in entry.faster or []] if entry else []


def registered_entry(
    name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None
) -> WeightEntry | None:
    """The registry's entry of a checkpoint, named or given as its file (the GUI passes the
    downloaded file); None for a file the registry does not know."""
    known = entries(directory)
    if not is_path(name_or_path):
        return next((e for e in known if e.name == str(name_or_path)), None)
    target = Path(name_or_path).expanduser().resolve()
    return next((e for e in known if e.path(directory).resolve() == target), None)


def is_path(name_or_path: str | os.PathLike) -> bool:
    """True for a checkpoint meant as a file rather than a registry name: a path object, an
    existing file, or text with a folder separator or a .pt/.pth ending."""
    text = str(name_or_path)
    return (
        not isinstance(name_or_path, str)
        or Path(text).expanduser().is_file()
        or os.sep in text
        or "/" in text
        or text.endswith((".pt", ".pth"))
    )


def _load_yaml(path: Path) -> dict[str, Any]:
    """A registry file's content; empty when absent, a UserError when unreadable."""
    return read_yaml(path) if path.is_file() else {}


def _read_entries(path: Path, strict: bool = True) -> tuple[list[WeightEntry], dict[str, str]]:
    """The `checkpoints:` of a registry file as entries, checked field by field, and what is
    wrong (entry name, or '' for the whole file, -> one line). Strict: the first wrong one
    raises (the package's own file); otherwise it is left out and reported."""
    found, problems = [], {}
    try:
        section = _load_yaml(path).get("checkpoints") or {}
        if not isinstance(section, dict):
            raise UserError(
                f"registry file {path}: 'checkpoints' is not a mapping; fix or delete it"
            )
    except UserError as err:
        if strict:
            raise
        return [], {"": str(err)}
    for name, fields in section.items():
        try:
            found.append(WeightEntry(name=str(name), **fields))
        except TypeError as err:
            problem = (
                f"registry file {path}: entry '{name}' is malformed ({err}); fix it or "
                f"register the checkpoint again"
            )
            if strict:
                raise UserError(problem) from None
            problems[str(name)] = problem
    return found, problems
