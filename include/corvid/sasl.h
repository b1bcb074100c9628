/*
 * corvid/sasl.h — server side of the SASL mechanisms SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS,
 * SCRAM-SHA-256, SCRAM-SHA-1 (RFC 5802, RFC 7677; channel binding "tls-exporter",
 * RFC 9266, and "tls-server-end-point", RFC 5929) and PLAIN (RFC 4616).
 *
 * The module is pure: it takes the decoded client data and returns the bytes of the next
 * challenge or of the success additional data; the caller does XML and base64
 * (cv_base64_decode_sasl) and answers <failure/> with cv_sasl_failure_name().
 *
 * Ownership and threads: a cv_sasl_t belongs to one stream and is used by the one thread
 * that currently runs that stream; it is not thread-safe. It borrows its cv_sasl_env_t,
 * which must outlive it; the env's callbacks are called synchronously from
 * cv_sasl_step() on that thread. cv_sasl_mechanisms() and cv_sasl_failure_name() are
 * callable from any thread. Nothing here logs secrets or keeps a plaintext password past
 * the call that received it.
 */
#ifndef CORVID_SASL_H
#define CORVID_SASL_H

#include "corvid/buf.h"
#include "corvid/scram.h"

/* RFC 6120 §6.5 failure conditions, in the order of that section. */
typedef enum {
    CV_SASL_FAIL_ABORTED,
    CV_SASL_FAIL_ACCOUNT_DISABLED,
    CV_SASL_FAIL_CREDENTIALS_EXPIRED,
    CV_SASL_FAIL_ENCRYPTION_REQUIRED,
    CV_SASL_FAIL_INCORRECT_ENCODING,
    CV_SASL_FAIL_INVALID_AUTHZID,
    CV_SASL_FAIL_INVALID_MECHANISM,
    CV_SASL_FAIL_MALFORMED_REQUEST,
    CV_SASL_FAIL_MECHANISM_TOO_WEAK,
    CV_SASL_FAIL_NOT_AUTHORIZED,
    CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE,
} cv_sasl_failure_t;

/* Thread: any. The element name of f ("not-authorized", ...); "not-authorized" for a value
   out of range. Static storage. */
const char *cv_sasl_failure_name(cv_sasl_failure_t f);

/* Largest client message accepted by cv_sasl_step(); longer ones are malformed-request.
   A JID localpart of 1023 bytes, fully escaped, still fits. */
#define CV_SASL_MAX_MESSAGE 8192
/* Largest channel binding data a callback may return (tls-server-end-point with SHA-512). */
#define CV_SASL_MAX_CB_DATA 64

typedef struct cv_sasl_env_s {
    const char *domain;       /* the stream's host; authzid may be empty or user@domain */
    int tls_active;           /* PLAIN refused (encryption-required) unless tls_active ... */
    int allow_plain_insecure; /* ... or this is set (loopback, tests) */
    int plus_offered;         /* server advertised -PLUS mechanisms (decides the 'y' check) */
    /* Looks up credentials for a raw authcid (the callback normalizes the username).
       Returns 0, CV_ENOTFOUND (unknown user: the mechanism still runs a full exchange
       with a deterministic fake salt and answers not-authorized at the end, so user
       existence is not revealed), or another negative code (temporary-auth-failure).
       Return CV_ENOTFOUND also for a disabled account when its existence must stay hidden. */
    int (*lookup)(void *ctx, const char *authcid, cv_scram_cred_t *out);
    /* Channel binding data of the TLS session for type "tls-exporter" or
       "tls-server-end-point": writes at most cap bytes to out and their count to *len.
       Returns 0 or CV_EUNSUPP (type not available on this session). NULL when no TLS;
       then no -PLUS mechanism is offered or accepted. */
    int (*channel_binding)(void *ctx, const char *type, uint8_t *out, size_t cap, size_t *len);
    void *ctx;
    /* Optional server secret keying the fake salts of unknown users, so that they cannot
       be told from real ones by recomputing them. NULL: the salt depends on the domain and
       the username only. */
    const uint8_t *fake_secret;
    size_t fake_secret_len;
    /* Iteration count announced for unknown users and spent on PLAIN for them; should be
       what real accounts use. 0 means CV_SCRAM_DEFAULT_ITERATIONS. */
    uint32_t fake_iterations;
} cv_sasl_env_t;

