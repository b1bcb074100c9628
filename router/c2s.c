/*
 * Client streams (RFC 6120 §4–§7): the stream header, stream features, STARTTLS, the
 * hand-off to SASL and binding, stream errors and the closing handshake. One cv_c2s_t per
 * connection, driven by the network layer's callbacks on the connection's ring thread.
 */
#include <string.h>
#include <sys/random.h>

#include "corvid/log.h"
#include "c2s_int.h"
#include "reply.h"

static void send_features(cv_c2s_t *s);

void cv__c2s_set_available(cv_c2s_t *s, int available)
{
    int want = available ? CV_C2S_AVAILABLE : CV_C2S_UNAVAILABLE;
    int cur = atomic_load(&s->available);
    /* A compare-and-swap, so a closing stream's GONE is never overwritten. */
    while (cur != CV_C2S_GONE && !atomic_compare_exchange_weak(&s->available, &cur, want))
        ;
}

void cv__c2s_set_gone(cv_c2s_t *s)
{
    atomic_store(&s->available, CV_C2S_GONE);
}

int cv__c2s_write(cv_c2s_t *s, const char *data, size_t len)
{
    cv_net_piece_t piece = {data, len};
    return cv__c2s_write_pieces(s, &piece, 1);
}

int cv__c2s_write_pieces(cv_c2s_t *s, const cv_net_piece_t *pieces, size_t n)
{
    int rc = cv_net_conn_write_pieces(s->conn, pieces, n);
    if (rc == CV_ELIMIT) {
        /* The peer does not read what we send it: memory must not grow for it. */
        cv_info("c2s %s: output queue full, closing", cv_net_conn_peer(s->conn));
        s->phase = CV_C2S_CLOSED;
        cv__c2s_set_gone(s);
        cv_net_conn_close(s->conn);
    }
    return rc;
}

int cv__c2s_write_buf(cv_c2s_t *s, const cv_buf_t *b)
{
    return cv__c2s_write(s, b->data, b->len);
}

int cv__c2s_send_stanza(cv_c2s_t *s, const cv_xml_node_t *st)
{
    /* A bound session's output goes through its ring's inbox, whoever writes it, so that
       it stays in routing order (deliver.c). */
    if (s->routed)
        return cv__deliver(s->srv, NULL, s, st);
    cv_buf_t out = CV_BUF_INIT;
    int rc = cv_xml_serialize(st, CV_NS_CLIENT, &out);
    if (rc == 0)
        rc = cv__c2s_write_buf(s, &out);
    cv_buf_free(&out);
    return rc;
}

int cv__c2s_tls_pending(const cv_c2s_t *s)
{
    return s->listener->require_tls && !cv_net_conn_is_tls(s->conn);
}

static int write_header(cv_c2s_t *s)
{
    cv_buf_t b = CV_BUF_INIT;
    uint8_t rnd[8];
    int rc;

    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return CV_EINVAL;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(s->stream_id + 2 * i, 3, "%02x", rnd[i]);
    rc = cv_buf_append_str(&b, "<?xml version='1.0'?><stream:stream xmlns='" CV_NS_CLIENT
                               "' xmlns:stream='" CV_NS_STREAM "' id='");
    if (rc == 0)
        rc = cv_buf_append_str(&b, s->stream_id);
    if (rc == 0 && s->host) {
        rc = cv_buf_append_str(&b, "' from='");
        if (rc == 0)
            rc = cv_xml_escape_append(&b, s->host, strlen(s->host));
    }
    if (rc == 0)
        rc = cv_buf_append_str(&b, "' version='1.0' xml:lang='en'>");
    if (rc == 0)
        rc = cv__c2s_write_buf(s, &b);
    if (rc == 0)
        s->header_sent = 1;
    cv_buf_free(&b);
    return rc;
}

