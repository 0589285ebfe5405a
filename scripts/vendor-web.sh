#!/usr/bin/env bash
# Copies the two third-party browser libraries the demo apps in web/ load, straight from their npm
# packages, into web/vendor/. Nothing there is edited by hand: to change a version, change it below,
# run this script and commit what it wrote.
#
#   laravel-echo 2.5.0 -> web/vendor/laravel-echo/echo.js      (the package's ES module build, dist/echo.js)
#   pusher-js    8.6.0 -> web/vendor/pusher-js/pusher.min.js   (UMD, sets window.Pusher; the package has no
#                                                               ES module build for browsers)
#
# Each folder also gets the package's licence file(s) and a VERSION file naming the package, version,
# tarball integrity and the files taken. The files are copied byte for byte (their sourceMappingURL
# comments stay; browsers only ask for the maps when developer tools are open). Uses `npm pack` in a temporary folder (needs the npm registry).
#
#   scripts/vendor-web.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENDOR=$ROOT/web/vendor
ECHO_VERSION=2.5.0
PUSHER_VERSION=8.6.0

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# fetch PKG VERSION -> extracts the tarball into $TMP/PKG/package, prints its integrity
fetch() {
  local pkg=$1 version=$2
  mkdir -p "$TMP/$pkg"
  (cd "$TMP/$pkg" && npm pack --silent --json "$pkg@$version" >pack.json)
  local tarball integrity
  tarball=$(node -e 'console.log(require(process.argv[1])[0].filename)' "$TMP/$pkg/pack.json")
  integrity=$(node -e 'console.log(require(process.argv[1])[0].integrity)' "$TMP/$pkg/pack.json")
  tar -xzf "$TMP/$pkg/$tarball" -C "$TMP/$pkg"
  local got
  got=$(node -e 'console.log(require(process.argv[1]).version)' "$TMP/$pkg/package/package.json")
  if [[ "$got" != "$version" ]]; then
    echo "vendor-web: $pkg: asked for $version, the tarball holds $got" >&2
    exit 1
  fi
  echo "$integrity"
}

# put SRC_DIR DEST_DIR FILE... -> copies each FILE (path inside the package) flat into DEST_DIR
put() {
  local src=$1 dest=$2
  shift 2
  for f in "$@"; do
    if [[ ! -f "$src/$f" ]]; then
      echo "vendor-web: $f is missing from the package" >&2
      exit 1
    fi
    cp "$src/$f" "$dest/"
  done
}

# version_file DEST PKG VERSION INTEGRITY FILE...
version_file() {
  local dest=$1 pkg=$2 version=$3 integrity=$4
  shift 4
  {
    echo "$pkg $version"
    echo "from: the npm package $pkg@$version (npm pack $pkg@$version), integrity $integrity"
    echo "files: $*"
    echo "copied by scripts/vendor-web.sh; do not edit, run the script again"
  } >"$dest/VERSION"
}

echo "vendor-web: laravel-echo $ECHO_VERSION"
integrity=$(fetch laravel-echo "$ECHO_VERSION")
dest=$VENDOR/laravel-echo
rm -rf "$dest" && mkdir -p "$dest"
put "$TMP/laravel-echo/package" "$dest" dist/echo.js LICENSE.md
version_file "$dest" laravel-echo "$ECHO_VERSION" "$integrity" dist/echo.js LICENSE.md

echo "vendor-web: pusher-js $PUSHER_VERSION"
integrity=$(fetch pusher-js "$PUSHER_VERSION")
dest=$VENDOR/pusher-js
rm -rf "$dest" && mkdir -p "$dest"
put "$TMP/pusher-js/package" "$dest" dist/web/pusher.min.js dist/web/pusher.min.js.LICENSE.txt LICENCE
version_file "$dest" pusher-js "$PUSHER_VERSION" "$integrity" \
  dist/web/pusher.min.js dist/web/pusher.min.js.LICENSE.txt LICENCE

echo "vendor-web: done, see web/vendor/*/VERSION"
