/* Unit tests of the stanza tree: builders, queries, clone, escaping, serializer and the
 * parse -> serialize -> parse round trip. Prints one line per failed check. */
#include <string.h>

#include "corvid/buf.h"
#include "corvid/stanza.h"
#include "corvid/xml_stream.h"
#include "corvid/xmpp.h"
#include "check.h"

static char *ser(const cv_xml_node_t *n, const char *default_ns)
{
    cv_buf_t b = CV_BUF_INIT;
    CHECK(cv_xml_serialize(n, default_ns, &b) == 0);
    char *s = strdup(b.data ? b.data : "");
    cv_buf_free(&b);
    return s;
}

static void test_build_and_serialize(void)
{
    cv_stanza_t *st = NULL;
    CHECK(cv_stanza_new(&st, "iq", CV_NS_CLIENT) == 0);
    cv_xml_node_t *iq = cv_stanza_root(st);
    CHECK_STR(iq->name, "iq");
    CHECK_STR(iq->ns, CV_NS_CLIENT);
    CHECK(cv_stanza_set_attr(st, iq, "type", "result") == 0);
    CHECK(cv_stanza_set_attr(st, iq, "id", "a&b<c>\"d'") == 0);
    CHECK(cv_stanza_set_attr(st, iq, "to", "x@y/z") == 0);
    CHECK(cv_stanza_set_attr(st, iq, "xml:lang", "en") == 0);
    CHECK(cv_stanza_set_attr(st, iq, "extra", "gone") == 0);
    CHECK(cv_stanza_set_attr(st, iq, "to", "x@y/w") == 0); /* replaces */
    CHECK(cv_stanza_set_attr(st, iq, "extra", NULL) == 0); /* removes */
    CHECK(cv_stanza_set_attr(st, iq, "absent", NULL) == 0);
    CHECK(iq->nattrs == 4);
    CHECK_STR(cv_xml_attr(iq, "to"), "x@y/w");
    CHECK(cv_xml_attr(iq, "extra") == NULL);

    cv_xml_node_t *q = cv_stanza_add_child(st, iq, "query", "jabber:iq:roster");
    CHECK(q != NULL);
    cv_xml_node_t *item = cv_stanza_add_child(st, q, "item", NULL);
    CHECK(item && strcmp(item->ns, "jabber:iq:roster") == 0);
    CHECK(item && item->ns == q->ns); /* shared, not copied */
    CHECK(cv_stanza_set_attr(st, item, "jid", "a@b") == 0);
    cv_xml_node_t *grp = cv_stanza_add_child(st, item, "group", NULL);
    CHECK(cv_stanza_add_text(st, grp, "Friends ", 8) == 0);
    CHECK(cv_stanza_add_text(st, grp, "& <Family>\r\n\t\"'", 15) == 0);
    CHECK(cv_stanza_add_text(st, grp, "x\0", 2) == CV_EINVAL);
    CHECK(grp->children && grp->children == grp->last_child); /* merged */
    cv_xml_node_t *none = cv_stanza_add_child(st, iq, "x", "");
    CHECK(none && strcmp(none->ns, "") == 0);

    char *out = ser(iq, CV_NS_CLIENT);
    CHECK_STR(out, "<iq type='result' id='a&amp;b&lt;c&gt;&quot;d&apos;' to='x@y/w' "
                   "xml:lang='en'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>"
                   "Friends &amp; &lt;Family&gt;&#13;\n\t&quot;&apos;</group></item></query>"
                   "<x xmlns=''/></iq>");
    free(out);
    out = ser(iq, NULL);
    CHECK(strncmp(out, "<iq xmlns='jabber:client' type=", 31) == 0);
    free(out);
    out = ser(q, "jabber:iq:roster");
    CHECK(strncmp(out, "<query><item", 12) == 0);
    free(out);
    out = ser(grp->children, NULL);
    CHECK_STR(out, "Friends &amp; &lt;Family&gt;&#13;\n\t&quot;&apos;");
    free(out);

    /* Queries. */
    CHECK(cv_xml_child(iq, "query", NULL) == q);
    CHECK(cv_xml_child(iq, NULL, "jabber:iq:roster") == q);
    CHECK(cv_xml_child(iq, "query", "wrong") == NULL);
    CHECK(cv_xml_child(iq, NULL, "") == none);
    CHECK(cv_xml_first_element(iq) == q);
    CHECK(cv_xml_next_element(q) == none);
    CHECK(cv_xml_next_element(none) == NULL);
    cv_buf_t t = CV_BUF_INIT;
    CHECK(cv_xml_text(grp, &t) == 0);
    CHECK_STR(t.data, "Friends & <Family>\r\n\t\"'");
    cv_buf_free(&t);

    /* Invalid input is refused. */
    CHECK(cv_stanza_set_attr(st, iq, "a b", "v") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "xmlns", "v") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "foo:bar", "v") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "", "v") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "1a", "v") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "a", "\x01") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "a", "\xC3\x28") == CV_EINVAL);
    CHECK(cv_stanza_set_attr(st, iq, "a", "\xED\xA0\x80") == CV_EINVAL); /* surrogate */
    CHECK(cv_stanza_set_attr(st, iq, "a", "\xC0\xAF") == CV_EINVAL);     /* overlong */
    CHECK(cv_stanza_set_attr(st, iq, "a", "\xEF\xBF\xBE") == CV_EINVAL); /* U+FFFE */
    CHECK(cv_stanza_set_attr(st, iq, "a", "\xF0\x9F\x98\x80 ok") == 0);
    CHECK(cv_stanza_add_child(st, iq, "a:b", NULL) == NULL);
    CHECK(cv_stanza_add_child(st, iq, "a>", NULL) == NULL);
    CHECK(cv_stanza_add_child(st, grp->children, "a", NULL) == NULL); /* text parent */
    CHECK(cv_stanza_add_text(st, iq, "\x00", 1) == CV_EINVAL);
    CHECK(cv_stanza_add_text(st, iq, "", 0) == 0);
    cv_stanza_t *bad = NULL;
    CHECK(cv_stanza_new(&bad, "", NULL) == CV_EINVAL);
    CHECK(cv_stanza_new(&bad, "a b", NULL) == CV_EINVAL);
    CHECK(bad == NULL);
    cv_stanza_free(st);
}