void cv__c2s_stream_error(cv_c2s_t *s, cv_stream_err_t cond, const char *text)
{
    cv_buf_t b = CV_BUF_INIT;
    if (s->phase == CV_C2S_CLOSED)
        return;
    cv_info("c2s %s: stream error %s%s%s", cv_net_conn_peer(s->conn), cv_stream_err_name(cond),
            text ? ": " : "", text ? text : "");
    /* RFC 6120 §4.9.1.2: an error before our header still needs the header first. */
    if (!s->header_sent)
        (void)write_header(s);
    int rc = cv_buf_printf(&b, "<stream:error><%s xmlns='" CV_NS_STREAMS_ERR "'/>",
                           cv_stream_err_name(cond));
    if (rc == 0 && text) {
        rc = cv_buf_append_str(&b, "<text xmlns='" CV_NS_STREAMS_ERR "' xml:lang='en'>");
        if (rc == 0)
            rc = cv_xml_escape_append(&b, text, strlen(text));
        if (rc == 0)
            rc = cv_buf_append_str(&b, "</text>");
    }
    if (rc == 0)
        rc = cv_buf_append_str(&b, "</stream:error></stream:stream>");
    if (rc == 0)
        (void)cv__c2s_write_buf(s, &b);
    cv_buf_free(&b);
    s->phase = CV_C2S_CLOSED;
    cv__c2s_set_gone(s);
    cv_net_conn_close(s->conn);
}

int cv__c2s_reply_new(cv_c2s_t *s, const cv_xml_node_t *req, const char *type, cv_stanza_t **out)
{
    CV_UNUSED(s);
    return cv__reply_new(req, type, out);
}

int cv__c2s_stanza_error(cv_c2s_t *s, const cv_xml_node_t *st, cv_stanza_err_t cond,
                         const char *text)
{
    cv_stanza_t *r = NULL;
    const char *type = cv_xml_attr(st, "type");
    int rc;

    /* RFC 6120 §8.3.1: never answer an error with an error (that could loop). */
    if (type && strcmp(type, "error") == 0)
        return 0;
    if (strcmp(st->name, "iq") && strcmp(st->name, "message") && strcmp(st->name, "presence"))
        return 0;
    rc = cv__reply_error(st, cond, text, NULL, NULL, &r);
    if (rc == 0)
        rc = cv__c2s_send_stanza(s, cv_stanza_root(r));
    cv_stanza_free(r);
    return rc;
}

int cv__c2s_iq_result(cv_c2s_t *s, const cv_xml_node_t *iq)
{
    cv_stanza_t *r = NULL;
    int rc = cv__c2s_reply_new(s, iq, "result", &r);
    if (rc == 0)
        rc = cv__c2s_send_stanza(s, cv_stanza_root(r));
    cv_stanza_free(r);
    return rc;
}

static int on_stream_open(void *ctx, const char *ns_stream, const char *ns_default,
                          const cv_xml_attr_t *attrs, uint32_t nattrs)
{
    cv_c2s_t *s = ctx;
    const char *to = NULL, *version = NULL;
    char host[CV_JID_PART_MAX + 1];

    for (uint32_t i = 0; i < nattrs; i++) {
        if (strcmp(attrs[i].name, "to") == 0)
            to = attrs[i].value;
        else if (strcmp(attrs[i].name, "version") == 0)
            version = attrs[i].value;
    }
    if (strcmp(ns_stream, CV_NS_STREAM) != 0) {
        cv__c2s_stream_error(s, CV_SE_INVALID_NAMESPACE, "the stream namespace is wrong");
        return -1;
    }
    if (strcmp(ns_default, CV_NS_CLIENT) != 0) {
        cv__c2s_stream_error(s, CV_SE_INVALID_NAMESPACE, "this port serves jabber:client");
        return -1;
    }
    const cv_conf_host_t *h = NULL;
    if (to && cv_jid_prep_domain(to, host, sizeof host) == 0)
        h = cv_config_host(s->srv->config, host);
    if (s->host) {
        /* A restart (after STARTTLS or SASL) is between the same parties (RFC 6120
           §4.3.3): what was negotiated, the authenticated account above all, belongs to
           the host of the first header. Naming another one would log the account's name
           in on that host without its password. */
        if (to && (!h || h->name != s->host)) {
            cv__c2s_stream_error(s, CV_SE_NOT_AUTHORIZED,
                                 "a restarted stream must be to the same host");
            return -1;
        }
    } else if (h) {
        s->host = h->name; /* in our header even when the version is refused below */
    } else {
        cv__c2s_stream_error(s, CV_SE_HOST_UNKNOWN, "this server does not serve that host");
        return -1;
    }
    /* RFC 6120 §4.7.5: a missing version means 0.9, which we do not speak; any 1.x is
       spoken as 1.0. */
    if (!version || strncmp(version, "1.", 2) != 0) {
        cv__c2s_stream_error(s, CV_SE_UNSUPPORTED_VERSION, "XMPP 1.0 streams only");
        return -1;
    }
    if (write_header(s) < 0)
        return -1;
    if (s->phase == CV_C2S_WAIT_HEADER)
        s->phase = s->authenticated ? CV_C2S_AUTHENTICATED : CV_C2S_NEGOTIATING;
    send_features(s);
    return 0;
}

