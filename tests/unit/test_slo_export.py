"""`resilience slo export` writes exactly the committed alert rules of the deployable platform (no drift)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "reference_platform" / "deploy" / "observability"


def _export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience.cli", "slo", "export", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_slo_export_regenerates_the_committed_prometheusrule_and_rule_groups() -> None:
    rule = _export()
    assert rule.returncode == 0, rule.stderr
    assert rule.stdout == (OBSERVABILITY / "prometheusrule.yaml").read_text()
    groups = _export("--rule-groups")
    assert groups.returncode == 0, groups.stderr
    assert groups.stdout == (OBSERVABILITY / "rules" / "slo-rules.yaml").read_text()


def test_slo_export_follows_the_catalogue_it_is_given(tmp_path: Path) -> None:
    stricter = (ROOT / "probes" / "slos.yaml").read_text().replace("target: 0.999", "target: 0.9999")
    catalogue = tmp_path / "slos.yaml"
    catalogue.write_text(stricter)
    out = _export("--catalogue", str(catalogue))
    assert out.returncode == 0, out.stderr
    assert "0.00144" in out.stdout and "0.0144" not in out.stdout.replace("0.00144", "")  # 14.4 x (1 - 0.9999)


def test_slo_export_of_a_missing_catalogue_exits_2() -> None:
    out = _export("--catalogue", "nope.yaml")
    assert out.returncode == 2 and "nope.yaml" in out.stderr
