"""An LLM judge for tau2's natural-language assertions, held to a strict answer format.

tau2 asks one LLM call whether a conversation meets each of a task's ``nl_assertions``. This judge
does the same through any :class:`~cove_async.backends.ChatBackend`, with its own prompt: the
transcript (customer and agent texts, tool calls and results clipped), the numbered assertions,
and a demand for one JSON object holding one boolean and a short reason per assertion. A reply
that is not exactly that (not JSON, a wrong type, a missing or extra number) is a failure of the
judge, never a verdict: :class:`JudgeError` is raised, and :func:`~cove_async.tau2.evaluate_tau2`
then reports NL_ASSERTION as not evaluated instead of guessing (tau2 passes a short reply).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog

from cove_async.backends import BackendError, ChatBackend, ChatRequest, derive_seed
from cove_async.chat import Message
from cove_async.errors import CoveError

__all__ = ("JUDGE_SYSTEM_PROMPT", "JudgeError", "JudgeVerdict", "LLMJudge", "render_transcript")

log = structlog.get_logger()

JUDGE_SYSTEM_PROMPT = """\
You review a finished conversation between a customer and a customer-support agent who can \
call tools. You get the transcript and a numbered list of statements about what the agent \
should have done or said. For each statement, decide from the transcript alone whether the \
conversation satisfies it. When the transcript shows no evidence that a statement holds, it \
is not met.

Answer with a single JSON object and nothing else, shaped like this:
{"verdicts": [{"index": 1, "reason": "<one short sentence>", "met": true}]}
Give exactly one entry per statement, in the order of the list, with the statement's number as \
"index" and "met" set to true or false."""
"""The judge's instructions (our own wording; tau2's prompt text is not reused)."""

_TEXT_LIMIT = 2_000
_ARGUMENTS_LIMIT = 300
_RESULT_LIMIT = 500
_SNIPPET_LIMIT = 300
_FENCE = re.compile(r"\A\s*```[A-Za-z]*\s*\n?(.*?)\n?\s*```\s*\Z", re.DOTALL)


