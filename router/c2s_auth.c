/*
 * Client authentication: SASL (RFC 6120 §6) over the mechanisms of corvid/sasl.h, and the
 * legacy jabber:iq:auth protocol (XEP-0078) when the configuration enables it. Failed
 * attempts count against the peer address and the account (corvid/throttle.h); past the
 * limit an attempt is refused with temporary-auth-failure before any password is checked.
 */
#include <stddef.h>
#include <string.h>

#include "corvid/base64.h"
#include "corvid/clock.h"
#include "corvid/log.h"
#include "corvid/offload.h"
#include "c2s_int.h"
#include "reply.h"

/* Failed SASL attempts one stream may make before it is closed. */
#define CV_C2S_MAX_AUTH_TRIES 5

/* The stored credential of user (prepared) on s's host, unless the account is throttled. */
static int account_cred(cv_c2s_t *s, const char *user, cv_scram_cred_t *out)
{
    uint8_t blob[CV_STORE_CRED_MAX];
    size_t len = 0;
    int rc;

    if (cv_throttle_check(s->srv->fail_by_account, user, cv_clock_ms()) < 0)
        return CV_ELIMIT;
    rc = cv_store_account_get(s->srv->store, s->host, user, blob, sizeof blob, &len);
    if (rc < 0)
        return rc;
    rc = cv_scram_cred_decode(out, blob, len);
    return rc < 0 ? CV_ESTORE : 0;
}

/* The SASL exchange's lookup: records the name it authenticates (sasl_user), which
   becomes the session's account when the exchange succeeds. Only the SASL exchange may
   set it. */
static int sasl_lookup(void *ctx, const char *authcid, cv_scram_cred_t *out)
{
    cv_c2s_t *s = ctx;
    char user[CV_JID_PART_MAX + 1];

    free(s->sasl_user);
    s->sasl_user = NULL;
    if (cv_jid_prep_local(authcid, user, sizeof user) < 0)
        return CV_ENOTFOUND;
    s->sasl_user = strdup(user);
    if (!s->sasl_user)
        return CV_ENOMEM;
    return account_cred(s, user, out);
}

static int sasl_channel_binding(void *ctx, const char *type, uint8_t *out, size_t cap, size_t *len)
{
    cv_c2s_t *s = ctx;
    cv_tls_conn_t *tls = cv_net_conn_tls(s->conn);
    if (!tls)
        return CV_EUNSUPP;
    return cv_tls_conn_channel_binding(tls, type, out, cap, len);
}

void cv__c2s_auth_init(cv_c2s_t *s)
{
    cv_sasl_env_t *env = &s->sasl_env;
    memset(env, 0, sizeof *env);
    env->allow_plain_insecure = s->listener->allow_plain_without_tls;
    env->lookup = sasl_lookup;
    env->ctx = s;
    env->fake_secret = s->srv->secret;
    env->fake_secret_len = sizeof s->srv->secret;
    env->fake_iterations = s->srv->config->scram_iterations;
}

/* Whether the configuration lists any channel-binding (-PLUS) mechanism. */
static int plus_configured(const cv_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nmechanisms; i++) {
        size_t n = strlen(cfg->mechanisms[i]);
        if (n > 5 && strcmp(cfg->mechanisms[i] + n - 5, "-PLUS") == 0)
            return 1;
    }
    return 0;
}

/* The per-stream parts of the environment: TLS may have started since init. */
static void auth_env_refresh(cv_c2s_t *s)
{
    cv_sasl_env_t *env = &s->sasl_env;
    env->domain = s->host;
    env->tls_active = cv_net_conn_is_tls(s->conn);
    /* -PLUS is offered only over TLS and when configured; a client's "y" flag is then a
       downgrade (RFC 5802 §6) and fails, otherwise it is accepted. */
    env->plus_offered = env->tls_active && plus_configured(s->srv->config);
    env->channel_binding = env->plus_offered ? sasl_channel_binding : NULL;
}

