"""The rollout daemon's HTTP API as data: every request and response body, as msgspec Structs.

Defined once, here, and used by both sides: the daemon decodes request bodies with these
types (unknown fields are refused, so a misspelt field is an error, not a silent default) and
the client encodes them. The module depends on nothing heavier than msgspec and the task model,
so a trainer can install and import the client without the engine's server-side parts.

A job's shape::

    {"tasks": {"kind": "sample", "domain": "retail", "n": 125, "seed": 7},
     "samples_per_task": 16,
     "agent": {"urls": ["http://127.0.0.1:8000"], "model": "qwen", "temperature": 1.0,
               "extra_body": {"logprobs": true, "return_token_ids": true}},
     "user": "scripted",
     "policy_version": "step-120",
     "group": true}

Structural rules (ranges, mutual exclusions) are checked when a body is decoded, so a bad
value is reported with its JSON path; rules that need the daemon's state (a known domain, the
job size limit) are checked by the daemon.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cove_async.store._records import TrajectoryRecord
from cove_async.tasks import Task

__all__ = (
    "AckRequest",
    "CapsSpec",
    "ErrorBody",
    "InlineTasks",
    "JobList",
    "JobRequest",
    "JobState",
    "JobStatus",
    "LLMBackend",
    "PauseRequest",
    "PauseStatus",
    "PolicyKind",
    "SampleTasks",
    "StreamEnd",
    "StreamedTrajectory",
    "Tau2Tasks",
)

PolicyKind = Literal["scripted", "oracle"]
"""In-process players: ``scripted`` (the domain's scripted player, which solves tasks from the
conversation alone) or ``oracle`` (follows the task's plan; both sides must be oracle)."""

JobState = Literal["preparing", "running", "done", "cancelled", "error"]
"""``preparing`` (sampling tasks, loading the world), ``running``, and three final states:
``done`` (every episode ran), ``cancelled`` (by ``DELETE``) and ``error`` (the job could not
run; ``JobStatus.error`` says why)."""


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request body: unknown fields are refused."""


def _positive(name: str, value: int | float | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


class SampleTasks(_Body, frozen=True, tag_field="kind", tag="sample"):
    """Tasks sampled by the daemon: ``n`` tasks of ``domain``, solvable by construction.

    Attributes:
        domain: ``retail`` or ``airline``.
        n: how many tasks.
        seed: the sampling seed: task ``i`` depends on ``(domain, seed, i)`` only.
        world_seed: the synthetic world's seed.
        knobs: difficulty knobs over the domain's defaults (``constraints``, ``fuzziness``,
            ``refusal_rate`` and the domain's own).
    """

    domain: str
    n: int
    seed: int = 0
    world_seed: int = 0
    knobs: dict[str, Any] = {}

    def __post_init__(self) -> None:
        _positive("tasks.n", self.n)


class InlineTasks(_Body, frozen=True, tag_field="kind", tag="inline"):
    """Tasks given in the request (as ``cove-async tasks`` writes them, one object each).

    Every task must name a synthetic world (``"world": "synthetic:seed=N"``) of its domain, and
    task ids must be unique.
    """

    tasks: tuple[Task, ...]

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("tasks.tasks must hold at least one task")


class Tau2Tasks(_Body, frozen=True, tag_field="kind", tag="tau2"):
    """tau2-bench benchmark tasks by id (``domain``'s ``tasks.json``)."""

    domain: str
    ids: tuple[str, ...]


class LLMBackend(_Body, frozen=True):
    """A side played by a model on OpenAI-compatible servers (vLLM, SGLang, ...).

    Attributes:
        urls: base URLs of servers serving the same model (``http://host:8000`` or ``.../v1``);
            a GRPO group's requests go to one of them, so they share its prefix cache.
        model: the model name to ask for.
        temperature: sampling temperature (None: the server's default).
        top_p: nucleus sampling mass (None: the server's default).
        max_tokens: cap on generated tokens per turn (None: the server's default).
        extra_body: extra top-level request fields, verbatim (``logprobs``, ``return_token_ids``...);
            what the server returns of them is kept in the trajectory's ``extras``.
        api_key: sent as a bearer token to the servers; stored with the job so that it can
            resume, never returned by the API.
    """

    urls: tuple[str, ...]
    model: str
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    extra_body: dict[str, Any] = {}
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("urls must hold at least one server URL")
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"urls: {url!r} is not an http(s) URL")
        if not self.model:
            raise ValueError("model must not be empty")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        _positive("max_tokens", self.max_tokens)


class CapsSpec(_Body, frozen=True):
    """Per-episode limits (defaults: the CoVe paper's turn caps, tau2's error limit).

    ``timeout_s`` is wall-clock time and includes time spent waiting out a backend pause.
    """

    max_user_turns: int = 32
    max_agent_turns: int = 40
    max_tool_errors: int = 10
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        _positive("caps.max_user_turns", self.max_user_turns)
        _positive("caps.max_agent_turns", self.max_agent_turns)
        _positive("caps.max_tool_errors", self.max_tool_errors)
        if self.timeout_s <= 0:
            raise ValueError(f"caps.timeout_s must be > 0, got {self.timeout_s}")


class JobRequest(_Body, frozen=True):
    """``POST /v1/jobs``: a rollout job.

    Attributes:
        tasks: where the tasks come from: ``{"kind": "sample", ...}``, ``{"kind": "inline",
            ...}`` or ``{"kind": "tau2", ...}``.
        samples_per_task: episodes per task (the GRPO group size).
        agent: who plays the agent: ``"scripted"``, ``"oracle"`` or an :class:`LLMBackend`.
        user: who plays the user simulator, likewise.
        fault_rate: share of episodes in which the scripted agent makes one deliberate mistake.
        caps: per-episode limits.
        seed: the run seed every request seed derives from.
        policy_version: the trainer's tag of the agent's weights, recorded on every agent turn
            (``POST /v1/backends/resume`` can move it on).
        group: deliver a task's samples together, one after another in the stream, once all of
            them are finished.
        concurrency: this job's own cap on episodes in flight (the daemon's shared cap applies too).
        name: a label for people (listings, logs).
    """

    tasks: SampleTasks | InlineTasks | Tau2Tasks
    samples_per_task: int = 1
    agent: PolicyKind | LLMBackend = "scripted"
    user: PolicyKind | LLMBackend = "scripted"
    fault_rate: float = 0.0
    caps: CapsSpec = CapsSpec()
    seed: int = 0
    policy_version: str | None = None
    group: bool = False
    concurrency: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _positive("samples_per_task", self.samples_per_task)
        _positive("concurrency", self.concurrency)
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {self.fault_rate}")
        if self.fault_rate and self.agent != "scripted":
            raise ValueError("fault_rate needs agent 'scripted' (the scripted agent injects the faults)")
        if (self.agent == "oracle") != (self.user == "oracle"):
            raise ValueError("the oracle agent and the oracle user only work together: set both to 'oracle'")
        if self.name is not None and len(self.name) > 200:
            raise ValueError(f"name must be at most 200 characters, got {len(self.name)}")


class JobStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/jobs/{id}``: where a job stands.

    Attributes:
        id: the job id.
        name: the label given at submission.
        state: see :data:`JobState`.
        created_at: Unix time of submission.
        requested: episodes the job asks for (tasks x samples).
        written: trajectories written so far; also the cursor of the last one.
        perfect: of those, how many the verifier found perfect.
        failed: episodes that produced no trajectory (could not be graded).
        in_flight: episodes running now.
        acked: the cursor the client acknowledged last (``POST /v1/jobs/{id}/ack``).
        samples_per_task: the group size.
        group: whether groups are delivered together.
        policy_version: the policy version tag being recorded now.
        error: why the job could not run (state ``error``).
    """

    id: str
    name: str | None
    state: JobState
    created_at: float
    requested: int
    written: int
    perfect: int
    failed: int
    in_flight: int
    acked: int
    samples_per_task: int
    group: bool
    policy_version: str | None = None
    error: str | None = None


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/jobs``: every job the daemon knows, oldest first."""

    jobs: tuple[JobStatus, ...]


class AckRequest(_Body, frozen=True):
    """``POST /v1/jobs/{id}/ack``: the client has processed every trajectory up to ``cursor``.

    A stream opened without ``after`` starts after the acknowledged cursor, so a trainer that
    restarts without its own bookkeeping resumes where it left off.
    """

    cursor: int

    def __post_init__(self) -> None:
        if self.cursor < 0:
            raise ValueError(f"cursor must be >= 0, got {self.cursor}")


class PauseRequest(_Body, frozen=True):
    """``POST /v1/backends/pause`` and ``/resume``.

    Attributes:
        urls: the servers to pause or resume (as given in jobs' ``urls``); empty means all of
            them, including servers of jobs submitted later (for pause) or every pause (resume).
        policy_version: on resume, the new policy version tag for jobs whose agent runs on
            these servers (the weights just loaded).
    """

    urls: tuple[str, ...] = ()
    policy_version: str | None = None


class PauseStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What is paused after a pause or resume call.

    Attributes:
        all: every server is paused.
        urls: the servers paused one by one.
        waiting: LLM calls waiting for a resume now.
    """

    all: bool
    urls: tuple[str, ...]
    waiting: int


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error answer: ``{"error": {"status": 422, "message": "..."}}``."""

    status: int
    message: str


class StreamedTrajectory(TrajectoryRecord, frozen=True, kw_only=True):
    """One line of a results stream: a :class:`~cove_async.store.TrajectoryRecord` and its cursor.

    Attributes:
        cursor: the trajectory's position in the job's results (1, 2, ...); resume a stream
            with ``after=cursor`` to get the ones after it.
    """

    cursor: int

    @property
    def reward(self) -> float:
        """The verifier's score: the reward of this trajectory."""
        return self.score


class StreamEnd(msgspec.Struct, frozen=True, kw_only=True):
    """The last line of a results stream that ended on purpose: ``{"end": true, ...}``.

    Attributes:
        end: always true (tells this line from a trajectory).
        state: the job's state when the stream ended.
        cursor: the cursor of the last trajectory sent (or ``after`` when none was).
        reason: ``finished`` (the job ended and everything was sent), ``limit`` (``limit``
            trajectories were sent) or ``caught_up`` (``follow=false`` and nothing more yet).
    """

    end: bool
    state: JobState
    cursor: int
    reason: Literal["finished", "limit", "caught_up"]
