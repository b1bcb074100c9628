/* Unit tests of the XMPP stream parser: splitting, pause/restart, rejections, limits,
 * namespaces, UTF-8, trim. Prints one line per failed check; exits non-zero on failure. */
#include <malloc.h>
#include <string.h>

#include "corvid/buf.h"
#include "corvid/xml_stream.h"
#include "corvid/xmpp.h"
#include "check.h"

#define HDR                                                                                        \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "        \
    "to='example.com' version='1.0'>"

/* Records every event as text so runs can be compared byte for byte. */
typedef struct rec_s {
    cv_buf_t log;
    char ns_default[64];
    int opens, stanzas, closes;
    int pause_every;   /* on_stanza returns 1 for every stanza when set */
    int pause_at;      /* ... or only for the stanza with this 1-based number */
    int stop_at;       /* on_stanza returns -77 for this one */
    cv_stanza_t *keep; /* last stanza, kept when keep_last is set */
    int keep_last;
    int quiet; /* no log: heap measurements see only the parser */
} rec_t;

static int rec_open(void *ctx, const char *ns_stream, const char *ns_default,
                    const cv_xml_attr_t *attrs, uint32_t nattrs)
{
    rec_t *r = ctx;
    r->opens++;
    snprintf(r->ns_default, sizeof(r->ns_default), "%s", ns_default);
    if (r->quiet)
        return 0;
    cv_buf_printf(&r->log, "OPEN{%s|%s", ns_stream, ns_default);
    for (uint32_t i = 0; i < nattrs; i++)
        cv_buf_printf(&r->log, "|%s=%s(%s)", attrs[i].name, attrs[i].value, attrs[i].ns);
    cv_buf_append_str(&r->log, "}\n");
    return 0;
}

static int rec_stanza(void *ctx, cv_stanza_t *st)
{
    rec_t *r = ctx;
    r->stanzas++;
    if (r->quiet) {
        cv_stanza_free(st);
        return 0;
    }
    cv_buf_append_str(&r->log, "STANZA{");
    CHECK(cv_xml_serialize(cv_stanza_root(st), r->ns_default, &r->log) == 0);
    cv_buf_append_str(&r->log, "}\n");
    if (r->keep_last) {
        cv_stanza_free(r->keep);
        r->keep = st;
    } else {
        cv_stanza_free(st);
    }
    if (r->stop_at && r->stanzas == r->stop_at)
        return -77;
    if (r->pause_every || (r->pause_at && r->stanzas == r->pause_at))
        return 1;
    return 0;
}

static void rec_close(void *ctx)
{
    rec_t *r = ctx;
    r->closes++;
    cv_buf_append_str(&r->log, "CLOSE\n");
}

static cv_xml_stream_t *mk(rec_t *r, const cv_xml_limits_t *lim)
{
    cv_xml_stream_cb_t cb = {r, rec_open, rec_stanza, rec_close};
    cv_xml_stream_t *s = NULL;
    CHECK(cv_xml_stream_create(&s, lim, &cb) == 0);
    return s;
}

static void rec_free(rec_t *r)
{
    cv_buf_free(&r->log);
    cv_stanza_free(r->keep);
    memset(r, 0, sizeof(*r));
}

/* Feeds data in pieces whose sizes come from next_piece, honouring pauses (the rest is
 * fed again without a reset) and trimming between pieces when asked. Returns the first
 * error code or 0. */
typedef size_t (*piece_fn)(void *st, size_t left);

static int feed_pieces(cv_xml_stream_t *s, const char *data, size_t len, piece_fn piece, void *pst,
                       int trim, int *trims)
{
    size_t off = 0;
    while (off < len) {
        size_t n = piece(pst, len - off);
        size_t used = 0;
        int rc = cv_xml_stream_feed(s, data + off, n, &used);
        if (rc < 0)
            return rc;
        if (used > n)
            return -1;
        off += used;
        if (used == 0 && n > 0) {
            /* Closed: nothing more is parsed. */
            return 0;
        }
        if (trim && cv_xml_stream_trim(s) == 0 && trims)
            (*trims)++;
    }
    return 0;
}

static size_t piece_one(void *st, size_t left)
{
    return 1;
}

static size_t piece_all(void *st, size_t left)
{
    return left;
}

typedef struct split_s {
    size_t first;
    int used;
} split_t;