/* Whether name is in the space-separated list. */
static int list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Mechanisms offered on this stream: the configured ones the SASL module can run now. */
static int offered_mechanisms(cv_c2s_t *s, cv_buf_t *out)
{
    const cv_config_t *cfg = s->srv->config;
    cv_buf_t avail = CV_BUF_INIT;
    int rc;

    auth_env_refresh(s);
    rc = cv_sasl_mechanisms(&s->sasl_env, &avail);
    for (size_t i = 0; rc == 0 && i < cfg->nmechanisms; i++) {
        if (!list_has(avail.data, cfg->mechanisms[i]))
            continue;
        if (out->len)
            rc = cv_buf_append_str(out, " ");
        if (rc == 0)
            rc = cv_buf_append_str(out, cfg->mechanisms[i]);
    }
    cv_buf_free(&avail);
    if (rc == 0 && !out->data)
        rc = cv_buf_append_str(out, "");
    return rc;
}

int cv__c2s_auth_features(cv_c2s_t *s, cv_buf_t *features)
{
    cv_buf_t mechs = CV_BUF_INIT, cb = CV_BUF_INIT;
    int rc = offered_mechanisms(s, &mechs);

    if (rc == 0 && mechs.len > 0) {
        rc = cv_buf_append_str(features, "<mechanisms xmlns='" CV_NS_SASL "'>");
        for (const char *p = mechs.data; rc == 0 && p && *p;) {
            const char *end = strchr(p, ' ');
            int len = end ? (int)(end - p) : (int)strlen(p);
            rc = cv_buf_printf(features, "<mechanism>%.*s</mechanism>", len, p);
            p = end ? end + 1 : NULL;
        }
        if (rc == 0)
            rc = cv_buf_append_str(features, "</mechanisms>");
    }
    /* XEP-0440: tell the client which channel-binding types it may ask for. */
    if (rc == 0 && s->sasl_env.channel_binding) {
        rc = cv_sasl_channel_binding_types(&s->sasl_env, &cb);
        if (rc == 0 && cb.len > 0) {
            rc = cv_buf_append_str(features, "<sasl-channel-binding xmlns='" CV_NS_SASL_CB "'>");
            for (const char *p = cb.data; rc == 0 && p && *p;) {
                const char *end = strchr(p, ' ');
                int len = end ? (int)(end - p) : (int)strlen(p);
                rc = cv_buf_printf(features, "<channel-binding type='%.*s'/>", len, p);
                p = end ? end + 1 : NULL;
            }
            if (rc == 0)
                rc = cv_buf_append_str(features, "</sasl-channel-binding>");
        }
    }
    cv_buf_free(&mechs);
    cv_buf_free(&cb);
    return rc;
}

static int send_sasl(cv_c2s_t *s, const char *element, const cv_buf_t *data)
{
    cv_buf_t b = CV_BUF_INIT;
    int rc = cv_buf_printf(&b, "<%s xmlns='" CV_NS_SASL "'>", element);
    if (rc == 0 && data && data->len > 0)
        rc = cv_base64_encode(data->data, data->len, &b);
    if (rc == 0)
        rc = cv_buf_printf(&b, "</%s>", element);
    if (rc == 0)
        rc = cv__c2s_write_buf(s, &b);
    cv_buf_free(&b);
    return rc;
}

static int send_failure(cv_c2s_t *s, cv_sasl_failure_t f, const char *text)
{
    cv_buf_t b = CV_BUF_INIT;
    int rc = cv_buf_printf(&b, "<failure xmlns='" CV_NS_SASL "'><%s/>", cv_sasl_failure_name(f));
    if (rc == 0 && text)
        rc = cv_buf_printf(&b, "<text xml:lang='en'>%s</text>", text);
    if (rc == 0)
        rc = cv_buf_append_str(&b, "</failure>");
    if (rc == 0)
        rc = cv__c2s_write_buf(s, &b);
    cv_buf_free(&b);
    return rc;
}

