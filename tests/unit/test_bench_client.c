/* The load generator's client state machine driven by a scripted server: negotiation with
   PLAIN, session and roster, stanza hand-off, answers to server iqs, and failures on stream
   errors, refused authentication and hostile bytes. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "check.h"

typedef struct events_s {
    int online, fail, fail_code, outputs, messages, presences, iqs;
    char why[128];
} events_t;

static events_t ev;

static void on_online(cv_bench_conn_t *c)
{
    ev.online++;
    CV_UNUSED(c);
}

static void on_stanza(cv_bench_conn_t *c, const cv_xml_node_t *root)
{
    CV_UNUSED(c);
    if (strcmp(root->name, "message") == 0)
        ev.messages++;
    else if (strcmp(root->name, "presence") == 0)
        ev.presences++;
    else
        ev.iqs++;
}

static void on_fail(cv_bench_conn_t *c, int code, const char *why)
{
    CV_UNUSED(c);
    ev.fail++;
    ev.fail_code = code;
    snprintf(ev.why, sizeof ev.why, "%s", why);
}

static void on_output(cv_bench_conn_t *c)
{
    CV_UNUSED(c);
    ev.outputs++;
}

static const cv_bench_client_ops_t ops = {on_online, on_stanza, on_fail, on_output};

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0'>"

static int feed(cv_bench_conn_t *c, const char *s)
{
    return cv_bench_conn_input(c, s, strlen(s));
}

/* Takes and returns what the client sent since the last call. */
static const char *sent(cv_bench_conn_t *c, cv_buf_t *keep)
{
    cv_buf_clear(keep);
    cv_buf_append(keep, c->out.data ? c->out.data : "", c->out.len);
    cv_buf_clear(&c->out);
    return keep->data ? keep->data : "";
}

static void setup(cv_bench_conn_t *c, cv_bench_client_cfg_t *cfg, cv_bench_opts_t *o, int roster)
{
    memset(&ev, 0, sizeof ev);
    memset(c, 0, sizeof *c);
    memset(o, 0, sizeof *o);
    snprintf(o->domain, sizeof o->domain, "localhost");
    snprintf(o->user_prefix, sizeof o->user_prefix, "user");
    snprintf(o->password, sizeof o->password, "pw");
    o->mech = CV_BENCH_MECH_PLAIN;
    o->roster = roster;
    cfg->opts = o;
    cfg->tls_ctx = NULL;
    cfg->ops = &ops;
    CHECK(cv_bench_conn_init(c, cfg, NULL, 6, 7) == 0);
}

