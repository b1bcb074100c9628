/* SASL server mechanisms: SCRAM (RFC 5802, RFC 7677) with channel binding, and PLAIN. */
#include <string.h>
#include <strings.h>

#include "corvid/base64.h"
#include "corvid/jid.h"
#include "corvid/sasl.h"
#include "sasl_int.h"

#define SCRAM_NONCE_RAW 24
#define SCRAM_FAKE_SALT_LEN 16
#define TEST_NONCE_MAX 64
#define CB_TYPE_MAX 64

typedef struct mech_s {
    const char *name;
    int plain;
    int plus;
    cv_scram_hash_t hash;
} mech_t;

/* Strongest first: this is also the order in which they are offered. */
static const mech_t mechs[] = {
    {"SCRAM-SHA-256-PLUS", 0, 1, CV_SCRAM_SHA256},
    {"SCRAM-SHA-1-PLUS", 0, 1, CV_SCRAM_SHA1},
    {"SCRAM-SHA-256", 0, 0, CV_SCRAM_SHA256},
    {"SCRAM-SHA-1", 0, 0, CV_SCRAM_SHA1},
    {"PLAIN", 1, 0, CV_SCRAM_SHA256},
};

static const char *const cb_types[] = {"tls-exporter", "tls-server-end-point"};

typedef enum {
    ST_FIRST,      /* waiting for the first client message */
    ST_SCRAM_LAST, /* server-first sent, waiting for client-final */
    ST_DONE,       /* succeeded */
    ST_FAILED,     /* failed; no further step is accepted */
} state_t;

typedef enum { CB_N, CB_Y, CB_P } cbflag_t;

struct cv_sasl_s {
    const cv_sasl_env_t *env;
    const mech_t *mech;
    state_t state;
    int empty_answered; /* the empty challenge for a missing initial response was sent */
    int user_known;     /* lookup found the user; otherwise the exchange is a decoy */
    cv_scram_cred_t cred;
    cv_buf_t authcid;
    cv_buf_t authzid;
    cv_buf_t cbind_input; /* gs2 header + channel binding data: what c= must decode to */
    cv_buf_t nonce;       /* client nonce + server nonce */
    cv_buf_t auth_msg;    /* client-first-bare "," server-first "," (+ client-final-no-proof) */
    char test_nonce[TEST_NONCE_MAX + 1];
};

typedef struct span_s {
    const char *p;
    size_t len;
} span_t;

static const char *const failure_names[] = {
    [CV_SASL_FAIL_ABORTED] = "aborted",
    [CV_SASL_FAIL_ACCOUNT_DISABLED] = "account-disabled",
    [CV_SASL_FAIL_CREDENTIALS_EXPIRED] = "credentials-expired",
    [CV_SASL_FAIL_ENCRYPTION_REQUIRED] = "encryption-required",
    [CV_SASL_FAIL_INCORRECT_ENCODING] = "incorrect-encoding",
    [CV_SASL_FAIL_INVALID_AUTHZID] = "invalid-authzid",
    [CV_SASL_FAIL_INVALID_MECHANISM] = "invalid-mechanism",
    [CV_SASL_FAIL_MALFORMED_REQUEST] = "malformed-request",
    [CV_SASL_FAIL_MECHANISM_TOO_WEAK] = "mechanism-too-weak",
    [CV_SASL_FAIL_NOT_AUTHORIZED] = "not-authorized",
    [CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE] = "temporary-auth-failure",
};

const char *cv_sasl_failure_name(cv_sasl_failure_t f)
{
    if ((unsigned)f >= CV_ARRAY_LEN(failure_names))
        return "not-authorized";
    return failure_names[f];
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static int span_eq(span_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.p, lit, n) == 0;
}

/* Splits off the next ','-separated attribute. Returns 0 when none is left. */
static int next_attr(span_t *rest, span_t *attr)
{
    if (!rest->p)
        return 0;
    const char *c = memchr(rest->p, ',', rest->len);
    attr->p = rest->p;
    if (c) {
        attr->len = (size_t)(c - rest->p);
        rest->len -= attr->len + 1;
        rest->p = c + 1;
    } else {
        attr->len = rest->len;
        rest->p = NULL;
        rest->len = 0;
    }
    return 1;
}

/* An attribute "k=value" with the expected key; value returned in *v. */
static int attr_is(span_t a, char key, span_t *v)
{
    if (a.len < 2 || a.p[0] != key || a.p[1] != '=')
        return 0;
    v->p = a.p + 2;
    v->len = a.len - 2;
    return 1;
}

