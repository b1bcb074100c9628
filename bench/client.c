/*
 * The client side of XMPP stream negotiation (RFC 6120 §4–§7) for the load generator.
 * Server bytes go: [wolfSSL] -> cv_xml stream parser -> on_stanza(), which advances the
 * negotiation or hands the stanza to the scenario.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "corvid/base64.h"
#include "corvid/xmpp.h"
#include "client.h"

#define NS_ROSTER "jabber:iq:roster"

enum { PAUSE_NONE = 0, PAUSE_STARTTLS, PAUSE_RESTART };

uint64_t cv_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cv_bench_conn_fail(cv_bench_conn_t *c, int code, const char *why)
{
    if (c->failed)
        return code;
    c->failed = 1;
    c->state = CV_BENCH_CS_DEAD;
    c->closing = 1;
    c->cfg->ops->on_fail(c, code, why);
    return code;
}

static int push_wire(cv_bench_conn_t *c, const void *data, size_t len)
{
    int rc = cv_buf_append(&c->out, data, len);
    if (rc == 0)
        c->cfg->ops->on_output(c);
    return rc;
}

int cv_bench_conn_send(cv_bench_conn_t *c, const char *data, size_t len)
{
    if (c->failed)
        return CV_ECLOSED;
    if (!c->ssl)
        return push_wire(c, data, len);
    if (!c->tls_up)
        return CV_AGAIN;
    /* wolfSSL writes whole records through the send callback into c->out. */
    int n = wolfSSL_write(c->ssl, data, (int)len);
    if (n != (int)len)
        return cv_bench_conn_fail(c, CV_ETLS, "TLS write failed");
    return 0;
}

int cv_bench_conn_sendf(cv_bench_conn_t *c, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CV_EINVAL;
    if ((size_t)n < sizeof small)
        return cv_bench_conn_send(c, small, (size_t)n);
    char *p = malloc((size_t)n + 1);
    if (!p)
        return CV_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = cv_bench_conn_send(c, p, (size_t)n);
    free(p);
    return rc;
}

static int send_header(cv_bench_conn_t *c)
{
    return cv_bench_conn_sendf(c,
                               "<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
                               "xmlns='" CV_NS_CLIENT "' xmlns:stream='" CV_NS_STREAM "'>",
                               c->cfg->opts->domain);
}

void cv_bench_conn_end_stream(cv_bench_conn_t *c)
{
    if (!c->failed && c->state >= CV_BENCH_CS_STREAM && (!c->ssl || c->tls_up))
        (void)cv_bench_conn_send(c, "</stream:stream>", 16);
}

/* wolfSSL I/O over memory: ciphertext comes from tls_in, goes to out. */
static int tls_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    cv_bench_conn_t *c = ctx;
    size_t avail = c->tls_in.len - c->tls_in_off;
    CV_UNUSED(ssl);
    if (avail == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = (size_t)sz < avail ? (size_t)sz : avail;
    memcpy(buf, c->tls_in.data + c->tls_in_off, n);
    c->tls_in_off += n;
    if (c->tls_in_off == c->tls_in.len) {
        cv_buf_clear(&c->tls_in);
        c->tls_in_off = 0;
    }
    return (int)n;
}

