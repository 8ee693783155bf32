"""Reading the label and score pickles as data: a pickle may name any function to call, so only
the types the project and the original Shift-GCN code write are admitted (containers, numbers,
strings, numpy arrays and scalars); anything else is refused before it runs."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

# (module, name) pairs a label or score pickle may name: numpy's array, dtype and scalar
# constructors under numpy 1 and 2, and the string encoder of protocol 2 (Python 2 era files).
ALLOWED = frozenset(
    [
        (module, name)
        for core in ("numpy.core", "numpy._core")
        for module, name in (
            (f"{core}.multiarray", "_reconstruct"),
            (f"{core}.multiarray", "scalar"),
            (f"{core}.numeric", "_frombuffer"),
        )
    ]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
)


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something other than plain data."""


class _DataUnpickler(pickle.Unpickler):
    """An unpickler whose only reachable globals are those in ALLOWED."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise UnsafePickleError(
                f"it names {module}.{name}, which is not data; "
                "a data pickle holds only lists, dicts, numbers, strings "
                "and numpy arrays"
            )
        return super().find_class(module, name)


def load_data_pickle(path: str | Path) -> Any:
    """Unpickle `path`, refusing any pickle that would construct or call more than data."""
    return _DataUnpickler(io.BytesIO(Path(path).read_bytes())).load()
