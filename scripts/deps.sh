#!/usr/bin/env bash
# Installs the Debian 12 packages Corvid needs, only when some are missing, then builds the
# bundled wolfSSL from Debian's source package when it is missing (scripts/wolfssl.sh).
#   scripts/deps.sh         what building and running the server needs
#   scripts/deps.sh test    also what the test suite needs (clang, clients, sanitizers)
# With CORVID_WOLFSSL=system in the environment, Debian's libwolfssl-dev is installed
# instead of building wolfSSL (for builds configured with -DCORVID_WOLFSSL=system).
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(build-essential cmake pkg-config liburing-dev libxml2-dev
            liblmdb-dev libjemalloc-dev libyaml-dev libidn-dev libidn2-dev)
if [ "${CORVID_WOLFSSL:-bundled}" = system ]; then
    build_pkgs+=(libwolfssl-dev)
else
    # what scripts/wolfssl.sh needs to fetch and build Debian's wolfssl source package
    build_pkgs+=(dpkg-dev autoconf automake libtool)
fi
test_pkgs=(clang libclang-rt-dev python3-slixmpp go-sendxmpp openssl lmdb-utils)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = test ]; then
    pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}" >&2
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
fi

if [ "${CORVID_WOLFSSL:-bundled}" != system ]; then
    scripts/wolfssl.sh
fi
