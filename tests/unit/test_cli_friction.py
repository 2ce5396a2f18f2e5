"""What a newcomer types: flags after the command, `down` twice, a report dir of their own."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from resilience.cli.main import cli
from resilience.engine.runner import _link_latest

ROOT = Path(__file__).resolve().parents[2]


def test_quiet_and_verbose_work_after_the_command_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESILIENCE_STATE_DIR", str(tmp_path / "none"))
    result = CliRunner().invoke(cli, ["run", "-q", str(ROOT / "experiments" / "pod-kill.yaml"), "--dry-run"])
    assert "No such option" not in result.output  # click used to refuse -q here (exit 2)
    assert result.exit_code == 3 and "add `--with-platform` to this command" in result.output


def test_down_twice_says_the_second_time_there_was_nothing_to_stop(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["platform", "down", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no platform was running" in result.output
    assert "platform stopped" not in result.output


def test_latest_points_at_runs_in_the_default_reports_folder_only(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    (root / "20261202T000000Z-pod-kill").mkdir(parents=True)
    _link_latest(root / "20261202T000000Z-pod-kill", root)
    assert (root / "latest").resolve() == (root / "20261202T000000Z-pod-kill").resolve()
    mine = tmp_path / "elsewhere" / "r"
    mine.mkdir(parents=True)
    _link_latest(mine, root)
    assert not (mine.parent / "latest").exists()  # the user's own folder gets nothing beside the report


def test_every_hypothesis_strategy_the_cli_offers_is_one_chaoslib_runs() -> None:
    """`continuous` used to reach chaoslib's Strategy.from_string, which knows it only as `continuously`."""
    from chaoslib.types import Strategy

    from resilience.engine.runner import STRATEGIES

    assert {Strategy(s) for s in STRATEGIES} == set(Strategy) - {Strategy.SKIP}
