#!/usr/bin/env bash
# Builds Corvid if needed and starts it on the default configuration (conf/corvid.yml):
# domain localhost, STARTTLS on 127.0.0.1:5222, direct TLS on 5223, LMDB data in ./data,
# a self-signed certificate made on first run. Extra arguments go to the server, e.g.
#   scripts/run.sh --set registration.enabled=true
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCORVID_WOLFSSL="${CORVID_WOLFSSL:-bundled}" \
        >/dev/null
fi
cmake --build build -j"$(nproc)" --target corvid corvidctl >/dev/null
exec build/corvid -c conf/corvid.yml "$@"
