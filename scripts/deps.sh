#!/usr/bin/env bash
# Installs the Debian packages Bulwark needs, idempotently.
#   scripts/deps.sh build   what building and running the server needs
#   scripts/deps.sh test    that, plus the real peers the test suite starts (Squid, c-icap, ClamAV,
#                           e2guardian, HAProxy, rsyslog, redis-server…) and debootstrap
#                           (scripts/trixie-squid.sh: Squid 6 chroot)
set -euo pipefail
what=${1:-build}
# squid-openssl is Debian's Squid built with OpenSSL: the same Squid 5.7, but its ICAP client
# can present a client certificate over icaps:// (the GnuTLS build refuses tls-cert=).
build=(pkg-config libvectorscan-dev libpcre2-dev)
test=(squid-openssl c-icap libc-icap-mod-virus-scan clamav clamav-daemon clamdscan clamav-testfiles
      zip unzip p7zip-full xz-utils bzip2 zstd brotli apache2-utils openssl curl
      arj jlha-utils nsis mscompress fp-utils
      chromium chromium-driver nodejs python3
      debootstrap e2guardian python3-prometheus-client qpdf
      haproxy rsyslog redis-server)
case "$what" in
  build) pkgs=("${build[@]}") ;;
  test) pkgs=("${build[@]}" "${test[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
