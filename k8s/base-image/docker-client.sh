#!/usr/bin/env bash
# Print the Docker client to build with: one that can use BuildKit (build secrets carry the
# host CA bundle). $DOCKER if set; else `docker` with buildx; else a classic client (Debian's
# docker.io 20.10) that takes `--secret` under DOCKER_BUILDKIT=1. The one place this is chosen:
# images.sh and k8s/e2e/images.py both run it.
set -euo pipefail

if [ -n "${DOCKER:-}" ]; then echo "$DOCKER"; exit 0; fi
if docker buildx version >/dev/null 2>&1; then echo docker; exit 0; fi
for candidate in /usr/bin/docker docker; do
    if DOCKER_BUILDKIT=1 "$candidate" build --help 2>/dev/null | grep -q -- '--secret'; then
        echo "$candidate"; exit 0
    fi
done
echo "docker-client: no Docker client with BuildKit (install docker buildx, or Debian's docker.io)" >&2
exit 1