/* Counts a checked and refused password (SASL or legacy) against the peer and the
   account, for the throttles. */
static void count_failed_guess(cv_c2s_t *s, const char *user)
{
    uint64_t now = cv_clock_ms();
    cv_throttle_fail(s->srv->fail_by_ip, cv_net_conn_peer(s->conn), now);
    cv_throttle_fail(s->srv->fail_by_account, user, now);
}

/* Ends the exchange with a failure; counts it; closes a stream that keeps failing. */
static int auth_failed(cv_c2s_t *s, cv_sasl_failure_t f, const char *text)
{
    cv_sasl_free(s->sasl);
    s->sasl = NULL;
    /* Only a checked credential counts as a guess: a refused channel-binding type or a
       downgraded flag ends before any lookup and says nothing about the password. */
    if (f == CV_SASL_FAIL_NOT_AUTHORIZED && s->sasl_user) {
        count_failed_guess(s, s->sasl_user);
        cv_info("c2s %s: authentication failed for %s@%s", cv_net_conn_peer(s->conn), s->sasl_user,
                s->host);
    } else {
        cv_debug("c2s %s: SASL failure %s", cv_net_conn_peer(s->conn), cv_sasl_failure_name(f));
    }
    if (send_failure(s, f, text) < 0)
        return -1;
    if (++s->auth_failures >= CV_C2S_MAX_AUTH_TRIES) {
        cv__c2s_stream_error(s, CV_SE_POLICY_VIOLATION, "too many failed authentication attempts");
        return -1;
    }
    return 0;
}

static int auth_succeeded(cv_c2s_t *s)
{
    cv_sasl_free(s->sasl);
    s->sasl = NULL;
    s->user = s->sasl_user;
    s->sasl_user = NULL;
    if (!s->user)
        return -1;
    s->authenticated = 1;
    cv_info("c2s %s: authenticated as %s@%s", cv_net_conn_peer(s->conn), s->user, s->host);
    /* RFC 6120 §6.4.6: the stream restarts after <success/>. */
    s->pause = CV_C2S_PAUSE_RESTART;
    return 1;
}

/* What one SASL step's outcome asks for: a challenge, success (and the stream restart),
   or a failure. Returns 1 when the parser must pause, 0 or <0 as a handler does. */
static int sasl_answer(cv_c2s_t *s, int rc, cv_buf_t *out, cv_sasl_failure_t fail)
{
    if (rc == CV_SASL_CONTINUE)
        return send_sasl(s, "challenge", out);
    if (rc == 0)
        return send_sasl(s, "success", out) < 0 ? -1 : auth_succeeded(s);
    return auth_failed(s, fail, NULL);
}

/*
 * A SASL PLAIN step derives keys from the password (milliseconds of CPU): it runs as a
 * c2s job (c2s_job.c) so the ring keeps serving its other connections.
 */
typedef struct plain_job_s {
    cv__c2s_job_t base; /* first member */
    cv_buf_t in, out;
    cv_sasl_failure_t fail;
    int rc;
} plain_job_t;

static void plain_work(cv__c2s_job_t *j)
{
    plain_job_t *pj = (plain_job_t *)j;
    /* The session's sasl is the job's while it runs (auth_pending keeps others off it). */
    pj->rc = cv_sasl_step(j->s->sasl, (const uint8_t *)(pj->in.data ? pj->in.data : ""), pj->in.len,
                          &pj->out, &pj->fail);
}

static int plain_finish(cv__c2s_job_t *j)
{
    plain_job_t *pj = (plain_job_t *)j;
    return sasl_answer(j->s, pj->rc, &pj->out, pj->fail);
}

static void plain_free(cv__c2s_job_t *j)
{
    plain_job_t *pj = (plain_job_t *)j;
    cv_buf_free_wiped(&pj->in);
    cv_buf_free_wiped(&pj->out);
    free(pj);
}

