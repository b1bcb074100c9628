/*
 * corvid/tls.h — server-side TLS over memory buffers (wolfSSL), and self-signed certificates.
 *
 * Owns: the wolfSSL library initialisation (reference counted, one per cv_tls_ctx_t), one
 * WOLFSSL_CTX per configured host, and for each connection one WOLFSSL session plus three
 * byte buffers (ciphertext not yet consumed, plaintext not yet delivered, ciphertext to
 * send). TLS never touches a socket: the network layer feeds received ciphertext with
 * cv_tls_conn_feed() and sends what cv_tls_conn_cipher_out() holds.
 *
 * Threads:
 * - cv_tls_ctx_* and cv_tls_selfsigned_ensure: the main thread at start-up, before any worker
 *   starts (wolfSSL_Init and every WOLFSSL_CTX setter are not safe against concurrent use).
 * - After setup a cv_tls_ctx_t is shared read-only by all rings. wolfSSL allows that: a
 *   WOLFSSL_CTX may be used by many threads to create sessions as long as nobody changes
 *   its settings; its reference count, the default session-ticket key and the session cache
 *   are protected by wolfSSL's own mutexes. This module never calls a CTX setter, nor a
 *   lazily-filling CTX getter (wolfSSL_get_certificate), after cv_tls_ctx_add_host().
 *   cv_tls_ctx_free() only once every connection made from it has been freed.
 * - cv_tls_conn_*: the ring that owns the connection, one thread at a time. A connection
 *   may move to another thread only with a happens-before edge (e.g. a mutex or an
 *   acquire/release queue hand-off) between the last call on the old thread and the first
 *   on the new one.
 *
 * Errors are returned as 0 or a negative CV_E* code from corvid/core.h.
 */
#ifndef CORVID_TLS_H
#define CORVID_TLS_H

#include "corvid/core.h"
#include "corvid/buf.h"

/* Largest channel binding any type produces (tls-server-end-point with SHA-512). */
#define CV_TLS_CB_MAX 64

typedef struct cv_tls_ctx_s cv_tls_ctx_t;
typedef struct cv_tls_conn_s cv_tls_conn_t;

/*
 * Creates a server context: TLS 1.2 minimum, TLS 1.3 preferred, ChaCha20-Poly1305 first,
 * X25519 first among groups, session tickets on. It has no certificate until
 * cv_tls_ctx_add_host() is called at least once.
 * Thread: main, at start-up. Returns 0 or CV_ENOMEM / CV_ETLS; *out is owned by the caller.
 */
int cv_tls_ctx_create(cv_tls_ctx_t **out);

/*
 * Adds a host with its certificate chain and private key, both PEM file paths. The first
 * host added is the default, served to clients that send no SNI or an unknown name; a
 * session whose ClientHello names another host (ASCII case-insensitive) is served entirely
 * by that host's context: certificate, key and the cipher suites they allow.
 * Thread: main, at start-up, before any cv_tls_conn_create(). Copies host.
 * Returns 0, CV_EEXIST (host already added), CV_EINVAL, CV_ENOMEM, or CV_ETLS with the
 * reason and the file name logged at warning level.
 */
int cv_tls_ctx_add_host(cv_tls_ctx_t *ctx, const char *host, const char *cert_pem,
                        const char *key_pem);

/* Thread: main, after every connection of ctx is freed. Accepts NULL. */
void cv_tls_ctx_free(cv_tls_ctx_t *ctx);

/*
 * Frees the calling thread's wolfSSL ECC fixed-point cache (Debian's wolfSSL build keeps
 * one per thread, several MB once warm, see docs/tls.md; the bundled build has none and
 * this does nothing); without this call it leaks when the thread exits. Thread: each
 * thread that ran handshakes, as its last TLS call.
 */
void cv_tls_thread_cleanup(void);

/*
 * Creates cert_pem and key_pem (EC P-256 key, self-signed with ECDSA-SHA256, subject CN and
 * subjectAltName dNSName = host, valid 10 years from one day ago, random 16-byte serial;
 * key file mode 0600, certificate 0644; missing parent directories created with mode 0755)
 * when either file is missing. Both files are written to a temporary name and renamed, key
 * first, so an interrupted run leaves no certificate without its key.
 * Thread: main, at start-up. Returns 0 (created or both already there) or CV_EINVAL /
 * CV_ETLS (reason logged).
 */
int cv_tls_selfsigned_ensure(const char *cert_pem, const char *key_pem, const char *host);

/*
 * Creates a server session using ctx. Thread: the owning ring. *out is owned by the
 * caller. Returns 0, CV_ENOMEM or CV_ETLS.
 */
int cv_tls_conn_create(cv_tls_conn_t **out, cv_tls_ctx_t *ctx);

/*
 * Hands ciphertext received from the socket to TLS, which processes it at once (handshake
 * messages, decryption into the connection's plaintext buffer). The bytes are copied only
 * if TLS could not consume them yet; the caller may reuse data as soon as this returns.
 * Thread: the owning ring. Returns 0 (also once close_notify has arrived: bytes after it are
 * dropped and cv_tls_conn_read() reports CV_ECLOSED), CV_ETLS (fatal; an alert may be
 * waiting in cv_tls_conn_cipher_out) or CV_ENOMEM. Errors are sticky: every later call
 * returns the same code.
 */