static void test_full_login(void)
{
    cv_bench_conn_t c;
    cv_bench_client_cfg_t cfg;
    cv_bench_opts_t o;
    cv_buf_t out = CV_BUF_INIT;
    setup(&c, &cfg, &o, 1);

    CHECK(cv_bench_conn_begin(&c) == 0);
    CHECK(strstr(sent(&c, &out), "<stream:stream to='localhost'") != NULL);
    CHECK(feed(&c, HDR "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                       "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>"
                       "</mechanisms></stream:features>") == 0);
    /* base64("\0user7\0pw") */
    CHECK(strstr(sent(&c, &out), "mechanism='PLAIN'>AHVzZXI3AHB3</auth>") != NULL);
    /* Success and the new stream header in one read: the restart happens in between. */
    CHECK(feed(&c,
               "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" HDR
               "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
               "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>") == 0);
    const char *s = sent(&c, &out);
    CHECK(strstr(s, "<stream:stream to='localhost'") != NULL);
    CHECK(strstr(s, "<iq type='set' id='bind'>") != NULL);
    CHECK(c.state == CV_BENCH_CS_BIND && c.authed);
    CHECK(feed(&c, "<iq type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                   "<jid>user7@localhost/bench</jid></bind></iq>") == 0);
    /* The session element had no <optional/>: the client establishes one. */
    CHECK(strstr(sent(&c, &out), "id='sess'") != NULL);
    CHECK(feed(&c, "<iq type='result' id='sess'/>") == 0);
    CHECK(strstr(sent(&c, &out), "<query xmlns='jabber:iq:roster'/>") != NULL);
    CHECK(ev.online == 0);
    CHECK(feed(&c, "<iq type='result' id='roster'><query xmlns='jabber:iq:roster'/></iq>") == 0);
    CHECK(ev.online == 1 && ev.iqs == 1 && c.state == CV_BENCH_CS_ONLINE && ev.fail == 0);

    /* Traffic: messages and presences go to the scenario; pings and pushes are answered. */
    CHECK(feed(&c, "<message from='a@localhost/x' type='chat'><body>hi</body></message>"
                   "<presence from='a@localhost/x'/>"
                   "<iq type='get' id='p&amp;1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
                   "<iq type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>") == 0);
    CHECK(ev.messages == 1 && ev.presences == 1);
    s = sent(&c, &out);
    CHECK(strstr(s, "<iq type='result' id='p&amp;1'/>") != NULL);
    CHECK(strstr(s, "id='v1'><error type='cancel'><service-unavailable") != NULL);
    CHECK(cv_bench_conn_sendf(&c, "<presence/>") == 0 && c.out.len == 11);

    /* The server ends the stream: a failure with a reason, reported once. */
    CHECK(feed(&c, "</stream:stream>") < 0);
    CHECK(ev.fail == 1 && c.failed && c.closing);
    CHECK(feed(&c, "<message/>") == CV_ECLOSED && ev.fail == 1);
    CHECK(cv_bench_conn_send(&c, "x", 1) == CV_ECLOSED);
    cv_bench_conn_cleanup(&c);
    cv_buf_free(&out);
}

static void expect_failure(const char *name, const char *script, int roster, int code,
                           const char *why_part)
{
    cv_bench_conn_t c;
    cv_bench_client_cfg_t cfg;
    cv_bench_opts_t o;
    setup(&c, &cfg, &o, roster);
    CHECK(cv_bench_conn_begin(&c) == 0);
    int rc = feed(&c, script);
    if (rc >= 0 || ev.fail != 1 || (code && ev.fail_code != code) ||
        (why_part && !strstr(ev.why, why_part))) {
        printf("FAIL %s: rc %d, %d failures, code %d, why \"%s\"\n", name, rc, ev.fail,
               ev.fail_code, ev.why);
        failures++;
    }
    CHECK(ev.online == 0 && c.failed);
    cv_bench_conn_cleanup(&c);
}

#define FEAT_PLAIN                                                                                 \
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"                       \
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>"

static void test_failures(void)
{
    expect_failure("not offered",
                   HDR "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                       "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
                   0, CV_EUNSUPP, "does not offer PLAIN");
    expect_failure("auth refused",
                   HDR FEAT_PLAIN "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                                  "<not-authorized/></failure>",
                   0, CV_EAUTH, "not-authorized");
    expect_failure("stream error",
                   HDR "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                       "</stream:error>",
                   0, CV_EPROTO, "host-unknown");
    expect_failure("bad xml", HDR "<stream:features><a></b>", 0, 0, "not-well-formed");
    expect_failure("doctype", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>", 0, 0,
                   "restricted-xml");
    expect_failure("wrong namespace",
                   "<stream:stream xmlns='jabber:server' "
                   "xmlns:stream='http://etherx.jabber.org/streams'>",
                   0, CV_EPROTO, "namespace");
    expect_failure("message before auth", HDR "<message><body>x</body></message>", 0, CV_EPROTO,
                   NULL);
    expect_failure("iq before auth", HDR FEAT_PLAIN "<iq type='get' id='x'/>", 0, CV_EPROTO, NULL);
    expect_failure("bind refused",
                   HDR FEAT_PLAIN "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" HDR
                                  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:"
                                  "xmpp-bind'/></stream:features><iq type='error' id='bind'/>",
                   0, CV_EPROTO, "binding refused");
    expect_failure("challenge during plain",
                   HDR FEAT_PLAIN
                   "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AA==</challenge>",
                   0, CV_EPROTO, NULL);
    expect_failure("no mechanisms", HDR "<stream:features/>", 0, CV_EUNSUPP, NULL);
    /* A huge stanza is refused by the client's own limit instead of being buffered. */
    static char big[200000];
    size_t n = (size_t)snprintf(big, sizeof big, "%s<message><body>", HDR);
    memset(big + n, 'x', sizeof big - n - 1);
    big[sizeof big - 1] = '\0';
    expect_failure("oversized stanza", big, 0, 0, "policy-violation");
}

int main(void)
{
    test_full_login();
    test_failures();
    return failures ? 1 : 0;
}
