"""Reading the project's YAML configuration: one mapping, `_base_` inheritance, deep merges, all
bounded: aliases may expand to a few thousand nodes at most ("billion laughs"), nesting is a few
dozen levels deep at most, `_base_` chains are short and never loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

BASE_KEY = "_base_"
MAX_DEPTH = 50  # nested lists/mappings in one document
MAX_ALIAS_NODES = 10_000  # nodes that aliases (*name) may repeat in one document
MAX_BASES = 8  # `_base_` files in one chain


class BoundedYamlError(yaml.YAMLError):
    """A document beyond the loader's bounds (nesting or alias expansion)."""


class BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the nesting depth and the nodes repeated by aliases bounded, so
    that a few hundred bytes cannot exhaust the stack or (once printed) the memory."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliased = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, counting its depth and what an alias to it repeats."""
        if self.check_event(yaml.AliasEvent):
            anchored = self.anchors.get(self.peek_event().anchor)
            if anchored is not None:
                self._aliased += self._size(anchored)
                if self._aliased > MAX_ALIAS_NODES:
                    raise BoundedYamlError(
                        f"aliases (*name) repeat more than {MAX_ALIAS_NODES} values; "
                        "write the values out instead"
                    )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise BoundedYamlError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _size(self, node: yaml.Node) -> int:
        """How many nodes `node` stands for, repeats included (memoised: linear in the graph)."""
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = []
            self._sizes[key] = 1 + sum(self._size(child) for child in children)
        return self._sizes[key]


def load_yaml_text(text: str) -> Any:
    """One YAML document, loaded safely within the bounds above (a yaml.YAMLError otherwise)."""
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read one YAML mapping, following `_base_` (a path or list of paths, relative to the file);
    a `_base_` that leads back to a file of its own chain, or a chain too long, is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config {path} does not exist")
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise UserError(f"cannot read config {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"config {path} is not a UTF-8 text file (YAML expected)") from None
    except yaml.YAMLError as err:
        raise UserError(f"config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"config {path} must be a mapping of keys to values")
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise UserError(f"config {path}: {BASE_KEY} must be a file name or a list of them")
    chain = (*_chain, path.resolve())
    merged: dict[str, Any] = {}
    for base in bases:
        base_path = path.parent / base
        if base_path.resolve() in chain:
            loop = " -> ".join(str(p) for p in (*chain, base_path.resolve()))
            raise UserError(f"config {path}: {BASE_KEY} leads back to itself ({loop}); remove it")
        if len(chain) >= MAX_BASES:
            raise UserError(f"config {path}: more than {MAX_BASES} {BASE_KEY} files in a chain")
        merged = deep_merge(merged, read_yaml(base_path, chain))
    return deep_merge(merged, data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `override` on top, merging nested mappings key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = deep_merge(out[key], value)
        out[key] = value
    return out