static void send_features(cv_c2s_t *s)
{
    cv_buf_t b = CV_BUF_INIT;
    int rc = cv_buf_append_str(&b, "<stream:features>");
    int tls_offer =
        s->listener->tls == CV_TLS_MODE_STARTTLS && !cv_net_conn_is_tls(s->conn) && s->srv->tls;

    if (rc == 0 && !s->authenticated && tls_offer)
        rc = cv_buf_append_str(&b, s->listener->require_tls ? "<starttls xmlns='" CV_NS_TLS
                                                              "'><required/></starttls>"
                                                            : "<starttls xmlns='" CV_NS_TLS "'/>");
    /* Until the required TLS is up, <starttls/> is the only feature (RFC 6120 §5.3.1). */
    if (rc == 0 && !s->authenticated && !cv__c2s_tls_pending(s)) {
        rc = cv__c2s_auth_features(s, &b);
        if (rc == 0 && s->srv->config->registration_enabled)
            rc = cv_buf_append_str(&b, "<register xmlns='" CV_NS_REGISTER_FEATURE "'/>");
        if (rc == 0 && s->srv->config->legacy_iq_auth)
            rc = cv_buf_append_str(&b, "<auth xmlns='" CV_NS_IQ_AUTH_FEATURE "'/>");
    }
    if (rc == 0 && s->authenticated)
        rc = cv_buf_append_str(&b, "<bind xmlns='" CV_NS_BIND "'/>"
                                   "<session xmlns='" CV_NS_SESSION "'><optional/></session>");
    if (rc == 0)
        rc = cv_buf_append_str(&b, "</stream:features>");
    if (rc == 0)
        rc = cv__c2s_write_buf(s, &b);
    cv_buf_free(&b);
    if (rc < 0 && s->phase != CV_C2S_CLOSED)
        cv__c2s_stream_error(s, CV_SE_INTERNAL_SERVER_ERROR, NULL);
}

static int handle_starttls(cv_c2s_t *s)
{
    static const char proceed[] = "<proceed xmlns='" CV_NS_TLS "'/>";
    static const char failure[] = "<failure xmlns='" CV_NS_TLS "'/></stream:stream>";
    if (s->listener->tls != CV_TLS_MODE_STARTTLS || cv_net_conn_is_tls(s->conn) || !s->srv->tls ||
        s->authenticated) {
        /* RFC 6120 §5.4.2.2: failure, then close the stream. */
        (void)cv__c2s_write(s, failure, sizeof failure - 1);
        s->phase = CV_C2S_CLOSED;
        cv__c2s_set_gone(s);
        cv_net_conn_close(s->conn);
        return -1;
    }
    if (cv__c2s_write(s, proceed, sizeof proceed - 1) < 0)
        return -1;
    s->pause = CV_C2S_PAUSE_STARTTLS;
    return 1;
}