static size_t piece_split(void *st, size_t left)
{
    split_t *sp = st;
    if (!sp->used) {
        sp->used = 1;
        if (sp->first < left)
            return sp->first;
    }
    return left;
}

static size_t piece_random(void *st, size_t left)
{
    uint32_t *seed = st;
    *seed = *seed * 1103515245u + 12345u;
    size_t n = 1 + (*seed >> 8) % 97;
    return n < left ? n : left;
}

static void build_corpus(cv_buf_t *b)
{
    cv_buf_append_str(b, "<?xml version='1.0' encoding='UTF-8'?>"
                         "<stream:stream xmlns='jabber:client' "
                         "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "
                         "version='1.0' xml:lang='en' id='s1'>\n  \t");
    cv_buf_append_str(b, "<message to='juliet@example.com/balcony' "
                         "from=\"romeo@example.net/orchard\" type='chat' id='m&amp;1'>"
                         "<body>Art thou &lt;not&gt; Romeo &amp; a Montague? &#x41;&#66; "
                         "\"q\" 'a'</body>"
                         "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>"
                         "<x xmlns='urn:x' a='&#38;&#60;&#62;&#9;&#10;&#13;' b='x\ny'><y/></x>"
                         "</message>");
    cv_buf_append_str(b, " ");
    cv_buf_append_str(b, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
    cv_buf_append_str(b, "<presence xml:lang='fr'><status>\xC3\x87"
                         "a va? "
                         "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80</status>"
                         "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                         "node='http://a.b/c' ver='a>b'/></presence>");
    cv_buf_append_str(b, "<stream:features/>");
    cv_buf_append_str(b, "<message><body><![CDATA[<not a tag> & stuff]]>line1\r\nline2"
                         "</body></message>");
    cv_buf_append_str(b, "<p:ping xmlns:p='urn:xmpp:ping' xmlns:q='urn:q' q:attr='v'/>");
    /* More than libxml2's 300-byte character-data batch, multibyte throughout. */
    cv_buf_append_str(b, "<message><body>");
    for (int i = 0; i < 120; i++)
        cv_buf_append_str(b, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x8E\xB5x");
    cv_buf_append_str(b, "</body></message>");
    /* More whitespace than libxml2 batches at once, between stanzas. */
    for (int i = 0; i < 700; i++)
        cv_buf_append_str(b, i % 2 ? " " : "\n");
    cv_buf_append_str(b, "<message xmlns='jabber:server' to='a@b'><body>other ns</body>"
                         "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
                         "<body xmlns='http://www.w3.org/1999/xhtml'><p>hi</p></body></html>"
                         "</message>\r\n");
    cv_buf_append_str(b, "</stream:stream>");
}

static char *run_pieces(const cv_buf_t *corpus, piece_fn piece, void *pst, int trim, int pause,
                        int *trims)
{
    rec_t r = {0};
    r.pause_every = pause;
    cv_xml_stream_t *s = mk(&r, NULL);
    int rc = feed_pieces(s, corpus->data, corpus->len, piece, pst, trim, trims);
    CHECK(rc == 0);
    if (rc < 0)
        printf("  error %d condition %s\n", rc, cv_stream_err_name(cv_xml_stream_error(s)));
    cv_xml_stream_destroy(s);
    char *out = strdup(r.log.data ? r.log.data : "");
    rec_free(&r);
    return out;
}

/* How many two-piece splits of corpus (first piece 1 .. len-1 bytes) parse differently
   from ref; the first one is shown. */
static int differing_splits(const cv_buf_t *corpus, const char *ref, const char *what)
{
    int bad = 0;
    for (size_t i = 1; i < corpus->len; i++) {
        split_t sp = {i, 0};
        char *got = run_pieces(corpus, piece_split, &sp, 0, 0, NULL);
        if (strcmp(got, ref) != 0) {
            if (!bad)
                printf("  first differing split of the %s at %zu:\n%s\n", what, i, got);
            bad++;
        }
        free(got);
    }
    return bad;
}

static void test_splits(void)
{
    cv_buf_t corpus = CV_BUF_INIT;
    build_corpus(&corpus);

    char *ref = run_pieces(&corpus, piece_all, NULL, 0, 0, NULL);
    /* The reference run itself is checked against hand-written expectations. */
    static const char open_want[] =
        "OPEN{http://etherx.jabber.org/streams|jabber:client|to=example.com()|"
        "version=1.0()|xml:lang=en(http://www.w3.org/XML/1998/namespace)|id=s1()}\n";
    CHECK(strncmp(ref, open_want, strlen(open_want)) == 0);
    CHECK(strstr(ref, "STANZA{<message to='juliet@example.com/balcony' "
                      "from='romeo@example.net/orchard' type='chat' id='m&amp;1'>"
                      "<body>Art thou &lt;not&gt; Romeo &amp; a Montague? AB &quot;q&quot; "
                      "&apos;a&apos;</body>"
                      "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>"
                      "<x xmlns='urn:x' a='&amp;&lt;&gt;&#9;&#10;&#13;' b='x y'><y/></x>"
                      "</message>}\n") != NULL);
    CHECK(strstr(ref, "STANZA{<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>}") !=
          NULL);
    CHECK(strstr(ref, "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                      "node='http://a.b/c' ver='a&gt;b'/>") != NULL);
    CHECK(strstr(ref, "STANZA{<features xmlns='http://etherx.jabber.org/streams'/>}") != NULL);
    CHECK(strstr(ref, "<body>&lt;not a tag&gt; &amp; stuffline1\nline2</body>") != NULL);
    CHECK(strstr(ref, "STANZA{<ping xmlns='urn:xmpp:ping' xmlns:q='urn:q' q:attr='v'/>}") != NULL);
    CHECK(strstr(ref, "STANZA{<message xmlns='jabber:server' to='a@b'><body>other ns</body>"
                      "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
                      "<body xmlns='http://www.w3.org/1999/xhtml'><p>hi</p></body></html>"
                      "</message>}\nCLOSE\n") != NULL);
    int nst = 0;
    for (const char *p = ref; (p = strstr(p, "STANZA{")); p++)
        nst++;
    CHECK(nst == 8);
    if (getenv("SHOW_REF"))
        printf("%s", ref);

    char *got = run_pieces(&corpus, piece_one, NULL, 0, 0, NULL);
    CHECK_STR(got, ref);
    free(got);

    CHECK(differing_splits(&corpus, ref, "corpus") == 0);

    int bad_random = 0;
    for (uint32_t seed = 1; seed <= 300; seed++) {
        uint32_t st = seed;
        got = run_pieces(&corpus, piece_random, &st, 0, 0, NULL);
        bad_random += strcmp(got, ref) != 0;
        free(got);
    }
    CHECK(bad_random == 0);

    /* Trim after every byte: it succeeds only at stanza boundaries and must be invisible. */
    int trims = 0;
    got = run_pieces(&corpus, piece_one, NULL, 1, 0, &trims);
    CHECK_STR(got, ref);
    CHECK(trims > 9);
    free(got);

    /* Pause after every stanza and go on without a reset: same stanzas. */
    got = run_pieces(&corpus, piece_all, NULL, 0, 1, NULL);
    CHECK_STR(got, ref);
    free(got);
    for (uint32_t seed = 1; seed <= 20; seed++) {
        uint32_t st = seed;
        got = run_pieces(&corpus, piece_random, &st, 1, 1, NULL);
        CHECK_STR(got, ref);
        free(got);
    }

    /* Whitespace before the document (a newline some clients send between two streams)
       is dropped however the bytes are split; once the document began, none is. */
    cv_buf_t padded = CV_BUF_INIT;
    cv_buf_append_str(&padded, "\r\n \t\n");
    cv_buf_append(&padded, corpus.data, corpus.len);
    CHECK(differing_splits(&padded, ref, "padded corpus") == 0);
    got = run_pieces(&padded, piece_one, NULL, 0, 0, NULL);
    CHECK_STR(got, ref);
    free(got);
    cv_buf_free(&padded);

    free(ref);
    cv_buf_free(&corpus);
}

static void test_pause_restart(void)
{
    const char *in = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><garbage-after"
                         "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                         "xmlns:stream='http://etherx.jabber.org/streams' to='second.example' "
                         "version='1.0'><message><body>after</body></message>";
    const char *tail = strstr(in, "<garbage-after");
    size_t len = strlen(in);

    for (int mode = 0; mode < 2; mode++) {
        rec_t r = {0};
        r.pause_at = 1;
        cv_xml_stream_t *s = mk(&r, NULL);
        size_t off = 0, used = 0;
        int rc = 0;
        /* Byte by byte (mode 1) or all at once (mode 0) until the pause. */
        while (off < len && r.stanzas == 0) {
            size_t n = mode ? 1 : len - off;
            rc = cv_xml_stream_feed(s, in + off, n, &used);
            off += used;
            if (rc < 0)
                break;
        }
        CHECK(rc == 0);
        CHECK(r.stanzas == 1);
        CHECK(in + off == tail);
        /* The caller drops what TLS negotiation makes obsolete and restarts the stream. */
        off += strlen("<garbage-after");
        CHECK(cv_xml_stream_reset(s) == 0);
        while (off < len) {
            size_t n = mode ? 1 : len - off;
            rc = cv_xml_stream_feed(s, in + off, n, &used);
            CHECK(rc == 0 && used == n);
            if (rc < 0)
                break;
            off += used;
        }
        CHECK(r.opens == 2);
        CHECK(r.stanzas == 2);
        CHECK(strstr(r.log.data, "STANZA{<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>}\n"
                                 "OPEN{http://etherx.jabber.org/streams|jabber:client|"
                                 "to=second.example()|version=1.0()}\n"
                                 "STANZA{<message><body>after</body></message>}\n") != NULL);
        cv_xml_stream_destroy(s);
        rec_free(&r);
    }
}

typedef struct reject_s {
    const char *in;
    size_t len; /* 0: strlen */
    cv_stream_err_t want;
} reject_t;

static void test_rejections(void)
{
    static const reject_t cases[] = {
        {"<?xml version='1.0'?><!DOCTYPE foo>" HDR, 0, CV_SE_RESTRICTED_XML},
        {"<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY x 'y'>]>" HDR, 0, CV_SE_RESTRICTED_XML},
        {"<!DOCTYPE stream:stream SYSTEM 'http://example.com/x.dtd'>" HDR, 0, CV_SE_RESTRICTED_XML},
        {HDR "<message><body>&foo;</body></message>", 0, CV_SE_RESTRICTED_XML},
        {HDR "<message to='&foo;'/>", 0, CV_SE_RESTRICTED_XML},
        {HDR "<message><?pi data?></message>", 0, CV_SE_RESTRICTED_XML},
        {"<?pi data?>" HDR, 0, CV_SE_RESTRICTED_XML},
        {HDR "<?pi data?><message/>", 0, CV_SE_RESTRICTED_XML},
        {HDR "<message><!-- c --></message>", 0, CV_SE_RESTRICTED_XML},
        {"<!-- c -->" HDR, 0, CV_SE_RESTRICTED_XML},
        {HDR "<!-- c --><message/>", 0, CV_SE_RESTRICTED_XML},
        {HDR "<foo:bar/>", 0, CV_SE_BAD_NAMESPACE_PREFIX},
        {HDR "<message><foo:bar/></message>", 0, CV_SE_BAD_NAMESPACE_PREFIX},
        {HDR "<message foo:x='1'/>", 0, CV_SE_BAD_NAMESPACE_PREFIX},
        {"<stream:stream xmlns='jabber:client' to='a'>", 0, CV_SE_BAD_NAMESPACE_PREFIX},
        {"<?xml version='1.0' encoding='ISO-8859-1'?>" HDR, 0, CV_SE_UNSUPPORTED_ENCODING},
        {"<?xml version='1.0' encoding='x-no-such-thing'?>" HDR, 0, CV_SE_UNSUPPORTED_ENCODING},
        {"<?xml version='1.0' encoding='UTF-16'?>" HDR, 0, CV_SE_UNSUPPORTED_ENCODING},
        {"\xFF\xFE<\0s\0", 6, CV_SE_UNSUPPORTED_ENCODING},
        {"\xFE\xFF\0<\0s", 6, CV_SE_UNSUPPORTED_ENCODING},
        {HDR "<message></iq>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message><body>\xC3\x28</body></message>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message><body>\x01</body></message>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message><body><![CDATA[\xC1\x9E]]></body></message>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message><body><![CDATA[\xED\xA0\x80]]></body></message>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message><body>&#0;</body></message>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message a='1' a='2'/>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message>&amp </message>;", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message a=1/>", 0, CV_SE_NOT_WELL_FORMED},
        {HDR "<message a='<'/><b/>", 0, CV_SE_NOT_WELL_FORMED},
        {"hello", 0, CV_SE_NOT_WELL_FORMED},
        {"\xEF\xBB"
         "x",
         0, CV_SE_NOT_WELL_FORMED},
        {HDR "hello<message/>", 0, CV_SE_INVALID_XML},
        {"<foo xmlns='http://etherx.jabber.org/streams'>", 0, CV_SE_INVALID_NAMESPACE},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        const reject_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        for (int mode = 0; mode < 2; mode++) {
            rec_t r = {0};
            cv_xml_stream_t *s = mk(&r, NULL);
            int rc = 0;
            for (size_t off = 0; off < len && rc == 0;) {
                size_t n = mode ? 1 : len, used = 0;
                rc = cv_xml_stream_feed(s, c->in + off, n, &used);
                off += n;
            }
            cv_stream_err_t e = cv_xml_stream_error(s);
            if (rc != CV_EPROTO || e != c->want) {
                printf("FAIL rejection case %zu (%s, mode %d): rc %d condition %s, want %s\n", i,
                       c->in, mode, rc, cv_stream_err_name(e), cv_stream_err_name(c->want));
                failures++;
            }
            /* After an error only reset/destroy do anything. */
            CHECK(cv_xml_stream_feed(s, HDR, strlen(HDR), NULL) == rc);
            CHECK(cv_xml_stream_reset(s) == 0);
            CHECK(cv_xml_stream_error(s) == CV_SE_NONE);
            CHECK(cv_xml_stream_feed(s, HDR "<a/>", strlen(HDR "<a/>"), NULL) == 0);
            cv_xml_stream_destroy(s);
            rec_free(&r);
        }
    }
}

static int feed_str(cv_xml_stream_t *s, const char *str, size_t *used)
{
    return cv_xml_stream_feed(s, str, strlen(str), used);
}

static void test_limits(void)
{
    cv_xml_limits_t lim = {1000, 3, 4};
    rec_t r = {0};
    cv_xml_stream_t *s;
    size_t used = 0;

    /* A giant text node fed at once is cut off after about one slice past the limit. */
    size_t big = 1 << 20;
    char *data = malloc(big);
    CHECK(data != NULL);
    size_t hl = strlen(HDR "<message><body>");
    memcpy(data, HDR "<message><body>", hl);
    memset(data + hl, 'a', big - hl);
    s = mk(&r, &lim);
    CHECK(cv_xml_stream_feed(s, data, big, &used) == CV_ELIMIT);
    CHECK(cv_xml_stream_error(s) == CV_SE_POLICY_VIOLATION);
    CHECK(used < hl + 1000 + 8192);
    cv_xml_stream_destroy(s);

    /* The same for an unterminated attribute value (libxml2 buffers it, waiting). */
    hl = strlen(HDR "<message to='");
    memcpy(data, HDR "<message to='", hl);
    s = mk(&r, &lim);
    CHECK(cv_xml_stream_feed(s, data, big, &used) == CV_ELIMIT);
    CHECK(cv_xml_stream_error(s) == CV_SE_POLICY_VIOLATION);
    CHECK(used < hl + 1000 + 8192);
    cv_xml_stream_destroy(s);

    /* ... and byte by byte, the stream is refused soon after the limit. */
    s = mk(&r, &lim);
    size_t off = 0;
    int rc = 0;
    while (off < big && rc == 0) {
        rc = cv_xml_stream_feed(s, data + off, 1, &used);
        off++;
    }
    CHECK(rc == CV_ELIMIT && off < hl + 1000 + 8192);
    cv_xml_stream_destroy(s);

    /* A stream header bigger than the limit. */
    memset(data, 'a', big);
    memcpy(data, "<stream:stream a='", 18);
    s = mk(&r, &lim);
    CHECK(cv_xml_stream_feed(s, data, 20000, &used) == CV_ELIMIT);
    cv_xml_stream_destroy(s);

    /* Whitespace between stanzas is not held against the limit. */
    s = mk(&r, &lim);
    CHECK(feed_str(s, HDR, &used) == 0);
    memset(data, ' ', big);
    CHECK(cv_xml_stream_feed(s, data, big, &used) == 0 && used == big);
    CHECK(feed_str(s, "<message/>", &used) == 0);
    CHECK(r.stanzas == 1);
    cv_xml_stream_destroy(s);
    free(data);

    /* Just under and just over the byte limit. */
    cv_buf_t b = CV_BUF_INIT;
    cv_buf_append_str(&b, "<message><body>");
    while (b.len < 1000 - strlen("</body></message>"))
        cv_buf_append_str(&b, "x");
    cv_buf_append_str(&b, "</body></message>");
    CHECK(b.len == 1000);
    s = mk(&r, &lim);
    r.stanzas = 0;
    CHECK(feed_str(s, HDR, &used) == 0);
    CHECK(cv_xml_stream_feed(s, b.data, b.len, &used) == 0);
    CHECK(r.stanzas == 1);
    cv_buf_clear(&b);
    cv_buf_append_str(&b, "<message><body>");
    while (b.len < 1001 - strlen("</body></message>"))
        cv_buf_append_str(&b, "x");
    cv_buf_append_str(&b, "</body></message>");
    CHECK(cv_xml_stream_feed(s, b.data, b.len, &used) == CV_ELIMIT);
    CHECK(cv_xml_stream_error(s) == CV_SE_POLICY_VIOLATION);
    CHECK(r.stanzas == 1);
    cv_xml_stream_destroy(s);
    cv_buf_free(&b);

    /* Depth: the stanza is depth 1. */
    s = mk(&r, &lim);
    r.stanzas = 0;
    CHECK(feed_str(s, HDR "<a><b><c/></b></a>", &used) == 0);
    CHECK(r.stanzas == 1);
    CHECK(feed_str(s, "<a><b><c><d/></c></b></a>", &used) == CV_ELIMIT);
    CHECK(cv_xml_stream_error(s) == CV_SE_POLICY_VIOLATION);
    cv_xml_stream_destroy(s);

    /* Attributes, namespace declarations included. */
    s = mk(&r, &lim);
    r.stanzas = 0;
    CHECK(feed_str(s, HDR "<a x1='1' x2='2' x3='3' x4='4'/>", &used) == 0);
    CHECK(r.stanzas == 1);
    CHECK(feed_str(s, "<a x1='1' x2='2' x3='3' x4='4' x5='5'/>", &used) == CV_ELIMIT);
    CHECK(cv_xml_stream_error(s) == CV_SE_POLICY_VIOLATION);
    cv_xml_stream_destroy(s);
    s = mk(&r, &lim);
    CHECK(feed_str(s, HDR "<a xmlns='urn:a' x1='1' x2='2' x3='3' x4='4'/>", &used) == CV_ELIMIT);
    cv_xml_stream_destroy(s);
    rec_free(&r);
}

static void test_namespaces_and_text(void)
{
    rec_t r = {0};
    r.keep_last = 1;
    cv_xml_stream_t *s = mk(&r, NULL);
    size_t used;
    CHECK(feed_str(s,
                   "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
                   "xmlns='jabber:client' xmlns:db='jabber:server:dialback'>",
                   &used) == 0);
    CHECK(r.opens == 1);

    CHECK(feed_str(s,
                   "<message xml:lang='de' xmlns:e='urn:e' e:k='v' to='x'>"
                   "<body>caf\xC3\xA9 \xF0\x9F\x98\x80 &#x1F600; &#233;</body>"
                   "<e:ext><inner xmlns=''/></e:ext></message>",
                   &used) == 0);
    CHECK(r.stanzas == 1);
    cv_xml_node_t *m = r.keep ? cv_stanza_root(r.keep) : NULL;
    CHECK(m != NULL);
    if (m) {
        CHECK_STR(m->name, "message");
        CHECK_STR(m->ns, CV_NS_CLIENT);
        CHECK(m->nattrs == 3);
        CHECK_STR(cv_xml_attr(m, "xml:lang"), "de");
        CHECK_STR(m->attrs[0].ns, CV_NS_XML);
        CHECK_STR(cv_xml_attr(m, "e:k"), "v");
        CHECK_STR(m->attrs[1].ns, "urn:e");
        CHECK_STR(m->attrs[2].ns, "");
        cv_xml_node_t *body = cv_xml_child(m, "body", CV_NS_CLIENT);
        CHECK(body != NULL);
        cv_buf_t t = CV_BUF_INIT;
        CHECK(cv_xml_text(body, &t) == 0);
        CHECK_STR(t.data, "caf\xC3\xA9 \xF0\x9F\x98\x80 \xF0\x9F\x98\x80 \xC3\xA9");
        cv_buf_free(&t);
        cv_xml_node_t *ext = cv_xml_child(m, "ext", NULL);
        CHECK(ext != NULL && strcmp(ext->ns, "urn:e") == 0);
        cv_xml_node_t *inner = ext ? cv_xml_first_element(ext) : NULL;
        CHECK(inner != NULL && strcmp(inner->ns, "") == 0);
    }

    /* The stream's own prefixes stay usable, also across a trim. */
    CHECK(feed_str(s, "<s:features/>", &used) == 0);
    m = r.keep ? cv_stanza_root(r.keep) : NULL;
    CHECK(m && strcmp(m->name, "features") == 0 && strcmp(m->ns, CV_NS_STREAM) == 0);
    CHECK(cv_xml_stream_trim(s) == 0);
    CHECK(feed_str(s, "<db:result to='a' from='b'>key</db:result>", &used) == 0);
    m = r.keep ? cv_stanza_root(r.keep) : NULL;
    CHECK(m && strcmp(m->name, "result") == 0 && strcmp(m->ns, "jabber:server:dialback") == 0);
    CHECK(cv_xml_stream_trim(s) == 0);
    CHECK(feed_str(s, "<message/></s:stream>", &used) == 0);
    CHECK(used == strlen("<message/></s:stream>"));
    m = r.keep ? cv_stanza_root(r.keep) : NULL;
    CHECK(m && strcmp(m->ns, CV_NS_CLIENT) == 0);
    CHECK(r.closes == 1);
    cv_xml_stream_destroy(s);
    rec_free(&r);

    /* A stream header without a default namespace: stanzas are in no namespace. */
    s = mk(&r, NULL);
    r.keep_last = 1;
    CHECK(feed_str(s,
                   "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
                   "<message/>",
                   &used) == 0);
    CHECK(strstr(r.log.data, "OPEN{http://etherx.jabber.org/streams|}") != NULL);
    CHECK(r.keep && strcmp(cv_stanza_root(r.keep)->ns, "") == 0);
    cv_xml_stream_destroy(s);
    rec_free(&r);

    /* Wrong stream namespace is the caller's to refuse; the parser reports it. */
    s = mk(&r, NULL);
    CHECK(feed_str(s, "<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>", &used) ==
          0);
    CHECK(strstr(r.log.data, "OPEN{urn:wrong|jabber:client}") != NULL);
    cv_xml_stream_destroy(s);
    rec_free(&r);

    /* A UTF-8 byte-order mark before the header is accepted, also split. */
    s = mk(&r, NULL);
    CHECK(cv_xml_stream_feed(s, "\xEF", 1, &used) == 0);
    CHECK(cv_xml_stream_feed(s, "\xBB\xBF" HDR, 2 + strlen(HDR), &used) == 0);
    CHECK(r.opens == 1);
    cv_xml_stream_destroy(s);
    rec_free(&r);
}

static void test_close_and_stop(void)
{
    rec_t r = {0};
    cv_xml_stream_t *s = mk(&r, NULL);
    size_t used = 0;
    const char *in = HDR "<message/> </stream:stream><message/>";
    CHECK(feed_str(s, in, &used) == 0);
    CHECK(used == strlen(in) - strlen("<message/>"));
    CHECK(r.closes == 1 && r.stanzas == 1);
    CHECK(feed_str(s, " ", &used) == CV_ECLOSED);
    CHECK(cv_xml_stream_trim(s) == 0);
    CHECK(cv_xml_stream_memory(s) < 1024);
    cv_xml_stream_destroy(s);
    rec_free(&r);

    /* An empty root element opens and closes the stream. */
    s = mk(&r, NULL);
    CHECK(feed_str(s, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>", &used) ==
          0);
    CHECK(r.opens == 1 && r.closes == 1);
    cv_xml_stream_destroy(s);
    rec_free(&r);

    /* A callback's negative value stops the stream and is returned as is. */
    s = mk(&r, NULL);
    r.stop_at = 2;
    CHECK(feed_str(s, HDR "<a/><b/><c/>", &used) == -77);
    CHECK(r.stanzas == 2);
    CHECK(cv_xml_stream_error(s) == CV_SE_NONE);
    CHECK(feed_str(s, "<d/>", &used) == -77);
    CHECK(r.stanzas == 2);
    cv_xml_stream_destroy(s);
    rec_free(&r);
}

static void test_trim_memory(void)
{
    /* Many streams, so that glibc's per-thread cache of freed chunks (counted as in use
     * by mallinfo2) is small per stream. */
    enum { N = 256 };
    rec_t r[N];
    cv_xml_stream_t *s[N];
    size_t used;
    memset(r, 0, sizeof(r));

    for (int i = 0; i < N; i++)
        r[i].quiet = 1;
    /* libxml2 allocates some per-process and per-thread state on first use. */
    s[0] = mk(&r[0], NULL);
    CHECK(feed_str(s[0], HDR "<message><body>warm</body></message>", &used) == 0);
    cv_xml_stream_destroy(s[0]);
    r[0].stanzas = r[0].opens = 0;
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < N; i++) {
        s[i] = mk(&r[i], NULL);
        CHECK(feed_str(s[i], HDR "<message><body>hello</body></message>", &used) == 0);
    }
    struct mallinfo2 m1 = mallinfo2();
    size_t before = cv_xml_stream_memory(s[0]);

    /* Inside a stanza, or with part of one held, trimming must wait. */
    CHECK(feed_str(s[0], "<message><bo", &used) == 0);
    CHECK(cv_xml_stream_trim(s[0]) == CV_AGAIN);
    CHECK(feed_str(s[0], "dy>x</body></message><mess", &used) == 0);
    CHECK(cv_xml_stream_trim(s[0]) == CV_AGAIN);
    CHECK(feed_str(s[0], "age/>  ", &used) == 0);
    CHECK(r[0].stanzas == 3);

    for (int i = 0; i < N; i++)
        CHECK(cv_xml_stream_trim(s[i]) == 0);
    struct mallinfo2 m2 = mallinfo2();
    size_t after = cv_xml_stream_memory(s[0]);
    printf("stream memory: %zu bytes busy, %zu bytes trimmed (estimate); heap per stream "
           "%zd busy, %zd trimmed (mallinfo2)\n",
           before, after, (ssize_t)(m1.uordblks - m0.uordblks) / N,
           (ssize_t)(m2.uordblks - m0.uordblks) / N);
    CHECK(before > 8192);
    CHECK(after < 512);
    /* mallinfo2 sees nothing under sanitizers, which replace malloc. */
    if (m1.uordblks > m0.uordblks) {
        CHECK(m1.uordblks - m0.uordblks > (size_t)N * 8192);
        CHECK(m2.uordblks - m0.uordblks < (size_t)N * 512);
    }

    /* Parsing goes on after a trim, and trimming again works. */
    for (int i = 0; i < N; i++) {
        r[i].quiet = 0;
        CHECK(feed_str(s[i], "<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>", &used) ==
              0);
        CHECK(strstr(r[i].log.data,
                     "STANZA{<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>}") != NULL);
        CHECK(cv_xml_stream_trim(s[i]) == 0);
        cv_xml_stream_destroy(s[i]);
        rec_free(&r[i]);
    }
}

/* Many distinct names would grow libxml2's dictionary forever; the context is rebuilt. */
static void test_dictionary_bound(void)
{
    rec_t r = {0};
    cv_xml_stream_t *s = mk(&r, NULL);
    size_t used, peak = 0;
    CHECK(feed_str(s, HDR, &used) == 0);
    char buf[128];
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "<m%d a%d='1'><c%d/></m%d>", i, i, i, i);
        CHECK(feed_str(s, buf, &used) == 0);
        size_t m = cv_xml_stream_memory(s);
        if (m > peak)
            peak = m;
    }
    CHECK(r.stanzas == 5000);
    CHECK(strstr(r.log.data, "STANZA{<m4999 a4999='1'><c4999/></m4999>}") != NULL);
    printf("peak stream memory over 5000 distinct stanzas: %zu bytes\n", peak);
    CHECK(peak < 128 * 1024);
    cv_xml_stream_destroy(s);
    rec_free(&r);
}

int main(void)
{
    cv_xml_lib_init();
    test_splits();
    test_pause_restart();
    test_rejections();
    test_limits();
    test_namespaces_and_text();
    test_close_and_stop();
    test_trim_memory();
    test_dictionary_bound();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
