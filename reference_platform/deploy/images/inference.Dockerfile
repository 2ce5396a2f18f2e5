# vision-inference: Triton Inference Server with the qc_cnn model repository baked in at /models.
# One image for both node kinds:
#   GPU nodes: the repository's own qc_cnn/config.pbtxt (onnxruntime backend, KIND_GPU, warmup)
#   CPU nodes: add `--model-config-name=k8s-cpu` (qc_cnn/configs/k8s-cpu.pbtxt: the same on KIND_CPU)
# Arguments after the image name append to the ENTRYPOINT's flags (the manifests give the command and all
# flags themselves). Liveness is a real inference:
#   python3 /opt/vision/probe_infer.py --url http://127.0.0.1:8000 --model qc_cnn --timeout-s 1
# Build from the repository root:
#   docker build -f reference_platform/deploy/images/inference.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg GIT_SHA=$(git rev-parse HEAD) -t ghcr.io/resilience-dev/vision-inference .

# Triton 2.51, the version the local platform runs (nvidia-pytriton's tritonserver). Tag only: NGC
# publishes no digest list we could check offline.
FROM nvcr.io/nvidia/tritonserver:24.10-py3 AS repository
COPY reference_platform/model/repository /models
# configs/local-cpu.pbtxt names a Python-based backend that only the local platform carries: drop it, so
# nobody can select a config this image cannot serve.
RUN rm -f /models/*/configs/local-cpu.pbtxt \
 && test -f /models/qc_cnn/config.pbtxt \
 && test -f /models/qc_cnn/configs/k8s-cpu.pbtxt \
 && test -f /models/qc_cnn/1/model.onnx

FROM nvcr.io/nvidia/tritonserver:24.10-py3
ARG VERSION=dev
ARG GIT_SHA=unknown
ARG SOURCE_URL=https://github.com/resilience-dev/resilience
LABEL org.opencontainers.image.title="vision-inference" \
      org.opencontainers.image.description="Reference vision platform, Triton serving qc_cnn (GPU; --model-config-name=k8s-cpu on CPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Owned by root and read-only to the server: nothing at run time may change the served model.
COPY --from=repository /models /models
COPY reference_platform/deploy/images/probe_infer.py /opt/vision/probe_infer.py
# triton-server, the non-root user (uid/gid 1000) the Triton image ships; numeric for runAsNonRoot.
USER 1000:1000
# KServe v2 HTTP, gRPC, Prometheus metrics (Triton's defaults)
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python3", "/opt/vision/probe_infer.py", "--url", "http://127.0.0.1:8000", "--model", "qc_cnn", "--timeout-s", "2"]
# --strict-readiness: ready only when every model is; --exit-timeout-secs 10: in-flight requests get 10 s
# after SIGTERM, inside Kubernetes' default 30 s grace; the summaries give the p50/p90/p99 the local
# platform's status shows; model control "none": the served models are the baked ones, none can be loaded.
ENTRYPOINT ["/opt/tritonserver/bin/tritonserver", \
            "--model-repository=/models", \
            "--model-control-mode=none", \
            "--strict-readiness=true", \
            "--exit-timeout-secs=10", \
            "--http-port=8000", \
            "--grpc-port=8001", \
            "--metrics-port=8002", \
            "--allow-metrics=true", \
            "--metrics-config=summary_latencies=true", \
            "--metrics-config=summary_quantiles=0.5:0.05,0.9:0.01,0.99:0.001", \
            "--log-verbose=0"]
CMD []
