#!/usr/bin/env bash
# Builds the Bulwark Debian package from an already built binary, with dpkg-deb only (no network,
# no cargo-deb, no debhelper).
#
#   packaging/build-deb.sh [BINARY] [OUTDIR]
#
#   BINARY  the bulwark executable to package (default: target/release/bulwark; build it with
#           `cargo build --release -p bulwark`)
#   OUTDIR  where the .deb is written (default: target/debian)
#
# Prints the path of the .deb on the last line. The package installs:
#   /usr/bin/bulwark
#   /etc/bulwark/bulwark.toml            every key, commented out, at its default (conffile)
#   /etc/logrotate.d/bulwark             (conffile)
#   /lib/systemd/system/bulwark.service  enabled and started by postinst where systemd runs
#   /usr/share/man/man8/bulwark.8.gz     generated from the binary's --help texts
#   /usr/share/doc/bulwark/              README.md, operations.md, configuration.md
# and its postinst creates the `bulwark` system user and /var/lib, /var/log, /var/cache and
# /run/bulwark.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

bin="${1:-$root/target/release/bulwark}"
out="${2:-$root/target/debian}"
[ -x "$bin" ] || { echo "build-deb: $bin is not an executable (cargo build --release -p bulwark)" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb is missing" >&2; exit 1; }

version="$("$bin" --version | awk '{print $2}')"
[ -n "$version" ] || { echo "build-deb: cannot read the version from $bin --version" >&2; exit 1; }
debversion="${version}-1"
arch="$(dpkg --print-architecture)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/bulwark"

install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/etc/bulwark" "$pkg/etc/logrotate.d" \
  "$pkg/lib/systemd/system" "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/bulwark"
install -m 0755 "$bin" "$pkg/usr/bin/bulwark"
# Debug symbols make a debug build ten times larger; the package does not need them.
if command -v strip >/dev/null; then strip --strip-debug "$pkg/usr/bin/bulwark"; fi
install -m 0644 "$here/bulwark.toml" "$pkg/etc/bulwark/bulwark.toml"
install -m 0644 "$here/bulwark.logrotate" "$pkg/etc/logrotate.d/bulwark"
install -m 0644 "$here/bulwark.service" "$pkg/lib/systemd/system/bulwark.service"
for doc in README.md docs/operations.md docs/configuration.md; do
  install -m 0644 "$root/$doc" "$pkg/usr/share/doc/bulwark/$(basename "$doc")"
done
install -m 0644 "$here/copyright" "$pkg/usr/share/doc/bulwark/copyright"
printf 'bulwark (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- Bulwark maintainers <bulwark@localhost>  %s\n' \
  "$debversion" "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo source)" \
  "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" \
  | gzip -9n > "$pkg/usr/share/doc/bulwark/changelog.Debian.gz"

bash "$here/gen-man.sh" "$bin" | gzip -9n > "$pkg/usr/share/man/man8/bulwark.8.gz"

# Shared libraries the binary links (vectorscan, pcre2, libc…), as package dependencies.
depends=""
if command -v dpkg-shlibdeps >/dev/null; then
  shl="$stage/shlibs"
  mkdir -p "$shl/debian"
  printf 'Source: bulwark\n\nPackage: bulwark\nArchitecture: any\n' > "$shl/debian/control"
  depends="$(cd "$shl" && dpkg-shlibdeps -O "$pkg/usr/bin/bulwark" 2>/dev/null \
             | sed -n 's/^shlibs:Depends=//p')" || depends=""
fi
if [ -z "$depends" ]; then
  # Without dpkg-dev: the packages owning the libraries ldd resolves, unversioned.
  depends="$(ldd "$pkg/usr/bin/bulwark" | awk '/=> \//{print $3}' | while read -r lib; do
               dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null
             done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')"
fi
depends="${depends:+$depends, }adduser"

size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
    -e "s/@SIZE@/$size/" "$here/debian/control" > "$pkg/DEBIAN/control"
install -m 0644 "$here/debian/conffiles" "$pkg/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$here/debian/$s" "$pkg/DEBIAN/$s"; done
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z \
   | xargs -0 md5sum | sed 's| \./| |') > "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/bulwark_${debversion}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >/dev/null
echo "$deb"
