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
    """Locate the catalogue. `$RESILIENCE_SLO_CATALOGUE` wins (one switch points every experiment at, say,
    probes/slos-relaxed.yaml), then the experiment's `configuration.slo_catalogue`, then probes/slos.yaml.
    A relative path is looked for beside the experiment, in the experiment folder's parent (the project
    root for experiments/*.yaml), then in the working directory."""
    from_env = os.environ.get(CATALOGUE_ENV)
    name = from_env or configured
    tried: list[Path] = []
    bases = [Path.cwd()]
    if experiment_path is not None:
        folder = experiment_path.resolve().parent
        bases = [folder, folder.parent, Path.cwd()]
    for base in dict.fromkeys(bases):
        candidate = base / (name or DEFAULT_CATALOGUE)  # an absolute `name` stays itself
        tried.append(candidate)
        if candidate.exists():
            return candidate
    where = f"${CATALOGUE_ENV}" if from_env else "configuration.slo_catalogue" if configured else "the default"
    raise CatalogueError(
        f"no SLO catalogue found for {where} {name or DEFAULT_CATALOGUE} (looked at "
        f"{', '.join(map(str, dict.fromkeys(tried)))}); give an absolute path, or one relative to the "
        f"experiment's folder, its parent or the working directory"
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
