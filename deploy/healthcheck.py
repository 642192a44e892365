#!/usr/bin/env python3
"""Probe the cove-async daemon from inside its container: exit 0 when GET <path> answers 200.

Used by the image's HEALTHCHECK (``/healthz``) and by the Kubernetes exec probes (``/healthz``
for liveness, ``/readyz`` for readiness). A daemon with a token asks for it on every route, the
health routes included, so the probe sends it: from ``COVE_DAEMON_TOKEN``, else from the file
named by ``COVE_DAEMON_TOKEN_FILE``. The port is ``COVE_DAEMON_PORT`` (default 8321).

Standard library only and no import of cove_async: the slim image has no curl, and a probe
must cost milliseconds, not an engine import. Exit codes: 0 healthy, 1 anything else (the
reason on stderr), as Docker and Kubernetes expect.

    cove-async-healthcheck [PATH]        # PATH defaults to /healthz
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def _token() -> str | None:
    token = os.environ.get("COVE_DAEMON_TOKEN")
    if token:
        return token.strip()
    path = os.environ.get("COVE_DAEMON_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return None


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    port = os.environ.get("COVE_DAEMON_PORT", "8321")
    headers = {}
    try:
        token = _token()
    except OSError as exc:
        sys.stderr.write(f"cannot read the token file: {exc}\n")
        return 1
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"GET {path}: {exc}\n")
        return 1
    if status != 200:
        sys.stderr.write(f"GET {path}: HTTP {status}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