static int tls_send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    CV_UNUSED(ssl);
    if (push_wire(ctx, buf, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_GENERAL;
    return sz;
}

static int tls_start(cv_bench_conn_t *c)
{
    WOLFSSL *ssl;
    if (!c->cfg->tls_ctx)
        return cv_bench_conn_fail(c, CV_ETLS, "TLS not initialised");
    ssl = wolfSSL_new(c->cfg->tls_ctx);
    if (!ssl)
        return cv_bench_conn_fail(c, CV_ENOMEM, "wolfSSL_new failed");
    c->ssl = ssl;
    wolfSSL_SSLSetIORecv(ssl, tls_recv_cb);
    wolfSSL_SSLSetIOSend(ssl, tls_send_cb);
    wolfSSL_SetIOReadCtx(ssl, c);
    wolfSSL_SetIOWriteCtx(ssl, c);
    const char *dom = c->cfg->opts->domain;
    (void)wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, dom, (unsigned short)strlen(dom));
    /* X25519 first: the cheapest key exchange on both sides (see docs/tls.md). */
    (void)wolfSSL_UseKeyShare(ssl, WOLFSSL_ECC_X25519);
    c->state = CV_BENCH_CS_TLS;
    int r = wolfSSL_connect(ssl);
    if (r != WOLFSSL_SUCCESS) {
        int e = wolfSSL_get_error(ssl, r);
        if (e != WOLFSSL_ERROR_WANT_READ && e != WOLFSSL_ERROR_WANT_WRITE)
            return cv_bench_conn_fail(c, CV_ETLS, "TLS handshake failed");
    }
    return 0;
}

static int feed_plain(cv_bench_conn_t *c, const char *data, size_t len);

/* Drives the handshake, then decrypts everything available into the parser. */
static int tls_pump(cv_bench_conn_t *c)
{
    char plain[16384];
    if (!c->tls_up) {
        int r = wolfSSL_connect(c->ssl);
        if (r != WOLFSSL_SUCCESS) {
            int e = wolfSSL_get_error(c->ssl, r);
            if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
                return 0;
            return cv_bench_conn_fail(c, CV_ETLS, "TLS handshake failed");
        }
        c->tls_up = 1;
        c->state = CV_BENCH_CS_STREAM;
        cv_xml_stream_reset(c->xml);
        int rc = send_header(c);
        if (rc < 0)
            return cv_bench_conn_fail(c, rc, "cannot send stream header");
    }
    while (!c->failed) {
        int n = wolfSSL_read(c->ssl, plain, (int)sizeof plain);
        if (n > 0) {
            int rc = feed_plain(c, plain, (size_t)n);
            if (rc < 0)
                return rc;
            continue;
        }
        int e = wolfSSL_get_error(c->ssl, n);
        if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
            break;
        if (e == WOLFSSL_ERROR_ZERO_RETURN)
            return cv_bench_conn_fail(c, CV_ECLOSED, "server sent TLS close_notify");
        return cv_bench_conn_fail(c, CV_ETLS, "TLS read failed");
    }
    return c->failed ? CV_ECLOSED : 0;
}

int cv_bench_conn_begin(cv_bench_conn_t *c)
{
    c->state = CV_BENCH_CS_STREAM;
    if (c->cfg->opts->tls == CV_BENCH_TLS_DIRECT)
        return tls_start(c);
    int rc = send_header(c);
    return rc < 0 ? cv_bench_conn_fail(c, rc, "cannot send stream header") : 0;
}

static int feed_plain(cv_bench_conn_t *c, const char *data, size_t len)
{
    while (len > 0 && !c->failed) {
        size_t used = 0;
        int rc = cv_xml_stream_feed(c->xml, data, len, &used);
        if (rc < 0) {
            if (c->failed)
                return rc;
            cv_stream_err_t se = cv_xml_stream_error(c->xml);
            return cv_bench_conn_fail(
                c, rc, se != CV_SE_NONE ? cv_stream_err_name(se) : "XML stream ended");
        }
        if (used > len)
            used = len;
        data += used;
        len -= used;
        uint8_t p = c->pause;
        c->pause = PAUSE_NONE;
        if (p == PAUSE_STARTTLS) {
            /* RFC 6120 §5.4.3.3: nothing may follow <proceed/> in plaintext. */
            if (len > 0)
                return cv_bench_conn_fail(c, CV_EPROTO, "bytes after <proceed/>");
            return tls_start(c);
        }
        if (p == PAUSE_RESTART) {
            cv_xml_stream_reset(c->xml);
            rc = send_header(c);
            if (rc < 0)
                return cv_bench_conn_fail(c, rc, "cannot send stream header");
            continue;
        }
        if (c->stream_closed)
            return cv_bench_conn_fail(c, CV_ECLOSED, "server closed the stream");
        if (used == 0)
            break;
    }
    return c->failed ? CV_ECLOSED : 0;
}

