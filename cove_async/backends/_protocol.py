"""The interface the engine's LLM policies are written against."""

from __future__ import annotations

from typing import Protocol

from cove_async.backends._types import ChatRequest, ChatResponse

__all__ = ("ChatBackend",)


class ChatBackend(Protocol):
    """Something that turns a :class:`ChatRequest` into a :class:`ChatResponse`.

    Implementations route, cap and retry as they see fit; the engine only needs this call.
    """

    async def complete(self, request: ChatRequest, *, route_key: str) -> ChatResponse:
        """One chat completion.

        Args:
            request: what to ask.
            route_key: a key whose requests should go to the same server when possible (the
                episode id), so the server's prefix cache holds the conversation.

        Raises:
            BackendError: no usable completion could be obtained; the subclass says why.
        """
        ...
