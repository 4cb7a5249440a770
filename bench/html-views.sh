#!/usr/bin/env bash
# Compares Bulwark's normalised HTML views with ClamAV's on the same files: clamscan
# --leave-temps keeps its views (nocomment.html, notags.html) and the html_views example writes
# ours. Prints, per view, how many files are byte-identical and lists the others.
#
#   bench/html-views.sh DIR_OF_HTML_FILES [WORKDIR]
set -euo pipefail
in=$(realpath "${1:?usage: bench/html-views.sh DIR [WORKDIR]}")
work=${2:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work/clam" "$work/ours"
rm -rf "${work:?}/clam/"* "${work:?}/ours/"*
# A database that matches nothing: clamscan only normalises.
printf 'Bulwark.Nothing;Engine:51-255,Target:0;0;6e6f7468696e672d746f2d6d61746368000102\n' > "$work/none.ldb"
clamscan --no-summary --disable-cache --leave-temps --tempdir="$work/clam" -d "$work/none.ldb" -r "$in" > /dev/null 2>&1 || true
(cd "$root" && cargo build -q --release -p bulwark-engine --example html_views)
find "$in" -maxdepth 1 -type f -print0 | xargs -0 "$root/target/release/examples/html_views" "$work/ours"
total=0; big=0; same_nc=0; same_nt=0; only_clam=0; only_ours=0
: > "$work/differ.txt"
for f in "$in"/*; do
  name=$(basename "$f")
  dir=$(find "$work/clam" -maxdepth 1 -type d -name "*-$name.*" | head -1)
  cnc=""; [ -n "$dir" ] && cnc=$(find "$dir" -name nocomment.html | head -1)
  if [ -z "$cnc" ] && [ ! -e "$work/ours/$name.nocomment" ]; then continue; fi
  if [ -z "$cnc" ]; then only_ours=$((only_ours+1)); echo "$name: typed HTML by Bulwark only" >> "$work/differ.txt"; continue; fi
  if [ ! -e "$work/ours/$name.nocomment" ]; then only_clam=$((only_clam+1)); echo "$name: typed HTML by ClamAV only" >> "$work/differ.txt"; continue; fi
  total=$((total+1))
  if cmp -s "$cnc" "$work/ours/$name.nocomment"; then same_nc=$((same_nc+1)); else echo "$name: nocomment differs ($cnc)" >> "$work/differ.txt"; fi
  cnt=$(dirname "$cnc")/notags.html
  if [ ! -e "$cnt" ]; then cnt=/dev/null; fi
  # ClamAV writes notags.html whatever the size but scans it only below 2 MB; Bulwark does not
  # build it from there: nothing to compare.
  if [ "$(stat -c %s "$f")" -ge 2097152 ]; then big=$((big+1)); continue; fi
  if cmp -s "$cnt" "$work/ours/$name.notags"; then same_nt=$((same_nt+1)); else echo "$name: notags differs ($cnt)" >> "$work/differ.txt"; fi
done
echo "files typed HTML by both: $total (ClamAV only: $only_clam, Bulwark only: $only_ours)"
echo "nocomment identical: $same_nc of $total"
echo "notags identical:    $same_nt of $((total-big)) (ClamAV scans no notags view of the $big files from 2 MB)"
echo "differences: $work/differ.txt"
