#!/usr/bin/env bash
# Assemble the static site that the GitHub Pages workflow (.github/workflows/pages.yml) publishes:
#
#   bash scripts/build-site.sh [--out DIR] [--no-build]
#
#   DIR/index.html                       redirects to www/
#   DIR/www/                             the page, with www/pkg/ and www/pkg-relaxed/ (scripts/build-wasm.sh)
#   DIR/weights/kannada-gpt.safetensors  the shipped model (the page loads ../weights/...)
#
# The site keeps the repository's layout because the page only uses relative paths. GitHub Pages
# sends no special headers, so the page's Content-Security-Policy comes from its <meta> tag.
# --no-build uses the www/pkg and www/pkg-relaxed that are already there (it must exist); default DIR is _site.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() { printf 'build-site.sh: error: %s\n' "$*" >&2; exit 1; }

OUT=_site
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT="$2"; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
case "$OUT" in
    ""|/|.|..) die "refusing to use '$OUT' as the output folder" ;;
esac

if [ "$BUILD" -eq 1 ]; then
    bash scripts/build-wasm.sh
fi
for f in www/index.html www/pkg/kgpt.js www/pkg/kgpt_bg.wasm www/pkg-relaxed/kgpt.js \
    www/pkg-relaxed/kgpt_bg.wasm weights/kannada-gpt.safetensors; do
    [ -f "$f" ] || die "$f is missing (build www/pkg and www/pkg-relaxed with scripts/build-wasm.sh)"
done

rm -rf "$OUT"
mkdir -p "$OUT/weights"
cp -r www "$OUT/www"
# build bookkeeping, not part of the site
rm -f "$OUT/www/pkg/.gitignore" "$OUT/www/pkg/.built-from" \
    "$OUT/www/pkg-relaxed/.gitignore" "$OUT/www/pkg-relaxed/.built-from"
cp weights/kannada-gpt.safetensors "$OUT/weights/"
cat >"$OUT/index.html" <<'HTML'
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0; url=www/">
<title>Micro-KannadaGPT</title>
</head>
<body><p><a href="www/">Micro-KannadaGPT: the attention viewer</a></p></body>
</html>
HTML

echo "==> assembled $OUT/ ($(du -sh "$OUT" | cut -f1), $(find "$OUT" -type f | wc -l) files)"
find "$OUT" -maxdepth 2 | sort | head -40
