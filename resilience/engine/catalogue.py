"""The SLO catalogue (`probes/slos.yaml`): named SLO specs that experiments refer to."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from resilience.engine.openslo import from_openslo, is_openslo
from resilience.errors import CatalogueError
from resilience.model import SLOSpec

DEFAULT_CATALOGUE = Path("probes") / "slos.yaml"
CATALOGUE_ENV = "RESILIENCE_SLO_CATALOGUE"
DEFAULT_SLICE_S = 0.25
"""The load's default measurement slice: no SLO window may be shorter."""


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


def load_catalogue(path: Path, slice_s: float = DEFAULT_SLICE_S) -> dict[str, SLOSpec]:
    """Read the catalogue: OpenSLO v1 `kind: SLO` documents (`---`-separated), or the native `slos:` list."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc
    if docs and all(is_openslo(d) for d in docs):
        specs = [from_openslo(path, d, i, slice_s) for i, d in enumerate(docs)]
    elif len(docs) == 1:
        try:
            specs = _CatalogueFile.model_validate(docs[0]).slos
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            raise CatalogueError(f"{path}: {loc}: {err['msg']}; fix that field") from exc
    else:
        raise CatalogueError(
            f"{path}: expected OpenSLO `apiVersion: openslo/v1` documents or one `slos:` list; "
            "do not mix the two in one file"
        )
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CatalogueError(f"{path}: slos: duplicate name(s) {dupes}; every SLO needs its own name")
    return {s.name: s for s in specs}
