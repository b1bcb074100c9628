-- Prosody configuration for the benchmarks (bench/compare, bench/make-users).
-- Loopback only, no s2s, no HTTP; everything under the data directory given by the
-- environment (CVB_DATA), client port CVB_PORT. Accounts: internal_hashed, which stores
-- SCRAM-SHA-1 keys (Prosody 0.12 has no SCRAM-SHA-256), so compare uses SCRAM-SHA-1.
local data = os.getenv("CVB_DATA") or "/tmp/cvb-prosody"
local port = tonumber(os.getenv("CVB_PORT") or "25222")

data_path = data
pidfile = data .. "/prosody.pid"
daemonize = false
log = { { levels = { min = "warn" }, to = "file", filename = data .. "/prosody.log" } }
network_backend = "epoll"
certificates = data

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { port }
c2s_direct_tls_ports = { port + 1 }
s2s_ports = {}
http_ports = {}
https_ports = {}
component_ports = {}

admins = {}
modules_enabled = {
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "message"; "iq";
    "offline";
}
modules_disabled = { "s2s"; "c2s_limits"; "limits"; "posix" }

authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false

-- No rate limits: the benchmark measures the server, not its shaper.
limits = {}

ssl = {
    certificate = data .. "/cert.pem";
    key = data .. "/key.pem";
}

VirtualHost (os.getenv("CVB_DOMAIN") or "localhost")
    ssl = {
        certificate = data .. "/cert.pem";
        key = data .. "/key.pem";
    }
