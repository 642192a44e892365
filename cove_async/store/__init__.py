"""Durable output of a run: the trajectory JSONL (the artefact), the SQLite ledger, resume, export.

``open_run`` creates or resumes a run in an output directory; ``Run.pending`` gives the work
list, ``Run.record_batch`` writes finished episodes exactly once, ``Run.record_failures`` notes
the ones that produced nothing. ``export`` turns the JSONL into training rows. The exactly-once
and resume protocol is described in :mod:`cove_async.store._run`.
"""

from cove_async.store._errors import RunMismatchError, StoreError
from cove_async.store._export import ExportFormat, export
from cove_async.store._jsonl import JsonlSink
from cove_async.store._migrations import STORE_SCHEMA_VERSION
from cove_async.store._records import (
    SCHEMA_VERSION,
    EpisodeFailure,
    Models,
    Seeds,
    TrajectoryRecord,
    TurnStats,
    Usage,
    decode_record,
    encode_records,
)
from cove_async.store._run import TRAJECTORIES, Run, open_run
from cove_async.store._sqlite import EpisodeRow, EpisodeStatus, RunStatistics, Store

__all__ = (
    "SCHEMA_VERSION",
    "STORE_SCHEMA_VERSION",
    "TRAJECTORIES",
    "EpisodeFailure",
    "EpisodeRow",
    "EpisodeStatus",
    "ExportFormat",
    "JsonlSink",
    "Models",
    "Run",
    "RunMismatchError",
    "RunStatistics",
    "Seeds",
    "Store",
    "StoreError",
    "TrajectoryRecord",
    "TurnStats",
    "Usage",
    "decode_record",
    "encode_records",
    "export",
    "open_run",
)
