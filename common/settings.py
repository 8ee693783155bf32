"""Typed settings: dataclasses whose field defaults are the defaults, built from YAML mappings
that only override them, with a wrong key or value answered in one line naming it and its file."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from .errors import UserError, excerpt

Settings = TypeVar("Settings")

_KINDS = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a text",
    dict: "a mapping of keys to values",
}


def settings_from_dict(cls: type[Settings], data: Any, where: str) -> Settings:
    """`cls` with the keys of the mapping `data` replacing its defaults (nested dataclasses from
    nested mappings). An unknown key, a value of another kind than the field's or one its class
    refuses is a UserError naming the key and `where` (the file or flag it came from)."""
    try:
        return _build(cls, data, "")
    except UserError as err:
        raise UserError(f"{where}: {err}") from None


def _build(cls: type[Settings], data: Any, prefix: str) -> Settings:
    """settings_from_dict below the key path `prefix` (e.g. "classifier.")."""
    if not isinstance(data, dict):
        raise UserError(
            f"{prefix.rstrip('.') or 'the settings'} must be a mapping of keys to values"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise UserError(
                f"unknown setting {excerpt(prefix + str(key))}; known: {', '.join(fields)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, f"{prefix}{key}.")
            continue
        allowed = _allowed_types(hint)
        if not _fits(value, allowed):
            kinds = " or ".join(
                _KINDS.get(t, "null" if t is type(None) else t.__name__) for t in allowed
            )
            raise UserError(f"{prefix}{key}: {excerpt(value)} is not {kinds}")
        values[key] = float(value) if float in allowed and isinstance(value, int) else value
    return cls(**values)


def settings_to_dict(settings: Any) -> dict[str, Any]:
    """Plain types only, for JSON and YAML (nested settings as nested mappings)."""
    return dataclasses.asdict(settings)


def _allowed_types(hint: Any) -> tuple[type, ...]:
    """The types a field's annotation admits (`X | None` admits both)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(typing.get_origin(t) or t for t in typing.get_args(hint))
    return (typing.get_origin(hint) or hint,)  # dict[str, Any] admits a dict


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    """Whether `value` is of an allowed type; a bool is no number and an int is a float."""
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    return any(t is not bool and isinstance(value, t) for t in allowed)