/* Everything a client may send before it is bound. */
static int negotiation_stanza(cv_c2s_t *s, cv_xml_node_t *el)
{
    if (strcmp(el->ns, CV_NS_TLS) == 0 && strcmp(el->name, "starttls") == 0)
        return handle_starttls(s);
    if (cv__c2s_tls_pending(s)) {
        cv__c2s_stream_error(s, CV_SE_POLICY_VIOLATION, "STARTTLS is required first");
        return -1;
    }
    if (strcmp(el->ns, CV_NS_SASL) == 0 && !s->authenticated)
        return cv__c2s_auth_handle(s, el);
    if (strcmp(el->ns, CV_NS_CLIENT) == 0 && strcmp(el->name, "iq") == 0) {
        cv_xml_node_t *q = cv_xml_first_element(el);
        if (s->authenticated && q && strcmp(q->ns, CV_NS_BIND) == 0)
            return cv__c2s_bind(s, el, q);
        if (!s->authenticated && q && strcmp(q->ns, CV_NS_REGISTER) == 0)
            return cv__c2s_register(s, el, q);
        if (!s->authenticated && q && strcmp(q->ns, CV_NS_IQ_AUTH) == 0 &&
            s->srv->config->legacy_iq_auth)
            return cv__c2s_legacy_auth(s, el, q);
    }
    if (strcmp(el->ns, CV_NS_CLIENT) == 0 &&
        (!strcmp(el->name, "iq") || !strcmp(el->name, "message") ||
         !strcmp(el->name, "presence"))) {
        /* RFC 6120 §6.4.1 / §7.4: no stanzas before authentication and binding. */
        cv__c2s_stream_error(s, CV_SE_NOT_AUTHORIZED, "authenticate and bind first");
        return -1;
    }
    cv__c2s_stream_error(s, CV_SE_UNSUPPORTED_STANZA_TYPE, NULL);
    return -1;
}

static int on_stanza(void *ctx, cv_stanza_t *st)
{
    cv_c2s_t *s = ctx;
    int rc;
    if (s->phase == CV_C2S_CLOSED) {
        cv_stanza_free(st);
        return -1;
    }
    if (s->phase == CV_C2S_BOUND)
        return cv__c2s_bound_stanza(s, st); /* takes st */
    rc = negotiation_stanza(s, cv_stanza_root(st));
    cv_stanza_free(st);
    return rc;
}

static void on_stream_close(void *ctx)
{
    cv_c2s_t *s = ctx;
    static const char close_tag[] = "</stream:stream>";
    if (s->phase == CV_C2S_CLOSED)
        return;
    /* RFC 6120 §4.4: answer the closing tag with ours, then close the connection; a bound
       session first answers what the client sent before it (its actor may still be
       routing that), so the close goes through the actor. Routers stop choosing the
       session now: the client sends nothing more. */
    if (s->routed) {
        cv__c2s_set_gone(s);
        if (cv__route_stream_end(s) == 0)
            return;
    }
    (void)cv__c2s_write(s, close_tag, sizeof close_tag - 1);
    s->phase = CV_C2S_CLOSED;
    cv__c2s_set_gone(s);
    cv_net_conn_close(s->conn);
}

static int c2s_open(cv_conn_t *c, const cv_conf_listener_t *l, void *arg)
{
    cv_server_t *srv = arg;
    const cv_config_t *cfg = srv->config;
    cv_xml_limits_t lim = {cfg->max_stanza_size, cfg->max_depth, cfg->max_attributes};
    cv_c2s_t *s = calloc(1, sizeof *s);
    int rc;

    if (!s)
        return CV_ENOMEM;
    atomic_init(&s->refs, 1);
    atomic_init(&s->pending, 0);
    atomic_init(&s->input_resume, NULL);
    atomic_init(&s->close_posted, 0);
    atomic_init(&s->available, 0);
    atomic_init(&s->priority, 0);
    atomic_init(&s->offline_paced, 0);
    atomic_init(&s->offline_flags, 0);
    cv_actor_init(&s->actor, cv__route_actor);
    s->actor.retain = cv__route_actor_retain;
    s->actor.release = cv__route_actor_release;
    s->srv = srv;
    s->conn = c;
    s->worker = cv_net_conn_worker(c);
    s->listener = l;
    cv_xml_stream_cb_t cb = {s, on_stream_open, on_stanza, on_stream_close};
    rc = cv_xml_stream_create(&s->xml, &lim, &cb);
    if (rc < 0) {
        free(s);
        return rc;
    }
    cv__c2s_auth_init(s);
    cv_net_conn_set_user(c, s);
    cv_net_conn_set_deadline(c, cfg->negotiation_timeout_ms);
    cv_debug("c2s %s: connected on port %u", cv_net_conn_peer(c), l->port);
    return 0;
}