static void test_clone_and_growth(void)
{
    cv_stanza_t *st = NULL;
    CHECK(cv_stanza_new(&st, "presence", CV_NS_CLIENT) == 0);
    cv_xml_node_t *p = cv_stanza_root(st);
    char name[32], val[64];
    /* Enough to spill over many blocks and to grow attribute arrays repeatedly. */
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        cv_xml_node_t *c = cv_stanza_add_child(st, p, name, i % 3 ? NULL : "urn:other");
        CHECK(c != NULL);
        for (int j = 0; j < 9 && c; j++) {
            snprintf(name, sizeof(name), "a%d", j);
            snprintf(val, sizeof(val), "value %d/%d", i, j);
            CHECK(cv_stanza_set_attr(st, c, name, val) == 0);
        }
        CHECK(cv_stanza_add_text(st, p, "t", 1) == 0);
    }
    CHECK(cv_stanza_set_attr(st, p, "xml:lang", "en") == 0);
    CHECK(cv_stanza_memory(st) > 30000);

    char *a = ser(p, CV_NS_CLIENT);
    cv_stanza_t *cl = NULL;
    CHECK(cv_stanza_clone(p, &cl) == 0);
    char *b = ser(cv_stanza_root(cl), CV_NS_CLIENT);
    CHECK_STR(b, a);
    /* The clone is one block: smaller than the builder's arena. */
    CHECK(cv_stanza_memory(cl) < cv_stanza_memory(st));
    free(b);

    /* Clone of a subtree; it keeps its namespace. */
    cv_xml_node_t *sub = cv_xml_child(p, "c3", NULL);
    cv_stanza_t *cl2 = NULL;
    CHECK(sub && cv_stanza_clone(sub, &cl2) == 0);
    b = ser(cv_stanza_root(cl2), NULL);
    CHECK(strncmp(b, "<c3 xmlns='urn:other' a0='value 3/0'", 36) == 0);
    free(b);
    CHECK(cv_stanza_clone(p->children->next, &cl2) == CV_EINVAL || p->children->next->name);

    /* Freeing the original leaves the clone intact. */
    cv_stanza_free(st);
    b = ser(cv_stanza_root(cl), CV_NS_CLIENT);
    CHECK_STR(b, a);
    free(b);
    free(a);
    cv_stanza_free(cl);
    cv_stanza_free(cl2);
    cv_stanza_free(NULL);
}

