#!/usr/bin/env bash
# Installs a tocsin .deb as a user would and checks what it put in place: the binary
# runs from /usr/bin and prints its version, the man pages and completions are where
# man and the shells look, and removing the package removes them. Run as root (CI);
# otherwise the package is unpacked under a temporary root with dpkg-deb -x and checked
# there, and the script says so.
#
#   packaging/deb/check.sh target/debian/tocsin_<version>_<arch>.deb
set -euo pipefail
deb="${1:?usage: check.sh PACKAGE.deb}"
[ -f "$deb" ] || { echo "error: no package at $deb" >&2; exit 2; }

dpkg-deb --info "$deb" > /dev/null
version=$(dpkg-deb --field "$deb" Version)

if [ "$(id -u)" = 0 ]; then
    # A failed check must not leave the package installed on the machine.
    trap '[ -z "${removed:-}" ] && dpkg -r tocsin > /dev/null 2>&1' EXIT
    dpkg -i "$deb"
    prefix=""
    echo "installed with dpkg -i"
else
    prefix=$(mktemp -d)
    trap 'rm -rf "$prefix"' EXIT
    dpkg-deb -x "$deb" "$prefix"
    echo "not root: unpacked under $prefix instead of installing"
fi

fail() { echo "error: $*" >&2; exit 1; }
printed=$("$prefix/usr/bin/tocsin" --version)
[ "$printed" = "tocsin $version" ] || fail "installed tocsin says '$printed', package is $version"
echo "$prefix/usr/bin/tocsin --version: $printed"
for file in usr/share/man/man1/tocsin.1.gz usr/share/man/man1/tocsin-hunt.1.gz \
    usr/share/bash-completion/completions/tocsin usr/share/zsh/vendor-completions/_tocsin \
    usr/share/fish/vendor_completions.d/tocsin.fish usr/share/doc/tocsin/copyright; do
    [ -s "$prefix/$file" ] || fail "the package did not install /$file"
done
grep -qF -- '\-\-rules' <(zcat "$prefix/usr/share/man/man1/tocsin-hunt.1.gz") \
    || fail "tocsin-hunt(1) does not document --rules"
"$prefix/usr/bin/tocsin" rules list --builtin > /dev/null || fail "the installed binary cannot list its rules"

if [ -z "$prefix" ]; then
    dpkg -r tocsin > /dev/null
    removed=yes
    [ ! -e /usr/bin/tocsin ] || fail "dpkg -r left /usr/bin/tocsin"
    echo "removed with dpkg -r"
fi
echo "package check passed: $deb"
