#!/usr/bin/env bash
# Builds the Debian package target/debian/tocsin_<version>_<arch>.deb from this checkout:
# the release binary, a man page per command, bash/zsh/fish completions and the docs,
# all generated from the binary itself so they match it. Needs dpkg-deb (any Debian or
# Ubuntu); dpkg-shlibdeps (package dpkg-dev), when present, computes the Depends line.
#
#   packaging/deb/build.sh            # cargo build --release, then package
#   TOCSIN_DEB_BINARY=path build.sh   # package an already built binary
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

binary="${TOCSIN_DEB_BINARY:-}"
if [ -z "$binary" ]; then
    cargo build --locked --release -p tocsin-cli
    binary="$root/target/release/tocsin"
fi
[ -x "$binary" ] || { echo "error: no tocsin binary at $binary" >&2; exit 2; }

version=$("$binary" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/tocsin_${version}_${arch}"

install -Dm755 "$binary" "$stage/usr/bin/tocsin"
strip --strip-unneeded "$stage/usr/bin/tocsin" 2>/dev/null || true

"$binary" man --out "$work/man" 2>/dev/null
install -d "$stage/usr/share/man/man1"
for page in "$work"/man/*.1; do
    gzip -9n < "$page" > "$stage/usr/share/man/man1/$(basename "$page").gz"
done

install -d "$stage/usr/share/bash-completion/completions" \
    "$stage/usr/share/zsh/vendor-completions" "$stage/usr/share/fish/vendor_completions.d"
"$binary" completions bash > "$stage/usr/share/bash-completion/completions/tocsin"
"$binary" completions zsh > "$stage/usr/share/zsh/vendor-completions/_tocsin"
"$binary" completions fish > "$stage/usr/share/fish/vendor_completions.d/tocsin.fish"

doc="$stage/usr/share/doc/tocsin"
install -d "$doc"
gzip -9n < README.md > "$doc/README.md.gz"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tocsin
Source: the tocsin repository

Files: *
Copyright: the tocsin developers
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
printf 'tocsin (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- tocsin developers <dev@tocsin.example>  %s\n' \
    "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree')" \
    "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" | gzip -9n > "$doc/changelog.Debian.gz"

depends="libc6"
if command -v dpkg-shlibdeps > /dev/null; then
    mkdir -p "$work/shlibs/debian" && touch "$work/shlibs/debian/control"
    if shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/tocsin" 2> "$work/shlibdeps.err"); then
        found=$(sed -n 's/^shlibs:Depends=//p' <<< "$shlibs")
        [ -z "$found" ] || depends="$found"
    else
        echo "warning: dpkg-shlibdeps failed, so the package depends on libc6 alone:" >&2
        cat "$work/shlibdeps.err" >&2
    fi
else
    echo "note: no dpkg-shlibdeps (package dpkg-dev): the package depends on libc6 alone" >&2
fi

install -d "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: tocsin
Version: $version
Architecture: $arch
Maintainer: tocsin developers <dev@tocsin.example>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Section: admin
Priority: optional
Description: intrusion detection and incident response with Sigma rules
 tocsin hunts Windows EVTX, Sysmon, JSON, syslog, CEF and remote-support
 appliance logs with the Sigma standard (rules, modifiers and correlations),
 behavioural detectors and indicators, groups alerts into scored incidents
 mapped to MITRE ATT&CK, and exports them as STIX 2.1.
CONTROL

mkdir -p "$root/target/debian"
out="$root/target/debian/tocsin_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" > /dev/null
echo "$out"
