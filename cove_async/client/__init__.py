"""A Python client for the rollout daemon (``cove-async serve``), over httpx.

:class:`DaemonClient` (blocking) and :class:`AsyncDaemonClient` submit jobs, stream their
trajectories with automatic reconnect and resume from the last cursor received, and check,
cancel, acknowledge and pause. The request and response types are the daemon's own
(``_api``), so both sides agree on the wire format by construction.
"""

from cove_async.client._api import (
    AckRequest,
    CapsSpec,
    ErrorBody,
    InlineTasks,
    JobList,
    JobRequest,
    JobState,
    JobStatus,
    LLMBackend,
    PauseRequest,
    PauseStatus,
    PolicyKind,
    SampleTasks,
    StreamedTrajectory,
    StreamEnd,
    Tau2Tasks,
)
from cove_async.client._client import AsyncDaemonClient, DaemonClient, DaemonError, groups

__all__ = (
    "AckRequest",
    "AsyncDaemonClient",
    "CapsSpec",
    "DaemonClient",
    "DaemonError",
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
    "groups",
)
