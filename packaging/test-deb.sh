#!/usr/bin/env bash
# Builds the Debian package from a binary, installs it, and checks that the installed server
# answers ICAP: the check CI runs after the test suite.
#
#   packaging/test-deb.sh [BINARY]      (default: target/release/bulwark; CI passes target/debug/bulwark)
#
# Needs root (or sudo) for dpkg -i. Steps: build the .deb; install it (twice: an upgrade over
# itself must work too); check the user, directories and conffiles it made; `bulwark config
# check` the installed configuration (no warning); `systemd-analyze verify` the unit where that
# tool exists; run `bulwark serve --config /etc/bulwark/bulwark.toml --listen 127.0.0.1:0` as the
# bulwark user; send an ICAP OPTIONS and expect `ICAP/1.0 200`; `bulwark ctl status` and `stats`
# through the control socket; `bulwark ctl stop`, and check the pid file and the socket are gone.
#
# Idempotent: a package that was not installed before is purged at the end (KEEP=1 keeps it), so
# /usr/bin/bulwark, /etc/bulwark and /run/bulwark do not outlive the check; the bulwark system
# user stays, as on any Debian system after a purge.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${1:-$root/target/release/bulwark}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

work="$(mktemp -d)"
chmod 0755 "$work"
server_pid=""
was_installed=""
dpkg-query -W -f='${Status}' bulwark 2>/dev/null | grep -q "install ok installed" && was_installed=1

cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    $sudo kill -TERM "$server_pid" 2>/dev/null || true
    sleep 1
    $sudo kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [ -z "$was_installed" ] && [ -z "${KEEP:-}" ]; then
    $sudo dpkg --purge bulwark >/dev/null 2>&1 || true
  fi
  if [ $rc -ne 0 ] && [ -f "$work/serve.log" ]; then
    echo "--- bulwark serve log:" >&2
    tail -n 40 "$work/serve.log" >&2 || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
step() { echo "-- $*"; }

step "build the package from $bin"
deb="$(bash "$here/build-deb.sh" "$bin" "$work/out" | tail -n 1)"
[ -f "$deb" ] || fail "build-deb.sh made no package"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/   \1:/p'
dpkg-deb --contents "$deb" | awk '{print "   " $6}'

step "install it (and again over itself)"
$sudo dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb (missing dependencies? see above)"
$sudo dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb a second time"
dpkg-query -W -f='${Status}' bulwark | grep -q "install ok installed" || fail "not installed"

step "what postinst made"
getent passwd bulwark >/dev/null || fail "no bulwark user"
for d in /var/lib/bulwark /var/lib/bulwark/license /var/log/bulwark /var/cache/bulwark /run/bulwark; do
  [ "$(stat -c %U "$d" 2>/dev/null)" = bulwark ] || fail "$d missing or not owned by bulwark"
done
for f in /usr/bin/bulwark /etc/bulwark/bulwark.toml /etc/logrotate.d/bulwark \
         /lib/systemd/system/bulwark.service /usr/share/man/man8/bulwark.8.gz \
         /usr/share/doc/bulwark/operations.md /usr/share/doc/bulwark/configuration.md; do
  [ -f "$f" ] || fail "$f not installed"
done

step "bulwark config check /etc/bulwark/bulwark.toml"
check="$(/usr/bin/bulwark config check /etc/bulwark/bulwark.toml)" || fail "$check"
echo "   $check"
grep -q "OK (0 warning(s))" <<<"$check" || fail "the installed configuration has warnings"

if command -v systemd-analyze >/dev/null 2>&1; then
  step "systemd-analyze verify bulwark.service"
  # Without a running systemd, verify still parses the unit and checks its executables; messages
  # about the absent manager (or other units on this machine) are not ours.
  out="$(systemd-analyze verify /lib/systemd/system/bulwark.service 2>&1)" || true
  ours="$(grep -i "bulwark.service" <<<"$out" | grep -v "Failed to \(connect\|set up\)\|Cannot find unit\|No such file or directory.*/run/systemd" || true)"
  [ -z "$ours" ] || fail "systemd-analyze verify: $ours"
  echo "   ok"
else
  echo "-- systemd-analyze not found: unit file not verified"
fi

if command -v groff >/dev/null 2>&1; then
  step "man page renders"
  zcat /usr/share/man/man8/bulwark.8.gz | groff -k -man -Tutf8 -ww -z 2>"$work/groff.err" || true
  [ ! -s "$work/groff.err" ] || fail "groff: $(cat "$work/groff.err")"
  zcat /usr/share/man/man8/bulwark.8.gz | grep -q 'bulwark serve' || fail "man page lacks serve"
fi

step "bulwark serve with the installed configuration"
run_as=()
if command -v setpriv >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  run_as=(setpriv --reuid=bulwark --regid=bulwark --init-groups --)
  echo "   as user bulwark"
else
  run_as=($sudo)
  echo "   as root (setpriv not available)"
fi
: >"$work/serve.log"
"${run_as[@]}" /usr/bin/bulwark serve --config /etc/bulwark/bulwark.toml --listen 127.0.0.1:0 \
  >"$work/serve.log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 200); do
  addr="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$work/serve.log" | head -n 1)"
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "bulwark serve exited"
  sleep 0.1
done
[ -n "$addr" ] || fail "bulwark serve did not say 'listening on' within 20 s"
port="${addr##*:}"
echo "   listening on $addr"
if [ "${run_as[0]:-}" = setpriv ]; then
  [ "$(ps -o user= -p "$server_pid")" = bulwark ] || fail "the server does not run as bulwark"
fi

step "ICAP OPTIONS icap://$addr/av/respmod"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'OPTIONS icap://127.0.0.1:%s/av/respmod ICAP/1.0\r\nHost: 127.0.0.1:%s\r\nEncapsulated: null-body=0\r\n\r\n' \
  "$port" "$port" >&3
reply=""
while IFS= read -r -t 10 line <&3; do
  line="${line%$'\r'}"
  [ -z "$line" ] && break
  reply+="$line"$'\n'
done
exec 3>&-
printf '%s' "$reply" | sed 's/^/   /'
head -n 1 <<<"$reply" | grep -q '^ICAP/1.0 200' || fail "no ICAP/1.0 200 to OPTIONS"
grep -qi '^ISTag:' <<<"$reply" || fail "no ISTag in the OPTIONS answer"
if command -v c-icap-client >/dev/null 2>&1; then
  c-icap-client -i 127.0.0.1 -p "$port" -s av/respmod 2>&1 | grep -q 'ICAP/1.0 200' \
    || echo "   (c-icap-client did not show the status line; the raw check above passed)"
fi

step "bulwark ctl status and stats through the control socket"
status="$($sudo /usr/bin/bulwark ctl status --config /etc/bulwark/bulwark.toml)" || fail "ctl status: $status"
grep -q '^istag ' <<<"$status" || fail "ctl status: $status"
echo "$status" | sed 's/^/   /'
$sudo /usr/bin/bulwark ctl stats --config /etc/bulwark/bulwark.toml >/dev/null || fail "ctl stats"

step "bulwark ctl stop"
$sudo /usr/bin/bulwark ctl stop --config /etc/bulwark/bulwark.toml >/dev/null || fail "ctl stop"
for _ in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then fail "the server did not stop"; fi
wait "$server_pid" || fail "bulwark serve exited with status $?"
server_pid=""
[ ! -e /run/bulwark/control.sock ] || fail "control socket left behind"
[ ! -e /run/bulwark/bulwark.pid ] || fail "pid file left behind"

echo "test-deb: OK ($(basename "$deb"))"
