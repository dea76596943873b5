#!/usr/bin/env bash
# Build the orderflow images: the root Dockerfile's targets api, worker and operator.
# One script for `make images`, `make up`, the end-to-end bed and the tests, so all of them
# build the same way.
#
#   k8s/base-image/images.sh [TAG]     # default TAG: the chart's appVersion
#
# Prints the three image references (api, worker, operator, in that order). The base image is
# BASE_IMAGE if set; else the Dockerfile's default (the official python:3.11-slim-bookworm) when
# it is present or can be pulled; else a local Debian + Python base made by build.sh (no
# registry reachable).
# Also: starts the Docker daemon when it is installed but not running and we are root, and
# builds with the client docker-client.sh picks (one that can use BuildKit).
# The host CA bundle goes in as a build secret (never into a layer).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${ORDERFLOW_CACHE:-$HOME/.cache/orderflow}
TAG=${1:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/charts/orderflow/Chart.yaml")}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
DEFAULT_BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' "$ROOT/Dockerfile")

log() { echo "images: $*" >&2; }

DOCKER=$("$HERE/docker-client.sh")
export DOCKER DOCKER_BUILDKIT=1

if ! "$DOCKER" info >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
        log "starting dockerd (log: $CACHE/dockerd.log)"
        mkdir -p "$CACHE"
        nohup dockerd >"$CACHE/dockerd.log" 2>&1 &
        for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
    fi
    "$DOCKER" info >/dev/null 2>&1 || { log "the Docker daemon is not reachable"; exit 1; }
fi

if [ -z "${BASE_IMAGE:-}" ]; then
    if "$DOCKER" image inspect "$DEFAULT_BASE" >/dev/null 2>&1 \
        || "$DOCKER" pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
        BASE_IMAGE=$DEFAULT_BASE
    else
        log "$DEFAULT_BASE cannot be pulled: using a locally built base"
        BASE_IMAGE=$("$HERE/build.sh")
    fi
fi

secret=()
if [ -s "$CA_BUNDLE" ]; then secret=(--secret "id=cacert,src=$CA_BUNDLE"); fi
for target in api worker operator; do
    log "building orderflow-$target:$TAG from $BASE_IMAGE"
    "$DOCKER" build --quiet -f "$ROOT/Dockerfile" --target "$target" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" "${secret[@]}" \
        --label "org.opencontainers.image.version=$TAG" \
        -t "orderflow-$target:$TAG" "$ROOT" >/dev/null
    echo "orderflow-$target:$TAG"
done
