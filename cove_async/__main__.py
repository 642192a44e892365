"""``python -m cove_async``: the command line."""

import sys

from cove_async.cli import main

sys.exit(main())
