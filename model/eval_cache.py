"""Values derived from parameters: built once for inference, again when a parameter changes."""

from __future__ import annotations

from typing import Callable

import torch


def cached(
    owner: torch.nn.Module, name: str, compute: Callable[[], object], *sources: torch.Tensor
) -> object:
    """`compute()` under no_grad, memoised on `owner` until any of `sources` is modified or moved.

    A tensor's storage pointer and version counter change on `.to()`, `load_state_dict` and
    optimiser steps, so they key the cache.
    """
    key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources)
    store = owner.__dict__.setdefault("_eval_cache", {})
    entry = store.get(name)
    if entry is None or entry[0] != key:
        with torch.no_grad():
            entry = (key, compute())
        store[name] = entry
    return entry[1]
