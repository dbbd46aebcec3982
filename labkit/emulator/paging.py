"""Pages of a list answer with an opaque ``NextToken``, as AWS's List/Describe calls give them."""

from __future__ import annotations

import base64

from labkit.emulator.awsproto import AwsError


def page(items: list, token: str | None, limit: int, code: str = "InvalidNextToken",
         message: str = "The specified token is not valid.") -> tuple[list, str | None]:
    """The items of the page ``token`` points at (the first page when None) and the next page's token;
    a token this function did not make is ``code`` with ``message`` (each service words it its own way)."""
    start = _offset(token, code, message) if token else 0
    end = start + limit
    return items[start:end], (_token(end) if end < len(items) else None)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"labkit:{offset}".encode()).decode()


def _offset(token: str, code: str, message: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "labkit" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except ValueError:
        raise AwsError(code, message) from None
