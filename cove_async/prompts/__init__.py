"""System prompts for LLM players: the agent's (instruction + domain policy) and the user simulator's.

``prompts_for(domain)`` is what ``Engine(prompts=...)`` takes. Our synthetic worlds get our own
policy texts (``_policies``), written for the same rules as tau2's; tasks set in tau2's own world
get tau2's ``policy.md``, read from a tau2 data folder at run time. Layering inside:
``_policies`` (texts) → ``_render`` (prompt assembly) → ``_select`` (per task).
"""

from cove_async.prompts._policies import AIRLINE_POLICY, RETAIL_POLICY
from cove_async.prompts._render import AGENT_INSTRUCTION, USER_GUIDELINES, agent_prompt, user_prompt
from cove_async.prompts._select import TAU2_WORLD, domain_policy, is_tau2_world, prompts_for, tau2_policy

__all__ = (
    "AGENT_INSTRUCTION",
    "AIRLINE_POLICY",
    "RETAIL_POLICY",
    "TAU2_WORLD",
    "USER_GUIDELINES",
    "agent_prompt",
    "domain_policy",
    "is_tau2_world",
    "prompts_for",
    "tau2_policy",
    "user_prompt",
)
