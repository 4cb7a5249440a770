#!/usr/bin/env bash
# What a database update costs the server: time and memory of a start without the compiled
# cache, a start from it, a `bulwark ctl reload-db` after `daily.ndb` changed, and a start after
# it changed again (the cache file is stale then). Real ClamAV files (../shared/clamav-sigs, or
# $BULWARK_CLAMAV_SIGS), decompressed into a temporary directory; each binary gets its own copy.
# Prints one markdown table row per step and binary (docs/operations.md, "Memory a reload
# needs"). Everything is bounded: each wait gives up after 60 s.
#
#   bench/reload.sh                                  # target/release/bulwark
#   bench/reload.sh /tmp/bulwark-old target/release/bulwark   # two builds, same run
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sigdir=${BULWARK_CLAMAV_SIGS:-$root/../shared/clamav-sigs}
[ -d "$sigdir" ] || { echo "no signature directory $sigdir (set BULWARK_CLAMAV_SIGS)" >&2; exit 1; }
[ $# -gt 0 ] || set -- "$root/target/release/bulwark"
work=$(mktemp -d /tmp/bulwark-reload.XXXXXX)
# The server keeps its compiled cache in its default directory (as it chooses it: /var/cache/
# bulwark when it can create and write it, else the XDG cache); what this run adds there is
# removed at the end, and the directory too when this run created it.
cachedir=/var/cache/bulwark
existed=$([ -d "$cachedir" ] && echo yes || echo no)
if ! { mkdir -p "$cachedir" 2>/dev/null && [ -w "$cachedir" ]; }; then
  cachedir=${XDG_CACHE_HOME:-$HOME/.cache}/bulwark
  existed=$([ -d "$cachedir" ] && echo yes || echo no)
  mkdir -p "$cachedir"
fi
before=$(ls -A "$cachedir")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  for f in "$cachedir"/* "$cachedir"/.bulwark-*; do
    [ -e "$f" ] && ! grep -qxF "$(basename "$f")" <<<"$before" && rm -f "$f"
  done
  if [ "$existed" = no ]; then rmdir "$cachedir" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mb() { awk -v k="$1" '$1 == k":" {printf "%d", $2 / 1024}' "/proc/$pid/status"; }
wait_for() { # PATTERN COUNT: until the log holds COUNT lines matching PATTERN
  for _ in $(seq 1 1200); do
    [ "$(grep -c "$1" "$log" || true)" -ge "$2" ] && return 0
    sleep 0.05
  done
  echo "timed out waiting for '$1' in $log" >&2; tail -5 "$log" >&2; exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
row() { # STEP SECONDS
  local m
  m=$(grep "signature database loaded" "$log" | tail -1 | grep -o "matchers_compiled=[0-9]* matchers_reused=[0-9]*" || echo "-")
  echo "| $label | $1 | $2 s | $(mb VmRSS) MB | $(mb VmHWM) MB | $m |"
}
start() {
  : >"$log"
  local t0; t0=$(now)
  "$bin" serve -c "$dir/bulwark.toml" >"$log" 2>&1 &
  pid=$!
  wait_for listening 1
  row "$1" "$(since "$t0")"
}
stop() {
  "$bin" ctl -c "$dir/bulwark.toml" stop >/dev/null 2>&1 || kill "$pid"
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  pid=
}

echo "| binary | step | ready in | RSS after | peak (VmHWM) | matchers |"
echo "|---|---|---:|---:|---:|---|"
n=0
for bin in "$@"; do
  n=$((n + 1))
  label=$(basename "$bin")
  [ $# -gt 1 ] && label="$label ($n)"
  dir=$work/$n
  log=$dir/serve.log
  mkdir -p "$dir/sigs"
  for f in "$sigdir"/*; do
    case $f in
      *.gz) gzip -dc "$f" >"$dir/sigs/$(basename "$f" .gz)" ;;
      *) cp "$f" "$dir/sigs/" ;;
    esac
  done
  [ -f "$dir/sigs/daily.ndb" ] || { echo "no daily.ndb in $sigdir" >&2; exit 1; }
  cat >"$dir/bulwark.toml" <<EOF
[server]
listen = ["127.0.0.1:0"]
[engine]
database = ["$dir/sigs"]
[control]
socket = "$dir/control.sock"
pid_file = "$dir/bulwark.pid"
EOF
  start "start, no compiled cache"
  stop
  start "start from the compiled cache"
  # A new signature with an atom of its own (the two bodies differ in their first 16 bytes).
  echo 'Bench.Reload.Update-1:0:*:62656e63682d72656c6f61642d6f6e652d7570646174652d6c696e65' >>"$dir/sigs/daily.ndb"
  t0=$(now)
  "$bin" ctl -c "$dir/bulwark.toml" reload-db >/dev/null
  wait_for "signature database loaded" 2
  row "reload-db after daily.ndb changed" "$(since "$t0")"
  stop
  echo 'Bench.Reload.Update-2:0:*:74776f2d62656e63682d72656c6f61642d7570646174652d6c696e65' >>"$dir/sigs/daily.ndb"
  start "start after daily.ndb changed again (stale cache)"
  stop
done
