# vision-sink: the pipeline's sink stage (end-to-end latency, sequence gaps, defect ratio and the prediction drift monitor).
# Build from the repository root:
#   docker build -f reference_platform/deploy/images/sink.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg GIT_SHA=$(git rev-parse HEAD) -t ghcr.io/resilience-dev/vision-sink .
# cameras, preprocess and sink are one Dockerfile each (every component builds from <component>.Dockerfile),
# identical up to the stage: their build layers are shared in the cache, and a test keeps them in step.

# Pinned by digest: python:3.11.16-slim-bookworm as docker-library/repo-info recorded it (the tests run 3.11).
FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY reference_platform /src/reference_platform
# The reference platform's own distribution (reference_platform/pyproject.toml), without the local extras
# (tritonserver and HAProxy run in images of their own).
RUN /opt/venv/bin/pip install --no-cache-dir /src/reference_platform

FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f
ARG VERSION=dev
ARG GIT_SHA=unknown
ARG SOURCE_URL=https://github.com/resilience-dev/resilience
LABEL org.opencontainers.image.title="vision-sink" \
      org.opencontainers.image.description="Reference vision platform, pipeline stage sink" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 vision \
 && useradd --no-log-init --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vision
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8090 5555
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8090/healthz', timeout=1)"]
ENTRYPOINT ["python", "-m", "reference_platform.pipeline", "sink", "--host", "0.0.0.0", "--port", "8090", "--in-port", "5555"]
# Nothing to point at: the sink only listens. `args` may add --reference and --window.
CMD []
