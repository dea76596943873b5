#!/usr/bin/env bash
# Build the local base image for the root Dockerfile when no container registry is reachable:
# a Debian bookworm root filesystem made with debootstrap, with Debian's Python 3.11 (glibc,
# the same Python minor and libc family as the official python:3.11-slim-bookworm image, so
# OpenTelemetry Operator injection works the same on either base), imported with `docker import`.
#
#   k8s/base-image/build.sh            # build if missing; prints the image reference
#   FORCE=1 k8s/base-image/build.sh    # rebuild
#
# The tag carries a hash of this script, so editing it yields a new image and an unchanged
# script reuses the cached one (a no-op in about a second). The rootfs tarball is kept in
# $ORDERFLOW_CACHE/base-image so a wiped Docker store is re-imported without debootstrap.
#
# Env: DOCKER (docker client, default: docker), MIRROR (Debian mirror URL; default: the one
# configured for the host's apt, else debootstrap's default), SUITE (bookworm).
set -euo pipefail

SUITE=${SUITE:-bookworm}
DOCKER=${DOCKER:-docker}
CACHE=${ORDERFLOW_CACHE:-$HOME/.cache/orderflow}/base-image
REPO=${BASE_IMAGE_REPO:-orderflow/base-python}
HERE=$(cd "$(dirname "$0")" && pwd)
HASH=$(sha256sum "$HERE/build.sh" | cut -c1-12)
TAG="$REPO:3.11-$SUITE-$HASH"
# python3-venv brings ensurepip: the builder stage makes a venv to install uv from PyPI.
# ca-certificates is not included: the build gets the host CA bundle as a build secret.
PACKAGES=python3,python3-venv,libpython3.11

log() { echo "base-image: $*" >&2; }

if [ -z "${FORCE:-}" ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG"
    exit 0
fi

mkdir -p "$CACHE"
tarball="$CACHE/rootfs-$SUITE-$HASH.tar"
if [ -n "${FORCE:-}" ] || [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || {
        log "debootstrap is missing: apt-get install debootstrap"; exit 1; }
    [ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
    if [ -z "${MIRROR:-}" ]; then
        MIRROR=$(grep -rhoE '^(deb +|URIs: +)https?://[^ ]+/debian/?( |$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
            | awk '{print $2}' | head -n1 || true)
    fi
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap $SUITE into $rootfs (${MIRROR:-default mirror})"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" ${MIRROR:+"$MIRROR"} \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
    # Slim it like the official -slim images: no apt lists, caches, docs, man pages, locales.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log \
        "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
    find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' \
        -exec rm -rf {} + 2>/dev/null || true
    # Same convenience names as the official image.
    ln -sf python3 "$rootfs/usr/bin/python"
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
fi

log "docker import $tarball as $TAG"
"$DOCKER" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    "$tarball" "$TAG" >/dev/null
echo "$TAG"
