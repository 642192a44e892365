"""A stand-in tokenizer: token counts, token ids and logprobs that are fake but deterministic.

The simulated server has no model vocabulary, so it cuts text into pieces of
:data:`CHARS_PER_TOKEN` characters (the usual rule of thumb for English with BPE tokenizers,
about 4 characters a token) and names each piece by a hash. The counts are what usage and the
latency model see; the ids and logprobs exist so that clients asking for vLLM's per-token extras
get well-formed, reproducible values of the right length. The same text always gives the same
ids, the number of ids always equals the token count reported in ``usage``, and the prompt is
the conversation rendered with role markers, the tool schemas (as JSON) first.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from cove_async.chat import Message, ToolCall

__all__ = (
    "CHARS_PER_TOKEN",
    "VOCAB_SIZE",
    "completion_text",
    "count_tokens",
    "logprobs_content",
    "prompt_text",
    "token_ids",
)

CHARS_PER_TOKEN = 4
"""Characters per simulated token."""

VOCAB_SIZE = 151_936
"""Size of the simulated vocabulary (Qwen2's); ids fall in ``range(VOCAB_SIZE)``."""

_EOS_ID = 151_645
"""The id given to the end-of-sequence token that an empty completion consists of."""


def prompt_text(messages: Sequence[Message], tools_json: str) -> str:
    """The text whose tokens make the prompt: the tool schemas' JSON text, then each message."""
    parts: list[str] = [tools_json]
    for message in messages:
        parts.append(f"<|{message.role}|>")
        if message.content:
            parts.append(message.content)
        for call in message.tool_calls:
            parts.append(call.function.name)
            parts.append(call.function.arguments)
    parts.append("<|assistant|>")
    return "".join(parts)


def completion_text(content: str | None, tool_calls: Sequence[ToolCall]) -> str:
    """The text whose tokens make the completion: the content, then each call's name and arguments."""
    parts = [content or ""]
    for call in tool_calls:
        parts.append(call.function.name)
        parts.append(call.function.arguments)
    return "".join(parts)


def count_tokens(text: str, *, completion: bool = False) -> int:
    """Simulated tokens in ``text``: one per started group of :data:`CHARS_PER_TOKEN` characters.

    Args:
        text: the text.
        completion: count a generated text, which is at least one token (an empty reply is the
            end-of-sequence token alone).
    """
    n = -(-len(text) // CHARS_PER_TOKEN)
    return max(n, 1) if completion else n


def _pieces(text: str, completion: bool) -> list[str]:
    pieces = [text[i : i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]
    if completion and not pieces:
        pieces.append("")
    return pieces


def _piece_id(piece: str) -> int:
    return _EOS_ID if not piece else zlib.crc32(piece.encode()) % VOCAB_SIZE


def token_ids(text: str, *, completion: bool = False) -> list[int]:
    """The simulated token ids of ``text``; ``len(token_ids(t, ...)) == count_tokens(t, ...)``."""
    return [_piece_id(piece) for piece in _pieces(text, completion)]


def logprobs_content(text: str, *, top_logprobs: int, as_token_ids: bool) -> list[dict[str, Any]]:
    """OpenAI's ``choices[0].logprobs.content`` for a completion ``text``, one entry per token.

    Each sampled token is the most likely one at its position (as under greedy decoding), with
    a log probability in [-1, 0) derived from its id; the ``top_logprobs - 1`` alternatives
    below it are placeholders ``<alt1>``, ``<alt2>``... with lower log probabilities.

    Args:
        text: the completion text.
        top_logprobs: alternatives listed per position, the sampled token included (0 for none).
        as_token_ids: name tokens ``token_id:<id>`` (vLLM's ``return_tokens_as_token_ids``).
    """
    content: list[dict[str, Any]] = []
    for piece in _pieces(text, completion=True):
        tid = _piece_id(piece)
        logprob = -((tid % 997) + 1) / 1000.0
        token = f"token_id:{tid}" if as_token_ids else piece
        top = [{"token": token, "logprob": logprob, "bytes": list(piece.encode())}]
        for rank in range(1, top_logprobs):
            alt = f"<alt{rank}>"
            top.append({"token": alt, "logprob": logprob - rank, "bytes": list(alt.encode())})
        content.append({**top[0], "top_logprobs": top[:top_logprobs]})
    return content
