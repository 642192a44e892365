"""Runs ``cove-async`` in a child process for the smoke tests, optionally without matplotlib.

``python -m tests.bench._cli [--no-matplotlib] bench SCENARIO ...``: ``--no-matplotlib`` makes
``import matplotlib`` fail, as on a machine without the ``bench`` extra; the rest goes to the
real command line.
"""

from __future__ import annotations

import sys

from cove_async.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] == "--no-matplotlib":
        sys.modules["matplotlib"] = None  # type: ignore[assignment]
        argv = argv[1:]
    sys.exit(main(["--log-level", "warning", *argv]))
