"""`chaos discover resilience` (the real Chaos Toolkit CLI) lists our actions and probes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_chaos_discover_lists_every_action_and_probe(tmp_path: Path) -> None:
    chaos = Path(sys.executable).with_name("chaos")
    out = tmp_path / "discovery.json"
    proc = subprocess.run(
        [str(chaos), "discover", "--no-system-info", "--no-install", "--discovery-path", str(out), "resilience"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads(out.read_text())
    assert found["extension"]["name"] == "resilience"
    names = {(a["type"], a["name"]) for a in found["activities"]}
    from resilience.ctk import actions, probes

    for module, kind in ((actions, "action"), (probes, "probe")):
        for name in module.__all__:
            assert (kind, name) in names, f"{kind} {name} missing from chaos discover"
