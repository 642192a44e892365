"""The errors a backend raises; nothing from the transport or msgspec escapes a backend call.

::

    CoveError                      (cove_async.errors)
    └── BackendError               a chat completion could not be obtained
        ├── BackendConnectionError cannot connect, or the connection broke mid-request
        ├── BackendTimeout         no reply within Timeouts.request_s, or no capacity within
        │                          Timeouts.acquire_s
        ├── BackendStatusError     an HTTP error status (``status`` holds it)
        └── BackendProtocolError   a 200 reply that is not a usable chat completion: not JSON,
                                   no choices, no message, tool-call arguments that are not JSON

Connection errors, timeouts, 429 and 5xx are retried as :class:`RetryPolicy` says; other 4xx
and protocol errors are not. The error raised after the last attempt is the class of that
attempt's failure, and its message says how many attempts were made. The engine records a
backend error as the turn's error (as tau2 does with a failed LLM call): it never crashes a run.
"""

from __future__ import annotations

from cove_async.errors import CoveError

__all__ = (
    "BackendConnectionError",
    "BackendError",
    "BackendProtocolError",
    "BackendStatusError",
    "BackendTimeout",
)


class BackendError(CoveError):
    """A chat completion could not be obtained.

    Attributes:
        endpoint: the URL of the last attempt ("" when no endpoint was tried).
        attempts: how many HTTP attempts were made (0 when none could start).
        reason: a short, bounded label for metrics: ``connection``, ``timeout``, ``http_429``,
            ``http_5xx``, ``http_4xx``, ``protocol`` or ``capacity``.
    """

    reason = "error"

    def __init__(self, message: str, *, endpoint: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.attempts = attempts


class BackendConnectionError(BackendError):
    """The server could not be reached, or the connection broke before a full reply arrived."""

    reason = "connection"


class BackendTimeout(BackendError):
    """No reply within the request timeout, or no endpoint capacity within the acquire timeout."""

    reason = "timeout"


class BackendStatusError(BackendError):
    """The server answered with an HTTP error status.

    Attributes:
        status: the HTTP status code.
        snippet: the start of the response body, for the log.
    """

    def __init__(self, message: str, *, status: int, snippet: str, endpoint: str = "", attempts: int = 1) -> None:
        super().__init__(message, endpoint=endpoint, attempts=attempts)
        self.status = status
        self.snippet = snippet
        self.reason = "http_429" if status == 429 else "http_5xx" if status >= 500 else "http_4xx"


class BackendProtocolError(BackendError):
    """A successful HTTP reply that is not a usable chat completion.

    Attributes:
        snippet: the start of the raw body (or the offending field), for the log.
    """

    reason = "protocol"

    def __init__(self, message: str, *, snippet: str, endpoint: str = "", attempts: int = 1) -> None:
        super().__init__(message, endpoint=endpoint, attempts=attempts)
        self.snippet = snippet
