#!/bin/sh
# Regenerate web-ui/: Tilt's web UI, built from the `web/` sources inside the pinned tilt module
# as upstream's `make build-js` does (yarn install --immutable, yarn build), with the yarn
# release the module itself carries (web/.yarn/releases) and packages from the npm registry.
# Source maps are left out (3 MB; the UI works without them). gotool embeds web-ui/ into
# pkg/assets/build ([embed] in tool.toml): a Tilt built from Go modules alone has no UI and
# refuses to start ("running in prod mode, but JS/CSS files are not available").
# Needs node (Debian's nodejs 18+). Run after bumping tilt; commit web-ui/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
module=$(cd "$here" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/tilt-dev/tilt)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$module/web" "$work/web"
chmod -R u+w "$work/web"
cd "$work/web"
yarn="node $(ls .yarn/releases/yarn-*.cjs)"
export YARN_NPM_REGISTRY_SERVER="${YARN_NPM_REGISTRY_SERVER:-https://registry.npmjs.org}"
export YARN_ENABLE_TELEMETRY=0
$yarn install --immutable
$yarn build
rm -rf "$here/web-ui"
cp -R build "$here/web-ui"
find "$here/web-ui" -name '*.map' -delete
echo "web-ui/ regenerated from $module/web"