static void test_escape(void)
{
    cv_buf_t b = CV_BUF_INIT;
    CHECK(cv_xml_escape_append(&b, "a&b<c>d\"e'f\tg\nh\ri", 18) == 0);
    CHECK_STR(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i");
    cv_buf_clear(&b);
    CHECK(cv_xml_escape_append(&b, "plain \xC3\xA9", 8) == 0);
    CHECK_STR(b.data, "plain \xC3\xA9");
    cv_buf_clear(&b);
    CHECK(cv_xml_escape_append(&b, "x\0y", 3) == 0);
    CHECK(b.len == 3);
    cv_buf_free(&b);
}

/* ---- round trip through the stream parser ---- */

typedef struct one_s {
    cv_stanza_t *st;
    int n;
} one_t;

static int take(void *ctx, cv_stanza_t *st)
{
    one_t *o = ctx;
    cv_stanza_free(o->st);
    o->st = st;
    o->n++;
    return 0;
}

/* Parses one stanza inside a client stream header. */
static cv_stanza_t *parse_one(const char *xml)
{
    static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    one_t o = {NULL, 0};
    cv_xml_stream_cb_t cb = {&o, NULL, take, NULL};
    cv_xml_stream_t *s = NULL;
    size_t used;
    CHECK(cv_xml_stream_create(&s, NULL, &cb) == 0);
    CHECK(cv_xml_stream_feed(s, hdr, strlen(hdr), &used) == 0);
    int rc = cv_xml_stream_feed(s, xml, strlen(xml), &used);
    if (rc < 0)
        printf("  parse error %s for %s\n", cv_stream_err_name(cv_xml_stream_error(s)), xml);
    CHECK(rc == 0);
    CHECK(o.n == 1);
    cv_xml_stream_destroy(s);
    return o.st;
}

static void test_round_trip(void)
{
    static const char *const in[] = {
        "<message to='a@b' type='chat'><body>hi &amp; bye</body></message>",
        "<message xmlns:x='urn:x' x:a='1' xml:lang='en'><x:y x:b='2'>t</x:y></message>",
        "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='a@b' name='&#10;&#9;'>"
        "<group>G&#13;&#10;\n</group></item></query></iq>",
        "<presence><x xmlns=''><y xmlns='jabber:client'/></x>   <status>  a  </status></presence>",
        "<message><body>\xF0\x9F\x98\x80 ]]&gt; &lt;![CDATA[ x ]]&gt;</body>"
        "<data><![CDATA[]]]]><![CDATA[>]]></data></message>",
        "<a b='&apos;&quot;' c=\"'\" d='\"'>&apos;&quot;'\"</a>",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(in); i++) {
        cv_stanza_t *a = parse_one(in[i]);
        if (!a)
            continue;
        char *s1 = ser(cv_stanza_root(a), CV_NS_CLIENT);
        cv_stanza_t *b = parse_one(s1);
        char *s2 = b ? ser(cv_stanza_root(b), CV_NS_CLIENT) : strdup("");
        CHECK_STR(s2, s1);
        free(s1);
        free(s2);
        cv_stanza_free(a);
        cv_stanza_free(b);
    }

    /* Exact serializations of parsed input. */
    cv_stanza_t *a = parse_one(in[1]);
    char *s1 = a ? ser(cv_stanza_root(a), CV_NS_CLIENT) : NULL;
    CHECK_STR(s1, "<message xmlns:x='urn:x' x:a='1' xml:lang='en'>"
                  "<y xmlns='urn:x' xmlns:x='urn:x' x:b='2'>t</y></message>");
    free(s1);
    cv_stanza_free(a);
    a = parse_one(in[3]);
    s1 = a ? ser(cv_stanza_root(a), CV_NS_CLIENT) : NULL;
    CHECK_STR(s1, "<presence><x xmlns=''><y xmlns='jabber:client'/></x>   "
                  "<status>  a  </status></presence>");
    free(s1);
    cv_stanza_free(a);
    a = parse_one(in[4]);
    cv_xml_node_t *data = a ? cv_xml_child(cv_stanza_root(a), "data", NULL) : NULL;
    cv_buf_t t = CV_BUF_INIT;
    CHECK(data && cv_xml_text(data, &t) == 0);
    CHECK_STR(t.data, "]]>");
    CHECK(data && data->children == data->last_child); /* CDATA pieces merged */
    cv_buf_free(&t);
    cv_stanza_free(a);

    /* A parsed stanza is one block sized to its tree (plus 256 bytes of room for the
       router's 'from' stamp): its memory is far below a builder's. */
    a = parse_one(in[0]);
    CHECK(a && cv_stanza_memory(a) < 512 + 256);
    cv_stanza_free(a);
}

int main(void)
{
    cv_xml_lib_init();
    test_build_and_serialize();
    test_clone_and_growth();
    test_escape();
    test_round_trip();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
