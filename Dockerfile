# syntax=docker/dockerfile:1
# vtrack, CPU image: `vtrack serve` on ONNX Runtime (CPU).
#
#   docker build -t vtrack:cpu .
#   docker run -p 8080:8080 -v "$PWD/deploy/config:/config:ro" -v "$PWD/models:/models:ro" vtrack:cpu
#
# Two stages: the builder turns the source into a wheel and installs it (with the `service` extra) into a
# virtual environment at /opt/venv; the final stage copies that venv only: no compiler, no pip cache, no
# source tree. Every runtime dependency ships as a manylinux wheel that bundles its native libraries
# (opencv-python-headless, onnxruntime, PyAV with FFmpeg, psycopg[binary]); what they still link from the
# system (glibc, libstdc++, libgcc_s, zlib) is already in the slim base, so the final stage installs no
# Debian package. Checked by tests/integration/test_deploy_docker.py (hadolint and structure).
#
# Volumes: /config (deployment.yaml), /models (.onnx files), /data (working directory: a sqlite:/// count
# store, outputs). The image's user is `vtrack` (uid 10001): mounted folders must be readable by it, /data
# writable.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# Extras installed with the wheel; the GPU image (Dockerfile.gpu) adds `gpu`.
ARG VTRACK_EXTRAS=service
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Dependency versions come from pyproject.toml's ranges (a lock file would pin them).
# hadolint ignore=DL3013
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --no-deps --wheel-dir /dist . \
    && for whl in /dist/vtrack-*.whl; do /opt/venv/bin/pip install "${whl}[${VTRACK_EXTRAS}]"; done \
    && /opt/venv/bin/vtrack --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="vtrack" \
      org.opencontainers.image.description="Real-time video detection, tracking and counting service" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VTRACK_HEALTH_URL=http://127.0.0.1:8080/healthz
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /data --no-create-home vtrack \
    && mkdir -p /config /models /data \
    && chown vtrack:vtrack /data
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
VOLUME ["/config", "/models", "/data"]
EXPOSE 8080
# Liveness only (/healthz answers without a token); python's urllib because the slim base has no curl.
# Set VTRACK_HEALTH_URL when the server listens on another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['VTRACK_HEALTH_URL'], timeout=4)"]
CMD ["vtrack", "serve", "--config", "/config/deployment.yaml", "--host", "0.0.0.0"]
