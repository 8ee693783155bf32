"""Configuration input within bounds: alias bombs, deep nesting and `_base_` loops are one line
each, and an error shows a bounded excerpt of the value it rejects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.cli import parse_assignments
from common.errors import MAX_EXCERPT, UserError, excerpt
from common.settings import settings_from_dict
from common.yaml_files import MAX_BASES, load_yaml_text, read_yaml

BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh"))
    + "window: *h\n"
)


def test_an_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 400
    with pytest.raises(UserError, match="aliases .* repeat more than"):
        read_yaml(path)
    flow = ", ".join(
        ["&a [x, x, x, x, x, x, x, x, x]"]
        + [f"&{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefg", "bcdefgh")]
    )
    with pytest.raises(UserError, match="aliases .* repeat more than"):
        parse_assignments([f"window=[{flow}]"])


def test_a_few_aliases_still_work():
    assert load_yaml_text("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize(
    "nesting", ["[" * 200_000 + "]" * 200_000, "{a: " * 5000 + "1" + "}" * 5000]
)
def test_deep_nesting_is_refused(tmp_path, nesting):
    path = tmp_path / "deep.yaml"
    path.write_text(f"key: {nesting}\n")
    with pytest.raises(UserError, match="nested more than"):
        read_yaml(path)
    with pytest.raises(UserError, match="nested more than"):
        parse_assignments([f"key={nesting}"])
    with pytest.raises(UserError, match="levels of keys"):
        parse_assignments(["a." * 100_000 + "b=1"])


def test_base_loops_and_long_chains_are_one_line(tmp_path):
    (tmp_path / "a.yaml").write_text("_base_: b.yaml\nx: 1\n")
    (tmp_path / "b.yaml").write_text("_base_: [a.yaml]\ny: 2\n")
    with pytest.raises(UserError, match="leads back to itself"):
        read_yaml(tmp_path / "a.yaml")
    for i in range(MAX_BASES + 2):
        (tmp_path / f"c{i}.yaml").write_text(f"_base_: c{i + 1}.yaml\n" if i <= MAX_BASES else "")
    with pytest.raises(UserError, match="files in a chain"):
        read_yaml(tmp_path / "c0.yaml")
    (tmp_path / "d.yaml").write_text("_base_: {x: 1}\n")
    with pytest.raises(UserError, match="must be a file name"):
        read_yaml(tmp_path / "d.yaml")


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=200,
    )
)
def test_an_excerpt_is_bounded_whatever_the_value(value):
    assert len(excerpt(value)) <= MAX_EXCERPT


def test_a_huge_rejected_value_gives_a_short_error_line():
    from dataclasses import dataclass

    @dataclass
    class Small:
        window: int = 3

    shared = ["x" * 1000] * 9
    for _ in range(6):
        shared = [shared] * 9  # 9**7 strings of 1000 characters, were it printed in full
    with pytest.raises(UserError) as err:
        settings_from_dict(Small, {"window": shared}, "test")
    assert len(str(err.value)) < 200
