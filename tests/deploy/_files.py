"""Reading the deploy/ files the tests check: paths, YAML, the dashboard's and the rules' queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = (
    "COMPOSE",
    "DASHBOARD",
    "DATASOURCES",
    "DEPLOY",
    "K8S",
    "PROMETHEUS_CONFIG",
    "RULES",
    "dashboard_panels",
    "dashboard_queries",
    "load_yaml",
    "load_yaml_documents",
    "rule_exprs",
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
RULES = DEPLOY / "prometheus" / "rules.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "cove-async.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
K8S = DEPLOY / "k8s"


def load_yaml(path: Path) -> Any:
    """One YAML document (safe loader: plain data only)."""
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[Any]:
    """Every non-empty document of a multi-document YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def rule_exprs() -> dict[str, list[str]]:
    """Recording-rule name -> its expressions (a name may be recorded by more than one rule)."""
    rules: dict[str, list[str]] = {}
    for group in load_yaml(RULES)["groups"]:
        for rule in group["rules"]:
            rules.setdefault(rule["record"], []).append(rule["expr"])
    return rules


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(where, PromQL expression) for every query of the dashboard: panels, annotations, variables.

    Variables are named ``variable <name>``: their queries are Grafana's ``label_values(...)``.
    """
    board = dashboard if dashboard is not None else json.loads(DASHBOARD.read_text())
    queries = [
        (panel["title"], target["expr"]) for panel in dashboard_panels(board) for target in panel.get("targets", [])
    ]
    queries += [(f"annotation {a['name']}", a["expr"]) for a in board["annotations"]["list"] if "expr" in a]
    for variable in board["templating"]["list"]:
        query = variable["query"]
        queries.append((f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query))
    return queries
