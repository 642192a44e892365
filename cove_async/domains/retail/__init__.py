"""The retail domain: an online shop's customers, catalogue and orders."""

from cove_async.domains._domain import Domain
from cove_async.domains.retail._records import KINDS
from cove_async.domains.retail._tools import TOOLSET
from cove_async.domains.retail._world import RetailWorldSize, generate_retail_world, retail_world_stats
from cove_async.sandbox import Schema

__all__ = ("DOMAIN", "KINDS", "TOOLSET", "RetailWorldSize", "generate_retail_world", "retail_world_stats")

DOMAIN = Domain(
    name="retail",
    schema=Schema(KINDS),
    toolset=TOOLSET,
    world_size=RetailWorldSize,
    generate_world=generate_retail_world,
    world_stats=retail_world_stats,
)