int cv_bench_conn_input(cv_bench_conn_t *c, const char *data, size_t len)
{
    if (c->failed)
        return CV_ECLOSED;
    if (!c->ssl)
        return feed_plain(c, data, len);
    /* wolfSSL takes what it can at once; tls_in never holds more than one receive. */
    if (cv_buf_append(&c->tls_in, data, len) < 0)
        return cv_bench_conn_fail(c, CV_ENOMEM, "out of memory");
    return tls_pump(c);
}

static int has_mech(const cv_xml_node_t *mechs, const char *name)
{
    for (const cv_xml_node_t *m = cv_xml_first_element(mechs); m; m = cv_xml_next_element(m)) {
        cv_buf_t t = CV_BUF_INIT;
        int found = 0;
        if (strcmp(m->name, "mechanism") == 0 && cv_xml_text(m, &t) == 0 && t.data)
            found = strcmp(t.data, name) == 0;
        cv_buf_free(&t);
        if (found)
            return 1;
    }
    return 0;
}

static int start_auth(cv_bench_conn_t *c, const cv_xml_node_t *features)
{
    const cv_bench_opts_t *o = c->cfg->opts;
    const cv_xml_node_t *mechs = cv_xml_child(features, "mechanisms", CV_NS_SASL);
    const char *mech = cv_bench_mech_name(o->mech);
    cv_buf_t raw = CV_BUF_INIT, b64 = CV_BUF_INIT;
    char user[160];
    int rc;

    if (!mechs || !has_mech(mechs, mech)) {
        char why[96];
        snprintf(why, sizeof why, "server does not offer %s%s", mech,
                 o->tls == CV_BENCH_TLS_NONE ? " without TLS" : "");
        return cv_bench_conn_fail(c, CV_EUNSUPP, why);
    }
    snprintf(user, sizeof user, "%s%u", o->user_prefix, c->user);
    if (o->mech == CV_BENCH_MECH_PLAIN) {
        rc = cv_buf_append(&raw, "", 1);
        if (rc == 0)
            rc = cv_buf_append(&raw, user, strlen(user) + 1);
        if (rc == 0)
            rc = cv_buf_append_str(&raw, o->password);
    } else {
        char nonce[40];
        uint64_t x = cv_bench_now_ns() ^ ((uint64_t)c->user << 32) ^ (uintptr_t)c;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        snprintf(nonce, sizeof nonce, "%016llx%08x", (unsigned long long)x, c->next_id++);
        rc = cv_bench_scram_first(&c->scram, o->mech == CV_BENCH_MECH_SCRAM_SHA256, user, nonce,
                                  &raw);
    }
    if (rc == 0)
        rc = cv_base64_encode(raw.data, raw.len, &b64);
    if (rc == 0)
        rc = cv_bench_conn_sendf(c, "<auth xmlns='" CV_NS_SASL "' mechanism='%s'>%s</auth>", mech,
                                 b64.data);
    cv_buf_free(&raw);
    cv_buf_free(&b64);
    if (rc < 0)
        return cv_bench_conn_fail(c, rc, "cannot start SASL");
    c->state = CV_BENCH_CS_AUTH;
    return 0;
}

