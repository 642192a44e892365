"""The exceptions cove-async raises.

Every error the package raises on purpose derives from :class:`CoveError`::

    CoveError
    ├── ConfigError        a bad flag, config file or argument combination
    ├── SchemaError        a record type that the sandbox cannot map to tables
    ├── DataError          input data (a tau2 db.json, a world file) that does not fit the schema
    ├── ToolCallError      a tool call that failed; its message is what the agent sees
    ├── SamplingError      no task satisfies the knobs in this world (tasks)
    ├── TaskError          a task whose canonical writes fail, so it cannot be graded (verify)
    ├── PolicyError        a policy produced no turn; the episode records it (engine)
    ├── BackendError       an LLM server gave no usable completion (backends; subclasses by cause)
    ├── JudgeError         an NL-assertion judge gave no usable verdicts (tau2)
    ├── StoreError         the run directory cannot be used (store)
    │   └── RunMismatchError   it holds a run made with another config
    ├── RequestRejected    a request the simulated server refuses (mockllm)
    ├── ApiError           a daemon request refused with a 4xx (daemon)
    ├── DaemonError        the daemon answered a client with an error (client)
    ├── BenchError         a benchmark that cannot run as asked (bench)
    └── UsageError         a flag value the parser accepted but that makes no sense (cli)

Each is defined beside the code that raises it; only the first four live here.

Tool errors never escape a tool call: the executor turns them into an ``Error: ...`` tool
message, as tau2 does, so the conversation goes on.
"""

from __future__ import annotations

__all__ = ("ConfigError", "CoveError", "DataError", "SchemaError", "ToolCallError")


class CoveError(Exception):
    """Base class of every error raised on purpose by cove-async."""


class ConfigError(CoveError):
    """A flag, config file or argument combination that cannot work."""


class SchemaError(CoveError):
    """A record type that cannot be mapped onto SQLite tables."""


class DataError(CoveError):
    """Input data that does not fit the domain schema."""


class ToolCallError(CoveError):
    """A tool call that failed; ``str(error)`` is the text after ``Error: ``."""