class JudgeError(CoveError):
    """The judge gave no usable verdicts: its backend failed, or its reply was not the asked format.

    Attributes:
        reply: the start of what the judge said, when it said something.
    """

    def __init__(self, message: str, *, reply: str | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class JudgeVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The judge's decision on one assertion.

    Attributes:
        assertion: the assertion, as given.
        met: whether the conversation satisfies it.
        reason: the judge's one-sentence justification ("" when it gave none).
    """

    assertion: str
    met: bool
    reason: str = ""


class _Entry(msgspec.Struct, frozen=True, kw_only=True):
    # Unknown fields are allowed (models add some); the types of these three are not negotiable.
    index: int
    met: bool
    reason: str = ""


class _Reply(msgspec.Struct, frozen=True, kw_only=True):
    verdicts: tuple[_Entry, ...]


_DECODER = msgspec.json.Decoder(_Reply)
_ENCODE = msgspec.json.encode


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit} more characters]"


def _snippet(text: str) -> str:
    return _clip(text, _SNIPPET_LIMIT)


def render_transcript(messages: Sequence[Message]) -> str:
    """The conversation as the judge reads it: one line per text, tool call and tool result.

    Customer and agent texts are kept (clipped at 2,000 characters); a tool call becomes
    ``Agent called name(arguments)`` and a result ``Tool result: ...``, both clipped, so a huge
    tool output cannot crowd the conversation out of the judge's context. System messages and
    empty texts are left out.

    Args:
        messages: the conversation, in order.
    """
    lines: list[str] = []
    for message in messages:
        text = (message.content or "").strip()
        if message.role == "user" and text:
            lines.append(f"Customer: {_clip(text, _TEXT_LIMIT)}")
        elif message.role == "assistant":
            if text:
                lines.append(f"Agent: {_clip(text, _TEXT_LIMIT)}")
            lines.extend(
                f"Agent called {call.function.name}({_clip(call.function.arguments, _ARGUMENTS_LIMIT)})"
                for call in message.tool_calls
            )
        elif message.role == "tool":
            lines.append(f"Tool result: {_clip(text, _RESULT_LIMIT)}")
    return "\n".join(lines)


def _prompt(messages: Sequence[Message], assertions: Sequence[str]) -> str:
    numbered = "\n".join(f"{number}. {assertion}" for number, assertion in enumerate(assertions, 1))
    return f"Transcript:\n{render_transcript(messages)}\n\nStatements:\n{numbered}"


def _unfenced(text: str) -> str:
    # Models often wrap JSON in a Markdown fence even when told not to; the fence carries nothing.
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _parse(content: str | None, assertions: Sequence[str]) -> tuple[JudgeVerdict, ...]:
    if content is None or not content.strip():
        raise JudgeError("the judge replied with no text; expected a JSON object of verdicts", reply=content)
    try:
        reply = _DECODER.decode(_unfenced(content))
    except msgspec.DecodeError as exc:
        raise JudgeError(
            f'the judge\'s reply is not the JSON asked for ({exc}); expected {{"verdicts": '
            f'[{{"index": 1, "reason": "...", "met": true}}, ...]}}, got {_snippet(content)!r}',
            reply=_snippet(content),
        ) from None
    wanted = list(range(1, len(assertions) + 1))
    got = sorted(entry.index for entry in reply.verdicts)
    if got != wanted:
        raise JudgeError(
            f"the judge gave verdicts numbered {got} for {len(assertions)} statements (expected {wanted}); "
            f"reply: {_snippet(content)!r}",
            reply=_snippet(content),
        )
    by_index = {entry.index: entry for entry in reply.verdicts}
    return tuple(
        JudgeVerdict(assertion=assertion, met=by_index[number].met, reason=by_index[number].reason)
        for number, assertion in enumerate(assertions, 1)
    )


class LLMJudge:
    """A :class:`~cove_async.tau2.Judge` that asks an LLM through a chat backend.

    One backend call per conversation. Calls on the same conversation share a route key
    (``judge-<digest of the conversation>``, so a re-judged conversation lands on the server that
    has it cached) and a sampling seed derived from ``seed`` and that digest (so a judgement is
    reproducible where the server honours seeds).

    Args:
        backend: where to send the question (its retries and timeouts apply).
        model: overrides the backend's model name; None keeps it.
        temperature: sampling temperature; 0 by default, as tau2 judges.
        seed: the run seed the per-conversation sampling seeds derive from.
        max_tokens: cap on the judge's reply; None leaves the server's default.
        json_mode: ask the server for a JSON object (``response_format``, honoured by vLLM, SGLang
            and OpenAI); turn off for a server that rejects the field. The reply is checked either way.
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        model: str | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_tokens: int | None = None,
        json_mode: bool = True,
    ) -> None:
        self._backend = backend
        self._model = model
        self._temperature = temperature
        self._seed = seed
        self._max_tokens = max_tokens
        self._extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if json_mode else {}

    async def assess(self, messages: Sequence[Message], assertions: Sequence[str]) -> tuple[JudgeVerdict, ...]:
        """The judge's verdict and reason for each assertion, in the order of ``assertions``.

        Args:
            messages: the whole conversation.
            assertions: the statements to decide; none gives no verdicts and makes no call.

        Raises:
            JudgeError: the backend gave up (the cause is chained), or the reply was not one JSON
                object with one boolean verdict per assertion, numbered 1..n.
        """
        if not assertions:
            return ()
        digest = hashlib.blake2b(_ENCODE(messages), digest_size=8).hexdigest()
        route_key = f"judge-{digest}"
        request = ChatRequest(
            messages=(
                Message(role="system", content=JUDGE_SYSTEM_PROMPT),
                Message(role="user", content=_prompt(messages, assertions)),
            ),
            temperature=self._temperature,
            max_tokens=self._max_tokens,
            seed=derive_seed(run_seed=self._seed, task_id=digest, sample_index=0, turn=0, role="judge"),
            extra_body=self._extra,
            model=self._model,
        )
        try:
            response = await self._backend.complete(request, route_key=route_key)
        except BackendError as exc:
            log.warning("judge_failed", route_key=route_key, reason=exc.reason, error=str(exc))
            raise JudgeError(f"the judge's backend failed: {exc}") from exc
        try:
            verdicts = _parse(response.message.content, assertions)
        except JudgeError as exc:
            log.warning("judge_failed", route_key=route_key, reason="format", error=str(exc))
            raise
        log.debug("judged", route_key=route_key, met=[v.met for v in verdicts])
        return verdicts

    async def judge(self, messages: Sequence[Message], assertions: Sequence[str]) -> Sequence[bool]:
        """One verdict per assertion, in order (the :class:`~cove_async.tau2.Judge` protocol).

        Raises:
            JudgeError: as :meth:`assess`.
        """
        return tuple(verdict.met for verdict in await self.assess(messages, assertions))
