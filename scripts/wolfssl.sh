#!/usr/bin/env bash
# Builds the wolfSSL that Corvid links by default (CMake option CORVID_WOLFSSL=bundled): a
# static library made from Debian's own source package of wolfssl for the running release,
# with Debian's patches applied, configured with only what Corvid uses. See docs/tls.md,
# "The bundled wolfSSL", for why each option is on or off.
#
#   scripts/wolfssl.sh [DIR]     DIR defaults to $CORVID_WOLFSSL_DIR, else ./build-wolfssl
#
# Installs headers and libwolfssl.a into DIR/prefix. Every build directory (release,
# sanitizers, fuzzers) links that one library. Nothing is done when DIR/prefix already
# holds a build of the same source version with the same options (this script's text);
# the private source index is refreshed at most once a day, so a security update of the
# package is picked up by the next run after it. The source comes through apt with a
# private configuration under DIR/apt (never /etc/apt), so apt checks the archive
# signatures and the file hashes as for any package.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dir=${1:-${CORVID_WOLFSSL_DIR:-$root/build-wolfssl}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
prefix=$dir/prefix
stamp=$prefix/corvid-wolfssl.stamp

say() { echo "wolfssl.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# Configure options. Each line keeps or drops one thing; docs/tls.md gives the reasons.
opts=(
    --enable-static --disable-shared
    --disable-examples --disable-crypttests --disable-benchmark
    # protocol: TLS 1.2 and 1.3 only, server and client (corvid-bench and tests connect)
    --enable-tls13 --enable-tlsv12 --disable-oldtls --disable-dtls --disable-psk
    --enable-sni --enable-supportedcurves --enable-session-ticket
    --enable-keying-material --enable-extended-master
    # record protection: AEAD only; AES-NI and AVX2 code chosen at run time by CPUID
    --enable-chacha --enable-poly1305 --enable-aesgcm --disable-aescbc
    --enable-aesni --enable-intelasm
    # key exchange and signatures: X25519, P-256/P-384 with SP math and x86-64 assembly;
    # RSA (with PSS, which TLS 1.3 requires) for configured RSA certificates; no DH
    --enable-ecc --enable-curve25519 --enable-sp=yes --enable-sp-asm --enable-sp-math-all
    --enable-rsa --enable-rsapss --disable-dh
    # certificates: self-signed certificate and key generation (net/certgen.c)
    --enable-certgen --enable-keygen --enable-certext
    # hashes and KDFs: SCRAM (PBKDF2, HMAC, SHA-1/256/512), tls-server-end-point (SHA-384)
    --enable-sha512 --enable-sha384 --enable-pwdbased
    --disable-sha3 --disable-md5 --disable-des3 --disable-pkcs12 --disable-sys-ca-certs
    --enable-harden --enable-smallcache --disable-oldnames
)
# Defines that have no configure switch; configure copies them into wolfssl/options.h.
# ALT_NAMES: the subjectAltName of generated certificates. ALWAYS_KEEP_SNI: the server
# keeps the client's server name without being given one (cv_tls_conn_sni).
cppflags="-DWOLFSSL_ALT_NAMES -DWOLFSSL_ALWAYS_KEEP_SNI"
# Debian's hardening flags; FORTIFY goes through -Wp so that configure does not copy it
# into options.h, where it would reach every Corvid file, -O0 sanitizer builds included.
cflags="-O2 -g -fstack-protector-strong -Wformat -Werror=format-security -Wp,-D_FORTIFY_SOURCE=2"

key=$(sha256sum "$0" | cut -c1-16)

# Several builds may start this at once; one builds, the others wait and find it done.
exec 9>"$dir/.lock"
flock 9

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
need=()
for p in dpkg-dev autoconf automake libtool make gcc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
        --no-install-recommends "${need[@]}" >/dev/null
fi

. /etc/os-release
codename=${VERSION_CODENAME:?/etc/os-release names no release}
apt_dir=$dir/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
cat >"$apt_dir/sources.list.d/debian-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    # The download lands in the build tree, which apt's unprivileged _apt user cannot
    # write; apt verifies signatures and hashes all the same.
    -o "APT::Sandbox::User=$(id -un)")

have_build() { [ -f "$stamp" ] && [ -f "$prefix/lib/libwolfssl.a" ]; }
# A build made with this script's options (whatever the source version).
have_our_build() { have_build && grep -qx "config=$key" "$stamp"; }
fresh=$apt_dir/index.stamp # touched after each successful refresh (apt keeps the
                           # server's dates on the lists themselves)

# Refresh the source index when it is missing or a day old.
if [ -z "$(find "$fresh" -mmin -1440 2>/dev/null)" ]; then
    if apt-get "${apt_opts[@]}" update >"$dir/apt-update.log" 2>&1; then
        touch "$fresh"
    else
        if have_our_build; then
            say "cannot refresh the Debian source index (see $dir/apt-update.log);" \
                "keeping $(sed -n 's/^source=//p' "$stamp")"
            exit 0
        fi
        cat "$dir/apt-update.log" >&2
        die "cannot fetch the Debian source index for $codename (deb-src of deb.debian.org);" \
            "the bundled wolfSSL needs it once. Alternatively configure with" \
            "-DCORVID_WOLFSSL=system (Debian's libwolfssl-dev)."
    fi
fi
version=$( (apt-get "${apt_opts[@]}" source --print-uris --only-source wolfssl 2>>"$dir/apt-update.log" ||
    true) | sed -n "s/^'[^']*' wolfssl_\(.*\)\.dsc .*/\1/p" | head -n1)
[ -n "$version" ] || die "no wolfssl source package in $codename (see $dir/apt-update.log)"

want="source=$version
config=$key"
if have_build && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

say "building wolfSSL $version from Debian's source package into $prefix"
start=$SECONDS
src=$dir/src
rm -rf "$src"
mkdir -p "$src"
if ! (cd "$src" && apt-get "${apt_opts[@]}" source --only-source "wolfssl=$version") \
    >"$dir/build.log" 2>&1; then
    cat "$dir/build.log" >&2
    die "cannot fetch the wolfssl $version source package"
fi
tree=$(find "$src" -mindepth 1 -maxdepth 1 -type d -name 'wolfssl-*' | head -n1)
[ -n "$tree" ] || die "apt-get source left no wolfssl-* directory in $src"
# Debian's patches change configure.ac and Makefile.am; the tarball has no configure.
if ! (cd "$tree" && autoreconf -fi &&
    ./configure --prefix="$prefix" CC=gcc CPPFLAGS="$cppflags" CFLAGS="$cflags" "${opts[@]}" &&
    make -j"$(nproc)" src/libwolfssl.la && rm -rf "$prefix" && make install) \
    >>"$dir/build.log" 2>&1; then
    tail -n 40 "$dir/build.log" >&2
    die "wolfSSL build failed (full log: $dir/build.log)"
fi
printf '%s\n' "$want" >"$stamp"
rm -rf "$src"
say "done in $((SECONDS - start)) s"
