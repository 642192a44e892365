"""From an engine outcome to what a run keeps: a trajectory line, or a failure in the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cove_async.engine import Outcome
from cove_async.store import EpisodeFailure, Models, Run, Seeds, TrajectoryRecord, TurnStats, Usage

__all__ = ("RunSink", "to_record")


def to_record(
    outcome: Outcome,
    *,
    run_id: str,
    tools: tuple[dict[str, Any], ...],
    system_prompt: str | None,
    seeds: Seeds,
    models: Models,
) -> TrajectoryRecord:
    """The trajectory line of a graded outcome.

    Raises:
        ValueError: the outcome has no verdict (record it with an :class:`EpisodeFailure`).
    """
    verdict, result, task = outcome.verdict, outcome.result, outcome.task
    if verdict is None:
        raise ValueError(f"episode {result.episode_id} was not graded: {outcome.grading_error}")
    turns = tuple(
        TurnStats(
            role=t.role,
            message_index=t.message_index,
            latency_s=t.latency_s,
            ttft_s=t.ttft_s,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            model=t.model,
            policy_version=t.policy_version,
        )
        for t in result.turns
    )
    versions = tuple(dict.fromkeys(t.policy_version for t in result.turns if t.role == "agent" and t.policy_version))
    return TrajectoryRecord(
        run_id=run_id,
        task_id=task.task_id,
        sample_index=result.sample_index,
        episode_id=result.episode_id,
        domain=task.domain,
        perfect=verdict.perfect,
        score=verdict.score,
        termination_reason=result.termination,
        failure=result.failure,
        messages=result.messages,
        tools=tools,
        system_prompt=system_prompt,
        world=task.world,
        constraints=task.constraints,
        instruction=task.instruction,
        difficulty=task.difficulty,
        verdict=verdict,
        turns=turns,
        usage=Usage.of(turns),
        seeds=seeds,
        models=models,
        policy_versions=versions,
        tool_calls=result.tool_calls,
        tool_errors=result.tool_errors,
        duration_s=result.duration_s,
        extras=result.extras,
    )


class RunSink:
    """The engine's sink for a run: graded outcomes to the JSONL and ledger, the rest as failures.

    Args:
        run: the open run.
        tools: the tool list the agent was shown (kept on every line).
        system_prompt: the agent's system prompt for a task id (kept on every line).
        seeds: the run's seeds.
        models: the models behind each side.
    """

    def __init__(
        self,
        run: Run,
        *,
        tools: tuple[dict[str, Any], ...],
        system_prompt: Any,
        seeds: Seeds,
        models: Models,
    ) -> None:
        self.run = run
        self._tools = tools
        self._system_prompt = system_prompt
        self._seeds = seeds
        self._models = models

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        records = []
        failures = []
        for outcome in outcomes:
            if outcome.verdict is None:
                failures.append(
                    EpisodeFailure(
                        task_id=outcome.task.task_id,
                        sample_index=outcome.result.sample_index,
                        reason=f"not graded: {outcome.grading_error}",
                        termination_reason=outcome.result.termination,
                    )
                )
                continue
            records.append(
                to_record(
                    outcome,
                    run_id=self.run.run_id,
                    tools=self._tools,
                    system_prompt=self._system_prompt(outcome.task),
                    seeds=self._seeds,
                    models=self._models,
                )
            )
        if records:
            await self.run.record_batch(records)
        if failures:
            await self.run.record_failures(failures)
