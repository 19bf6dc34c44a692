#!/usr/bin/env bash
# Refreshes the vendored chart library, Chart.js, from the npm registry:
# its built UMD file and its license go to internal/web/assets/vendor/.
# The pages load it from there (embedded in the binary), so they never need
# the network. Usage: scripts/vendor-charts.sh [VERSION] (default: the
# version pinned below). Review the diff, run the browser tests, commit.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-4.6.1}"
dest=internal/web/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "chart.js@$version" >/dev/null)
tar -xzf "$tmp"/chart.js-*.tgz -C "$tmp"
got=$(node -p 'require(process.argv[1]).version' "$tmp/package/package.json")

mkdir -p "$dest"
# The source map is not shipped, so its reference goes too: browsers would
# otherwise ask for a file that is not there.
sed '/^\/\/# sourceMappingURL=/d' "$tmp/package/dist/chart.umd.min.js" >"$dest/chart.umd.min.js"
cp "$tmp/package/LICENSE.md" "$dest/chart.js.LICENSE.md"
echo "$got" >"$dest/chart.js.VERSION"
echo "vendored chart.js $got into $dest"
