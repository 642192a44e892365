"""What a domain is to the rest of the engine."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from cove_async.domains._tau2 import load_tau2_db
from cove_async.domains._tools import Toolset
from cove_async.errors import ConfigError
from cove_async.sandbox import Schema, Snapshot

__all__ = ("DOMAIN_NAMES", "Domain", "get_domain")

DOMAIN_NAMES = ("airline", "retail")


@dataclass(frozen=True, slots=True)
class Domain:
    """A tau2 domain: its tables, its tools and its synthetic worlds.

    Args:
        name: ``"airline"`` or ``"retail"``.
        schema: the record kinds and their tables.
        toolset: the agent tools.
        world_size: the Struct of size knobs for :attr:`generate_world` (its defaults are tau2's size).
        generate_world: ``generate_world(size, seed)``, a seeded synthetic world.
        world_stats: statistics of a world, for people to read.
    """

    name: str
    schema: Schema
    toolset: Toolset
    world_size: type[msgspec.Struct]
    generate_world: Callable[[Any, int], Snapshot]
    world_stats: Callable[[Snapshot], Mapping[str, Any]]

    def load_tau2(self, tau2_dir: str | Path) -> Snapshot:
        """The snapshot of tau2's own ``<tau2_dir>/<domain>/db.json``."""
        return load_tau2_db(self.schema, Path(tau2_dir) / self.name / "db.json")


def get_domain(name: str) -> Domain:
    """The domain called ``name``.

    Raises:
        ConfigError: no such domain.
    """
    if name not in DOMAIN_NAMES:
        raise ConfigError(f"unknown domain {name!r}; known: {', '.join(DOMAIN_NAMES)}")
    # Each domain is imported on first use, so a retail run never builds airline's tables.
    domain: Domain = importlib.import_module(f"cove_async.domains.{name}").DOMAIN
    return domain
