"""The two errors CloudWatch Logs returns for a bad query or a bad filter pattern.

Each carries the AWS error code the emulator must send back, so the HTTP layer can
turn it into the same JSON error body AWS sends.
"""

from __future__ import annotations


class MalformedQueryError(ValueError):
    """A Logs Insights query that does not compile (AWS: ``MalformedQueryException``).

    ``line`` and ``column`` are 1-based. ``start_char_offset``/``end_char_offset`` are
    0-based offsets into the query text, for the ``queryCompileError.location`` that
    StartQuery returns with the exception.
    """

    code = "MalformedQueryException"

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        *,
        start_char_offset: int | None = None,
        end_char_offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.start_char_offset = start_char_offset
        self.end_char_offset = end_char_offset

    def query_compile_error(self) -> dict:
        """The ``queryCompileError`` member of AWS's exception body."""
        location = {}
        if self.start_char_offset is not None:
            location["startCharOffset"] = self.start_char_offset
        if self.end_char_offset is not None:
            location["endCharOffset"] = self.end_char_offset
        return {"location": location, "message": self.message}


class InvalidFilterPatternError(ValueError):
    """A FilterLogEvents ``filterPattern`` AWS refuses (``InvalidParameterException``).

    ``str(err)`` is the exception message AWS sends: ``"Invalid filter pattern"`` or a
    more specific sentence such as ``"Invalid character(s) in term '...'"``.
    """

    code = "InvalidParameterException"

    def __init__(self, message: str = "Invalid filter pattern") -> None:
        super().__init__(message)
        self.message = message
