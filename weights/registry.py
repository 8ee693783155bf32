"""Checkpoint names -> files: the registry, the weights directory, class names, fetch on demand."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from model.errors import UserError
from model.fileio import atomic_write
from weights.fetch import ProgressFn, download, manual_hint, sha256_of

PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = PACKAGE_DIR / "registry.yaml"
LABELS_DIR = PACKAGE_DIR / "labels"
LOCAL_REGISTRY_NAME = "local_registry.yaml"
DIR_ENV = "SHIFTGCN_WEIGHTS_DIR"
URL_ENV = "SHIFTGCN_WEIGHTS_URL"
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
        from model import load_model

        return list(load_model(self.path()).class_names)


def weights_dir(override: str | os.PathLike | None = None) -> Path:
    """The checkpoint directory: `override` (--dir), else $SHIFTGCN_WEIGHTS_DIR, else weights/."""
    chosen = override or os.environ.get(DIR_ENV) or PACKAGE_DIR
    return Path(chosen).expanduser().resolve()


def entries(directory: str | os.PathLike | None = None) -> list[WeightEntry]:
    """The released checkpoints followed by those registered in the weights directory."""
    builtin = _read_entries(REGISTRY_FILE)
    local = _read_entries(weights_dir(directory) / LOCAL_REGISTRY_NAME)
    return builtin + [e for e in local if e.name not in {b.name for b in builtin}]


def get(name: str, directory: str | os.PathLike | None = None) -> WeightEntry:
    """The entry called `name`; a UserError naming the known ones when there is none."""
    known = entries(directory)
    for entry in known:
        if entry.name == name:
            return entry
    names = ", ".join(e.name for e in known)
    raise UserError(f"unknown checkpoint '{name}'; known names: {names} (or give a .pt file path)")


def default_name() -> str:
    """The checkpoint used when the user names none."""
    return str(_load_yaml(REGISTRY_FILE).get("default"))


def class_names(dataset: str) -> list[str]:
    """Class names of `dataset` (ntu60, ntu120) in label order, from weights/labels/."""
    path = LABELS_DIR / f"{dataset}.txt"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in LABELS_DIR.glob("*.txt")))
        raise UserError(f"no class names for dataset '{dataset}' in {LABELS_DIR}; known: {known}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fetch_checkpoint(name: str, directory: str | os.PathLike | None = None,
          progress: ProgressFn | None = None) -> Path:
    """Make the registered checkpoint `name` present and digest-checked; return its path."""
    entry = get(name, directory)
    dest = entry.path(directory)
    if dest.is_file() and sha256_of(dest) == entry.sha256:
        return dest
    url = entry.download_url()
    if url is None:
        raise UserError(f"checkpoint '{name}' is a local one with no download URL and {dest} "
                        f"is missing or changed; register it again with python -m weights register")
    return download(url, dest, entry.sha256, progress)


def resolve(name_or_path: str | os.PathLike, fetch: bool = True,
            directory: str | os.PathLike | None = None,
            progress: ProgressFn | None = None) -> Path:
    """A checkpoint file for a path or a registered name, fetching a missing one if allowed."""
    as_path = Path(name_or_path).expanduser()
    if as_path.is_file():
        return as_path
    if _looks_like_path(str(name_or_path)):
        raise UserError(f"checkpoint file {as_path} not found; give an existing .pt file "
                        f"or a registered name (python -m weights list)")
    entry = get(str(name_or_path), directory)
    dest = entry.path(directory)
    if dest.is_file():
        return dest
    url = entry.download_url()
    if url is None:
        raise UserError(f"checkpoint file {dest} of '{entry.name}' is missing; "
                        f"put it back, or register the file again (python -m weights register)")
    if not fetch:
        raise UserError(f"checkpoint '{entry.name}' is not in {dest.parent}; run python -m "
                        f"weights fetch {entry.name}, or {manual_hint(url, dest)}")
    return fetch_checkpoint(entry.name, directory, progress)


def verify(directory: str | os.PathLike | None = None, names: list[str] | None = None
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


def register(name: str, path: str | os.PathLike, dataset: str | None, *, stream: str = "joint",
             benchmark: str = "", accuracy: float | None = None,
             directory: str | os.PathLike | None = None) -> WeightEntry:
    """Add one of the project's own checkpoints to the weights directory's local registry.

    With no `dataset`, the checkpoint must carry its class names and stream (train.from_videos):
    the entry's dataset is then OWN_DATASET and its labels are read from the file.
    """
    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise UserError(f"checkpoint file {source} not found; give the .pt file to register")
    if name in {e.name for e in _read_entries(REGISTRY_FILE)}:
        raise UserError(f"'{name}' is a released checkpoint's name; choose another name")
    if dataset is None:
        dataset, labels, stream, num_class = OWN_DATASET, "", *_own_classes(source)
    else:
        labels, num_class = dataset, len(class_names(dataset))
    folder = weights_dir(directory)
    file = source.name if source.parent == folder else str(source)
    entry = WeightEntry(name=name, file=file, sha256=sha256_of(source), dataset=dataset,
                        num_class=num_class, labels=labels, stream=stream,
                        benchmark=benchmark, accuracy=accuracy, licence="project's own")
    local_file = folder / LOCAL_REGISTRY_NAME
    data = _load_yaml(local_file) or {}
    checkpoints = data.setdefault("checkpoints", {})
    checkpoints[name] = {k: v for k, v in dataclasses.asdict(entry).items() if k != "name"}
    with atomic_write(local_file) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return entry


def _own_classes(path: Path) -> tuple[str, int]:
    """The stream and class count of a checkpoint that names its classes; else one clear line."""
    import torch

    from model import load_model  # model imports weights lazily too: no cycle at import time

    model = load_model(path)  # one clear line for a file that is no Shift-GCN checkpoint
    if not torch.load(path, map_location="cpu", weights_only=True).get("class_names"):
        raise UserError(f"{path} does not name its own classes; give --dataset ntu60 or ntu120")
    return model.stream, model.num_class


def _looks_like_path(text: str) -> bool:
    """True for text meant as a file rather than a registry name."""
    return os.sep in text or "/" in text or text.endswith((".pt", ".pth"))


def _load_yaml(path: Path) -> dict[str, Any]:
    """A registry file's content; empty when absent, a UserError when unreadable."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read registry file {path} ({type(err).__name__}); "
                        f"fix or delete it") from None
    if not isinstance(data, dict):
        raise UserError(f"registry file {path} is not a mapping; fix or delete it")
    return data


def _read_entries(path: Path) -> list[WeightEntry]:
    """The `checkpoints:` of a registry file as entries, checked for the required fields."""
    found = []
    for name, fields in (_load_yaml(path).get("checkpoints") or {}).items():
        try:
            found.append(WeightEntry(name=str(name), **fields))
        except TypeError as err:
            raise UserError(f"registry file {path}: entry '{name}' is malformed ({err})") from None
    return found