/* Acts on a pause requested by a handler; returns <0 if the stream cannot go on. */
static int apply_pause(cv_c2s_t *s, size_t *skip_rest)
{
    cv_c2s_pause_t p = s->pause;
    s->pause = CV_C2S_PAUSE_NONE;
    *skip_rest = 0;
    if (cv_xml_stream_reset(s->xml) < 0)
        return -1;
    s->phase = CV_C2S_WAIT_HEADER;
    s->header_sent = 0;
    if (p == CV_C2S_PAUSE_STARTTLS) {
        if (cv_net_conn_start_tls(s->conn) < 0)
            return -1;
        /* Plaintext after <starttls/> could be an injection: it is dropped unread. */
        *skip_rest = 1;
    }
    return 0;
}

/* Keeps input that arrives while a password check runs off the ring, for
   cv__c2s_resume. Bounded like one stanza: a client has no reason to send more before
   its authentication is answered. */
static int hold_input(cv_c2s_t *s, const char *data, size_t len)
{
    if (s->held.len + len > s->srv->config->max_stanza_size) {
        cv__c2s_stream_error(s, CV_SE_POLICY_VIOLATION, "too much data before authentication");
        return -1;
    }
    if (cv_buf_append(&s->held, data, len) < 0) {
        cv__c2s_stream_error(s, CV_SE_RESOURCE_CONSTRAINT, NULL);
        return -1;
    }
    return 0;
}

static int c2s_data(cv_conn_t *c, const char *data, size_t len)
{
    cv_c2s_t *s = cv_net_conn_user(c);
    if (s->auth_pending)
        return len == 0 || hold_input(s, data, len) == 0 ? 0 : -1;
    while (len > 0 && s->phase != CV_C2S_CLOSED) {
        size_t used = len, skip = 0;
        int rc = cv_xml_stream_feed(s->xml, data, len, &used);
        if (rc == CV_ECLOSED)
            return 0; /* after the client's closing tag: the rest is ignored */
        if (rc < 0) {
            if (s->phase != CV_C2S_CLOSED)
                cv__c2s_stream_error(s, cv_xml_stream_error(s->xml), NULL);
            return -1;
        }
        if (s->pause == CV_C2S_PAUSE_NONE)
            break;
        if (s->pause == CV_C2S_PAUSE_AUTH) {
            /* The stream goes on where it stopped once the check is answered. */
            s->pause = CV_C2S_PAUSE_NONE;
            if (used < len && hold_input(s, data + used, len - used) < 0)
                return -1;
            return 0;
        }
        if (apply_pause(s, &skip) < 0) {
            cv__c2s_stream_error(s, CV_SE_INTERNAL_SERVER_ERROR, NULL);
            return -1;
        }
        if (skip)
            break;
        data += used;
        len -= used;
    }
    if (s->phase == CV_C2S_CLOSED)
        return -1;
    /* Between stanzas the parser's big context is not needed: give its memory back,
       unless the client keeps sending. Rebuilding it costs about 2 us, as much as the
       rest of a chat message's parse and routing; a busy stream keeps it until it has
       been quiet for a tick (c2s_quiet). */
    if (!cv_net_conn_is_busy(c))
        (void)cv_xml_stream_trim(s->xml);
    return 0;
}

static void c2s_quiet(cv_conn_t *c)
{
    cv_c2s_t *s = cv_net_conn_user(c);
    if (s && s->xml && !s->auth_pending && s->pause == CV_C2S_PAUSE_NONE &&
        s->phase != CV_C2S_CLOSED)
        (void)cv_xml_stream_trim(s->xml);
}

static void c2s_drained(cv_conn_t *c)
{
    cv_c2s_t *s = cv_net_conn_user(c);
    if (s)
        cv__offline_drained(s);
}

