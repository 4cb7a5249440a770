#!/usr/bin/env bash
# Compares Bulwark's JavaScript-normalised view with ClamAV's on the same files: clamscan
# --leave-temps keeps its `javascript` file (beside nocomment.html) and the html_views example
# writes ours (NAME.javascript). Prints how many files typed HTML by both have an identical view
# (both absent counts as identical), and lists the others in WORKDIR/js-differ.txt.
#
#   bench/js-views.sh DIR_OF_HTML_FILES [WORKDIR]
#
# With REUSE_CLAM=1, clamscan's output already in WORKDIR/clam is kept (to iterate quickly).
set -euo pipefail
in=$(realpath "${1:?usage: bench/js-views.sh DIR [WORKDIR]}")
work=${2:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work/clam" "$work/ours"
rm -rf "${work:?}/ours/"*
if [ "${REUSE_CLAM:-0}" != 1 ] || [ -z "$(ls -A "$work/clam")" ]; then
  rm -rf "${work:?}/clam/"*
  # A database that matches nothing: clamscan only normalises.
  printf 'Bulwark.Nothing;Engine:51-255,Target:0;0;6e6f7468696e672d746f2d6d61746368000102\n' > "$work/none.ldb"
  clamscan --no-summary --disable-cache --leave-temps --tempdir="$work/clam" -d "$work/none.ldb" -r "$in" > /dev/null 2>&1 || true
fi
(cd "$root" && cargo build -q --release -p bulwark-engine --example html_views)
find "$in" -maxdepth 1 -type f -print0 | xargs -0 "$root/target/release/examples/html_views" "$work/ours"
total=0; same=0; with_js=0
: > "$work/js-differ.txt"
for f in "$in"/*; do
  name=$(basename "$f")
  dir=$(find "$work/clam" -maxdepth 1 -type d -name "*-$name.*" | head -1)
  cnc=""; [ -n "$dir" ] && cnc=$(find "$dir" -name nocomment.html | head -1)
  # Only files both typed HTML (bench/html-views.sh reports the others).
  if [ -z "$cnc" ] || [ ! -e "$work/ours/$name.nocomment" ]; then continue; fi
  total=$((total+1))
  cjs=$(dirname "$cnc")/javascript
  ojs="$work/ours/$name.javascript"
  if [ ! -e "$cjs" ] && [ ! -e "$ojs" ]; then same=$((same+1)); continue; fi
  with_js=$((with_js+1))
  [ -e "$cjs" ] || cjs=/dev/null
  [ -e "$ojs" ] || ojs=/dev/null
  if cmp -s "$cjs" "$ojs"; then same=$((same+1)); else echo "$name: javascript differs ($cjs $ojs)" >> "$work/js-differ.txt"; fi
done
echo "files typed HTML by both: $total (with a javascript view by either: $with_js)"
echo "javascript identical: $same of $total"
echo "differences: $work/js-differ.txt"
head -20 "$work/js-differ.txt"
