"""LLM backends: OpenAI-compatible chat completions with routing, caps, retries and typed errors.

:class:`ChatBackend` is the interface; :class:`OpenAIChatBackend` implements it over HTTP/1.1
for vLLM, SGLang, OpenAI and the simulated server alike. Errors form one tree under
:class:`BackendError` (see ``_errors``); nothing from the HTTP or JSON layers escapes.
"""

from cove_async.backends._config import HealthPolicy, Limits, RetryPolicy, Timeouts
from cove_async.backends._errors import (
    BackendConnectionError,
    BackendError,
    BackendProtocolError,
    BackendStatusError,
    BackendTimeout,
)
from cove_async.backends._openai import BackendStatistics, OpenAIChatBackend, chat_completions_url
from cove_async.backends._protocol import ChatBackend
from cove_async.backends._router import LATENCY_BUCKETS_S, EndpointStatistics
from cove_async.backends._seed import derive_seed
from cove_async.backends._types import ChatRequest, ChatResponse, Usage

__all__ = (
    "ChatBackend",
    "OpenAIChatBackend",
    "ChatRequest",
    "ChatResponse",
    "Usage",
    "RetryPolicy",
    "Limits",
    "Timeouts",
    "HealthPolicy",
    "BackendStatistics",
    "EndpointStatistics",
    "LATENCY_BUCKETS_S",
    "BackendError",
    "BackendConnectionError",
    "BackendTimeout",
    "BackendStatusError",
    "BackendProtocolError",
    "derive_seed",
    "chat_completions_url",
)
