"""Shared fixtures: where tau2's reference data lives, and the worlds built from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT_TAU2_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "tau2"


@pytest.fixture(scope="session")
def tau2_dir() -> Path:
    """tau2's data folder (``TAU2_DATA_DIR``, else ``../shared/data/tau2``); skips clearly when absent."""
    path = Path(os.environ.get("TAU2_DATA_DIR", _DEFAULT_TAU2_DIR))
    if not (path / "retail" / "db.json").is_file() or not (path / "airline" / "db.json").is_file():
        pytest.skip(
            f"tau2 reference data not found at {path}: set TAU2_DATA_DIR to a folder holding "
            "airline/ and retail/ with db.json, tasks.json and gold_actions.json"
        )
    return path


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
        pytest.param(("asyncio", {}), id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """Async tests run on uvloop (what the engine uses) and on plain asyncio (its fallback)."""
    backend: tuple[str, dict[str, object]] = request.param
    return backend
