"""The rendered HAProxy configuration, checked by the real HAProxy binary (`haproxy -c`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reference_platform.gateway import Backend, haproxy_binary, render_config


def _render(tmp_path: Path, regions: list[str]) -> str:
    backends = [
        Backend(f"{r}-{i}", r, 20000 + 10 * n + i, 21000 + 10 * n + i) for n, r in enumerate(regions) for i in range(2)
    ] + [Backend(f"{r}-canary", r, 20009 + 10 * n, 21009 + 10 * n, canary=True) for n, r in enumerate(regions)]
    return render_config(
        http_port=18000,
        grpc_port=18001,
        stats_port=18002,
        socket_path=tmp_path / "s.sock",
        backends=backends,
        regions=regions,
    )


def test_haproxy_accepts_the_rendered_config(tmp_path: Path) -> None:
    for regions in (["a"], ["a", "b"], ["a", "b", "c"]):
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(_render(tmp_path, regions))
        check = subprocess.run([haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr


def test_other_regions_are_backups_and_checked_once(tmp_path: Path) -> None:
    text = _render(tmp_path, ["a", "b"])
    http_a = text.split("\nbackend http_a\n")[1].split("\nbackend ")[0]
    assert "server a-0 127.0.0.1:20000 weight 100 check observe layer7" in http_a
    assert "server b-0 127.0.0.1:20010 weight 100 track http_b/b-0 backup" in http_a
    assert text.count(" check observe") == 6  # one active check per replica (canary slots included)
    # a canary slot serves only its own region and starts out of rotation
    assert "server a-canary 127.0.0.1:20009 weight 1 disabled check" in http_a
    assert "b-canary" not in http_a
    assert "use_backend http_b if { req.hdr(x-region) -m str b }" in text
    assert "default_backend http_a" in text
