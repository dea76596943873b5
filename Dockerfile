# orderflow images: one builder stage, three targets.
#
#   docker build --target api      -t orderflow-api:dev      .
#   docker build --target worker   -t orderflow-worker:dev   .
#   docker build --target operator -t orderflow-operator:dev .
#
# api and worker are the app package (services/, the root project) and differ only in CMD; the
# operator image holds the operator package (operator/, a workspace member) and its own
# dependencies only — kopf and the clients its checks use, none of the app's.
#
# Build context: the repository root; the root .dockerignore lets in only the project metadata,
# the lock and the two packages. BuildKit is required (RUN --mount); no `# syntax=` line, so the
# frontend built into Docker >= 20.10 is used and nothing is pulled for it.
#
# Build args:
#   BASE_IMAGE  a glibc Python 3.11 image (official by default; k8s/base-image/build.sh makes
#               an equivalent locally where no registry is reachable). The same base for every
#               stage: a virtualenv's interpreter symlink must resolve in the final image.
#   UV_VERSION  uv from PyPI, pinned like the Makefile's.
# Build secret (optional): `--secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt` when
# PyPI is reached through a TLS-inspecting proxy; it is mounted for single RUN steps only and
# never stored in a layer.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- builder: uv and the workspace's metadata (every member's pyproject.toml: uv checks the
# workspace before it installs any one package of it).
FROM ${BASE_IMAGE} AS builder
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# uv lives in its own throwaway venv, in the build stages only. binutils too: `strip`.
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    python3 -m venv /opt/uv && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils \
        >/dev/null \
    && rm -rf /var/lib/apt/lists/*
# Wheels of C extensions (asyncpg, aiohttp, PyYAML, multidict, ...) ship with DWARF debug
# sections: about a third of a virtualenv's bytes (asyncpg's protocol module: 7.5 MB, 0.8 MB
# without). Nothing reads them at runtime; `--strip-debug` removes only those sections and
# keeps the symbol tables, so native backtraces still name functions (what Debian's own
# packages do). Done on each virtualenv once it is complete (the app's and the operator's).
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY operator/pyproject.toml operator/README.md ./operator/
COPY grafana-dashboards/pyproject.toml grafana-dashboards/README.md ./grafana-dashboards/

# --- the app's virtualenv: dependencies first (a layer that changes only with the lock), then
# the package itself, installed (not editable) into /opt/orderflow.
FROM builder AS app-build
ENV UV_PROJECT_ENVIRONMENT=/opt/orderflow
RUN --mount=type=secret,id=cacert --mount=type=cache,target=/root/.cache/uv \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package orderflow --no-install-project
COPY services/orderflow ./services/orderflow
RUN --mount=type=secret,id=cacert --mount=type=cache,target=/root/.cache/uv \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package orderflow \
    && find /opt/orderflow -name '*.so' -exec strip --strip-debug {} + \
    && /opt/orderflow/bin/orderflow --help >/dev/null

# --- the operator's virtualenv, the same way, into /opt/orderflow-operator.
FROM builder AS operator-build
ENV UV_PROJECT_ENVIRONMENT=/opt/orderflow-operator
RUN --mount=type=secret,id=cacert --mount=type=cache,target=/root/.cache/uv \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package orderflow-operator \
        --no-install-project
COPY operator/orderflow_operator ./operator/orderflow_operator
RUN --mount=type=secret,id=cacert --mount=type=cache,target=/root/.cache/uv \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package orderflow-operator \
    && find /opt/orderflow-operator -name '*.so' -exec strip --strip-debug {} + \
    && /opt/orderflow-operator/bin/python -m orderflow_operator --help >/dev/null

# --- what every runtime image shares: a fixed non-root identity (matches runAsUser in the
# charts); HOME=/tmp, the only writable place (an emptyDir under a read-only root filesystem).
# The virtualenvs copied in below stay root-owned, so read-only for the process; bytecode is
# precompiled, nothing is written at runtime.
FROM ${BASE_IMAGE} AS runtime
RUN echo 'orderflow:x:10001:10001:orderflow:/tmp:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'orderflow:x:10001:' >> /etc/group
ENV HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp

FROM runtime AS operator
COPY --from=operator-build /opt/orderflow-operator /opt/orderflow-operator
ENV PATH=/opt/orderflow-operator/bin:$PATH
# 8080: liveness (kopf's /healthz), 9090: Prometheus metrics.
EXPOSE 8080 9090
# Exec form: PID 1 is Python; kopf handles SIGTERM (stops daemons, leaves the peering).
ENTRYPOINT ["python", "-m", "orderflow_operator"]

FROM runtime AS app
COPY --from=app-build /opt/orderflow /opt/orderflow
# ENVIRONMENT=production is also the settings' default; spelled out so `docker inspect` shows
# it: without a strong JWT_SECRET the processes refuse to start.
ENV PATH=/opt/orderflow/bin:$PATH \
    ENVIRONMENT=production
# Exec form, no shell in between: PID 1 is the Python process, which handles SIGTERM itself
# (uvicorn's graceful shutdown; the worker's signal handlers), and it forks no children.
ENTRYPOINT ["orderflow"]

FROM app AS worker
EXPOSE 9464
CMD ["worker"]

# Last, so a plain `docker build` gives the API.
FROM app AS api
EXPOSE 8080
CMD ["api"]