static int on_features(cv_bench_conn_t *c, const cv_xml_node_t *f)
{
    const cv_bench_opts_t *o = c->cfg->opts;
    if (c->state == CV_BENCH_CS_STREAM) {
        if (o->tls == CV_BENCH_TLS_STARTTLS && !c->ssl) {
            if (!cv_xml_child(f, "starttls", CV_NS_TLS))
                return cv_bench_conn_fail(c, CV_EUNSUPP, "server does not offer STARTTLS");
            c->state = CV_BENCH_CS_STARTTLS;
            int rc = cv_bench_conn_sendf(c, "<starttls xmlns='" CV_NS_TLS "'/>");
            return rc < 0 ? cv_bench_conn_fail(c, rc, "cannot send starttls") : 0;
        }
        return start_auth(c, f);
    }
    if (c->state == CV_BENCH_CS_AUTHED) {
        if (!cv_xml_child(f, "bind", CV_NS_BIND))
            return cv_bench_conn_fail(c, CV_EPROTO, "no resource binding offered");
        const cv_xml_node_t *sess = cv_xml_child(f, "session", CV_NS_SESSION);
        c->need_session = sess && !cv_xml_child(sess, "optional", NULL);
        c->state = CV_BENCH_CS_BIND;
        int rc = cv_bench_conn_sendf(c, "<iq type='set' id='bind'><bind xmlns='" CV_NS_BIND
                                        "'><resource>bench</resource></bind></iq>");
        return rc < 0 ? cv_bench_conn_fail(c, rc, "cannot send bind") : 0;
    }
    return cv_bench_conn_fail(c, CV_EPROTO, "unexpected stream features");
}

/* Decodes the text of a SASL element; empty text and "=" give an empty payload. */
static int sasl_payload(const cv_xml_node_t *el, cv_buf_t *out)
{
    cv_buf_t t = CV_BUF_INIT;
    int rc = cv_xml_text(el, &t);
    if (rc == 0 && t.len > 0)
        rc = cv_base64_decode_sasl(t.data, t.len, out);
    if (rc == 0)
        rc = cv_buf_append(out, "", 0); /* a NUL-terminated, non-NULL data pointer */
    cv_buf_free(&t);
    return rc;
}

static int on_sasl(cv_bench_conn_t *c, const cv_xml_node_t *el)
{
    cv_buf_t in = CV_BUF_INIT, reply = CV_BUF_INIT, b64 = CV_BUF_INIT;
    const cv_bench_opts_t *o = c->cfg->opts;
    int rc = 0, ret = 0;

    if (c->state != CV_BENCH_CS_AUTH) {
        ret = cv_bench_conn_fail(c, CV_EPROTO, "unexpected SASL element");
        goto out;
    }
    if (strcmp(el->name, "failure") == 0) {
        const cv_xml_node_t *cond = cv_xml_first_element(el);
        ret = cv_bench_conn_fail(c, CV_EAUTH, cond ? cond->name : "SASL failure");
        goto out;
    }
    if (sasl_payload(el, &in) < 0) {
        ret = cv_bench_conn_fail(c, CV_EPROTO, "bad base64 in SASL element");
        goto out;
    }
    if (strcmp(el->name, "challenge") == 0) {
        if (o->mech == CV_BENCH_MECH_PLAIN) {
            ret = cv_bench_conn_fail(c, CV_EPROTO, "challenge during PLAIN");
            goto out;
        }
        if (!c->scram.have_sig)
            rc = cv_bench_scram_final(&c->scram, o->password, in.data, in.len, c->cache, &reply);
        else
            rc = cv_bench_scram_verify(&c->scram, in.data, in.len); /* server-final here */
        if (rc == 0)
            rc = cv_base64_encode(reply.data ? reply.data : "", reply.len, &b64);
        if (rc == 0)
            rc = cv_bench_conn_sendf(c, "<response xmlns='" CV_NS_SASL "'>%s</response>",
                                     b64.data ? b64.data : "");
        if (rc < 0)
            ret = cv_bench_conn_fail(
                c, rc, rc == CV_EAUTH ? "server signature mismatch" : "bad SCRAM challenge");
        goto out;
    }
    if (strcmp(el->name, "success") == 0) {
        if (o->mech != CV_BENCH_MECH_PLAIN && in.len > 0) {
            rc = cv_bench_scram_verify(&c->scram, in.data, in.len);
            if (rc < 0) {
                ret = cv_bench_conn_fail(c, rc, "server signature mismatch");
                goto out;
            }
        }
        cv_bench_scram_clear(&c->scram);
        c->authed = 1;
        c->state = CV_BENCH_CS_AUTHED;
        c->pause = PAUSE_RESTART;
        ret = 1;
        goto out;
    }
    ret = cv_bench_conn_fail(c, CV_EPROTO, "unknown SASL element");
out:
    cv_buf_free(&in);
    cv_buf_free(&reply);
    cv_buf_free(&b64);
    return ret;
}

