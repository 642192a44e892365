"""The daemon's errors.

::

    CoveError                 (cove_async.errors)
    └── ApiError              a request the daemon refuses; ``status`` is the HTTP status (4xx)
"""

from __future__ import annotations

from cove_async.errors import CoveError

__all__ = ("ApiError",)


class ApiError(CoveError):
    """A request the daemon refuses, with the HTTP status to answer and a message saying why.

    Attributes:
        status: the HTTP status code (400, 401, 404, 409, 413, 422, 429...).
        headers: extra response headers (``Retry-After`` for 429).
    """

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
