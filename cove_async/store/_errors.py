"""The store's exceptions, rooted at :class:`cove_async.errors.CoveError`.

::

    CoveError
    └── StoreError          the output directory or its SQLite ledger cannot be used
        └── RunMismatchError  resuming into a directory made by a run with a different config
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cove_async.errors import CoveError

__all__ = ("RunMismatchError", "StoreError")


class StoreError(CoveError):
    """The output directory, its trajectory file or its SQLite ledger cannot be used.

    Attributes:
        path: the file or directory concerned.
    """

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class RunMismatchError(StoreError):
    """A run was asked to resume in a directory that holds a different run.

    Attributes:
        differences: one ``key: stored -> requested`` line per setting that differs.
    """

    def __init__(self, message: str, *, path: Path, differences: tuple[str, ...]) -> None:
        super().__init__(message, path=path)
        self.differences = differences


@contextmanager
def map_storage_errors(path: Path, action: str) -> Iterator[None]:
    """Re-raise ``sqlite3`` and OS errors as :class:`StoreError` naming the file and what was being done."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite error while {action} in {path}: {exc}", path=path) from exc
    except OSError as exc:
        raise StoreError(f"cannot {action} at {path}: {exc.strerror or exc}", path=path) from exc
