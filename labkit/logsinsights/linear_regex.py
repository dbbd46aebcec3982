"""Regular expressions written by a user, run in linear time on RE2.

Every regex that comes from a query (``like /.../``, ``=~``, ``parse`` with a regex or a
glob) or from a filter pattern (``%...%``, ``*`` wildcards) goes through
:func:`compile_linear`. Python's ``re`` backtracks: ``(a+)+$`` against forty ``a`` and a
``b`` takes longer than the universe, and the emulator would hang with it. RE2 answers
in time proportional to the text, and refuses the two features that need backtracking
(backreferences and lookaround) when the regex is compiled, so the user gets an error
that names the feature instead of a hung query.

Matching a column runs on Arrow's compute kernels, which are RE2 too and vectorised;
google-re2 compiles (and so validates) every pattern first, and does the per-value
work Arrow cannot (a mix of named and unnamed capture groups).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error comes back to the caller; RE2 would also print it

# RE2's parse errors that mean "a backtracking feature", and how to name it for the user
_FEATURES = (
    (re.compile(r"invalid escape sequence: \\[1-9k]"), "backreferences"),
    (re.compile(r"invalid perl operator: \(\?<?[=!]"), "lookaround"),
)


class UnsupportedRegexError(ValueError):
    """A regex RE2 cannot run; ``str(err)`` names the feature or the syntax error."""


@dataclass(frozen=True, eq=False)
class LinearRegex:
    """A compiled user regex: ``pattern`` as RE2 reads it, ``compiled`` the google-re2 object."""

    pattern: str
    compiled: object

    @property
    def group_names(self) -> tuple[str, ...]:
        """Named capture groups, in the order they appear."""
        index = self.compiled.groupindex
        return tuple(sorted(index, key=index.__getitem__))

    def search(self, text: str) -> bool:
        """Whether the regex matches anywhere in ``text``."""
        return self.compiled.search(text) is not None

    def fullmatch(self, text: str) -> bool:
        """Whether the regex matches all of ``text``."""
        return self.compiled.fullmatch(text) is not None

    def search_many(self, values: list[str]) -> np.ndarray:
        """``search`` over many strings at once (a bool array)."""
        if not values:
            return np.zeros(0, dtype=bool)
        arr = pa.array(values, type=pa.string())
        try:
            hits = pc.match_substring_regex(arr, pattern=self.pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # Arrow's RE2 is older than google-re2
            return np.fromiter((self.search(v) for v in values), bool, len(values))
        return pc.fill_null(hits, False).to_numpy(zero_copy_only=False)

    def extract_named(self, values: list[str]) -> dict[str, np.ndarray]:
        """For each named group, its text in each of ``values`` (None where the regex does not match)."""
        names = self.group_names
        if values and names and len(names) == self.compiled.groups:
            try:
                return self._extract_arrow(values, names)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # Arrow's RE2 is older
                pass
        out = {name: np.full(len(values), None, dtype=object) for name in names}
        for i, v in enumerate(values):
            m = self.compiled.search(v)
            if m is not None:
                for name in names:
                    out[name][i] = m.group(name)
        return out

    def _extract_arrow(self, values: list[str], names: tuple[str, ...]) -> dict[str, np.ndarray]:
        found = pc.extract_regex(pa.array(values, type=pa.string()), pattern=self.pattern)
        matched = found.is_valid().to_numpy(zero_copy_only=False)
        out = {}
        for name in names:
            col = found.field(name).to_numpy(zero_copy_only=False).astype(object)
            col[~matched] = None
            out[name] = col
        return out


def compile_linear(pattern: str) -> LinearRegex:
    """Compile a user regex on RE2; raise :class:`UnsupportedRegexError` with a clear message.

    ``(?<name>...)`` and ``(?P<name>...)`` both name a group; ``(?i)`` and the other
    inline flags work as in RE2's syntax.
    """
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise UnsupportedRegexError(_explain(pattern, exc)) from None
    return LinearRegex(pattern, compiled)


def escape(text: str) -> str:
    """``text`` as a regex that matches it literally."""
    return re2.escape(text)


def _explain(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    for rx, feature in _FEATURES:
        if rx.search(detail):
            return (
                f"Regular expression /{pattern}/ uses {feature}: the offline emulator runs regexes "
                f"on RE2 (linear time), which does not support {feature}"
            )
    return f"Invalid regular expression /{pattern}/: {detail}"
