# vision-training: trains, gates and registers the next qc_cnn version
# (`python -m reference_platform.model.train`) into the model repository mounted at /models.
# Build from the repository root (CPU torch by default; TORCH_VARIANT picks another download.pytorch.org index):
#   docker build -f reference_platform/deploy/images/training.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg GIT_SHA=$(git rev-parse HEAD) -t ghcr.io/resilience-dev/vision-training .
#   ... --build-arg TORCH_VARIANT=cu128   # a CUDA build: the wheels bundle CUDA; the node supplies the driver
# Run: mount a writable volume at /models; a gate failure exits 1 and registers nothing.

# Pinned by digest: python:3.11.16-slim-bookworm as docker-library/repo-info recorded it (the tests run 3.11).
FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS build
# cpu, or a CUDA index such as cu126 / cu128 (https://download.pytorch.org/whl/<variant>)
ARG TORCH_VARIANT=cpu
# The `train` extra's pin in reference_platform/pyproject.toml (a test keeps the two equal).
ARG TORCH_VERSION=2.13.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, from the chosen index: from PyPI, Linux torch is the CUDA build (GBs) whatever was asked for
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
      "torch==${TORCH_VERSION}"
COPY reference_platform /src/reference_platform
RUN /opt/venv/bin/pip install --no-cache-dir "/src/reference_platform[train]"

FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f
ARG VERSION=dev
ARG GIT_SHA=unknown
ARG SOURCE_URL=https://github.com/resilience-dev/resilience
ARG TORCH_VARIANT=cpu
LABEL org.opencontainers.image.title="vision-training" \
      org.opencontainers.image.description="Reference vision platform, model training job (torch ${TORCH_VARIANT})" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 vision \
 && useradd --no-log-init --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vision \
 && mkdir /models && chown 10001:10001 /models
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
VOLUME ["/models"]
# A run-to-completion job, not a server: nothing to probe, and its exit code is its health.
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "reference_platform.model.train", "--repository", "/models"]
# Extra flags go after the entrypoint's (e.g. --epochs 8 --min-accuracy 0.9).
CMD []
