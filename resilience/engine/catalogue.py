"""The SLO catalogue (`probes/slos.yaml`): named SLO specs that experiments refer to."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from resilience.errors import CatalogueError
from resilience.model import SLOSpec

DEFAULT_CATALOGUE = Path("probes") / "slos.yaml"
CATALOGUE_ENV = "RESILIENCE_SLO_CATALOGUE"


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slos: list[SLOSpec]


def find_catalogue(experiment_path: Path | None = None, configured: str | None = None) -> Path:
    """Locate the catalogue: the configured path, `$RESILIENCE_SLO_CATALOGUE`, or `probes/slos.yaml`
    under the working directory or beside the experiment's folder."""
    name = configured or os.environ.get(CATALOGUE_ENV)
    tried: list[Path] = []
    bases = [Path.cwd()] + ([experiment_path.resolve().parent.parent] if experiment_path else [])
    for base in bases:
        candidate = base / (name or DEFAULT_CATALOGUE)
        tried.append(candidate)
        if candidate.exists():
            return candidate
    raise CatalogueError(
        f"no SLO catalogue found (looked at {', '.join(map(str, tried))}); run from the project "
        f"root or set configuration.slo_catalogue / ${CATALOGUE_ENV} to its path"
    )


def load_catalogue(path: Path) -> dict[str, SLOSpec]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc
    try:
        parsed = _CatalogueFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        raise CatalogueError(f"{path}: {loc}: {err['msg']}; fix that field") from exc
    names = [s.name for s in parsed.slos]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CatalogueError(f"{path}: slos: duplicate name(s) {dupes}; every SLO needs its own name")
    return {s.name: s for s in parsed.slos}
