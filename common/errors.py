"""One error type for everything a user can fix, and the wrapper that turns it into one line."""

from __future__ import annotations

import functools
import sys
from typing import Callable


class UserError(Exception):
    """A problem the user can act on; the message is one line: what, where, what to do."""


def one_line(text: str) -> str:
    """`text` on one line: line breaks of any kind (in a user's file name, say) are escaped."""
    return "".join(repr(c)[1:-1] if len(f"x{c}x".splitlines()) > 1 else c for c in text)


def cli_entry(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's main(): a UserError becomes one line on stderr and exit status 1."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs) or 0
        except UserError as err:
            print(f"error: {one_line(str(err))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
