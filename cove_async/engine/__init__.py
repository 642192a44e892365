"""The actor engine: episodes as pairs of actors, admission, verification and sinks.

Layering inside: ``_policy`` (who speaks) → ``_episode`` (one conversation: two actors, caps,
termination) → ``_engine`` (many episodes: admission, verifier actor, sinks, shutdown).
"""

from cove_async.engine._engine import (
    Engine,
    EngineConfig,
    EngineStatistics,
    EpisodeJob,
    Outcome,
    Sink,
    record_outcomes,
)
from cove_async.engine._episode import Caps, EpisodeResult, TurnRecord, run_episode
from cove_async.engine._policy import EpisodeContext, Policy, PolicyError, Turn

__all__ = (
    "Caps",
    "Engine",
    "EngineConfig",
    "EngineStatistics",
    "EpisodeContext",
    "EpisodeJob",
    "EpisodeResult",
    "Outcome",
    "Policy",
    "PolicyError",
    "Sink",
    "Turn",
    "TurnRecord",
    "record_outcomes",
    "run_episode",
)