int cv_tls_conn_feed(cv_tls_conn_t *c, const uint8_t *data, size_t len);

/*
 * Drives the handshake and decryption with the input fed so far and appends all available
 * plaintext to plain_out (when plain_out is empty the buffers are swapped, not copied).
 * Thread: the owning ring. Returns 0 (progress or nothing yet: check
 * cv_tls_conn_cipher_out for bytes to send), CV_ECLOSED once close_notify was received
 * and all plaintext before it delivered, CV_ETLS on failure (reason logged at debug level),
 * CV_ENOMEM.
 */
int cv_tls_conn_read(cv_tls_conn_t *c, cv_buf_t *plain_out);

/* Thread: the owning ring. Returns 1 once the handshake has completed, else 0. */
int cv_tls_conn_handshake_done(const cv_tls_conn_t *c);

/*
 * Encrypts len bytes of plaintext; the records accumulate in the cipher output buffer.
 * Thread: the owning ring. Does not take ownership of data. Returns 0, CV_AGAIN before the
 * handshake has completed, CV_ECLOSED after cv_tls_conn_shutdown(), CV_ETLS, CV_ENOMEM.
 */
int cv_tls_conn_write(cv_tls_conn_t *c, const void *data, size_t len);

/*
 * Ciphertext waiting to be sent. The caller sends from it and cv_buf_consume()s what the
 * kernel took. Thread: the owning ring. The buffer stays owned by c.
 */
cv_buf_t *cv_tls_conn_cipher_out(cv_tls_conn_t *c);

/*
 * Moves all waiting ciphertext to out: swapped when out is empty (out receives the
 * connection's allocation and the connection keeps out's), appended otherwise.
 * Thread: the owning ring. Returns 0 or CV_ENOMEM (nothing moved).
 */
int cv_tls_conn_take_cipher_out(cv_tls_conn_t *c, cv_buf_t *out);

/*
 * Queues close_notify in the cipher output buffer; later writes fail with CV_ECLOSED.
 * Thread: the owning ring. Returns 0 or CV_ETLS.
 */
int cv_tls_conn_shutdown(cv_tls_conn_t *c);

/*
 * Channel binding data for SCRAM-*-PLUS, written to out (cap bytes, CV_TLS_CB_MAX always
 * suffices), its length to *len.
 * - "tls-exporter" (RFC 9266): 32 bytes exported with label "EXPORTER-Channel-Binding" and
 *   an empty context, derived when the handshake completes (the secret it comes from is
 *   freed then) and kept with the connection. TLS 1.3 only: wolfSSL 5.5.4 does not tell
 *   whether a TLS 1.2 session used the extended master secret, so TLS 1.2 gets CV_EUNSUPP.
 * - "tls-server-end-point" (RFC 5929): hash of the certificate this session presented,
 *   SHA-256 for MD5-, SHA-1- and SHA-256-signed certificates, SHA-384 / SHA-512 for those
 *   signed with them; CV_EUNSUPP for other signature algorithms (e.g. Ed25519, RSA-PSS).
 * Thread: the owning ring, after the handshake. Returns 0, CV_AGAIN (handshake not done),
 * CV_EUNSUPP (unknown type or not available on this session), CV_ELIMIT (cap too small),
 * CV_ETLS.
 */
int cv_tls_conn_channel_binding(cv_tls_conn_t *c, const char *type, uint8_t *out, size_t cap,
                                size_t *len);

/*
 * The server name the client sent (SNI), or NULL if none. Thread: the owning ring. The
 * string is owned by c and valid until cv_tls_conn_free().
 */
const char *cv_tls_conn_sni(const cv_tls_conn_t *c);

/*
 * The negotiated protocol version, "TLSv1.3" or "TLSv1.2"; NULL before the handshake has
 * completed. Thread: the owning ring. Static string.
 */
const char *cv_tls_conn_version(const cv_tls_conn_t *c);

/*
 * Releases the connection's empty buffers (plaintext, pending input and, when empty,
 * cipher output). The first call after the handshake also gives the kernel back the
 * pages of wolfSSL's per-session object that hold only zeros (in this wolfSSL build
 * about 32 KB of room for a client certificate chain that is never used); they stay
 * allocated and are faulted in again, as zeros, only if wolfSSL writes to them. For this
 * the call relies on wolfSSL allocating with malloc, and skips it if allocators were
 * installed with wolfSSL_SetAllocators(). wolfSSL's handshake arrays are already freed
 * when the handshake completes. Meant for idle connections: the call reads the session
 * object once and makes one madvise() call per connection.
 * Thread: the owning ring. Returns 0.
 */
int cv_tls_conn_trim(cv_tls_conn_t *c);

/* Thread: the owning ring. Sends nothing (queue cv_tls_conn_shutdown first). Accepts NULL. */
void cv_tls_conn_free(cv_tls_conn_t *c);

#endif
