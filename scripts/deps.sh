#!/usr/bin/env bash
# Installs the Debian 12 packages Corvid needs, only when some are missing.
#   scripts/deps.sh         what building and running the server needs
#   scripts/deps.sh test    also what the test suite needs (clang, clients, sanitizers)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config liburing-dev libwolfssl-dev libxml2-dev
            liblmdb-dev libjemalloc-dev libyaml-dev libidn-dev libidn2-dev)
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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
