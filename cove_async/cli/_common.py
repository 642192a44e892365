"""What every command shares: the usage error and the table printer."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from cove_async.errors import CoveError

__all__ = ("UsageError", "write_table")


class UsageError(CoveError):
    """A flag value the parser accepted but that makes no sense."""


def write_table(rows: Mapping[str, Any], prefix: str = "") -> None:
    for key, value in rows.items():
        if isinstance(value, Mapping):
            write_table(value, f"{prefix}{key}.")
        else:
            sys.stdout.write(f"{prefix + str(key):<48} {value}\n")
