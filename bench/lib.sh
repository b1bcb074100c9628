# Shared shell functions of bench/compare and bench/smoke: free ports, and starting and
# stopping Corvid, Prosody and ejabberd on loopback with private temporary data.
# Each start_* sets SRV_PID (the server process to measure), SRV_PORT (client port,
# STARTTLS optional), SRV_PLAIN_PORT (port where PLAIN without TLS is allowed), SRV_DIR.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
: "${BENCH_DOMAIN:=localhost}"
: "${BENCH_PASSWORD:=bench-secret}"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Prints n distinct free loopback TCP ports (held open together so none repeats).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); socks.append(s)
print(' '.join(str(s.getsockname()[1]) for s in socks))
PY
}

# Waits until 127.0.0.1:$1 accepts connections (at most $2 seconds).
wait_port() {
    local deadline=$((SECONDS + ${2:-30}))
    while [ $SECONDS -lt $deadline ]; do
        if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$1),1); s.close()" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# Prints the pid of the process listening on 127.0.0.1:$1.
port_pid() {
    ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}

# Installs Debian packages that are missing (needs root).
ensure_pkgs() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "${missing[@]}" >/dev/null
    # Debian starts the packaged services on install; the benchmarks run their own.
    for svc in prosody ejabberd; do
        if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
}

selfsigned() { # $1: dir; writes cert.pem, key.pem and server.pem (both)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/key.pem" \
        -out "$1/cert.pem" -days 3650 -subj "/CN=$BENCH_DOMAIN" >/dev/null 2>&1 &&
        cat "$1/cert.pem" "$1/key.pem" >"$1/server.pem"
}

# start_corvid BUILD_DIR NUSERS [WORKERS]
start_corvid() {
    local build=$1 n=$2 workers=${3:-0} ports
    SRV_DIR=$(mktemp -d /tmp/cvb-corvid.XXXXXX)
    read -r -a ports <<<"$(free_ports 3)"
    SRV_PORT=${ports[0]}
    SRV_PLAIN_PORT=${ports[2]}
    CORVID_SETS=(--set "storage.data_dir=$SRV_DIR" --set "listeners.0.port=${ports[0]}"
        --set "listeners.1.port=${ports[1]}" --set listeners.2.type=c2s
        --set listeners.2.address=127.0.0.1 --set "listeners.2.port=${ports[2]}"
        --set listeners.2.tls=none --set listeners.2.allow_plain_without_tls=true
        --set "workers=$workers" --set log.level=warning
        --set limits.c2s_rate=0) # no input shaping: the benchmark measures the server
    CORVIDCTL="$build/corvidctl" "$BENCH_DIR/make-users" corvid "$n" --domain "$BENCH_DOMAIN" \
        --password "$BENCH_PASSWORD" -- -c "$REPO_DIR/conf/corvid.yml" "${CORVID_SETS[@]}" >&2 ||
        return 1
    "$build/corvid" -c "$REPO_DIR/conf/corvid.yml" "${CORVID_SETS[@]}" >"$SRV_DIR/server.log" 2>&1 &
    SRV_PID=$!
    wait_port "$SRV_PORT" 30 && wait_port "$SRV_PLAIN_PORT" 5 ||
        { log "corvid did not start:"; tail -n 20 "$SRV_DIR/server.log" >&2; return 1; }
}

start_prosody() { # NUSERS
    local ports
    SRV_DIR=$(mktemp -d /tmp/cvb-prosody.XXXXXX)
    read -r -a ports <<<"$(free_ports 1)"
    SRV_PORT=${ports[0]}
    SRV_PLAIN_PORT=$SRV_PORT
    selfsigned "$SRV_DIR" || return 1
    chmod 755 "$SRV_DIR"
    chown -R prosody:prosody "$SRV_DIR" 2>/dev/null || true
    export CVB_DATA=$SRV_DIR CVB_PORT=$SRV_PORT CVB_DOMAIN=$BENCH_DOMAIN
    "$BENCH_DIR/make-users" prosody "$1" --domain "$BENCH_DOMAIN" --password "$BENCH_PASSWORD" \
        -- --config "$BENCH_DIR/prosody.cfg.lua" >&2 || return 1
    prosody --config "$BENCH_DIR/prosody.cfg.lua" -F >"$SRV_DIR/stdout.log" 2>&1 &
    SRV_PID=$!
    wait_port "$SRV_PORT" 30 || { log "prosody did not start"; tail "$SRV_DIR"/*.log >&2; return 1; }
}

start_ejabberd() { # NUSERS
    local ports
    SRV_DIR=$(mktemp -d /tmp/cvb-ejabberd.XXXXXX)
    read -r -a ports <<<"$(free_ports 2)"
    SRV_PORT=${ports[0]}
    SRV_PLAIN_PORT=$SRV_PORT
    mkdir -p "$SRV_DIR/spool" "$SRV_DIR/logs"
    selfsigned "$SRV_DIR" || return 1
    sed -e "s|@DOMAIN@|$BENCH_DOMAIN|g; s|@PORT@|${ports[0]}|g; s|@TLSPORT@|${ports[1]}|g" \
        -e "s|@DATA@|$SRV_DIR|g" "$BENCH_DIR/ejabberd.yml" >"$SRV_DIR/ejabberd.yml"
    [ -f /etc/ejabberd/inetrc ] && cp /etc/ejabberd/inetrc "$SRV_DIR/"
    EJ_NODE="cvb${ports[0]}@localhost"
    cat >"$SRV_DIR/ejabberdctl.cfg" <<EOC
ERLANG_NODE=$EJ_NODE
EJABBERD_CONFIG_PATH=$SRV_DIR/ejabberd.yml
EJABBERD_PID_PATH=$SRV_DIR/ejabberd.pid
SPOOL_DIR=$SRV_DIR/spool
LOGS_DIR=$SRV_DIR/logs
EOC
    chmod 755 "$SRV_DIR"
    chown -R ejabberd:ejabberd "$SRV_DIR" 2>/dev/null || true
    ejabberdctl --config-dir "$SRV_DIR" foreground >"$SRV_DIR/stdout.log" 2>&1 &
    wait_port "$SRV_PORT" 60 || { log "ejabberd did not start"; tail "$SRV_DIR/stdout.log" >&2; return 1; }
    ejabberdctl --config-dir "$SRV_DIR" started >/dev/null 2>&1 || sleep 2
    SRV_PID=$(port_pid "$SRV_PORT") # beam.smp, under ejabberdctl and su
    "$BENCH_DIR/make-users" ejabberd "$1" --domain "$BENCH_DOMAIN" --password "$BENCH_PASSWORD" \
        -- --config-dir "$SRV_DIR" >&2 || return 1
}

# stop_server KIND: stops what start_KIND started and removes its data.
stop_server() {
    case $1 in
    ejabberd) ejabberdctl --config-dir "$SRV_DIR" stop >/dev/null 2>&1 || true ;;
    *) [ -n "${SRV_PID:-}" ] && kill "$SRV_PID" 2>/dev/null || true ;;
    esac
    local i
    for i in $(seq 1 50); do
        [ -n "${SRV_PID:-}" ] && kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.2
    done
    [ -n "${SRV_PID:-}" ] && kill -9 "$SRV_PID" 2>/dev/null || true
    [ -n "${SRV_DIR:-}" ] && rm -rf "$SRV_DIR"
    SRV_PID= SRV_DIR=
}
