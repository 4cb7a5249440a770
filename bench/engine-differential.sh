#!/bin/sh
# Differential test of the scan engine against ClamAV (clamscan) on samples built from real
# signatures in ../shared/clamav-sigs (override with BULWARK_CLAMAV_SIGS).
set -eu
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-engine} cargo test -p bulwark-engine --release --test differential -- --ignored --nocapture
