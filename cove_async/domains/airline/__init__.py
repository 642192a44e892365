"""The airline domain: flights and their daily status, travellers and reservations."""

from cove_async.domains._domain import Domain
from cove_async.domains.airline._records import KINDS
from cove_async.domains.airline._tools import TOOLSET
from cove_async.domains.airline._world import AirlineWorldSize, airline_world_stats, generate_airline_world
from cove_async.sandbox import Schema

__all__ = ("DOMAIN", "KINDS", "TOOLSET", "AirlineWorldSize", "airline_world_stats", "generate_airline_world")

DOMAIN = Domain(
    name="airline",
    schema=Schema(KINDS),
    toolset=TOOLSET,
    world_size=AirlineWorldSize,
    generate_world=generate_airline_world,
    world_stats=airline_world_stats,
)
