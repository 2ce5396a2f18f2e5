"""Choosing a target: the command line's flags, the experiment's `target` block, and the cluster allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from resilience.cli.main import cli
from resilience.engine.experiment import experiment_target, load_experiment
from resilience.errors import ExperimentError, UsageError
from resilience.targets import KubernetesSpec, allowed_clusters, check_allowed, connect
from resilience.targets.clusters import ALLOWLIST_ENV

ROOT = Path(__file__).resolve().parents[2]
SPEC = KubernetesSpec(context="kind-chaos", namespace="vision")


def test_only_an_allowed_context_and_namespace_pass() -> None:
    check_allowed(SPEC, {"kind-chaos/vision"})
    for allowed in (set(), {"kind-chaos/default"}, {"prod/vision"}, {"kind-chaos"}):
        with pytest.raises(UsageError, match="--allow-cluster kind-chaos/vision"):
            check_allowed(SPEC, allowed)
    with pytest.raises(UsageError):  # connect refuses too, whatever else it was given
        connect(Path("/nonexistent"), SPEC, {"prod/vision"})


def test_the_allow_list_file_adds_entries_and_bad_entries_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = tmp_path / "clusters.allow"
    listed.write_text("# staging only\nkind-chaos/vision\n\nstaging/vision  # the game-day cluster\n")
    monkeypatch.setenv(ALLOWLIST_ENV, str(listed))
    assert allowed_clusters(("a/b",)) == {"a/b", "kind-chaos/vision", "staging/vision"}
    listed.write_text("kind-chaos\n")
    with pytest.raises(UsageError, match="not CONTEXT/NAMESPACE"):
        allowed_clusters(())
    monkeypatch.setenv(ALLOWLIST_ENV, str(tmp_path / "missing"))
    with pytest.raises(UsageError, match=ALLOWLIST_ENV):
        allowed_clusters(())


def _experiment(tmp_path: Path, target: object) -> Path:
    exp = yaml.safe_load((ROOT / "experiments" / "pod-kill.yaml").read_text())
    exp.setdefault("configuration", {})["target"] = target
    exp["configuration"]["slo_catalogue"] = str(ROOT / "probes" / "slos.yaml")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def test_the_experiments_target_block_is_checked_when_it_loads(tmp_path: Path) -> None:
    path = _experiment(tmp_path, {"type": "kubernetes", "context": "kind-chaos", "namespace": "vision"})
    exp, _ = load_experiment(path)
    assert experiment_target(path, exp) == SPEC
    with pytest.raises(ExperimentError, match=r"configuration\.target\.namespace"):
        load_experiment(_experiment(tmp_path, {"type": "kubernetes", "context": "kind-chaos"}))
    with pytest.raises(ExperimentError, match=r"configuration\.target\.contxt"):
        load_experiment(_experiment(tmp_path, {"type": "kubernetes", "contxt": "x", "namespace": "y", "context": "z"}))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--target", "kubernetes", "--context", "c"], "needs --namespace"),
        (["--target", "kubernetes"], "needs --context and --namespace"),
        (["--namespace", "vision"], "--namespace: only with `--target kubernetes`"),
        (["--target", "kubernetes", "--context", "c", "--namespace", "n", "--with-platform"], "--with-platform"),
        (["--target", "kubernetes", "--context", "c", "--namespace", "n"], "--allow-cluster c/n"),
        (["--target", "kubernetes", "--context", "c", "--namespace", "n", "--allow-cluster", "c"], "CONTEXT/NAMESPACE"),
    ],
)
def test_target_flags_that_cannot_work_exit_2_naming_the_fix(args: list[str], said: str) -> None:
    result = CliRunner().invoke(cli, ["run", "--dry-run", *args, str(ROOT / "experiments" / "pod-kill.yaml")])
    assert result.exit_code == 2, result.output
    assert said in result.output