/* RFC 5802 extensions: attr-val = ALPHA "=" 1*value-char. The message was already checked
   to be NUL-free UTF-8, so only the shape remains. */
static int extension_valid(span_t a)
{
    char c = a.len ? a.p[0] : 0;
    return a.len >= 3 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && a.p[1] == '=';
}

/* saslname: 1*(value-safe-char / "=2C" / "=3D"); any other '=' is malformed. */
static int saslname_decode(span_t v, cv_buf_t *out)
{
    if (v.len == 0)
        return CV_EINVAL;
    cv_buf_clear(out);
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        if (c == '=') {
            if (v.len - i < 3)
                return CV_EINVAL;
            if (v.p[i + 1] == '2' && v.p[i + 2] == 'C')
                c = ',';
            else if (v.p[i + 1] == '3' && v.p[i + 2] == 'D')
                c = '=';
            else
                return CV_EINVAL;
            i += 2;
        }
        int rc = cv_buf_append(out, &c, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int nonce_valid(span_t v)
{
    if (v.len == 0)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x21 || c > 0x7e || c == ',')
            return 0;
    }
    return 1;
}

static int cb_name_valid(span_t v)
{
    if (v.len == 0 || v.len > CB_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* The authorization identity may only name the authenticated account itself: empty, or
   the bare JID authcid@domain, both compared after JID preparation (RFC 7622), so any
   spelling of the account's own JID is accepted and nothing else. */
static int authzid_allowed(const cv_sasl_env_t *env, const cv_buf_t *authcid,
                           const cv_buf_t *authzid)
{
    char user[CV_JID_PART_MAX + 1];
    cv_jid_t z = CV_JID_INIT;
    int ok;

    if (authzid->len == 0)
        return 1;
    if (!env->domain || !authcid->data || cv_jid_prep_local(authcid->data, user, sizeof user) < 0)
        return 0;
    if (cv_jid_parse(&z, authzid->data, authzid->len) < 0)
        return 0;
    ok = z.local && !z.resource && strcmp(z.local, user) == 0 &&
         strcasecmp(z.domain, env->domain) == 0;
    cv_jid_free(&z);
    return ok;
}

/* Whole-message sanity shared by every mechanism: bounded, and (for SCRAM) UTF-8 without
   NUL, which makes every later attribute check a matter of shape only. */
static int message_text_valid(const uint8_t *in, size_t len)
{
    return len <= CV_SASL_MAX_MESSAGE && !memchr(in, 0, len) && utf8_valid(in, len);
}

/* Builds the decoy credential of an unknown user. The salt must be stable across
   attempts (a fresh random salt per attempt would reveal that the user does not exist) and,
   with a server secret, impossible to recompute from outside. */
int cv_sasl_decoy_cred(const cv_sasl_env_t *env, const char *authcid, cv_scram_cred_t *c)
{
    static const char label[] = "corvid scram decoy salt";
    uint8_t mac[32];
    cv_buf_t data = CV_BUF_INIT;
    int rc = cv_buf_append(&data, label, sizeof(label));
    if (rc == 0 && env->domain)
        rc = cv_buf_append(&data, env->domain, strlen(env->domain) + 1);
    if (rc == 0)
        rc = cv_buf_append_str(&data, authcid);
    if (rc < 0)
        goto out;
    static const uint8_t no_secret[1] = {0};
    const uint8_t *key = env->fake_secret ? env->fake_secret : no_secret;
    size_t key_len = env->fake_secret ? env->fake_secret_len : sizeof(no_secret);
    rc = cv__scram_hmac(CV_SCRAM_SHA256, key, key_len, data.data, data.len, mac);
    if (rc < 0)
        goto out;
    memset(c, 0, sizeof(*c));
    memcpy(c->salt, mac, SCRAM_FAKE_SALT_LEN);
    c->salt_len = SCRAM_FAKE_SALT_LEN;
    c->iterations = env->fake_iterations ? env->fake_iterations : CV_SCRAM_DEFAULT_ITERATIONS;
    if (c->iterations > CV_SCRAM_MAX_ITERATIONS)
        c->iterations = CV_SCRAM_MAX_ITERATIONS;
    /* Keys no password can produce in practice; the proof check also requires user_known. */
    memset(c->keys, 0xa5, sizeof(c->keys));
out:
    cv_buf_free(&data);
    return rc;
}

/* Fetches the credential or a decoy. Returns 0 or a negative code, whatever it is, to be
   answered with temporary-auth-failure. */
static int load_cred(cv_sasl_t *s, const char *authcid)
{
    const cv_sasl_env_t *env = s->env;
    int rc = env->lookup ? env->lookup(env->ctx, authcid, &s->cred) : CV_EUNSUPP;
    if (rc == 0) {
        if (s->cred.iterations < 1 || s->cred.iterations > CV_SCRAM_MAX_ITERATIONS ||
            s->cred.salt_len < 1 || s->cred.salt_len > CV_SCRAM_MAX_SALT_LEN)
            return CV_ESTORE;
        s->user_known = 1;
        return 0;
    }
    if (rc == CV_ENOTFOUND) {
        s->user_known = 0;
        return cv_sasl_decoy_cred(env, authcid, &s->cred);
    }
    return rc < 0 ? rc : CV_ESTORE;
}

static int fail_with(cv_sasl_t *s, cv_sasl_failure_t *fail, cv_sasl_failure_t f, int rc)
{
    s->state = ST_FAILED;
    *fail = f;
    return rc;
}

/* Maps an internal error code to the failure element to answer with. */
static int fail_code(cv_sasl_t *s, cv_sasl_failure_t *fail, int rc)
{
    switch (rc) {
    case CV_EINVAL: return fail_with(s, fail, CV_SASL_FAIL_MALFORMED_REQUEST, rc);
    case CV_EAUTH: return fail_with(s, fail, CV_SASL_FAIL_NOT_AUTHORIZED, rc);
    default: return fail_with(s, fail, CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE, rc);
    }
}

static int make_server_nonce(cv_sasl_t *s, cv_buf_t *out)
{
    uint8_t raw[SCRAM_NONCE_RAW];
    if (s->test_nonce[0])
        return cv_buf_append_str(out, s->test_nonce);
    int rc = cv__scram_random(raw, sizeof(raw));
    if (rc == 0)
        rc = cv_base64_encode(raw, sizeof(raw), out);
    return rc;
}

/* client-first-message (RFC 5802 §7):
   gs2-header = gs2-cbind-flag "," [ authzid ] ","
   client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
static int scram_first(cv_sasl_t *s, const uint8_t *in, size_t len, cv_buf_t *out,
                       cv_sasl_failure_t *fail)
{
    const cv_sasl_env_t *env = s->env;
    span_t rest = {(const char *)in, len}, flag, az, a, v;
    cbflag_t cb;
    char cb_type[CB_TYPE_MAX + 1];
    uint8_t cb_data[CV_SASL_MAX_CB_DATA];
    size_t cb_len = 0;
    int rc = CV_EINVAL;

    if (!message_text_valid(in, len))
        return fail_code(s, fail, CV_EINVAL);
    if (!next_attr(&rest, &flag) || !next_attr(&rest, &az) || !rest.p)
        return fail_code(s, fail, CV_EINVAL);
    if (span_eq(flag, "n")) {
        cb = CB_N;
    } else if (span_eq(flag, "y")) {
        cb = CB_Y;
    } else if (attr_is(flag, 'p', &v) && cb_name_valid(v)) {
        cb = CB_P;
        memcpy(cb_type, v.p, v.len);
        cb_type[v.len] = '\0';
    } else {
        return fail_code(s, fail, CV_EINVAL);
    }
    /* RFC 5802 §6: -PLUS demands 'p'; 'p' is only meaningful with -PLUS. */
    if (s->mech->plus != (cb == CB_P))
        return fail_code(s, fail, CV_EINVAL);
    /* 'y' says "the client could bind but thinks the server cannot": if we offered -PLUS,
       someone stripped it from the list on the way (a downgrade). */
    if (cb == CB_Y && env->plus_offered)
        return fail_code(s, fail, CV_EAUTH);
    cv_buf_clear(&s->authzid);
    if (az.len > 0) {
        if (!attr_is(az, 'a', &v) || saslname_decode(v, &s->authzid) < 0)
            return fail_code(s, fail, CV_EINVAL);
    }
    size_t gs2_len = (size_t)(rest.p - (const char *)in);
    span_t bare = rest;

    if (!next_attr(&rest, &a))
        return fail_code(s, fail, CV_EINVAL);
    /* A mandatory extension we cannot know about: RFC 5802 requires failing. */
    if (attr_is(a, 'm', &v))
        return fail_code(s, fail, CV_EINVAL);
    if (!attr_is(a, 'n', &v) || (rc = saslname_decode(v, &s->authcid)) < 0)
        return fail_code(s, fail, rc == CV_ENOMEM ? rc : CV_EINVAL);
    span_t cnonce;
    if (!next_attr(&rest, &a) || !attr_is(a, 'r', &cnonce) || !nonce_valid(cnonce))
        return fail_code(s, fail, CV_EINVAL);
    while (next_attr(&rest, &a))
        if (!extension_valid(a))
            return fail_code(s, fail, CV_EINVAL);

    if (!authzid_allowed(env, &s->authcid, &s->authzid))
        return fail_with(s, fail, CV_SASL_FAIL_INVALID_AUTHZID, CV_EAUTH);

    if (cb == CB_P) {
        rc = env->channel_binding(env->ctx, cb_type, cb_data, sizeof(cb_data), &cb_len);
        if (rc == CV_EUNSUPP)
            return fail_code(s, fail, CV_EAUTH);
        if (rc < 0 || cb_len > sizeof(cb_data))
            return fail_with(s, fail, CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE, rc < 0 ? rc : CV_ETLS);
    }
    cv_buf_clear(&s->cbind_input);
    rc = cv_buf_append(&s->cbind_input, in, gs2_len);
    if (rc == 0)
        rc = cv_buf_append(&s->cbind_input, cb_data, cb_len);
    if (rc < 0)
        return fail_code(s, fail, rc);

    rc = load_cred(s, s->authcid.data);
    if (rc < 0)
        return fail_with(s, fail, CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE, rc);

    cv_buf_clear(&s->nonce);
    rc = cv_buf_append(&s->nonce, cnonce.p, cnonce.len);
    if (rc == 0)
        rc = make_server_nonce(s, &s->nonce);
    if (rc == 0)
        rc = cv_buf_printf(out, "r=%s,s=", s->nonce.data);
    if (rc == 0)
        rc = cv_base64_encode(s->cred.salt, s->cred.salt_len, out);
    if (rc == 0)
        rc = cv_buf_printf(out, ",i=%u", (unsigned)s->cred.iterations);
    cv_buf_clear(&s->auth_msg);
    if (rc == 0)
        rc = cv_buf_append(&s->auth_msg, bare.p, bare.len);
    if (rc == 0)
        rc = cv_buf_append(&s->auth_msg, ",", 1);
    if (rc == 0)
        rc = cv_buf_append(&s->auth_msg, out->data, out->len);
    if (rc == 0)
        rc = cv_buf_append(&s->auth_msg, ",", 1);
    if (rc < 0)
        return fail_code(s, fail, rc);
    s->state = ST_SCRAM_LAST;
    return CV_SASL_CONTINUE;
}

/* client-final-message = channel-binding "," nonce ["," extensions] "," proof */
static int scram_final(cv_sasl_t *s, const uint8_t *in, size_t len, cv_buf_t *out,
                       cv_sasl_failure_t *fail)
{
    cv_scram_hash_t h = s->mech->hash;
    size_t hl = cv_scram_hash_len(h);
    span_t rest = {(const char *)in, len}, a, cbv, rv, pv = {NULL, 0};
    cv_buf_t tmp = CV_BUF_INIT;
    uint8_t sig[32], key[32], stored[32];
    int rc = CV_EINVAL;

    if (len == 0 || !message_text_valid(in, len))
        goto out;
    if (!next_attr(&rest, &a) || !attr_is(a, 'c', &cbv))
        goto out;
    if (!next_attr(&rest, &a) || !attr_is(a, 'r', &rv))
        goto out;
    size_t without_proof = 0;
    while (next_attr(&rest, &a)) {
        /* The proof is the last attribute; "p=" earlier is an extension in shape only. */
        if (!rest.p && attr_is(a, 'p', &pv)) {
            without_proof = (size_t)(a.p - 1 - (const char *)in);
            break;
        }
        if (!extension_valid(a))
            goto out;
    }
    if (!pv.p)
        goto out;

    rc = cv_base64_decode(cbv.p, cbv.len, &tmp);
    if (rc < 0)
        goto out;
    /* The client must have bound to what we saw: gs2 header plus, for 'p', the TLS
       channel data. A mismatch is a man in the middle or a confused client. */
    rc = CV_EAUTH;
    if (tmp.len != s->cbind_input.len ||
        cv__scram_ct_compare(tmp.data, s->cbind_input.data, tmp.len) != 0)
        goto out;
    if (rv.len != s->nonce.len || memcmp(rv.p, s->nonce.data, rv.len) != 0)
        goto out;
    cv_buf_clear(&tmp);
    rc = cv_base64_decode(pv.p, pv.len, &tmp);
    if (rc < 0)
        goto out;
    rc = CV_EINVAL;
    if (tmp.len != hl)
        goto out;

    rc = cv_buf_append(&s->auth_msg, in, without_proof);
    if (rc < 0)
        goto out;
    const cv_scram_keys_t *k = &s->cred.keys[h];
    rc = cv__scram_hmac(h, k->stored_key, hl, s->auth_msg.data, s->auth_msg.len, sig);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < hl; i++)
        key[i] = (uint8_t)tmp.data[i] ^ sig[i];
    rc = cv__scram_hash(h, key, hl, stored);
    if (rc < 0)
        goto out;
    int mismatch = cv__scram_ct_compare(stored, k->stored_key, hl);
    rc = CV_EAUTH;
    if (mismatch || !s->user_known)
        goto out;

    rc = cv__scram_hmac(h, k->server_key, hl, s->auth_msg.data, s->auth_msg.len, sig);
    if (rc == 0)
        rc = cv_buf_append_str(out, "v=");
    if (rc == 0)
        rc = cv_base64_encode(sig, hl, out);
out:
    cv__scram_wipe(key, sizeof(key));
    cv__scram_wipe(sig, sizeof(sig));
    if (tmp.data)
        cv__scram_wipe(tmp.data, tmp.cap);
    cv_buf_free(&tmp);
    if (rc < 0)
        return fail_code(s, fail, rc);
    s->state = ST_DONE;
    return 0;
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. */
static int plain_step(cv_sasl_t *s, const uint8_t *in, size_t len, cv_sasl_failure_t *fail)
{
    const cv_sasl_env_t *env = s->env;
    char *passwd = NULL;
    int rc = CV_EINVAL;

    if (len > CV_SASL_MAX_MESSAGE || !utf8_valid(in, len))
        goto out;
    const uint8_t *z1 = memchr(in, 0, len);
    if (!z1)
        goto out;
    const uint8_t *z2 = memchr(z1 + 1, 0, len - (size_t)(z1 + 1 - in));
    if (!z2)
        goto out;
    size_t plen = len - (size_t)(z2 + 1 - in);
    if (z2 == z1 + 1 || plen == 0 || memchr(z2 + 1, 0, plen))
        goto out;
    cv_buf_clear(&s->authzid);
    cv_buf_clear(&s->authcid);
    rc = cv_buf_append(&s->authzid, in, (size_t)(z1 - in));
    if (rc == 0)
        rc = cv_buf_append(&s->authcid, z1 + 1, (size_t)(z2 - z1 - 1));
    if (rc < 0)
        goto out;
    if (!authzid_allowed(env, &s->authcid, &s->authzid)) {
        rc = fail_with(s, fail, CV_SASL_FAIL_INVALID_AUTHZID, CV_EAUTH);
        goto out;
    }
    passwd = malloc(plen + 1);
    if (!passwd) {
        rc = CV_ENOMEM;
        goto out;
    }
    memcpy(passwd, z2 + 1, plen);
    passwd[plen] = '\0';
    rc = load_cred(s, s->authcid.data);
    if (rc < 0) {
        rc = fail_with(s, fail, CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE, rc);
        goto out;
    }
    /* An unknown user costs the same PBKDF2 as a known one, against the decoy. */
    rc = cv_scram_cred_verify_password(&s->cred, passwd);
    if (rc == 0 && !s->user_known)
        rc = CV_EAUTH;
out:
    if (passwd) {
        cv__scram_wipe(passwd, plen);
        free(passwd);
    }
    if (rc < 0)
        return s->state == ST_FAILED ? rc : fail_code(s, fail, rc);
    s->state = ST_DONE;
    return 0;
}

int cv_sasl_step_is_slow(const cv_sasl_t *s)
{
    return s->mech->plain && s->state != ST_DONE && s->state != ST_FAILED;
}

int cv_sasl_step(cv_sasl_t *s, const uint8_t *in, size_t len, cv_buf_t *out,
                 cv_sasl_failure_t *fail)
{
    cv_buf_clear(out);
    if (s->state == ST_DONE || s->state == ST_FAILED)
        return fail_with(s, fail, CV_SASL_FAIL_MALFORMED_REQUEST, CV_EPROTO);
    if (s->mech->plain && !s->env->tls_active && !s->env->allow_plain_insecure)
        return fail_with(s, fail, CV_SASL_FAIL_ENCRYPTION_REQUIRED, CV_EAUTH);
    if (len == 0 && s->state == ST_FIRST) {
        /* No initial response: both mechanisms are client-first, so the server's first
           challenge is empty (RFC 6120 §6.4.2). Only once. */
        if (s->empty_answered)
            return fail_code(s, fail, CV_EINVAL);
        s->empty_answered = 1;
        return CV_SASL_CONTINUE;
    }
    int rc;
    if (s->mech->plain)
        rc = plain_step(s, in, len, fail);
    else if (s->state == ST_FIRST)
        rc = scram_first(s, in, len, out, fail);
    else
        rc = scram_final(s, in, len, out, fail);
    if (rc < 0)
        cv_buf_clear(out);
    return rc;
}

int cv_sasl_mechanisms(const cv_sasl_env_t *env, cv_buf_t *out_list)
{
    int rc = 0;
    int first = 1;
    for (size_t i = 0; i < CV_ARRAY_LEN(mechs) && rc == 0; i++) {
        const mech_t *m = &mechs[i];
        if (m->plus && !(env->plus_offered && env->channel_binding))
            continue;
        if (m->plain && !(env->tls_active || env->allow_plain_insecure))
            continue;
        rc = cv_buf_printf(out_list, "%s%s", first ? "" : " ", m->name);
        first = 0;
    }
    return rc;
}

int cv_sasl_channel_binding_types(const cv_sasl_env_t *env, cv_buf_t *out_list)
{
    uint8_t data[CV_SASL_MAX_CB_DATA];
    int rc = 0;
    int first = 1;
    if (!env->channel_binding)
        return 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(cb_types) && rc == 0; i++) {
        size_t len = 0;
        if (env->channel_binding(env->ctx, cb_types[i], data, sizeof(data), &len) != 0 ||
            len > sizeof(data))
            continue;
        rc = cv_buf_printf(out_list, "%s%s", first ? "" : " ", cb_types[i]);
        first = 0;
    }
    cv__scram_wipe(data, sizeof(data));
    return rc;
}

