from __future__ import annotations

from pathlib import Path

import pytest

from reference_platform.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_the_defaults() -> None:
    assert load_config(ROOT / "reference_platform" / "platform.yaml") == load_config(None)


def test_overrides_apply() -> None:
    assert load_config(None, replicas=4).replicas == 4


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("replicas: 0\n", "replicas"),
        ("probes:\n  period_s: -1\n", "probes.period_s"),
        ("replicaz: 2\n", "replicaz"),
        ("serving:\n  queue_delay_us: fast\n", "serving.queue_delay_us"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value) and f": {field}:" in str(exc.value)


def test_cli_up_with_bad_config_exits_2_without_starting_anything(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "platform.yaml"
    bad.write_text("replicas: many\n")
    env = {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "resilience.cli", "platform", "up", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "replicas" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "platform.json").exists()