/* Thread: any. Appends the space-separated mechanisms to offer to out_list, strongest
   first: the -PLUS ones when env->plus_offered and env->channel_binding are set, both
   SCRAM mechanisms always, PLAIN when env->tls_active or env->allow_plain_insecure.
   Returns 0 or CV_ENOMEM. */
int cv_sasl_mechanisms(const cv_sasl_env_t *env, cv_buf_t *out_list);

/* Thread: any, but calls env->channel_binding. Appends the space-separated channel binding
   types the session supports ("tls-exporter tls-server-end-point", possibly empty) for the
   XEP-0440 <sasl-channel-binding/> feature. Returns 0 or CV_ENOMEM. */
int cv_sasl_channel_binding_types(const cv_sasl_env_t *env, cv_buf_t *out_list);

typedef struct cv_sasl_s cv_sasl_t;

/* Thread: stream owner. Starts mechanism mech (exact, case-sensitive name). Returns 0 with
   *out set, CV_EUNSUPP (unknown mechanism, or -PLUS without channel binding offered: the
   caller answers invalid-mechanism) or CV_ENOMEM. env is borrowed and must outlive *out. */
int cv_sasl_start(cv_sasl_t **out, const char *mech, const cv_sasl_env_t *env);
/* Thread: any. The decoy credential of a user that does not exist (stable per domain and
   username, keyed by env->fake_secret, env->fake_iterations rounds), for a password check
   that must cost what a real one costs (XEP-0078 legacy auth uses it as SASL PLAIN does).
   No password verifies against it in practice. Returns 0 or CV_ENOMEM. */
int cv_sasl_decoy_cred(const cv_sasl_env_t *env, const char *authcid, cv_scram_cred_t *out);

/* Thread: stream owner. One step: in[0..len) is the decoded client data (initial response
   or response). Pass len 0 when <auth/> carried no initial response: the first step then
   answers an empty challenge (both for SCRAM and PLAIN). Clears *out and fills it.
   Returns CV_SASL_CONTINUE (send *out as <challenge>), 0 (success: send <success> with *out
   as additional data, possibly empty) or a negative code with *fail set: CV_EAUTH
   (not-authorized, invalid-authzid, encryption-required), CV_EINVAL (malformed-request),
   CV_EPROTO (step after the exchange ended), CV_ENOMEM or the lookup's own code
   (temporary-auth-failure). After a negative return the exchange is over. */
#define CV_SASL_CONTINUE 1
int cv_sasl_step(cv_sasl_t *s, const uint8_t *in, size_t len, cv_buf_t *out,
                 cv_sasl_failure_t *fail);

/* Thread: stream owner. Whether the next cv_sasl_step may derive keys from a password
   (PLAIN: one PBKDF2, milliseconds of CPU), so that the caller runs it off its event loop.
   The step may then run on another thread, as long as a happens-before edge separates it
   from the owner's calls before and after (a queue hand-off both ways). */
int cv_sasl_step_is_slow(const cv_sasl_t *s);

/* Thread: stream owner. After success: the authenticated raw username (as sent by the
   client, before the lookup's normalization), owned by s. NULL before success. */
const char *cv_sasl_authcid(const cv_sasl_t *s);

/* Thread: stream owner. After success: the authorization identity the client asked for
   (already checked to be empty or authcid@domain), or "" when none. NULL before success. */
const char *cv_sasl_authzid(const cv_sasl_t *s);

/* Thread: stream owner. Wipes and frees s; NULL is allowed. */
void cv_sasl_free(cv_sasl_t *s);

#endif