/* Hands the step to the offload pool; takes over *in. Returns 1 (pause) or <0. */
static int sasl_step_offload(cv_c2s_t *s, cv_buf_t *in)
{
    plain_job_t *pj = calloc(1, sizeof *pj);
    if (!pj)
        return auth_failed(s, CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE, NULL);
    pj->in = *in;
    *in = (cv_buf_t)CV_BUF_INIT;
    pj->base.work = plain_work;
    pj->base.finish = plain_finish;
    pj->base.free = plain_free;
    return cv__c2s_job_start(s, &pj->base);
}

static int sasl_step(cv_c2s_t *s, const cv_xml_node_t *el)
{
    cv_buf_t text = CV_BUF_INIT, in = CV_BUF_INIT, out = CV_BUF_INIT;
    cv_sasl_failure_t fail = CV_SASL_FAIL_MALFORMED_REQUEST;
    int rc = cv_xml_text(el, &text);

    if (rc == 0) {
        rc = cv_base64_decode_sasl(text.data ? text.data : "", text.len, &in);
        if (rc < 0) {
            rc = auth_failed(s, CV_SASL_FAIL_INCORRECT_ENCODING, NULL);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    if (s->srv->offload && cv_sasl_step_is_slow(s->sasl)) {
        rc = sasl_step_offload(s, &in);
        goto out;
    }
    rc = cv_sasl_step(s->sasl, (const uint8_t *)(in.data ? in.data : ""), in.len, &out, &fail);
    rc = sasl_answer(s, rc, &out, fail);
out:
    cv_buf_free(&text);
    cv_buf_free_wiped(&in);
    cv_buf_free_wiped(&out);
    return rc;
}

static int sasl_start(cv_c2s_t *s, const cv_xml_node_t *el)
{
    const char *mech = cv_xml_attr(el, "mechanism");
    cv_buf_t offered = CV_BUF_INIT;
    int rc;

    if (s->sasl)
        return auth_failed(s, CV_SASL_FAIL_ABORTED, "an exchange was already in progress");
    free(s->sasl_user);
    s->sasl_user = NULL;
    rc = offered_mechanisms(s, &offered);
    if (rc == 0 && (!mech || !list_has(offered.data, mech))) {
        cv_buf_free(&offered);
        return auth_failed(s, CV_SASL_FAIL_INVALID_MECHANISM, NULL);
    }
    cv_buf_free(&offered);
    if (rc < 0)
        return -1;
    if (cv_throttle_check(s->srv->fail_by_ip, cv_net_conn_peer(s->conn), cv_clock_ms()) < 0)
        return auth_failed(s, CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE,
                           "too many failed attempts; try again later");
    rc = cv_sasl_start(&s->sasl, mech, &s->sasl_env);
    if (rc < 0)
        return auth_failed(s,
                           rc == CV_EUNSUPP ? CV_SASL_FAIL_INVALID_MECHANISM
                                            : CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE,
                           NULL);
    /* No initial response at all (an empty element): ask for it with an empty challenge.
       "=" is an initial response that is empty, which the mechanism itself judges. */
    if (!cv_xml_first_element(el) && !el->children) {
        cv_buf_t empty = CV_BUF_INIT;
        return send_sasl(s, "challenge", &empty);
    }
    return sasl_step(s, el);
}

int cv__c2s_auth_handle(cv_c2s_t *s, const cv_xml_node_t *el)
{
    if (strcmp(el->name, "auth") == 0)
        return sasl_start(s, el);
    if (strcmp(el->name, "response") == 0) {
        if (!s->sasl)
            return auth_failed(s, CV_SASL_FAIL_MALFORMED_REQUEST, "no exchange in progress");
        return sasl_step(s, el);
    }
    if (strcmp(el->name, "abort") == 0)
        return auth_failed(s, CV_SASL_FAIL_ABORTED, NULL);
    cv__c2s_stream_error(s, CV_SE_UNSUPPORTED_STANZA_TYPE, NULL);
    return -1;
}

void cv__c2s_auth_free(cv_c2s_t *s)
{
    if (s->auth_pending)
        return; /* the offload job still uses sasl; its completion frees it */
    cv_sasl_free(s->sasl);
    s->sasl = NULL;
    free(s->sasl_user);
    s->sasl_user = NULL;
}

/* XEP-0078 §3: what a client must send. Digest authentication would need the plaintext
   password on the server, which Corvid never keeps, so only the plain form is offered. */
static int legacy_fields(cv_c2s_t *s, const cv_xml_node_t *iq)
{
    cv_stanza_t *r = NULL;
    int rc = cv__c2s_reply_new(s, iq, "result", &r);
    if (rc < 0)
        return rc;
    cv_xml_node_t *q = cv_stanza_add_child(r, cv_stanza_root(r), "query", CV_NS_IQ_AUTH);
    rc = q ? 0 : CV_ENOMEM;
    static const char *const fields[] = {"username", "password", "resource"};
    for (size_t i = 0; rc == 0 && i < CV_ARRAY_LEN(fields); i++)
        if (!cv_stanza_add_child(r, q, fields[i], CV_NS_IQ_AUTH))
            rc = CV_ENOMEM;
    if (rc == 0)
        rc = cv__c2s_send_stanza(s, cv_stanza_root(r));
    cv_stanza_free(r);
    return rc;
}

static int child_text(const cv_xml_node_t *q, const char *name, cv_buf_t *out)
{
    return cv__child_text(q, name, NULL, out);
}

/* A legacy login whose password is being checked off the ring. */
typedef struct legacy_job_s {
    cv__c2s_job_t base;             /* first member */
    char user[CV_JID_PART_MAX + 1]; /* prepared; the session's account on success */
    cv_scram_cred_t cred;
    cv_buf_t password;
    int decoy; /* the account does not exist: cred is a decoy, the check fails anyway */
    char resource[CV_JID_PART_MAX + 1];
    cv_stanza_t *request;
    int rc;
} legacy_job_t;

static void legacy_work(cv__c2s_job_t *j)
{
    legacy_job_t *lj = (legacy_job_t *)j;
    lj->rc = cv_scram_cred_verify_password(&lj->cred, lj->password.data ? lj->password.data : "");
    if (lj->rc == 0 && lj->decoy)
        lj->rc = CV_EAUTH;
}

static int legacy_finish(cv__c2s_job_t *j)
{
    legacy_job_t *lj = (legacy_job_t *)j;
    cv_c2s_t *s = j->s;
    const cv_xml_node_t *iq = cv_stanza_root(lj->request);
    cv_stanza_err_t err = CV_STE_INTERNAL_SERVER_ERROR;
    int rc = lj->rc;

    if (rc == CV_EAUTH) {
        count_failed_guess(s, lj->user);
        err = CV_STE_NOT_AUTHORIZED;
    }
    if (rc == 0) {
        s->user = strdup(lj->user);
        rc = s->user ? 0 : CV_ENOMEM;
    }
    if (rc == 0) {
        s->authenticated = 1;
        rc = cv__c2s_bind_resource(s, lj->resource, &err);
    }
    if (rc == 0) {
        cv_info("c2s %s: legacy authentication as %s@%s", cv_net_conn_peer(s->conn), s->user,
                s->host);
        rc = cv__c2s_iq_result(s, iq);
    } else {
        rc = cv__c2s_stanza_error(s, iq, err, NULL);
    }
    return rc < 0 ? -1 : 0;
}

static void legacy_free(cv__c2s_job_t *j)
{
    legacy_job_t *lj = (legacy_job_t *)j;
    memset(&lj->cred, 0, sizeof lj->cred);
    cv_buf_free_wiped(&lj->password);
    cv_stanza_free(lj->request);
    free(lj);
}

/*
 * Looks up the account of a legacy login and starts the password check off the ring.
 * Returns 1 (the check runs; the job answers), or a code with *err the stanza error.
 * Takes over *password when it returns 1.
 */
static int legacy_start(cv_c2s_t *s, const cv_xml_node_t *iq, const char *username,
                        cv_buf_t *password, const char *resource, cv_stanza_err_t *err)
{
    char user[CV_JID_PART_MAX + 1];
    legacy_job_t *lj = NULL;
    uint64_t now = cv_clock_ms();
    int rc;

    *err = CV_STE_NOT_AUTHORIZED;
    if (cv_jid_prep_local(username, user, sizeof user) < 0)
        return CV_EAUTH;
    if (cv_throttle_check(s->srv->fail_by_ip, cv_net_conn_peer(s->conn), now) < 0 ||
        cv_throttle_check(s->srv->fail_by_account, user, now) < 0) {
        *err = CV_STE_RESOURCE_CONSTRAINT;
        return CV_ELIMIT;
    }
    lj = calloc(1, sizeof *lj);
    if (!lj) {
        *err = CV_STE_INTERNAL_SERVER_ERROR;
        return CV_ENOMEM;
    }
    snprintf(lj->user, sizeof lj->user, "%s", user);
    rc = account_cred(s, user, &lj->cred);
    if (rc == CV_ENOTFOUND) {
        /* Checked against a decoy, so an unknown account costs (and answers) what a wrong
           password does. */
        lj->decoy = 1;
        rc = cv_sasl_decoy_cred(&s->sasl_env, user, &lj->cred);
    }
    if (rc == 0)
        rc = cv__reply_request_copy(iq, &lj->request);
    if (rc < 0) {
        *err = rc == CV_ELIMIT ? CV_STE_RESOURCE_CONSTRAINT : CV_STE_INTERNAL_SERVER_ERROR;
        legacy_free(&lj->base);
        return rc;
    }
    lj->password = *password;
    *password = (cv_buf_t)CV_BUF_INIT;
    snprintf(lj->resource, sizeof lj->resource, "%s", resource);
    lj->base.work = legacy_work;
    lj->base.finish = legacy_finish;
    lj->base.free = legacy_free;
    return cv__c2s_job_start(s, &lj->base);
}

int cv__c2s_legacy_auth(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *query)
{
    const char *type = cv_xml_attr(iq, "type");
    cv_buf_t username = CV_BUF_INIT, password = CV_BUF_INIT, resource = CV_BUF_INIT;
    cv_stanza_err_t err = CV_STE_NOT_ACCEPTABLE;
    char res[CV_JID_PART_MAX + 1];
    int rc;

    auth_env_refresh(s);
    if (type && strcmp(type, "get") == 0)
        return legacy_fields(s, iq) < 0 ? -1 : 0;
    if (!type || strcmp(type, "set") != 0)
        return cv__c2s_stanza_error(s, iq, CV_STE_BAD_REQUEST, NULL) < 0 ? -1 : 0;
    if (!s->sasl_env.tls_active && !s->sasl_env.allow_plain_insecure) {
        err = CV_STE_NOT_AUTHORIZED;
        rc = CV_EAUTH;
        goto reply;
    }
    /* One authentication at a time: a SASL exchange in progress is finished or aborted
       first (its state must not meet a legacy attempt's). */
    if (s->sasl) {
        err = CV_STE_NOT_ALLOWED;
        rc = CV_EAUTH;
        goto reply;
    }
    if (child_text(query, "username", &username) < 0 ||
        child_text(query, "password", &password) < 0 ||
        child_text(query, "resource", &resource) < 0 || resource.len == 0 ||
        cv_jid_prep_resource(resource.data, res, sizeof res) < 0) {
        rc = CV_EINVAL; /* XEP-0078 §3: not-acceptable for missing fields */
        goto reply;
    }
    rc = legacy_start(s, iq, username.data ? username.data : "", &password, res, &err);
    if (rc == 1)
        goto out; /* the job answers */
reply:
    rc = cv__c2s_stanza_error(s, iq, err, NULL) < 0 ? -1 : 0;
out:
    cv_buf_free(&username);
    cv_buf_free_wiped(&password);
    cv_buf_free(&resource);
    return rc;
}