void cv__c2s_resume(cv_c2s_t *s, int rc)
{
    cv_buf_t held = s->held;
    size_t skip = 0;

    s->held = (cv_buf_t)CV_BUF_INIT;
    if (rc >= 0 && s->phase != CV_C2S_CLOSED && s->pause != CV_C2S_PAUSE_NONE) {
        if (apply_pause(s, &skip) < 0) {
            cv__c2s_stream_error(s, CV_SE_INTERNAL_SERVER_ERROR, NULL);
            rc = -1;
        }
    }
    if (rc >= 0 && held.len > 0 && s->phase != CV_C2S_CLOSED)
        rc = c2s_data(s->conn, held.data, held.len);
    cv_buf_free(&held);
    if (rc < 0 && s->conn)
        cv_net_conn_close(s->conn);
}

/* RFC 6121 §4.5.2: a session that ends gets unavailable presence sent for it. Its actor
   does it, after the stanzas still queued for it, by routing a synthetic
   <presence type='unavailable'/> like one the client sent. */
static void gone_to_actor(cv_c2s_t *s)
{
    cv_stanza_t *st = NULL;
    if (cv_stanza_new(&st, "presence", CV_NS_CLIENT) < 0 ||
        cv_stanza_set_attr(st, cv_stanza_root(st), "type", "unavailable") < 0) {
        cv_stanza_free(st);
        return;
    }
    cv__route_enqueue(s, st);
}

static void c2s_close(cv_conn_t *c)
{
    cv_c2s_t *s = cv_net_conn_user(c);
    if (!s)
        return;
    cv_debug("c2s %s: closed", cv_net_conn_peer(c));
    /* Out of the table and unavailable at once, so routers stop choosing it; what they
       chose already falls back to offline storage (deliver.c). */
    cv__c2s_sessions_unbind(s);
    cv__c2s_set_gone(s);
    if (s->routed)
        gone_to_actor(s);
    cv_xml_stream_destroy(s->xml);
    s->xml = NULL;
    cv__c2s_auth_free(s); /* unless a check is in flight: its completion frees it */
    if (!s->auth_pending)
        cv_buf_free(&s->held);
    /* user and jid stay until the last reference: the actor may still route for it. */
    s->phase = CV_C2S_CLOSED;
    s->conn = NULL;
    cv_net_conn_set_user(c, NULL);
    cv__c2s_release(s);
}

static void c2s_timeout(cv_conn_t *c)
{
    cv_c2s_t *s = cv_net_conn_user(c);
    cv__c2s_stream_error(s, CV_SE_CONNECTION_TIMEOUT, "negotiation took too long");
}

static void c2s_shutdown(cv_conn_t *c)
{
    cv_c2s_t *s = cv_net_conn_user(c);
    cv__c2s_stream_error(s, CV_SE_SYSTEM_SHUTDOWN, "the server is stopping");
}

/* Actors run between completions; a bounded budget keeps the ring responsive. */
#define CV_C2S_ACTOR_BUDGET 256

static int c2s_turn(cv_worker_t *w, void *arg)
{
    cv_server_t *srv = arg;
    return cv_sched_run(srv->sched, cv_net_worker_index(w), CV_C2S_ACTOR_BUDGET);
}

static void c2s_sleep(cv_worker_t *w, int sleeping, void *arg)
{
    cv_server_t *srv = arg;
    cv_sched_idle(srv->sched, cv_net_worker_index(w), sleeping);
}

void cv_server_wake_worker(unsigned worker, void *arg)
{
    cv_server_t *srv = arg;
    cv_worker_t *w = cv_net_worker(srv->net, worker);
    if (w)
        cv_net_wake(w);
}

void cv_c2s_net_ops(cv_net_ops_t *ops, cv_server_t *srv)
{
    ops->on_turn = c2s_turn;
    ops->on_sleep = c2s_sleep;
    ops->on_open = c2s_open;
    ops->on_data = c2s_data;
    ops->on_close = c2s_close;
    ops->on_timeout = c2s_timeout;
    ops->on_shutdown = c2s_shutdown;
    ops->on_quiet = c2s_quiet;
    ops->on_drained = c2s_drained;
    ops->arg = srv;
}
