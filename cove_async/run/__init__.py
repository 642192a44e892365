"""Runs: sampling task files, and the ``generate`` job (world, tasks, engine, durable output).

The engine knows episodes; a run knows what was asked for, what is already written and how
to resume. This package joins the engine to the store.
"""

from cove_async.run._generate import (
    VOLATILE,
    GenerateConfig,
    GenerateSummary,
    Generation,
    PolicySpec,
    generate,
    load_world,
)
from cove_async.run._records import RunSink, to_record
from cove_async.run._sampling import KNOB_NAMES, knobs_for, read_tasks, sample_tasks, task_id, write_tasks

__all__ = (
    "KNOB_NAMES",
    "VOLATILE",
    "GenerateConfig",
    "GenerateSummary",
    "Generation",
    "PolicySpec",
    "RunSink",
    "generate",
    "knobs_for",
    "load_world",
    "read_tasks",
    "sample_tasks",
    "task_id",
    "to_record",
    "write_tasks",
)
