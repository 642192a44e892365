"""Picking the prompts of a task: our policy for our synthetic worlds, tau2's own for tau2's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cove_async.domains import DOMAIN_NAMES
from cove_async.errors import ConfigError
from cove_async.prompts._policies import AIRLINE_POLICY, RETAIL_POLICY
from cove_async.prompts._render import agent_prompt, user_prompt
from cove_async.tasks import Task

__all__ = ("TAU2_WORLD", "domain_policy", "is_tau2_world", "prompts_for", "tau2_policy")

TAU2_WORLD = "tau2"
"""The ``Task.world`` of tasks set in tau2's own database (``tau2``, or ``tau2:<detail>``)."""

_POLICIES = {"retail": RETAIL_POLICY, "airline": AIRLINE_POLICY}


def _check_domain(domain: str) -> None:
    if domain not in DOMAIN_NAMES:
        raise ConfigError(f"no prompts for domain {domain!r}; known: {', '.join(DOMAIN_NAMES)}")


def domain_policy(domain: str) -> str:
    """Our policy text for ``domain``'s synthetic worlds (``retail`` or ``airline``).

    Raises:
        ConfigError: an unknown domain.
    """
    _check_domain(domain)
    return _POLICIES[domain]


def tau2_policy(tau2_dir: Path, domain: str) -> str:
    """tau2's own agent policy for ``domain``, read from ``<tau2_dir>/<domain>/policy.md``.

    Raises:
        ConfigError: an unknown domain, or the file cannot be read (the message names the path).
    """
    _check_domain(domain)
    path = Path(tau2_dir) / domain / "policy.md"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read tau2's {domain} policy at {path}: {exc}; pass the tau2 data folder that holds {domain}/policy.md"
        ) from exc
    if not text.strip():
        raise ConfigError(f"tau2's {domain} policy at {path} is empty; expected tau2's policy.md text")
    return text


def is_tau2_world(world: str) -> bool:
    """Whether a task's ``world`` names tau2's own database rather than a synthetic world."""
    return world == TAU2_WORLD or world.startswith(TAU2_WORLD + ":")


def prompts_for(domain: str, *, tau2_dir: Path | None = None) -> Callable[[Task], tuple[str, str]]:
    """The prompt maker ``Engine(prompts=...)`` takes: a task's (agent, user simulator) system prompts.

    The agent's prompt is our instruction plus the domain policy: ours for tasks of a synthetic
    world, tau2's own ``policy.md`` (read once, here) for tasks whose ``world`` is tau2's. The user
    simulator's prompt renders the task's instruction (:func:`user_prompt`). Agent prompts are
    built once per policy and shared, so a run holds one copy however many tasks it has.

    Args:
        domain: ``retail`` or ``airline``.
        tau2_dir: tau2's data folder, for tasks set in tau2's world; None when there are none.

    Returns:
        A function of a task. It raises :class:`ConfigError` for a task of another domain, or a
        task of tau2's world when ``tau2_dir`` was not given.

    Raises:
        ConfigError: an unknown domain, or ``tau2_dir`` without a readable policy.
    """
    ours = agent_prompt(domain_policy(domain))
    theirs = agent_prompt(tau2_policy(tau2_dir, domain)) if tau2_dir is not None else None

    def prompts(task: Task) -> tuple[str, str]:
        if task.domain != domain:
            raise ConfigError(f"task {task.task_id} is a {task.domain} task; these prompts are for {domain}")
        if not is_tau2_world(task.world):
            return ours, user_prompt(task)
        if theirs is None:
            raise ConfigError(
                f"task {task.task_id} is set in tau2's world ({task.world!r}) and needs tau2's policy: "
                "pass tau2_dir, the tau2 data folder holding <domain>/policy.md"
            )
        return theirs, user_prompt(task)

    return prompts
