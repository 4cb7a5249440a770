#!/bin/sh
# Engine benchmarks beside clamscan on the same database and data (docs/engine-benchmarks.md).
# Everything generated goes to /tmp, never into the repository. The machine is shared: each line
# records the load average, throughput is also given per CPU second (per core), and every
# wall-clock figure should be taken as the best of 3 runs.
#
#   bench/engine.sh            all of it (clamscan on the 1 GB corpus takes 5-10 minutes)
#   STEPS="load matcher" bench/engine.sh
set -eu
cd "$(dirname "$0")/.."
SIGS=${BULWARK_CLAMAV_SIGS:-../shared/clamav-sigs}
T=${CARGO_TARGET_DIR:-target-engine}
OUT=${OUT:-/tmp/engine-bench-out}
STEPS=${STEPS:-"load matcher scan clamscan"}
CACHE=/tmp/engine-bench-cache
CARGO_TARGET_DIR=$T cargo build --release -p bulwark-engine --example engine_bench
B=$T/release/examples/engine_bench
mkdir -p "$OUT" /tmp/engine-syn /tmp/clamsigs /tmp/clamsigs-syn
[ -f /tmp/engine-syn/synthetic.ndb ] || $B gen-sigs 100000 /tmp/engine-syn/synthetic.ndb
for f in "$SIGS"/*.gz; do zcat "$f" > /tmp/clamsigs/"$(basename "$f" .gz)"; done
cp /tmp/clamsigs/* /tmp/clamsigs-syn/ && cp /tmp/engine-syn/synthetic.ndb /tmp/clamsigs-syn/
[ -d /tmp/engine-corpus ] || $B gen-corpus /tmp/engine-corpus 1024
la() { echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg)"; }
has() { case " $STEPS " in *" $1 "*) return 0;; esac; return 1; }

if has load; then
  rm -rf "$CACHE"
  { la; $B load "$SIGS"; } > "$OUT/load-cold.txt" 2>&1                        # no cache
  { la; $B load --cache "$CACHE" "$SIGS"; } > "$OUT/load-build-cache.txt" 2>&1  # writes it
  for i in 1 2 3; do { la; $B load --cache "$CACHE" "$SIGS"; } > "$OUT/load-cache-$i.txt" 2>&1; done
  for i in 1 2 3; do
    { la; /usr/bin/time -v clamscan --no-summary -d /tmp/clamsigs /etc/hostname; } > "$OUT/clam-load-$i.txt" 2>&1
  done
fi
if has matcher; then
  { la; $B matcher 100000 256; } > "$OUT/matcher.txt" 2>&1
fi
if has scan; then
  # real files + 100k synthetic body signatures, 1 GB mixed corpus; first run builds the cache
  $B load --cache "$CACHE" "$SIGS" /tmp/engine-syn/synthetic.ndb > "$OUT/scan-build-cache.txt" 2>&1
  for i in 1 2 3; do
    { la; /usr/bin/time -v $B scan --cache "$CACHE" "$SIGS" /tmp/engine-syn/synthetic.ndb -- /tmp/engine-corpus; } > "$OUT/scan-$i.txt" 2>&1
  done
  { la; BENCH_DIGEST=1 $B scan --cache "$CACHE" "$SIGS" /tmp/engine-syn/synthetic.ndb -- /tmp/engine-corpus; } > "$OUT/scan-digest.txt" 2>&1
fi
if has clamscan; then
  { la; /usr/bin/time -v clamscan --no-summary -d /tmp/clamsigs-syn /etc/hostname; } > "$OUT/clam-load-syn.txt" 2>&1
  { la; /usr/bin/time -v clamscan -i --max-filesize=100M --max-scansize=2000M -d /tmp/clamsigs-syn -r /tmp/engine-corpus; la; } > "$OUT/clam-scan-syn.txt" 2>&1
fi
grep -H -E 'loadavg|^load:|^after|^scan:|^matcher|^engine round|Elapsed|Maximum resident|User time|System time' "$OUT"/*.txt
