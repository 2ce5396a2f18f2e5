"""The Kubernetes target against an API server stand-in: the real `kubernetes` client and our CLI talk HTTP to
`kmock` (an HTTP-level emulator of the Kubernetes API) on loopback. No kube-apiserver can be installed on
these machines; kmock has no controllers or kubelet, so a stand-in ReplicaSet controller below recreates
deleted pods and marks them Ready, over the same HTTP API, the way a cluster would. kmock also ignores label
selectors and fills no UIDs: the fixtures write UIDs as the API server would, and the target filters by
labels itself (the test of that relies on kmock's gap)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from resilience.errors import UsageError
from resilience.faults import FaultContext, PodKill, Selector
from resilience.model import FaultKind
from resilience.targets import KubernetesSpec, connect
from tests.integration.conftest import ROOT, Platform, short_experiment

pytestmark = pytest.mark.integration
kmock = pytest.importorskip("kmock")
kubernetes = pytest.importorskip("kubernetes")

CONTEXT, NAMESPACE, TOKEN = "kmock-test", "vision", "s3cr3t-token-never-printed"


@dataclass
class Cluster:
    url: str
    kubeconfig: Path
    core: Any

    def spec(self, **kw: Any) -> KubernetesSpec:
        return KubernetesSpec(context=CONTEXT, namespace=NAMESPACE, kubeconfig=self.kubeconfig, **kw)

    def uids(self) -> dict[str, str]:
        return {p.metadata.name: p.metadata.uid for p in self.core.list_namespaced_pod(NAMESPACE).items}


def _serve(port_box: list[int], ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        async with kmock.KubernetesEmulator() as handler, kmock.Server(handler, host="127.0.0.1") as server:
            port_box.append(server.port)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    asyncio.run(main())


def _kubeconfig(path: Path, url: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": url}}],
                "users": [{"name": "sre", "user": {"token": TOKEN}}],
                "contexts": [{"name": CONTEXT, "context": {"cluster": "kmock", "user": "sre", "namespace": NAMESPACE}}],
                "current-context": CONTEXT,
            }
        )
    )
    return path


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    from kubernetes import client

    port_box: list[int] = []
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve, args=(port_box, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(15), "kmock did not start"
    url = f"http://127.0.0.1:{port_box[0]}"
    cfg = client.Configuration()
    cfg.host = url
    try:
        yield Cluster(url, _kubeconfig(tmp_path / "kubeconfig", url), client.CoreV1Api(client.ApiClient(cfg)))
    finally:
        stop.set()
        thread.join(5)


def _pod(
    name: str, labels: dict[str, str], ready: bool = True, restarts: int = 0, exit_code: int | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}],
        "containerStatuses": [
            {
                "name": "triton",
                "ready": ready,
                "restartCount": restarts,
                "image": "triton",
                "imageID": "",
                "lastState": (
                    {"terminated": {"exitCode": exit_code, "reason": "Error", "finishedAt": now}}
                    if exit_code is not None
                    else {}
                ),
            }
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "uid": str(uuid.uuid4())},  # the API server would set it
        "spec": {"containers": [{"name": "triton", "image": "triton"}]},
        "status": status,
    }


def _inference(region: str, name: str | None = None) -> dict[str, Any]:
    labels = {"resilience.dev/role": "inference", "resilience.dev/region": region, "resilience.dev/track": "stable"}
    return _pod(name or f"inference-{region}-{uuid.uuid4().hex[:5]}", labels | {"resilience.dev/model-version": "1"})


class StandInReplicaSet:
    """What a cluster's ReplicaSet controller and kubelet do, over the API: keep `replicas` inference pods per
    region, creating a replacement for a deleted one that becomes Ready `ready_after_s` later."""

    def __init__(
        self, core: Any, regions: tuple[str, ...] = ("a", "b"), replicas: int = 2, ready_after_s: float = 0.4
    ) -> None:
        self.core, self.regions, self.replicas, self.ready_after_s = core, regions, replicas, ready_after_s
        self.created: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> StandInReplicaSet:
        for region in self.regions:
            for i in range(self.replicas):
                self.core.create_namespaced_pod(NAMESPACE, _inference(region, f"inference-{region}-{i}"))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        pending: list[tuple[float, str]] = []
        while not self._stop.wait(0.05):
            pods = self.core.list_namespaced_pod(NAMESPACE).items
            for region in self.regions:
                have = [p for p in pods if (p.metadata.labels or {}).get("resilience.dev/region") == region]
                for _ in range(self.replicas - len(have)):
                    body = _inference(region)
                    body["status"]["conditions"][0]["status"] = "False"
                    self.core.create_namespaced_pod(NAMESPACE, body)
                    self.created.append(body["metadata"]["name"])
                    pending.append((time.monotonic() + self.ready_after_s, body["metadata"]["name"]))
            for due, name in [p for p in pending if p[0] <= time.monotonic()]:
                now = datetime.now(UTC).isoformat()
                self.core.patch_namespaced_pod_status(
                    name,
                    NAMESPACE,
                    {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}},
                )
                pending.remove((due, name))


def test_a_cluster_not_on_the_allow_list_is_refused_before_any_api_call(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    spec = KubernetesSpec(context=CONTEXT, namespace=NAMESPACE, kubeconfig=_kubeconfig(tmp_path / "k", url))
    try:
        with pytest.raises(UsageError, match=f"--allow-cluster {CONTEXT}/{NAMESPACE}"):
            connect(tmp_path, spec, allowed={f"{CONTEXT}/other", f"other/{NAMESPACE}"})
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: the refusal came before the client was even built
    finally:
        listener.close()


def test_pods_are_read_from_their_labels_and_status_and_filtered_even_when_the_server_ignores_selectors(
    cluster: Cluster, tmp_path: Path
) -> None:
    core = cluster.core
    for body in (
        _inference("a", "inference-a-0"),
        _inference("b", "inference-b-0"),
        _pod("gateway-0", {"resilience.dev/role": "gateway"}),
        _pod(
            "crashy",
            {"resilience.dev/role": "inference", "resilience.dev/region": "a"},
            ready=False,
            restarts=3,
            exit_code=137,
        ),
        _pod("someone-elses-app", {"app": "billing"}),  # no role label: never ours to touch
    ):
        core.create_namespaced_pod(NAMESPACE, body)
    target = connect(tmp_path, cluster.spec(), allowed={f"{CONTEXT}/{NAMESPACE}"})
    # kmock returns every pod whatever the selector: the target's own filter is what keeps this list ours
    assert len(core.list_namespaced_pod(NAMESPACE, label_selector="resilience.dev/role").items) == 5
    pods = {p.name: p for p in target.pods()}
    assert set(pods) == {"inference-a-0", "inference-b-0", "gateway-0", "crashy"}
    assert [p.name for p in target.select(role="inference", region="a")] == ["inference-a-0", "crashy"]
    a0, crashy = pods["inference-a-0"], pods["crashy"]
    assert (a0.role, a0.region, a0.ready, a0.model_version, a0.variant, a0.pid) == (
        "inference",
        "a",
        True,
        1,
        "stable",
        None,
    )
    assert a0.uid == cluster.uids()["inference-a-0"] and a0.ready_at is not None
    assert (crashy.ready, crashy.restarts) == (False, 3)
    assert crashy.last_exit is not None and (crashy.last_exit.returncode, crashy.last_exit.signal) == (137, "SIGKILL")
    assert target.status()["regions"] == ["a", "b"] and target.model_versions() == [1]


def test_pod_kill_deletes_the_pod_and_proves_it_with_the_apis_evidence_and_the_replacement(
    cluster: Cluster, tmp_path: Path
) -> None:
    target = connect(tmp_path, cluster.spec(), allowed={f"{CONTEXT}/{NAMESPACE}"})
    with StandInReplicaSet(cluster.core, ready_after_s=0.4) as rs:
        before = cluster.uids()
        (victim,) = Selector(region="a").pick(target)
        started = time.time()
        (rec,) = PodKill(Selector(region="a"), recovery_timeout_s=15).inject(FaultContext(target))
        took = time.time() - started
    ev = rec.evidence
    assert rec.kind is FaultKind.POD_KILL and rec.landed, ev
    assert ev["killed"] == f"uid {victim.uid}" and "killed_pid" not in ev
    assert victim.uid not in cluster.uids().values()  # the UID is gone from the API server
    assert (
        "deleted through the API" in ev["exit_seen_by_parent"]["reason"] and ev["ended_by"] == "killed by our SIGKILL"
    )
    assert ev["recovered"] and ev["replacement"] in rs.created and ev["replacement_uid"] not in before.values()
    assert 0.3 <= ev["time_to_ready_s"] <= took, ev  # the stand-in marks it Ready 0.4 s after creating it
    assert rec.recovered_at is not None and rec.recovered_at >= rec.injected_at
    assert len(target.select(role="inference", region="a")) == 2  # back to strength


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env
    )


def test_the_dry_run_lists_the_pods_a_fault_would_delete_and_touches_nothing(cluster: Cluster, tmp_path: Path) -> None:
    import os

    for region in ("a", "b"):
        for i in range(2):
            cluster.core.create_namespaced_pod(NAMESPACE, _inference(region, f"inference-{region}-{i}"))
    before = cluster.uids()
    flags = [
        "--target",
        "kubernetes",
        "--context",
        CONTEXT,
        "--namespace",
        NAMESPACE,
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]
    env = {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path / "state")}
    refused = _cli("run", "--dry-run", *flags, "experiments/pod-kill.yaml", env=env)
    assert refused.returncode == 2, refused.stderr
    assert f"--allow-cluster {CONTEXT}/{NAMESPACE}" in refused.stderr

    allow = tmp_path / "clusters.allow"
    allow.write_text(f"# clusters this team may break\n{CONTEXT}/{NAMESPACE}\n")
    ok = _cli(
        "run", "--dry-run", *flags, "experiments/pod-kill.yaml", env={**env, "RESILIENCE_CLUSTER_ALLOWLIST": str(allow)}
    )
    said = " ".join((ok.stdout + ok.stderr).split())
    assert ok.returncode == 0, said
    assert "nothing was touched" in said
    planned = [name for name, uid in before.items() if f"SIGKILL pod {name} " in said and uid in said]
    assert len(planned) == 1, said  # the experiment's one pod, named with its UID
    assert cluster.uids() == before  # nothing deleted, nothing created
    assert TOKEN not in ok.stdout + ok.stderr + refused.stdout + refused.stderr


def test_a_run_on_a_cluster_target_sends_real_load_to_its_gateway_and_judges_a_pod_kill(
    cluster: Cluster, platform: Platform, tmp_path: Path
) -> None:
    """The whole run on the Kubernetes target: the fault deletes a pod through the API (the stand-in cluster
    replaces it), while the open-loop load goes to a real Triton endpoint given with --gateway (the local
    platform's gateway, standing in for a cluster gateway reached through a port-forward)."""
    import json

    report_dir = tmp_path / "r"
    flags = ["--target", "kubernetes", "--context", CONTEXT, "--namespace", NAMESPACE]
    flags += ["--kubeconfig", str(cluster.kubeconfig), "--allow-cluster", f"{CONTEXT}/{NAMESPACE}"]
    flags += ["--gateway", platform.state["gateway"]["http"]]
    served_before = sum(platform.served().values())
    with StandInReplicaSet(cluster.core, ready_after_s=0.4) as rs:
        before = cluster.uids()
        result = platform.cli("run", str(short_experiment(tmp_path)), *flags, "--report-dir", str(report_dir))
    report = json.loads((report_dir / "report.json").read_text())
    assert result.returncode == report["exit_code"], result.stderr
    assert result.returncode in (0, 1) and report["status"] in ("completed", "inconclusive"), report["reasons"]
    assert report["environment"]["target"] == f"kubernetes {CONTEXT}/{NAMESPACE}"
    (fault,) = report["faults"]
    ev = fault["evidence"]
    assert fault["landed"] and ev["killed"].removeprefix("uid ") in before.values()
    assert ev["killed"].removeprefix("uid ") not in cluster.uids().values() and ev["replacement"] in rs.created
    assert report["load"]["requests"] > 0 and report["load"]["failures"] == 0
    assert sum(platform.served().values()) - served_before >= report["load"]["requests"]  # the load went there
    assert TOKEN not in result.stdout + result.stderr + (report_dir / "report.json").read_text()
