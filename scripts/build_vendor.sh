#!/usr/bin/env bash
# Rebuilds the vendored client libraries under static/vendor/ from the pinned npm packages in
# vendor-src/ (package.json + package-lock.json). The outputs are committed: nothing here runs at
# deploy or request time, the app works offline. Run it only when bumping a library version.
#
#   scripts/build_vendor.sh          # npm ci + esbuild + copy
#
# Produces:
#   static/vendor/wavesurfer-<v>/wavesurfer.esm.js   (upstream self-contained ESM build, copied as is)
#   static/vendor/three-<v>/viewer3d.bundle.js       (three + OrbitControls + GLTF/OBJ/PLY loaders, one minified ESM)
#   a LICENSE next to each.
# When a version changes, update the data-wavesurfer-src / data-three-src paths in the templates.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

command -v npm >/dev/null 2>&1 || { echo "npm is required (node >= 18)" >&2; exit 1; }

cd vendor-src
npm ci --no-audit --no-fund --loglevel=error
ws_version=$(node -p "require('./node_modules/wavesurfer.js/package.json').version")
three_version=$(node -p "require('./node_modules/three/package.json').version")

ws_dir="$root/static/vendor/wavesurfer-$ws_version"
three_dir="$root/static/vendor/three-$three_version"
rm -rf "$ws_dir" "$three_dir"
mkdir -p "$ws_dir" "$three_dir"

# wavesurfer: the upstream ESM file has no imports, use it unchanged.
cp node_modules/wavesurfer.js/dist/wavesurfer.esm.js "$ws_dir/wavesurfer.esm.js"
cp node_modules/wavesurfer.js/LICENSE "$ws_dir/LICENSE"

# three.js: one self-contained, tree-shaken, minified ES module.
./node_modules/.bin/esbuild viewer3d.entry.js \
  --bundle --format=esm --minify --target=es2020 --legal-comments=none \
  --log-level=warning --outfile="$three_dir/viewer3d.bundle.js"
cp node_modules/three/LICENSE "$three_dir/LICENSE"

echo "==> built"
for f in "$ws_dir/wavesurfer.esm.js" "$three_dir/viewer3d.bundle.js"; do
  printf '  %-60s %8d bytes, %7d gzipped\n' "${f#$root/}" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
