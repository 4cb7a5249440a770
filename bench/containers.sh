#!/usr/bin/env bash
# Deep-scan throughput, Bulwark beside clamscan, on the same archives and the same database.
#
#   bench/containers.sh [OUT_DIR]
#   SIGS=real bench/containers.sh     the real ClamAV files (../shared/clamav-sigs, or
#                                     $BULWARK_CLAMAV_SIGS) added to the database on both sides
#
# Three scanners on the same files: the deep-scan library (examples/deepscan), the command line
# `bulwark scan` (its compiled database cache warm, as after a first run), and clamscan.
# Generates a corpus at bench time (nothing committed): zip, tar.gz, docx and xlsx files with
# text, XML and binary members, plus one EICAR zip and one clamav-testfiles zip as a check.
# Database: the single clamav-testfiles hash line plus EICAR (.hsb/.hdb). Both scanners read the
# same files, from the page cache (one warm-up pass each); clamscan's figure includes its (tiny)
# database load, measured separately and reported.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target-containers/bench}
N=${N:-60}
mkdir -p "$OUT"
CORPUS=$OUT/corpus
DB=$OUT/db
rm -rf "$CORPUS" "$DB" && mkdir -p "$CORPUS" "$DB"
echo '71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495:544:ClamAV-Test-File' > "$DB/test.hsb"
echo '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' > "$DB/eicar.hdb"
if [ "${SIGS:-test}" = real ]; then
  SIGDIR=${BULWARK_CLAMAV_SIGS:-../shared/clamav-sigs}
  for f in "$SIGDIR"/*.gz; do zcat "$f" > "$DB/$(basename "$f" .gz)"; done
  echo "database: the test lines plus $(ls "$SIGDIR" | tr '\n' ' ')"
fi

python3 - "$CORPUS" "$N" <<'PY'
import io, os, random, sys, tarfile, zipfile
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(4)
words = [''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(2, 9))) for _ in range(3000)]
def text(k):  # compressible text
    return ' '.join(rnd.choice(words) for _ in range(k)).encode()
def binary(k):  # incompressible
    return rnd.randbytes(k)
def xml(k):
    rows = ''.join(f'<row r="{i}"><c t="s"><v>{rnd.choice(words)}</v></c><c><v>{rnd.random()}</v></c></row>' for i in range(k))
    return f'<?xml version="1.0"?><worksheet><sheetData>{rows}</sheetData></worksheet>'.encode()
CT = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
for i in range(n):
    with zipfile.ZipFile(f'{out}/a{i}.zip', 'w', zipfile.ZIP_DEFLATED) as z:
        for j in range(8):
            z.writestr(f'dir/t{j}.txt', text(40000))
        z.writestr('bin/blob.bin', binary(600000))
    buf = io.BytesIO()
    with tarfile.open(f'{out}/t{i}.tar.gz', 'w:gz') as t:
        for j in range(6):
            for name, data in ((f't{j}.txt', text(40000)), (f'b{j}.bin', binary(150000))):
                ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    with zipfile.ZipFile(f'{out}/d{i}.docx', 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('[Content_Types].xml', CT)
        z.writestr('word/document.xml', b'<w:document><w:body>' + text(150000) + b'</w:body></w:document>')
        z.writestr('word/media/image1.png', b'\x89PNG\r\n\x1a\n' + binary(400000))
    with zipfile.ZipFile(f'{out}/x{i}.xlsx', 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('[Content_Types].xml', CT)
        z.writestr('xl/worksheets/sheet1.xml', xml(20000))
        z.writestr('xl/sharedStrings.xml', text(50000))
PY
e1='X5O!P%@AP[4\PZX54(P^)7CC)7}$'; e2='EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
printf '%s%s' "$e1" "$e2" > "$OUT/eicar.com" && (cd "$OUT" && zip -q corpus/zz-eicar.zip eicar.com)
[ -f /usr/share/clamav-testfiles/clam.zip ] && cp /usr/share/clamav-testfiles/clam.zip "$CORPUS/zz-clam.zip"
FILES=$(ls -1 "$CORPUS" | wc -l); BYTES=$(cat "$CORPUS"/* | wc -c)
echo "corpus: $FILES files, $BYTES bytes"

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-containers} cargo build -q --release -p bulwark-containers --example deepscan
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-containers} cargo build -q --release -p bulwark
BIN=${CARGO_TARGET_DIR:-target-containers}/release/examples/deepscan
CLI=${CARGO_TARGET_DIR:-target-containers}/release/bulwark
CLI_CACHE=$OUT/cli-cache

cat "$CORPUS"/* > /dev/null
t() { local s e; s=$(date +%s.%N); "$@" > "$OUT/last.out" 2>&1 || true; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
"$BIN" "$DB" "$CORPUS"/* > /dev/null 2>&1 || true
clamscan --no-summary -d "$DB" "$CORPUS" > /dev/null 2>&1 || true
"$CLI" scan --cache-dir "$CLI_CACHE" --no-summary -d "$DB" "$CORPUS" > /dev/null 2>&1 || true
TB=$(t "$BIN" "$DB" "$CORPUS"/*); grep -c FOUND "$OUT/last.out" > /dev/null || true
BHITS=$(grep -cE "INFECTED" "$OUT/last.out" || true)
TS=$(t "$CLI" scan --cache-dir "$CLI_CACHE" --no-summary -d "$DB" "$CORPUS"); SHITS=$(grep -c FOUND "$OUT/last.out" || true)
: > "$OUT/empty"; TSL=$(t "$CLI" scan --cache-dir "$CLI_CACHE" --no-summary -d "$DB" "$OUT/empty")
TC=$(t clamscan --no-summary -d "$DB" "$CORPUS"); CHITS=$(grep -c FOUND "$OUT/last.out" || true)
TL=$(t clamscan --no-summary -d "$DB" /dev/null)
awk -v b="$BYTES" -v tb="$TB" -v ts="$TS" -v tsl="$TSL" -v tc="$TC" -v tl="$TL" -v bh="$BHITS" -v sh="$SHITS" -v ch="$CHITS" 'BEGIN {
  printf "bulwark deep scan (library): %.2f s, %.1f MB/s, %d infected\n", tb, b/tb/1e6, bh;
  printf "bulwark scan (command line): %.2f s, %.1f MB/s, %d infected (its database load alone: %.2f s)\n", ts, b/ts/1e6, sh, tsl;
  printf "clamscan:                    %.2f s, %.1f MB/s, %d infected (its database load alone: %.2f s)\n", tc, b/tc/1e6, ch, tl;
  printf "ratio library/clamscan: %.1fx (%.1fx excluding clamscan start-up)\n", tc/tb, (tc-tl)/tb;
  printf "ratio bulwark scan/clamscan: %.1fx (%.1fx scanning only, both loads excluded)\n", tc/ts, (tc-tl)/(ts-tsl) }'
uptime
