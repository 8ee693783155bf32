"""One error type for everything a user can fix, and the wrapper that turns it into one line."""

from __future__ import annotations

import functools
import reprlib
import sys
from typing import Callable


class UserError(Exception):
    """A problem the user can act on; the message is one line: what, where, what to do."""


MAX_EXCERPT = 80  # characters of a rejected value an error line shows
MAX_LINE = 2000  # characters of one error line

_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel = 3
_EXCERPT.maxstring = _EXCERPT.maxother = _EXCERPT.maxlong = MAX_EXCERPT
_EXCERPT.maxlist = _EXCERPT.maxtuple = _EXCERPT.maxdict = _EXCERPT.maxset = 6


def excerpt(value: object) -> str:
    """A bounded repr of a rejected value for an error line: a value of any size or nesting
    (a YAML alias bomb) costs at most MAX_EXCERPT characters to show."""
    text = _EXCERPT.repr(value)
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 3] + "..."


def one_line(text: str) -> str:
    """`text` on one line: line breaks of any kind (in a user's file name, say) are escaped."""
    return "".join(repr(c)[1:-1] if len(f"x{c}x".splitlines()) > 1 else c for c in text)


def printable(text: str) -> str:
    """`text` safe to show: control characters (a terminal's escape codes, line breaks) written
    as escapes, so that a name from a file cannot move the cursor or recolour the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def cli_entry(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's main(): a UserError becomes one line on stderr and exit status 1."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs) or 0
        except UserError as err:
            text = str(err)
            if len(text) > MAX_LINE:
                text = text[: MAX_LINE - 3] + "..."
            print(f"error: {one_line(text)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
