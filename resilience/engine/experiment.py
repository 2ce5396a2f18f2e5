"""Load an experiment file and validate it: chaoslib's own checks, then ours, with file/field/fix errors."""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, ValidationError, create_model

from resilience.engine.catalogue import find_catalogue, load_catalogue
from resilience.errors import ExperimentError, UsageError
from resilience.load import LoadSpec
from resilience.model import SLOSpec, StopCondition
from resilience.targets import KubernetesSpec, TargetSpec

log = logging.getLogger(__name__)

OUR_PREFIX = "resilience.ctk."
LOAD_CONTROL = "resilience.ctk.controls"


def read_experiment(path: Path) -> dict[str, Any]:
    """Parse a JSON or YAML experiment file into a dict."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such file; check the path (experiments live in experiments/)") from None
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ExperimentError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ExperimentError(
            f"{path}: an experiment is a mapping with title, description, method...; got {type(data).__name__}"
        )
    return data


def activities(exp: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    hypothesis = exp.get("steady-state-hypothesis") or {}
    for i, a in enumerate(hypothesis.get("probes") or []):
        found.append((f"steady-state-hypothesis.probes[{i}]", a))
    for section in ("method", "rollbacks"):
        for i, a in enumerate(exp.get(section) or []):
            found.append((f"{section}[{i}]", a))
    return found


def _check_arguments(path: Path, where: str, func: Any, arguments: dict[str, Any], skip: set[str]) -> None:
    """Validate `arguments` against the function's signature and type hints."""
    sig = inspect.signature(func)
    hints = inspect.get_annotations(func, eval_str=True)
    fields: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in skip or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        fields[name] = (hints.get(name, Any), ... if p.default is p.empty else p.default)
    model = create_model(f"{func.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    concrete = {k: v for k, v in arguments.items() if not (isinstance(v, str) and "${" in v)}
    try:
        model.model_validate(concrete)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            fix = f"remove it; {func.__name__} takes {sorted(fields)}"
        elif err["type"] == "missing":
            fix = f"add it ({func.__name__} requires it)"
        else:
            fix = f"got {err.get('input')!r}"
        raise ExperimentError(f"{path}: {where}.provider.arguments.{field}: {err['msg']}; {fix}") from exc


def _check_fault(path: Path, where: str, action: Any, arguments: dict[str, Any]) -> None:
    """Build the fault an action would inject (touching nothing), so its own argument checks run at load time."""
    build = getattr(action, "build", None)
    if build is None or any(isinstance(v, str) and "${" in v for v in arguments.values()):
        return  # not a fault, or its values come from configuration at run time (checked then)
    try:
        build(**arguments)
    except UsageError as exc:
        raise ExperimentError(f"{path}: {where}.provider.arguments.{exc}") from exc


TOP_LEVEL_KEYS = frozenset(
    {
        "version", "title", "description", "tags", "contributions", "configuration", "secrets", "extensions",
        "controls", "steady-state-hypothesis", "method", "rollbacks", "runtime", "dry",
    }
)  # fmt: skip
"""The Chaos Toolkit experiment format's top-level keys (chaoslib ignores any other key silently)."""


def _unknown_keys(path: Path, exp: dict[str, Any]) -> None:
    """A misspelled top-level key (`steady-state-hypotesis`) would silently drop what it holds: refuse it."""
    import difflib

    for key in exp:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
            fix = (
                f"did you mean `{close[0]}`?" if close else f"the format's keys are {', '.join(sorted(TOP_LEVEL_KEYS))}"
            )
            raise ExperimentError(f"{path}: `{key}` is not a Chaos Toolkit experiment key; {fix}")


def _check_activity(path: Path, where: str, activity: dict[str, Any]) -> list[tuple[str, str]]:
    """Check one of our activities (others are chaoslib's to check): its module, function and arguments.
    Returns the SLO it names, with where it does."""
    provider = activity.get("provider") or {}
    module_name = provider.get("module", "")
    if provider.get("type") != "python" or not module_name.startswith(OUR_PREFIX):
        return []
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ExperimentError(
            f"{path}: {where}.provider.module: no module {module_name!r}; resilience's are "
            f"resilience.ctk.actions and resilience.ctk.probes"
        ) from None
    func = getattr(module, provider.get("func", ""), None)
    if func is None:
        raise ExperimentError(
            f"{path}: {where}.provider.func: {module_name} has no {provider.get('func')!r}; "
            f"see `chaos discover resilience` for what there is"
        )
    args = provider.get("arguments") or {}
    _check_arguments(path, where, func, args, skip={"configuration", "secrets"})
    _check_fault(path, where, func, args)
    return [(f"{where}.provider.arguments.slo", args["slo"])] if "slo" in args else []


def _check_stop_conditions(path: Path, i: int, stops: Any) -> list[tuple[str, str]]:
    """Check load control `i`'s `stop_when`; return the SLOs its conditions name, with where they do."""
    if not isinstance(stops, list):
        raise ExperimentError(f"{path}: controls[{i}].provider.arguments.stop_when: must be a list of conditions")
    used: list[tuple[str, str]] = []
    for j, stop in enumerate(stops):
        try:
            condition = StopCondition.model_validate(stop)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "condition"
            raise ExperimentError(
                f"{path}: controls[{i}].provider.arguments.stop_when[{j}].{field}: {err['msg']}"
            ) from exc
        used.append((f"controls[{i}].provider.arguments.stop_when[{j}].slo", condition.slo))
    return used


def _check_load_control(path: Path, i: int, control: dict[str, Any]) -> list[tuple[str, str]]:
    """Check load control `i`: its stop conditions, the load it generates, its SLO list. Returns the SLOs it names."""
    args = dict((control.get("provider") or {}).get("arguments") or {})
    slos = args.pop("slos", [])
    stops = args.pop("stop_when", [])
    for k in ("target", "payload", "model", "input_name"):
        args.pop(k, None)
    used = _check_stop_conditions(path, i, stops)
    try:
        LoadSpec.model_validate(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ExperimentError(
            f"{path}: controls[{i}].provider.arguments.{field}: {err['msg']} (got {err.get('input')!r})"
        ) from exc
    if not isinstance(slos, list):
        raise ExperimentError(f"{path}: controls[{i}].provider.arguments.slos: must be a list of SLO names")
    return used + [(f"controls[{i}].provider.arguments.slos[{j}]", s) for j, s in enumerate(slos)]


def validate(path: Path, exp: dict[str, Any]) -> dict[str, SLOSpec]:
    """Validate an experiment; return the SLO catalogue it resolves against. Raises ExperimentError."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    _unknown_keys(path, exp)
    for key in ("title", "description", "method"):
        if key not in exp:
            raise ExperimentError(f"{path}: `{key}` is missing; every Chaos Toolkit experiment needs it")
    configuration = exp.get("configuration") or {}
    try:
        catalogue = load_catalogue(find_catalogue(path, configuration.get("slo_catalogue")))
    except UsageError as exc:
        raise ExperimentError(f"{path}: configuration.slo_catalogue: {exc}") from exc
    experiment_target(path, exp)

    used_slos: list[tuple[str, str]] = []
    for where, activity in activities(exp):
        used_slos += _check_activity(path, where, activity)
    load_controls = [
        (i, c)
        for i, c in enumerate(exp.get("controls") or [])
        if (c.get("provider") or {}).get("module") == LOAD_CONTROL
    ]
    for i, control in load_controls:
        used_slos += _check_load_control(path, i, control)
    for where, name in used_slos:
        if name not in catalogue:
            raise ExperimentError(f"{path}: {where}: unknown SLO {name!r}; the catalogue has {sorted(catalogue)}")
    if used_slos and not load_controls:
        raise ExperimentError(
            f"{path}: controls: SLO probes need load, but there is no control with module "
            f"{LOAD_CONTROL!r}; add one (see experiments/pod-kill.yaml)"
        )
    # chaoslib's own checks last: ours name the field and the fix for what we know better.
    try:
        ensure_experiment_is_valid(exp)
    except ChaosException as exc:
        raise ExperimentError(f"{path}: {exc}") from exc
    return catalogue


def load_experiment(path: Path) -> tuple[dict[str, Any], dict[str, SLOSpec]]:
    exp = read_experiment(path)
    return exp, validate(path, exp)


def experiment_target(path: Path, exp: dict[str, Any]) -> TargetSpec | None:
    """The platform the experiment's `configuration.target` block names (None: the local platform)."""
    block = (exp.get("configuration") or {}).get("target")
    if block is None or block == "local":
        return None
    try:
        return KubernetesSpec.model_validate(block)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ExperimentError(
            f"{path}: configuration.target.{where}: {err['msg']} (a Kubernetes target is "
            "{type: kubernetes, context: C, namespace: N, gateway: HOST:PORT}; or remove `target` for the local platform)"
        ) from None
