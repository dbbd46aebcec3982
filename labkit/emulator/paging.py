"""Pages of a list answer with an opaque ``NextToken``, as AWS's List/Describe calls give them."""

from __future__ import annotations

import base64

from labkit.emulator.awsproto import AwsError


def page(items: list, token: str | None, limit: int,
         code: str = "InvalidNextToken") -> tuple[list, str | None]:
    """The items of the page ``token`` points at (the first page when None) and the next page's token."""
    start = _offset(token, code) if token else 0
    end = start + limit
    return items[start:end], (_token(end) if end < len(items) else None)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"labkit:{offset}".encode()).decode()


def _offset(token: str, code: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "labkit" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except ValueError:
        raise AwsError(code, "The specified token is not valid.") from None
