#!/usr/bin/env bash
# Makes (once, then reuses) a Debian 13 "trixie" chroot with Squid 6 inside, so the end-to-end
# tests can run Squid 6.13 next to the host's Squid 5.7 (bulwark_testkit::squid::trixie_root).
#
#   bash scripts/trixie-squid.sh      prints the ready root on stdout, exit 0
#
# ROOT is $BULWARK_TRIXIE_ROOT, default /var/cache/bulwark-tests/trixie. It is built in a
# temporary sibling directory and renamed into place only when complete; ROOT/.bulwark-ready
# (the first line of `squid -v`) marks a complete root. Every run (re)mounts proc on ROOT/proc
# and a tmpfs on ROOT/dev/shm when they are not mounted (Squid needs shm_open).
#
# The package mirror is the host's own: read at run time from /etc/apt/sources.list and
# /etc/apt/sources.list.d/* (override: $BULWARK_TRIXIE_MIRROR). Needs root and network access
# to that mirror; debootstrap is installed with apt-get when missing. Exits non-zero with a
# message on stderr when the root cannot be made.
set -euo pipefail

ROOT=${BULWARK_TRIXIE_ROOT:-/var/cache/bulwark-tests/trixie}
ROOT=${ROOT%/}
STEP_TIMEOUT=${BULWARK_TRIXIE_TIMEOUT:-900}
MARKER=.bulwark-ready

die() {
  echo "trixie-squid: $*" >&2
  exit 1
}
log() { echo "trixie-squid: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and mount need it)"
case "$ROOT" in
  /*) ;;
  *) die "BULWARK_TRIXIE_ROOT must be an absolute path (got '$ROOT')" ;;
esac
[ "$ROOT" != "" ] && [ "$ROOT" != "/" ] || die "refusing to use / as the chroot"

# True when something is mounted exactly on $1.
is_mounted() {
  awk -v p="$1" '$2 == p { found = 1 } END { exit !found }' /proc/mounts
}

# Mounts proc and a tmpfs for /dev/shm inside root $1 when not mounted yet.
ensure_mounts() {
  local r=$1
  mkdir -p "$r/proc" "$r/dev/shm"
  if ! is_mounted "$r/proc"; then
    mount -t proc proc "$r/proc" || die "cannot mount proc on $r/proc"
  fi
  if ! is_mounted "$r/dev/shm"; then
    mount -t tmpfs -o mode=1777,size=256m tmpfs "$r/dev/shm" || die "cannot mount a tmpfs on $r/dev/shm"
  fi
}

# Unmounts everything mounted at or below $1 (deepest first).
unmount_below() {
  local r=$1 m
  awk -v p="$r" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

ready() {
  # /usr/sbin/squid is an alternatives symlink with an absolute target: test it from inside.
  [ -f "$ROOT/$MARKER" ] && chroot "$ROOT" /usr/bin/test -x /usr/sbin/squid 2>/dev/null
}

finish() {
  ensure_mounts "$ROOT"
  echo "$ROOT"
  exit 0
}

# Fast path: already made.
if ready; then finish; fi

mkdir -p "$(dirname "$ROOT")"
# One builder at a time (test binaries, CI and a developer may all ask at once).
exec 9>"$ROOT.lock"
if ! timeout "$((STEP_TIMEOUT * 3))" flock 9; then
  die "timed out waiting for another run holding $ROOT.lock"
fi
if ready; then finish; fi

# The mirror: the first non-security Debian archive the host's apt uses.
mirror_from_host() {
  local f
  {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      # deb [options] URI suite components
      sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      # deb822: "URIs: uri [uri…]"; skip stanzas marked "Enabled: no".
      awk '
        BEGIN { enabled = 1 }
        /^[[:space:]]*$/ { if (uris != "" && enabled) print uris; uris = ""; enabled = 1; next }
        /^Enabled:[[:space:]]*no/ { enabled = 0 }
        /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
        END { if (uris != "" && enabled) print uris }
      ' "$f" | tr ' ' '\n'
    done
  } | grep -E '^(https?|file)://' | grep -v -i security | head -n 1
}

if [ -n "${BULWARK_TRIXIE_MIRROR:-}" ]; then
  MIRROR=$BULWARK_TRIXIE_MIRROR
  MIRROR_FROM='$BULWARK_TRIXIE_MIRROR'
else
  MIRROR=$(mirror_from_host || true)
  MIRROR_FROM="the host's apt sources"
fi
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*} (set BULWARK_TRIXIE_MIRROR)"

if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  timeout "$STEP_TIMEOUT" apt-get update -qq >&2 || die "apt-get update failed (no network?)"
  timeout "$STEP_TIMEOUT" apt-get install -y -qq --no-install-recommends debootstrap >&2 ||
    die "cannot install debootstrap"
fi
DEBOOTSTRAP=$(command -v debootstrap || echo /usr/sbin/debootstrap)
[ -f /usr/share/debootstrap/scripts/trixie ] || die "this debootstrap does not know trixie (upgrade debootstrap)"

# A root left by an interrupted run without its marker is not trusted: remove it.
if [ -e "$ROOT" ]; then
  log "removing incomplete $ROOT"
  unmount_below "$ROOT"
  rm -rf --one-file-system "$ROOT"
fi

TMP="$ROOT.tmp.$$"
cleanup() {
  unmount_below "$TMP"
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
for old in "$ROOT".tmp.*; do
  # Leftovers of killed runs (we hold the lock, so nobody else is building).
  [ -d "$old" ] || continue
  unmount_below "$old"
  rm -rf --one-file-system "$old"
done

start=$(date +%s)
log "debootstrap --variant=minbase trixie $TMP (mirror from $MIRROR_FROM)"
if ! timeout "$STEP_TIMEOUT" "$DEBOOTSTRAP" --variant=minbase trixie "$TMP" "$MIRROR" >"$TMP.log" 2>&1; then
  tail -n 30 "$TMP.log" >&2 || true
  [ -f "$TMP/debootstrap/debootstrap.log" ] && tail -n 30 "$TMP/debootstrap/debootstrap.log" >&2
  rm -f "$TMP.log"
  die "debootstrap of trixie failed (no network or mirror unreachable?)"
fi
rm -f "$TMP.log"
log "debootstrap done in $(($(date +%s) - start)) s"

# Services must not start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod 755 "$TMP/usr/sbin/policy-rc.d"
ensure_mounts "$TMP"

in_root() {
  timeout "$STEP_TIMEOUT" chroot "$TMP" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
start=$(date +%s)
log "apt-get install squid inside the chroot"
in_root apt-get update -qq >&2 || die "apt-get update inside the chroot failed (no network?)"
in_root apt-get install -y -qq --no-install-recommends squid >&2 ||
  die "apt-get install squid inside the chroot failed"
log "squid installed in $(($(date +%s) - start)) s"

version=$(in_root /usr/sbin/squid -v | head -n 1) || die "the chroot's squid -v failed"
case "$version" in
  *"Squid Cache"*) ;;
  *) die "unexpected squid -v output: $version" ;;
esac
# Keep the root small and free of the mirror's name: apt is not used in it again.
in_root apt-get clean >&2 || true
rm -rf "$TMP"/var/lib/apt/lists/* "$TMP"/var/log/bootstrap.log
printf '# emptied by scripts/trixie-squid.sh after installing squid\n' >"$TMP/etc/apt/sources.list"
rm -f "$TMP"/etc/apt/sources.list.d/*
echo "$version" >"$TMP/$MARKER"

unmount_below "$TMP"
mv -T "$TMP" "$ROOT"
trap - EXIT
log "ready: $version"
finish
