#!/usr/bin/env bash
# Bulwark's clamd protocol beside a real clamd, on the same signatures and files, asked by
# Debian's clamdscan (issue 21): wall time, files/s, MB/s and the servers' RSS.
#
#   bench/clamd.sh [OUT_DIR]            SIGS=real adds ClamAV's files (../shared/clamav-sigs)
#
# The corpus is bench/containers.sh's (zip, tar.gz, docx, xlsx; made at bench time, nothing
# committed) unless OUT_DIR/corpus exists already. Each server is asked twice with
# `clamdscan --stream` (the first pass warms caches; the second is reported); Bulwark's verdict
# cache is off so that both scan every file both times.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-clamd}
N=${N:-30}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ ! -d "$OUT/corpus" ]; then
  N=$N bash bench/containers.sh "$OUT" > "$OUT/containers.log" 2>&1 || true
fi
CORPUS=$OUT/corpus
DB=$OUT/db
[ -d "$DB" ] || { echo "no database in $DB (bench/containers.sh makes it)" >&2; exit 1; }
cargo build --release -q -p bulwark
BIN=${CARGO_TARGET_DIR:-target}/release/bulwark
FILES=$(ls -1 "$CORPUS" | wc -l); BYTES=$(cat "$CORPUS"/* | wc -c)

RUN=$(mktemp -d)
cleanup() { kill "${CPID:-}" "${BPID:-}" 2>/dev/null || true; rm -rf "$RUN"; }
trap cleanup EXIT

cat > "$RUN/clamd.conf" <<EOF
Foreground yes
LocalSocket $RUN/clamd.sock
DatabaseDirectory $DB
LogFile $RUN/clamd.log
PidFile $RUN/clamd.pid
TemporaryDirectory $RUN
User root
MaxThreads 4
# No clean-file cache: the reported pass must scan every file (Bulwark's verdict cache is off).
DisableCache yes
EOF
cat > "$RUN/bulwark.toml" <<EOF
[engine]
database = ["$DB"]
verdict_cache_entries = 0
[clamd]
listen = ["$RUN/bulwark.sock"]
[control]
socket = "$RUN/control.sock"
pid_file = "$RUN/bulwark.pid"
EOF
printf 'LocalSocket %s\n' "$RUN/clamd.sock" > "$RUN/clamdscan-clamd.conf"
printf 'LocalSocket %s\n' "$RUN/bulwark.sock" > "$RUN/clamdscan-bulwark.conf"

# Bulwark starts from its compiled database cache, as after a first start (a cold compile
# peaks higher and glibc keeps that memory).
"$BIN" db info "$DB" > /dev/null 2>&1 || true
clamd -c "$RUN/clamd.conf" > "$RUN/clamd.out" 2>&1 & CPID=$!
"$BIN" serve --listen 127.0.0.1:0 --config "$RUN/bulwark.toml" > "$RUN/bulwark.out" 2>&1 & BPID=$!
for _ in $(seq 1 600); do
  [ -S "$RUN/clamd.sock" ] && [ -S "$RUN/bulwark.sock" ] && break
  sleep 0.2
done
[ -S "$RUN/clamd.sock" ] && [ -S "$RUN/bulwark.sock" ] || { echo "servers did not start" >&2; tail "$RUN"/*.out >&2; exit 1; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
t() { local s e; s=$(date +%s.%N); "$@" > "$RUN/last.out" 2>&1 || true; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
for who in clamd bulwark; do
  clamdscan --stream --no-summary -c "$RUN/clamdscan-$who.conf" "$CORPUS" > /dev/null 2>&1 || true
done
TC=$(t clamdscan --stream --no-summary -c "$RUN/clamdscan-clamd.conf" "$CORPUS"); HC=$(grep -c FOUND "$RUN/last.out" || true)
TB=$(t clamdscan --stream --no-summary -c "$RUN/clamdscan-bulwark.conf" "$CORPUS"); HB=$(grep -c FOUND "$RUN/last.out" || true)
RC=$(rss "$CPID"); RB=$(rss "$BPID")
echo "corpus: $FILES files, $BYTES bytes; database: $(ls "$DB" | tr '\n' ' ')"
awk -v f="$FILES" -v b="$BYTES" -v tc="$TC" -v tb="$TB" -v hc="$HC" -v hb="$HB" -v rc="$RC" -v rb="$RB" 'BEGIN {
  printf "clamd:   %.2f s, %.1f files/s, %.1f MB/s, %d found, RSS %.0f MB\n", tc, f/tc, b/tc/1e6, hc, rc/1024;
  printf "bulwark: %.2f s, %.1f files/s, %.1f MB/s, %d found, RSS %.0f MB\n", tb, f/tb, b/tb/1e6, hb, rb/1024;
  printf "ratio: %.1fx the throughput, %.0f%% of the memory\n", tc/tb, 100*rb/rc }'
uptime
