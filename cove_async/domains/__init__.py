"""The tau2 domains: records, tools, tau2 import/export and synthetic worlds.

``get_domain("retail")`` gives everything the engine needs of a domain. Each domain lives in its
own package (``retail/``, ``airline/``) with ``_records`` (entity Structs), ``_tools`` (the agent
tools, tau2-exact) and ``_world`` (the seeded generator).
"""

from cove_async.domains._domain import DOMAIN_NAMES, Domain, get_domain
from cove_async.domains._render import render
from cove_async.domains._tau2 import export_tau2, load_tau2_db, tau2_hash
from cove_async.domains._tools import Tool, ToolKind, ToolResult, Toolset

__all__ = (
    "DOMAIN_NAMES",
    "Domain",
    "Tool",
    "ToolKind",
    "ToolResult",
    "Toolset",
    "export_tau2",
    "get_domain",
    "load_tau2_db",
    "render",
    "tau2_hash",
)
