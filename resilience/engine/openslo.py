"""Read OpenSLO v1 `kind: SLO` documents (a subset) into our `SLOSpec`s, with file/field/fix errors.

The subset: `spec.indicator.spec` is a `ratioMetric` (good/total or bad/total counters) or a
`thresholdMetric`; `budgetingMethod` `Occurrences` or `Timeslices`; one objective; `timeWindow` with a
duration. Metric sources are `type: resilience` with a `query` naming what the load generator measures:
`requests.ok`, `requests.failed`, `requests.total` (ratio) and `latency_ms` (threshold).

    apiVersion: openslo/v1
    kind: SLO
    metadata: {name: latency-p99}
    spec:
      indicator:
        metadata: {name: request-latency}
        spec:
          thresholdMetric: {metricSource: {type: resilience, spec: {query: latency_ms}}}
      timeWindow: [{duration: 5s, isRolling: true}]
      budgetingMethod: Occurrences
      objectives: [{op: lte, value: 15, target: 0.99}]   # p99 <= 15 ms
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from resilience.errors import CatalogueError
from resilience.model import Budgeting, SLIKind, SLOSpec

RATIO_QUERIES = {"requests.ok", "requests.failed", "requests.total"}
THRESHOLD_QUERIES = {"latency_ms"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_openslo(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("openslo/")


def parse_duration(text: str) -> float | None:
    m = _DURATION.match(str(text).strip())
    return float(m.group(1)) * _SECONDS[m.group(2)] if m else None


class _Doc:
    """Field access that turns a missing or wrong field into a CatalogueError naming it."""

    def __init__(self, path: Path, doc: dict[str, Any], index: int) -> None:
        self.path, self.doc = path, doc
        name = (doc.get("metadata") or {}).get("name")
        self.where = f"{path}: document {index + 1} ({name or 'unnamed'})"

    def fail(self, field: str, problem: str, fix: str) -> CatalogueError:
        return CatalogueError(f"{self.where}: {field}: {problem}; {fix}")

    def get(self, dotted: str, kind: type = dict, required: bool = True) -> Any:
        node: Any = self.doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None and not required:
            return None
        if not isinstance(node, kind):
            raise self.fail(dotted, f"expected {kind.__name__}, got {node!r}", "see probes/slos.yaml for the shape")
        return node


def _query(doc: _Doc, field: str, allowed: set[str]) -> str:
    source = doc.get(field + ".metricSource")
    if source.get("type") != "resilience":
        raise doc.fail(
            field + ".metricSource.type", f"{source.get('type')!r} is not supported", "use `type: resilience`"
        )
    query = (source.get("spec") or {}).get("query")
    if query not in allowed:
        raise doc.fail(
            field + ".metricSource.spec.query", f"unknown metric {query!r}", f"use one of {', '.join(sorted(allowed))}"
        )
    return str(query)


def from_openslo(path: Path, raw: dict[str, Any], index: int, slice_s: float) -> SLOSpec:
    """Convert one OpenSLO SLO document; raise CatalogueError naming the file, the field and the fix."""
    doc = _Doc(path, raw, index)
    if raw.get("kind") != "SLO":
        raise doc.fail(
            "kind", f"{raw.get('kind')!r} is not supported here", "only `kind: SLO` documents belong in the catalogue"
        )
    name = doc.get("metadata.name", str)
    indicator = doc.get("spec.indicator.spec")
    objectives = doc.get("spec.objectives", list)
    if len(objectives) != 1 or not isinstance(objectives[0], dict):
        raise doc.fail("spec.objectives", f"{len(objectives)} objectives", "give exactly one objective per SLO")
    objective = objectives[0]
    target = objective.get("target")
    if not isinstance(target, int | float) or not 0 <= target < 1:
        raise doc.fail("spec.objectives[0].target", f"{target!r} is outside [0, 1)", "write a ratio such as 0.999")
    method = str(doc.get("spec.budgetingMethod", str)).lower()
    if method not in {b.value for b in Budgeting}:
        raise doc.fail("spec.budgetingMethod", f"{method!r} is not supported", "use Occurrences or Timeslices")
    window_s = None
    windows = doc.get("spec.timeWindow", list, required=False) or []
    if windows:
        text = (windows[0] or {}).get("duration", "")
        window_s = parse_duration(text)
        if window_s is None:
            raise doc.fail("spec.timeWindow[0].duration", f"{text!r} is not a duration", "write e.g. 5s, 1m, 1h")
        if window_s < slice_s:
            raise doc.fail(
                "spec.timeWindow[0].duration",
                f"{text} is shorter than one measurement slice ({slice_s:g} s)",
                "make the window at least one slice long",
            )
    fields: dict[str, Any] = {"name": name, "description": doc.get("spec.description", str, required=False) or ""}
    fields |= {"window_s": window_s, "budgeting": method}
    slice_target = objective.get("timeSliceTarget")
    if method == Budgeting.TIMESLICES:
        if not isinstance(slice_target, int | float) or not 0 < slice_target < 1:
            raise doc.fail(
                "spec.objectives[0].timeSliceTarget",
                f"{slice_target!r}",
                "Timeslices needs a ratio in (0, 1) per slice",
            )
        # OpenSLO: `target` is the share of good slices, `timeSliceTarget` the ratio a slice must reach
        fields["timeslice_target"], ratio = target, slice_target
    else:
        ratio = target
    if "ratioMetric" in indicator:
        good = "good" in indicator["ratioMetric"]
        _query(doc, "spec.indicator.spec.ratioMetric." + ("good" if good else "bad"), RATIO_QUERIES)
        _query(doc, "spec.indicator.spec.ratioMetric.total", RATIO_QUERIES)
        fields |= {"sli": SLIKind.AVAILABILITY, "objective": ratio}
    elif "thresholdMetric" in indicator:
        _query(doc, "spec.indicator.spec.thresholdMetric", THRESHOLD_QUERIES)
        if objective.get("op") not in ("lte", "lt"):
            raise doc.fail("spec.objectives[0].op", f"{objective.get('op')!r}", "latency thresholds use `op: lte`")
        value = objective.get("value")
        if not isinstance(value, int | float) or value <= 0:
            raise doc.fail("spec.objectives[0].value", f"{value!r}", "give the latency bound in milliseconds, e.g. 15")
        fields |= {"sli": SLIKind.LATENCY, "objective": value, "percentile": ratio * 100}
    else:
        raise doc.fail("spec.indicator.spec", "neither ratioMetric nor thresholdMetric", "use one of them")
    try:
        return SLOSpec.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise doc.fail(".".join(map(str, err["loc"])), err["msg"], "fix that field") from exc
