"""Typed settings from YAML mappings: the defaults kept, every wrong key or value one line."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from common.errors import UserError
from common.settings import settings_from_dict, settings_to_dict


@dataclass
class Inner:
    count: int = 2
    rate: float = 0.5

    def __post_init__(self) -> None:
        if self.count < 0:
            raise UserError(f"count must be 0 or more, got {self.count}")


@dataclass
class Outer:
    name: str | None = None
    on: bool = False
    inner: Inner = field(default_factory=Inner)


def test_a_mapping_replaces_only_its_keys():
    """Absent keys keep the defaults; a whole number is taken for a float field as a float."""
    built = settings_from_dict(Outer, {"name": "x", "inner": {"rate": 2}}, "config a.yaml")
    assert built == Outer(name="x", inner=Inner(count=2, rate=2.0))
    assert isinstance(built.inner.rate, float)
    assert settings_from_dict(Outer, {}, "config a.yaml") == Outer()
    assert settings_from_dict(Outer, {"name": None}, "config a.yaml").name is None
    assert settings_to_dict(built) == {"name": "x", "on": False, "inner": {"count": 2, "rate": 2.0}}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nme": "x"}, "config a.yaml: unknown setting 'nme'; known: name, on, inner"),
        ({"inner": {"cnt": 1}}, "config a.yaml: unknown setting 'inner.cnt'"),
        ({"on": 1}, "config a.yaml: on: 1 is not true or false"),
        ({"inner": {"count": True}}, "config a.yaml: inner.count: True is not a whole number"),
        ({"inner": {"count": 1.5}}, "config a.yaml: inner.count: 1.5 is not a whole number"),
        ({"inner": {"rate": "fast"}}, "config a.yaml: inner.rate: 'fast' is not a number"),
        ({"name": 3}, "config a.yaml: name: 3 is not a text or null"),
        ({"inner": [1]}, "config a.yaml: inner must be a mapping"),
        ({"inner": {"count": -1}}, "config a.yaml: count must be 0 or more, got -1"),
    ],
)
def test_a_wrong_key_or_value_is_one_line_naming_it_and_its_source(data, message):
    with pytest.raises(UserError) as info:
        settings_from_dict(Outer, data, "config a.yaml")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