static int go_online(cv_bench_conn_t *c)
{
    c->state = CV_BENCH_CS_ONLINE;
    c->t_online_ns = cv_bench_now_ns();
    c->cfg->ops->on_online(c);
    return 0;
}

static int after_session(cv_bench_conn_t *c)
{
    if (c->cfg->opts->roster) {
        c->state = CV_BENCH_CS_ROSTER;
        int rc = cv_bench_conn_sendf(c, "<iq type='get' id='roster'><query xmlns='" NS_ROSTER
                                        "'/></iq>");
        return rc < 0 ? cv_bench_conn_fail(c, rc, "cannot send roster get") : 0;
    }
    return go_online(c);
}

static int on_iq(cv_bench_conn_t *c, const cv_xml_node_t *iq)
{
    const char *type = cv_xml_attr(iq, "type");
    const char *id = cv_xml_attr(iq, "id");
    int is_error = type && strcmp(type, "error") == 0;
    int is_result = type && strcmp(type, "result") == 0;

    if (c->state == CV_BENCH_CS_BIND && id && strcmp(id, "bind") == 0) {
        if (!is_result)
            return cv_bench_conn_fail(c, CV_EPROTO, "resource binding refused");
        if (c->need_session) {
            c->state = CV_BENCH_CS_SESSION;
            int rc = cv_bench_conn_sendf(
                c, "<iq type='set' id='sess'><session xmlns='" CV_NS_SESSION "'/></iq>");
            return rc < 0 ? cv_bench_conn_fail(c, rc, "cannot send session") : 0;
        }
        return after_session(c);
    }
    if (c->state == CV_BENCH_CS_SESSION && id && strcmp(id, "sess") == 0) {
        if (!is_result)
            return cv_bench_conn_fail(c, CV_EPROTO, "session establishment refused");
        return after_session(c);
    }
    if (c->state == CV_BENCH_CS_ROSTER && id && strcmp(id, "roster") == 0) {
        c->roster_error = (uint8_t)is_error;
        c->cfg->ops->on_stanza(c, iq);
        return go_online(c);
    }
    if (c->state < CV_BENCH_CS_BIND)
        return cv_bench_conn_fail(c, CV_EPROTO, "iq before authentication");
    if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
        /* Pushes and pings are acknowledged here; anything else gets an error reply so the
           server is never left waiting (RFC 6120 §8.2.3). */
        const cv_xml_node_t *q = cv_xml_first_element(iq);
        int known = q && (strcmp(q->ns, CV_NS_PING) == 0 || strcmp(q->ns, NS_ROSTER) == 0);
        cv_buf_t idesc = CV_BUF_INIT;
        int rc = cv_xml_escape_append(&idesc, id ? id : "", id ? strlen(id) : 0);
        if (rc == 0 && known)
            rc =
                cv_bench_conn_sendf(c, "<iq type='result' id='%s'/>", idesc.data ? idesc.data : "");
        else if (rc == 0)
            rc = cv_bench_conn_sendf(c,
                                     "<iq type='error' id='%s'><error type='cancel'>"
                                     "<service-unavailable xmlns='" CV_NS_STANZAS_ERR
                                     "'/></error></iq>",
                                     idesc.data ? idesc.data : "");
        cv_buf_free(&idesc);
        if (rc < 0)
            return cv_bench_conn_fail(c, rc, "cannot answer iq");
    }
    c->cfg->ops->on_stanza(c, iq);
    return 0;
}