int cv_sasl_start(cv_sasl_t **out, const char *mech, const cv_sasl_env_t *env)
{
    const mech_t *m = NULL;
    *out = NULL;
    for (size_t i = 0; i < CV_ARRAY_LEN(mechs); i++)
        if (strcmp(mechs[i].name, mech) == 0)
            m = &mechs[i];
    if (!m)
        return CV_EUNSUPP;
    if (m->plus && !(env->plus_offered && env->channel_binding))
        return CV_EUNSUPP;
    cv_sasl_t *s = calloc(1, sizeof(*s));
    if (!s)
        return CV_ENOMEM;
    s->env = env;
    s->mech = m;
    s->state = ST_FIRST;
    *out = s;
    return 0;
}

const char *cv_sasl_authcid(const cv_sasl_t *s)
{
    return s->state == ST_DONE ? s->authcid.data : NULL;
}

const char *cv_sasl_authzid(const cv_sasl_t *s)
{
    if (s->state != ST_DONE)
        return NULL;
    return s->authzid.data ? s->authzid.data : "";
}

int cv__sasl_set_test_nonce(cv_sasl_t *s, const char *nonce)
{
    span_t v = {nonce, strlen(nonce)};
    if (v.len > TEST_NONCE_MAX || !nonce_valid(v))
        return CV_EINVAL;
    memcpy(s->test_nonce, nonce, v.len + 1);
    return 0;
}

static void wipe_buf(cv_buf_t *b)
{
    if (b->data)
        cv__scram_wipe(b->data, b->cap);
    cv_buf_free(b);
}

void cv_sasl_free(cv_sasl_t *s)
{
    if (!s)
        return;
    wipe_buf(&s->authcid);
    wipe_buf(&s->authzid);
    wipe_buf(&s->cbind_input);
    wipe_buf(&s->nonce);
    wipe_buf(&s->auth_msg);
    cv__scram_wipe(s, sizeof(*s));
    free(s);
}
