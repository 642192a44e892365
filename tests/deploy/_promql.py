"""Just enough PromQL to list the metric names an expression reads.

Not a parser: it removes what cannot hold a metric name (string literals, Grafana variables,
label matchers, range and subquery brackets, grouping clauses), then takes every remaining
identifier that is not a function call, a keyword or part of a number. That is exact for the
expressions a dashboard and a rules file hold, and the unit tests pin the cases that matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

__all__ = ("exported_samples", "grafana_variable_metrics", "metric_names")

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{\w+(?::\w+)?\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
# Not preceded by a word character, a dot or a colon: skips "m" in "5m" and "e3" in "1e3".
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    ("and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right")
)
_NUMBERS = frozenset(("inf", "nan"))
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*\w+\s*\)\s*$")


def metric_names(expr: str) -> set[str]:
    """Every metric (or recording-rule) name ``expr`` selects, as written (``_bucket`` kept)."""
    text = _STRING.sub("", expr)
    text = _GRAFANA_VARIABLE.sub("1", text)
    text = _MATCHERS.sub("", text)
    while _RANGE.search(text):  # subqueries nest a range inside a range
        text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if name.lower() in _KEYWORDS or name.lower() in _NUMBERS:
            continue
        names.add(name)
    return names


def grafana_variable_metrics(query: str) -> set[str]:
    """The metric names a Grafana Prometheus variable query reads (``label_values(selector, label)``)."""
    match = _LABEL_VALUES.match(query)
    return metric_names(match.group("selector") if match else query)


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}


def exported_samples(families: Iterable[Metric]) -> set[str]:
    """The sample names the families expose, from their type (so series not yet observed count too).

    A counter ``x`` exposes ``x_total``; a histogram ``h`` exposes ``h_bucket``, ``h_sum`` and
    ``h_count`` and never a bare ``h``, so a query of a bare histogram name does not resolve.
    """
    names = set()
    for family in families:
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names
