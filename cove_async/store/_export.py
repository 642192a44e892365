"""Training-data rows from a run's ``trajectories.jsonl``, for ``cove-async export``.

Two formats:

- ``openai``: ``{"messages", "tools", "data_source"}``, the CoVe-12k release's row shape. Every
  message carries ``role``, ``content``, ``tool_call_id`` and ``tool_calls`` (``null`` when
  unused); the agent's system prompt, when recorded, comes first as a ``system`` message.
- ``sharegpt``: ``{"conversations": [{"from", "value"}], "system", "tools"}`` as LLaMA-Factory
  reads it: ``human`` (user), ``gpt`` (assistant text), ``function_call`` (the assistant's tool
  calls as JSON ``{"name", "arguments"}``, a list when it made several at once), ``observation``
  (tool results; a JSON list of them after several calls). ``tools`` is the tool list as a JSON
  string. An assistant message that both speaks and calls tools keeps only its calls, since the
  format has one value per turn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from cove_async.chat import Message
from cove_async.store._errors import StoreError, map_storage_errors
from cove_async.store._jsonl import iter_lines
from cove_async.store._records import TrajectoryRecord, decode_record
from cove_async.store._run import TRAJECTORIES

__all__ = ("ExportFormat", "export")

ExportFormat = Literal["openai", "sharegpt"]


def export(
    out_dir: Path | str, *, format: ExportFormat = "openai", perfect_only: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield one training row per trajectory of the run in ``out_dir``, in file order.

    Reads the JSONL only (the ledger is not needed) and may run while the run is still writing:
    a partial last line is skipped. A key seen twice (which :func:`~cove_async.store.open_run`
    would have repaired) is exported once. Blocking: iterate in a worker thread inside a loop.

    Args:
        out_dir: the run's output directory.
        format: ``"openai"`` or ``"sharegpt"``.
        perfect_only: only trajectories the verifier judged perfect (the SFT filter).

    Raises:
        ValueError: an unknown format.
        StoreError: there is no trajectory file, or a line in it is not a record.
    """
    if format not in ("openai", "sharegpt"):
        raise ValueError(f"format must be 'openai' or 'sharegpt', got {format!r}")
    path = Path(out_dir) / TRAJECTORIES
    if not path.is_file():
        raise StoreError(f"no {TRAJECTORIES} in {out_dir}; run `cove-async generate --out {out_dir}` first", path=path)
    to_row = _openai_row if format == "openai" else _sharegpt_row
    seen: set[tuple[str, int]] = set()
    with map_storage_errors(path, "read the trajectory file"):
        for number, line in enumerate(iter_lines(path), start=1):
            try:
                record = decode_record(line)
            except (msgspec.DecodeError, ValueError) as exc:
                raise StoreError(f"{path} line {number} is not a trajectory record: {exc}", path=path) from exc
            if record.key in seen:
                continue
            seen.add(record.key)
            if record.perfect or not perfect_only:
                yield to_row(record)


def _openai_message(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "tool_call_id": message.tool_call_id,
        "tool_calls": [msgspec.to_builtins(call) for call in message.tool_calls] if message.tool_calls else None,
    }


def _openai_row(record: TrajectoryRecord) -> dict[str, Any]:
    messages = [_openai_message(m) for m in record.messages]
    if record.system_prompt is not None and not (record.messages and record.messages[0].role == "system"):
        messages.insert(0, _openai_message(Message(role="system", content=record.system_prompt)))
    return {"messages": messages, "tools": list(record.tools), "data_source": record.domain}


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _call_value(message: Message) -> str:
    calls = []
    for call in message.tool_calls:
        arguments: Any = call.function.arguments
        # A model's unparseable arguments are kept as the text it wrote.
        with contextlib.suppress(msgspec.DecodeError):
            arguments = msgspec.json.decode(arguments)
        calls.append({"name": call.function.name, "arguments": arguments})
    return _json(calls[0] if len(calls) == 1 else calls)


def _sharegpt_row(record: TrajectoryRecord) -> dict[str, Any]:
    conversation: list[dict[str, str]] = []
    system = record.system_prompt or ""
    observations: list[str] = []

    def flush() -> None:
        if observations:
            value = observations[0] if len(observations) == 1 else _json(observations)
            conversation.append({"from": "observation", "value": value})
            observations.clear()

    for message in record.messages:
        if message.role == "tool":
            observations.append(message.content or "")
            continue
        flush()
        if message.role == "system":
            system = system or (message.content or "")
        elif message.role == "user":
            conversation.append({"from": "human", "value": message.content or ""})
        elif message.tool_calls:
            conversation.append({"from": "function_call", "value": _call_value(message)})
        else:
            conversation.append({"from": "gpt", "value": message.content or ""})
    flush()
    return {"conversations": conversation, "system": system, "tools": _json(list(record.tools))}