static int on_stanza_cb(void *ctx, cv_stanza_t *st)
{
    cv_bench_conn_t *c = ctx;
    const cv_xml_node_t *el = cv_stanza_root(st);
    int rc = 0;

    if (c->failed) {
        rc = CV_ECLOSED;
    } else if (strcmp(el->ns, CV_NS_STREAM) == 0) {
        if (strcmp(el->name, "features") == 0) {
            rc = on_features(c, el);
        } else if (strcmp(el->name, "error") == 0) {
            const cv_xml_node_t *cond = cv_xml_first_element(el);
            char why[96];
            snprintf(why, sizeof why, "stream error: %s", cond ? cond->name : "?");
            rc = cv_bench_conn_fail(c, CV_EPROTO, why);
        } else {
            rc = cv_bench_conn_fail(c, CV_EPROTO, "unknown stream element");
        }
    } else if (strcmp(el->ns, CV_NS_TLS) == 0) {
        if (c->state == CV_BENCH_CS_STARTTLS && strcmp(el->name, "proceed") == 0) {
            c->pause = PAUSE_STARTTLS;
            rc = 1;
        } else {
            rc = cv_bench_conn_fail(c, CV_ETLS, "STARTTLS refused");
        }
    } else if (strcmp(el->ns, CV_NS_SASL) == 0) {
        rc = on_sasl(c, el);
    } else if (strcmp(el->ns, CV_NS_CLIENT) == 0 && c->state >= CV_BENCH_CS_BIND) {
        if (strcmp(el->name, "iq") == 0)
            rc = on_iq(c, el);
        else if (strcmp(el->name, "message") == 0 || strcmp(el->name, "presence") == 0)
            c->cfg->ops->on_stanza(c, el);
        else
            rc = cv_bench_conn_fail(c, CV_EPROTO, "unknown stanza");
    } else {
        rc = cv_bench_conn_fail(c, CV_EPROTO, "unexpected element during negotiation");
    }
    cv_stanza_free(st);
    if (rc < 0)
        return rc;
    return c->failed ? CV_ECLOSED : rc;
}

static int on_stream_open_cb(void *ctx, const char *ns_stream, const char *ns_default,
                             const cv_xml_attr_t *attrs, uint32_t nattrs)
{
    cv_bench_conn_t *c = ctx;
    CV_UNUSED(attrs);
    CV_UNUSED(nattrs);
    if (strcmp(ns_stream, CV_NS_STREAM) != 0 || strcmp(ns_default, CV_NS_CLIENT) != 0)
        return cv_bench_conn_fail(c, CV_EPROTO, "bad stream namespace");
    return 0;
}

static void on_stream_close_cb(void *ctx)
{
    cv_bench_conn_t *c = ctx;
    c->stream_closed = 1;
}

int cv_bench_conn_init(cv_bench_conn_t *c, const cv_bench_client_cfg_t *cfg,
                       cv_bench_scram_cache_t *cache, uint32_t idx, uint32_t user)
{
    /* The server's stanzas to a benchmark client are small; a tight limit bounds what a
       misbehaving server can make the generator hold. */
    cv_xml_limits_t lim = {64u * 1024u, 32u, 64u};
    cv_xml_stream_cb_t cb = {c, on_stream_open_cb, on_stanza_cb, on_stream_close_cb};
    c->cfg = cfg;
    c->cache = cache;
    c->idx = idx;
    c->user = user;
    c->fd = -1;
    return cv_xml_stream_create(&c->xml, &lim, &cb);
}

void cv_bench_conn_cleanup(cv_bench_conn_t *c)
{
    if (c->ssl) {
        wolfSSL_free(c->ssl);
        c->ssl = NULL;
    }
    cv_xml_stream_destroy(c->xml);
    c->xml = NULL;
    cv_bench_scram_clear(&c->scram);
    cv_buf_free(&c->tls_in);
    cv_buf_free(&c->out);
    cv_buf_free(&c->sending);
    free(c->contact_bits);
    c->contact_bits = NULL;
}
