"""What one line of ``OUT/trajectories.jsonl`` holds, and its one encoder and decoders.

A line is a :class:`TrajectoryRecord` encoded as one JSON object: the conversation in OpenAI
chat shape, the tools the agent was shown, what the task asked (constraints and the fuzzified
user instruction), the verifier's verdict, and how the episode ran (per-turn timing and tokens,
seeds, models, policy versions). ``task_id``, ``sample_index``, ``perfect``, ``score`` and
``termination_reason`` sit at the top level so that ``jq`` and other readers need not know the
nested shapes.

Evolution follows msgspec's rules: a new field gets a default, a field's type never changes,
and ``schema_version`` says which version wrote the line. Readers ignore fields they do not know.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from cove_async.chat import Message, TerminationReason
from cove_async.tasks import Constraint, Difficulty, UserInstruction
from cove_async.verify import Verdict

__all__ = (
    "SCHEMA_VERSION",
    "EpisodeFailure",
    "Models",
    "Seeds",
    "TrajectoryRecord",
    "TurnStats",
    "Usage",
    "decode_record",
    "encode_records",
)

SCHEMA_VERSION = 1
"""The version of :class:`TrajectoryRecord` this code writes."""


class TurnStats(msgspec.Struct, frozen=True, kw_only=True):
    """Timing and cost of one policy turn.

    Attributes:
        role: ``"user"`` or ``"agent"``.
        message_index: the index in ``messages`` of the message this turn produced.
        latency_s: wall time from request to reply.
        ttft_s: time to first token, when the backend reports it.
        prompt_tokens: tokens the model read.
        completion_tokens: tokens it wrote.
        model: the model that spoke.
        policy_version: the trainer's tag of the weights that produced the turn, if any.
        seed: the sampling seed sent with the request, if any.
    """

    role: str
    message_index: int
    latency_s: float
    ttft_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    policy_version: str | None = None
    seed: int | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens spent on one episode, both sides together."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def of(cls, turns: Iterable[TurnStats]) -> Usage:
        """The sum over ``turns``."""
        prompt = completion = 0
        for turn in turns:
            prompt += turn.prompt_tokens
            completion += turn.completion_tokens
        return cls(prompt_tokens=prompt, completion_tokens=completion)


class Seeds(msgspec.Struct, frozen=True, kw_only=True):
    """The seeds an episode was made from; per-request seeds are on each :class:`TurnStats`.

    Attributes:
        run: the run's seed (``--seed``), from which request seeds are derived.
        world: the seed of the synthetic world the task came from, if any.
    """

    run: int
    world: int | None = None


class Models(msgspec.Struct, frozen=True, kw_only=True):
    """Which models played each side (``scripted-agent`` and the like for in-process policies)."""

    agent: str
    user: str


class TrajectoryRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One verified episode: a line of ``OUT/trajectories.jsonl``.

    ``perfect`` and ``score`` repeat the verdict's so that filters need not decode it; the
    constructor (and decoding) refuses a record where they disagree, or whose verdict is about
    another task.

    Attributes:
        run_id: the run that made it (a digest of the run's result-affecting config).
        task_id: the task played.
        sample_index: which sample of that task (0-based); ``(task_id, sample_index)`` is the
            record's key, unique in a run.
        episode_id: the engine's id of the episode.
        domain: ``"retail"`` or ``"airline"`` (exported as ``data_source``).
        perfect: the verdict's ``perfect``.
        score: the verdict's ``score``.
        termination_reason: how the conversation ended.
        failure: the detail behind an abnormal termination, if any.
        messages: the conversation as OpenAI chat messages, the agent's greeting first.
        tools: the OpenAI tool list the agent was shown.
        system_prompt: the agent's system prompt (its policy); exports put it first.
        world: the world the task was sampled from.
        constraints: the task's explicit constraints.
        instruction: the fuzzified instruction the user simulator played.
        difficulty: the knobs the task was sampled with.
        verdict: the verifier's judgement.
        turns: timing and tokens of each policy turn, in order.
        usage: tokens spent, summed over ``turns``.
        seeds: the seeds the episode came from.
        models: the models behind each side.
        policy_versions: distinct policy version tags seen on the agent's turns, in order.
        tool_calls: tool calls the agent made.
        tool_errors: tool calls answered with an error.
        duration_s: wall time of the episode.
        extras: what servers returned beyond messages (logprobs, token ids), each with its
            ``message_index``, kept verbatim.
        schema_version: the :data:`SCHEMA_VERSION` that wrote the line.
    """

    schema_version: int = SCHEMA_VERSION
    run_id: str
    task_id: str
    sample_index: int
    episode_id: str
    domain: str
    perfect: bool
    score: float
    termination_reason: TerminationReason
    failure: str | None = None
    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...]
    system_prompt: str | None = None
    world: str = ""
    constraints: tuple[Constraint, ...]
    instruction: UserInstruction
    difficulty: Difficulty | None = None
    verdict: Verdict
    turns: tuple[TurnStats, ...] = ()
    usage: Usage = Usage()
    seeds: Seeds
    models: Models
    policy_versions: tuple[str, ...] = ()
    tool_calls: int = 0
    tool_errors: int = 0
    duration_s: float = 0.0
    extras: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.sample_index < 0:
            raise ValueError(f"sample_index must be >= 0, got {self.sample_index}")
        if self.verdict.task_id != self.task_id:
            raise ValueError(
                f"the verdict is about task {self.verdict.task_id!r} but the record is for {self.task_id!r}"
            )
        if self.perfect != self.verdict.perfect or self.score != self.verdict.score:
            raise ValueError(
                f"perfect/score ({self.perfect}, {self.score}) must repeat the verdict's "
                f"({self.verdict.perfect}, {self.verdict.score})"
            )

    @property
    def key(self) -> tuple[str, int]:
        """``(task_id, sample_index)``: what makes the record unique in its run."""
        return (self.task_id, self.sample_index)


class EpisodeFailure(msgspec.Struct, frozen=True, kw_only=True):
    """An episode that produced no trajectory (cancelled at shutdown, an engine fault).

    It goes to the ledger only, never to the JSONL, and is tried again when the run resumes.

    Attributes:
        task_id: the task.
        sample_index: the sample.
        reason: what went wrong, in a sentence.
        termination_reason: a termination reason, when one applies.
    """

    task_id: str
    sample_index: int
    reason: str
    termination_reason: TerminationReason | None = None


class LedgerView(msgspec.Struct, frozen=True):
    """The part of a line the ledger needs; decoding only this skips the conversation's structure."""

    run_id: str
    task_id: str
    sample_index: int
    perfect: bool
    score: float
    termination_reason: str
    verdict: msgspec.Raw


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(TrajectoryRecord)
LEDGER_DECODER = msgspec.json.Decoder(LedgerView)
"""Decodes a line into a :class:`LedgerView` (used by reconciliation)."""


def encode_records(records: Iterable[TrajectoryRecord]) -> bytearray:
    """Encode records as JSON lines, each ending in a newline, into one buffer.

    JSON text has no raw newline (msgspec escapes them inside strings), so each record is
    exactly one line.
    """
    buffer = bytearray()
    for record in records:
        _ENCODER.encode_into(record, buffer, -1)
        buffer.extend(b"\n")
    return buffer


def decode_record(line: bytes | str) -> TrajectoryRecord:
    """Decode one line (with or without its newline) into a record.

    Raises:
        msgspec.ValidationError: the line is not a valid record; the message names the ``$.path``.
        msgspec.DecodeError: the line is not JSON.
    """
    return _DECODER.decode(line)
