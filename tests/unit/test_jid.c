/*
 * JID parsing and preparation: RFC 7622 §3.5 examples, case folding, width forms, IP
 * literals, length limits, IDN domains, hostile bytes; plus the part helpers, copies,
 * comparison, formatting and hashing.
 */
#include <stdio.h>
#include <string.h>

#include <stringprep.h>

#include "corvid/jid.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

struct jcase {
    const char *in;
    const char *want; /* format_full of the result, or NULL when the input must fail */
};

/* Non-ASCII text is written as UTF-8 escapes, split where a hex digit could follow. */
/* clang-format off */
static const struct jcase cases[] = {
    /* RFC 7622 §3.5.1, valid. */
    {"juliet@example.com", "juliet@example.com"},
    {"juliet@example.com/foo", "juliet@example.com/foo"},
    {"juliet@example.com/foo bar", "juliet@example.com/foo bar"},
    {"juliet@example.com/foo@bar", "juliet@example.com/foo@bar"},
    {"foo\\20bar@example.com", "foo\\20bar@example.com"},
    {"fussball@example.com", "fussball@example.com"},
    /* stringprep folds sharp s to "ss" (UsernameCaseMapped would keep it). */
    {"fu\xc3\x9f" "ball@example.com", "fussball@example.com"},
    {"\xcf\x80@example.com", "\xcf\x80@example.com"},
    {"\xce\xa3@example.com/foo", "\xcf\x83@example.com/foo"},
    {"\xcf\x83@example.com/foo", "\xcf\x83@example.com/foo"},
    /* stringprep folds final sigma to sigma (UsernameCaseMapped would keep it). */
    {"\xcf\x82@example.com/foo", "\xcf\x83@example.com/foo"},
    {"king@example.com/\xe2\x99\x9a", "king@example.com/\xe2\x99\x9a"},
    {"example.com", "example.com"},
    {"example.com/foobar", "example.com/foobar"},
    {"a.example.com/b@example.net", "a.example.com/b@example.net"},
    /* RFC 7622 §3.5.2, invalid. */
    {"\"juliet\"@example.com", NULL},
    {"foo bar@example.com", NULL},
    /* Listed as invalid, but OpaqueString allows spaces and erratum 4534 agrees; other
     * servers accept it, so refusing would lose messages. */
    {"juliet@example.com/ foo", "juliet@example.com/ foo"},
    {"@example.com/", NULL},
    {"henry\xe2\x85\xa3@example.com", NULL},
    {"\xe2\x99\x9a@example.com", NULL},
    {"juliet@", NULL},
    {"/foobar", NULL},
    /* Case: localpart and domainpart fold, resourcepart keeps its case. */
    {"Juliet@Example.COM", "juliet@example.com"},
    {"juliet@example.com/Balcony", "juliet@example.com/Balcony"},
    {"JULIET@EXAMPLE.COM/BALCONY", "juliet@example.com/BALCONY"},
    /* Fullwidth and compatibility forms. */
    {"\xef\xbd\x8a\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x85\xef\xbd\x94@example.com",
     "juliet@example.com"},
    {"juliet@\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90\xef\xbd\x8c\xef\xbd"
     "\x85\xef\xbc\x8e\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d",
     "juliet@example.com"},
    {"juliet@example.com/\xef\xbd\x86\xef\xbd\x8f\xef\xbd\x8f", "juliet@example.com/foo"},
    {"juliet\xef\xbc\xa0" "example.com", NULL},       /* fullwidth @ is not a separator */
    {"\xc7\x85" "a@example.com", NULL},               /* titlecase DZ: compatibility */
    {"\xef\xac\x81@example.com", NULL},               /* fi ligature: compatibility */
    {"re\xcc\x81sume\xcc\x81@example.com", "r\xc3\xa9sum\xc3\xa9@example.com"}, /* NFC */
    {"\xc2\xad@example.com", NULL},                   /* soft hyphen maps to nothing */
    {"love\xf0\x9f\x92\x96@example.com", NULL},       /* emoji in localpart */
    {"juliet@example.com/phone \xf0\x9f\x93\xb1", "juliet@example.com/phone \xf0\x9f\x93\xb1"},
    {"room@muc.example.com/\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d 123",
     "room@muc.example.com/\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d 123"},
    {"juliet@example.com/a\xe2\x80\x8e" "b", NULL},        /* LRM: C.8 */
    {"juliet@example.com/\xe2\x80\xae" "abc", NULL},       /* RLO: C.8 */
    {"juliet@example.com/\xef\xbf\xbe", NULL},             /* noncharacter: C.4 */
    /* IP literals are kept as given; a numeric last label must be an IPv4 address. */
    {"[2001:db8::1]", "[2001:db8::1]"},
    {"juliet@[::1]/res", "juliet@[::1]/res"},
    {"[2001:DB8::1]", "[2001:DB8::1]"},
    {"[::1", NULL},
    {"[fe80::1%eth0]", NULL},
    {"[192.0.2.1]", NULL},
    {"juliet@192.0.2.1", "juliet@192.0.2.1"},
    {"1.2.3.999", NULL},
    {"juliet@256.1.1.1", NULL},
    {"123", NULL},
    /* Percent is an ordinary character in local and resource, not in a host name. */
    {"jul%ie%74@example.com", "jul%ie%74@example.com"},
    {"juliet@exa%mple.com", NULL},
    {"juliet@example.com/%41", "juliet@example.com/%41"},
    /* Trailing dot. */
    {"juliet@example.com.", "juliet@example.com"},
    {"example.com./r", "example.com/r"},
    {"juliet@example.com../r", NULL},
    {".", NULL},
    {"juliet@.example.com", NULL},
    {"juliet@example..com", NULL},
    /* Empty parts and separators (§3.1). */
    {"", NULL},
    {"@example.com", NULL},
    {"example.com/", NULL},
    {"a@b@example.com", NULL},
    {"a/b@example.com", "a/b@example.com"},
    {"juliet@example.com//", "juliet@example.com//"},
    /* Localpart prohibitions (§3.3.1). */
    {"jul:iet@example.com", NULL},
    {"a&b@example.com", NULL},
    {"a'b@example.com", NULL},
    {"a<b@example.com", NULL},
    {"a>b@example.com", NULL},
    {"a\tb@example.com", NULL},
    {"jul\x7fiet@example.com", NULL},
    /* Controls and malformed UTF-8. */
    {"juliet@example.com/a\x01" "b", NULL},
    {"juliet@example.com/\xc3", NULL},
    {"juliet@example.com/\xc0\xaf", NULL},
    {"juliet@example.com/\xed\xa0\x80", NULL},
    {"juliet@example.com/\xf4\x90\x80\x80", NULL},
    {"\xff@example.com", NULL},
    /* Host names. */
    {"juliet@exam ple.com", NULL},
    {"juliet@exam_ple.com", NULL},
    {"juliet@-example.com", NULL},
    {"juliet@example-.com", NULL},
    {"juliet@ex-ample.com", "juliet@ex-ample.com"},
    {"localhost", "localhost"},
    {"juliet@B\xc3\x9c" "CHER.example", "juliet@b\xc3\xbc" "cher.example"},
    {"juliet@xn--bcher-kva.example", "juliet@b\xc3\xbc" "cher.example"},
    {"juliet@XN--BCHER-KVA.example", "juliet@b\xc3\xbc" "cher.example"},
    {"juliet@b\xc3\xbc" "cher.example.", "juliet@b\xc3\xbc" "cher.example"},
    {"juliet@xn--zz.example", NULL},
    {"juliet@xn--cnkevak.example", NULL}, /* A-label of disallowed compatibility forms */
    /* Fullwidth pound (U+FFE1) maps to U+00A3, which the localpart refuses: refused at
       once, so that preparing twice gives the same answer (found by fuzz_jid). */
    {"\xc6\xb9" "A\xef\xbf\xa1" "U@b", NULL},
    {"juliet@xn--ss-5ha.example", NULL},  /* A-label of "Üss": not lowercase, so not canonical */
    {"juliet@b\xc3\xbc_cher.example", NULL},
    {"juliet@exam\xef\xbc\xbfple.b\xc3\xbc" "cher.example", NULL}, /* fullwidth low line */
    {"juliet@\xe2\x99\x9a.example", NULL},
};
/* clang-format on */

static void fmt_full(const cv_jid_t *j, char *out, size_t cap)
{
    cv_buf_t b = CV_BUF_INIT;

    out[0] = '\0';
    if (cv_jid_format_full(j, &b) == 0 && b.data)
        snprintf(out, cap, "%s", b.data);
    cv_buf_free(&b);
}

static void test_table(void)
{
    char got[4096];

    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        const struct jcase *c = &cases[i];
        cv_jid_t j, onstack;
        char buf[CV_JID_BUF_SIZE];
        int rc = cv_jid_parse(&j, c->in, strlen(c->in));
        int rc_buf = cv_jid_parse_buf(&onstack, c->in, strlen(c->in), buf);

        /* The allocation-free variant agrees with the heap one on every case. */
        CHECK(rc_buf == rc, "case %zu [%s]: parse_buf returned %d, parse %d", i, c->in, rc_buf, rc);
        CHECK(onstack.mem == NULL, "case %zu [%s]: parse_buf allocated", i, c->in);
        if (rc == 0 && rc_buf == 0)
            CHECK(cv_jid_full_eq(&j, &onstack), "case %zu [%s]: parse_buf differs", i, c->in);
        if (rc_buf < 0)
            CHECK(onstack.domain == NULL && onstack.local == NULL && onstack.resource == NULL,
                  "case %zu [%s]: parse_buf out not reset on error", i, c->in);
        cv_jid_free(&onstack); /* a no-op, and must stay safe */

        if (!c->want) {
            CHECK(rc == CV_EINVAL, "case %zu [%s]: want CV_EINVAL, got %d", i, c->in, rc);
            CHECK(j.mem == NULL && j.domain == NULL && j.local == NULL && j.resource == NULL,
                  "case %zu [%s]: out not reset on error", i, c->in);
            continue;
        }
        CHECK(rc == 0, "case %zu [%s]: want success, got %d", i, c->in, rc);
        if (rc != 0)
            continue;
        fmt_full(&j, got, sizeof(got));
        CHECK(strcmp(got, c->want) == 0, "case %zu [%s]: got [%s], want [%s]", i, c->in, got,
              c->want);

        /* Prepared output must prepare to itself. */
        cv_jid_t again;
        rc = cv_jid_parse(&again, got, strlen(got));
        CHECK(rc == 0 && cv_jid_full_eq(&j, &again), "case %zu [%s]: not idempotent", i, c->in);
        cv_jid_free(&again);
        cv_jid_free(&j);
        CHECK(j.mem == NULL && j.domain == NULL, "case %zu: free did not reset", i);
    }
}

static void fill(char *s, size_t n, char c)
{
    memset(s, c, n);
    s[n] = '\0';
}

/* Parts of exactly 1023 bytes pass; 1024 fail, for each part. */
static void test_lengths(void)
{
    static char part[2048], in[4096];
    cv_jid_t j;
    int rc;

    fill(part, 1023, 'a');
    snprintf(in, sizeof(in), "%s@example.com", part);
    rc = cv_jid_parse(&j, in, strlen(in));
    CHECK(rc == 0 && j.local && strlen(j.local) == 1023, "local 1023: rc %d", rc);
    cv_jid_free(&j);
    fill(part, 1024, 'a');
    snprintf(in, sizeof(in), "%s@example.com", part);
    rc = cv_jid_parse(&j, in, strlen(in));
    CHECK(rc == CV_EINVAL, "local 1024: rc %d", rc);

    fill(part, 1023, 'R');
    snprintf(in, sizeof(in), "example.com/%s", part);
    rc = cv_jid_parse(&j, in, strlen(in));
    CHECK(rc == 0 && j.resource && strlen(j.resource) == 1023, "resource 1023: rc %d", rc);
    cv_jid_free(&j);
    fill(part, 1024, 'R');
    snprintf(in, sizeof(in), "example.com/%s", part);
    rc = cv_jid_parse(&j, in, strlen(in));
    CHECK(rc == CV_EINVAL, "resource 1024: rc %d", rc);

    /* A 1023-byte domain: 15 labels of 63 bytes plus dots is 959, then one of 63. */
    size_t n = 0;
    while (n + 64 <= 1023 - 1) {
        memset(part + n, 'd', 63);
        part[n + 63] = '.';
        n += 64;
    }
    memset(part + n, 'e', 1023 - n);
    part[1023] = '\0';
    rc = cv_jid_parse(&j, part, 1023);
    CHECK(rc == 0 && j.domain && strlen(j.domain) == 1023, "domain 1023: rc %d", rc);
    cv_jid_free(&j);
    /* Trailing dot is stripped before the length check. */
    part[1023] = '.';
    part[1024] = '\0';
    rc = cv_jid_parse(&j, part, 1024);
    CHECK(rc == 0 && j.domain && strlen(j.domain) == 1023, "domain 1023 + dot: rc %d", rc);
    cv_jid_free(&j);
    part[1023] = 'e';
    rc = cv_jid_parse(&j, part, 1024);
    CHECK(rc == CV_EINVAL, "domain 1024: rc %d", rc);

    fill(part, 63, 'l');
    snprintf(in, sizeof(in), "%s.example", part);
    rc = cv_jid_parse(&j, in, strlen(in));
    CHECK(rc == 0, "label 63: rc %d", rc);
    cv_jid_free(&j);
    fill(part, 64, 'l');
    snprintf(in, sizeof(in), "%s.example", part);
    rc = cv_jid_parse(&j, in, strlen(in));
    CHECK(rc == CV_EINVAL, "label 64: rc %d", rc);

    /* Raw input far above the limit is refused before any Unicode work. */
    static char big[20000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "a@example.com/", 14);
    rc = cv_jid_parse(&j, big, sizeof(big));
    CHECK(rc == CV_EINVAL, "huge resource: rc %d", rc);
}

static void test_embedded_nul(void)
{
    static const char in[] = "jul\0iet@example.com";
    cv_jid_t j;
    int rc = cv_jid_parse(&j, in, sizeof(in) - 1);

    CHECK(rc == CV_EINVAL, "embedded NUL: rc %d", rc);
    rc = cv_jid_parse(&j, NULL, 0);
    CHECK(rc == CV_EINVAL, "NULL input: rc %d", rc);
    /* len shorter than the string: only the prefix counts. */
    rc = cv_jid_parse(&j, "juliet@example.com/balcony", 18);
    CHECK(rc == 0 && j.resource == NULL && strcmp(j.domain, "example.com") == 0,
          "prefix parse: rc %d", rc);
    cv_jid_free(&j);
}

/* The ASCII fast paths must agree with libidn on every single byte and on a mixed string. */
static void test_ascii_matches_stringprep(void)
{
    for (int c = 1; c < 128; c++) {
        char in[4] = {'a', (char)c, 'b', '\0'};
        char ref[64], got[64];
        int lib, rc;

        snprintf(ref, sizeof(ref), "%s", in);
        lib = stringprep(ref, sizeof(ref), 0, stringprep_xmpp_nodeprep);
        rc = cv_jid_prep_local(in, got, sizeof(got));
        CHECK((lib == STRINGPREP_OK) == (rc == 0), "local byte 0x%02x: lib %d, ours %d", c, lib,
              rc);
        if (lib == STRINGPREP_OK && rc == 0)
            CHECK(strcmp(ref, got) == 0, "local byte 0x%02x: [%s] vs [%s]", c, ref, got);

        snprintf(ref, sizeof(ref), "%s", in);
        lib = stringprep(ref, sizeof(ref), 0, stringprep_xmpp_resourceprep);
        rc = cv_jid_prep_resource(in, got, sizeof(got));
        CHECK((lib == STRINGPREP_OK) == (rc == 0), "resource byte 0x%02x: lib %d, ours %d", c, lib,
              rc);
        if (lib == STRINGPREP_OK && rc == 0)
            CHECK(strcmp(ref, got) == 0, "resource byte 0x%02x: [%s] vs [%s]", c, ref, got);
    }
}

static void test_prep_helpers(void)
{
    char out[64];
    int rc;

    rc = cv_jid_prep_local("JuLiEt", out, sizeof(out));
    CHECK(rc == 0 && strcmp(out, "juliet") == 0, "prep_local: rc %d [%s]", rc, out);
    rc = cv_jid_prep_local("JuLiEt", out, 6);
    CHECK(rc == CV_ELIMIT && out[0] == '\0', "prep_local small cap: rc %d", rc);
    rc = cv_jid_prep_local("JuLiEt", out, 7);
    CHECK(rc == 0 && strcmp(out, "juliet") == 0, "prep_local exact cap: rc %d", rc);
    rc = cv_jid_prep_local("", out, sizeof(out));
    CHECK(rc == CV_EINVAL, "prep_local empty: rc %d", rc);
    rc = cv_jid_prep_local("a@b", out, sizeof(out));
    CHECK(rc == CV_EINVAL, "prep_local @: rc %d", rc);
    rc = cv_jid_prep_local(NULL, out, sizeof(out));
    CHECK(rc == CV_EINVAL, "prep_local NULL: rc %d", rc);

    rc = cv_jid_prep_domain("Example.COM.", out, sizeof(out));
    CHECK(rc == 0 && strcmp(out, "example.com") == 0, "prep_domain: rc %d [%s]", rc, out);
    rc = cv_jid_prep_domain("xn--bcher-kva.example", out, sizeof(out));
    CHECK(rc == 0 && strcmp(out, "b\xc3\xbc"
                                 "cher.example") == 0,
          "prep_domain idn: rc %d", rc);
    rc = cv_jid_prep_domain("b\xc3\xbc"
                            "cher.example",
                            out, 13);
    CHECK(rc == CV_ELIMIT, "prep_domain small cap: rc %d", rc);
    rc = cv_jid_prep_domain("a/b", out, sizeof(out));
    CHECK(rc == CV_EINVAL, "prep_domain slash: rc %d", rc);

    rc = cv_jid_prep_resource("Balcony Two", out, sizeof(out));
    CHECK(rc == 0 && strcmp(out, "Balcony Two") == 0, "prep_resource: rc %d [%s]", rc, out);
    rc = cv_jid_prep_resource("a/b@c", out, sizeof(out));
    CHECK(rc == 0 && strcmp(out, "a/b@c") == 0, "prep_resource separators: rc %d", rc);
    rc = cv_jid_prep_resource("x\ny", out, sizeof(out));
    CHECK(rc == CV_EINVAL, "prep_resource newline: rc %d", rc);
    rc = cv_jid_prep_resource("abc", NULL, 0);
    CHECK(rc == CV_ELIMIT, "prep_resource no buffer: rc %d", rc);
}

static cv_jid_t must_parse(const char *s)
{
    cv_jid_t j;
    int rc = cv_jid_parse(&j, s, strlen(s));

    CHECK(rc == 0, "parse [%s]: rc %d", s, rc);
    return j;
}

static void test_parts_copy_eq_hash(void)
{
    cv_jid_t a = must_parse("Juliet@Example.com/Balcony");
    cv_jid_t b = must_parse("juliet@example.com/Garden");
    cv_jid_t c = must_parse("romeo@example.com/Balcony");
    cv_jid_t d = must_parse("example.com");
    cv_jid_t p, cp, bare, init = CV_JID_INIT;
    cv_buf_t buf = CV_BUF_INIT;
    int rc;

    CHECK(cv_jid_bare_eq(&a, &b) == 1, "bare_eq same account");
    CHECK(cv_jid_full_eq(&a, &b) == 0, "full_eq different resources");
    CHECK(cv_jid_bare_eq(&a, &c) == 0, "bare_eq different locals");
    CHECK(cv_jid_bare_eq(&a, &d) == 0, "bare_eq local vs none");
    CHECK(cv_jid_bare_eq(&d, &a) == 0, "bare_eq none vs local");
    CHECK(cv_jid_bare_eq(&a, &init) == 0, "bare_eq with empty JID");
    CHECK(cv_jid_bare_hash(&a) == cv_jid_bare_hash(&b), "hash ignores resource");
    CHECK(cv_jid_bare_hash(&a) != cv_jid_bare_hash(&c), "hash differs by local");
    CHECK(cv_jid_bare_hash(&a) != cv_jid_bare_hash(&d), "hash differs by presence of local");

    /* "a@b.c" and a domain-only "a@b.c"-like layout must not collide through the '@'. */
    cv_jid_t e = must_parse("ab@c.example");
    cv_jid_t f = must_parse("a@bc.example");
    CHECK(cv_jid_bare_hash(&e) != cv_jid_bare_hash(&f), "hash respects the separator");
    cv_jid_free(&e);
    cv_jid_free(&f);

    rc = cv_jid_from_parts(&p, "JULIET", "EXAMPLE.com.", "Balcony");
    CHECK(rc == 0 && cv_jid_full_eq(&p, &a), "from_parts equals parse: rc %d", rc);
    cv_jid_free(&p);
    rc = cv_jid_from_parts(&p, NULL, "example.com", NULL);
    CHECK(rc == 0 && cv_jid_full_eq(&p, &d), "from_parts domain only: rc %d", rc);
    cv_jid_free(&p);
    rc = cv_jid_from_parts(&p, "", "example.com", NULL);
    CHECK(rc == CV_EINVAL && p.mem == NULL, "from_parts empty local: rc %d", rc);
    rc = cv_jid_from_parts(&p, "juliet", NULL, NULL);
    CHECK(rc == CV_EINVAL, "from_parts no domain: rc %d", rc);
    rc = cv_jid_from_parts(&p, "a@b", "example.com", NULL);
    CHECK(rc == CV_EINVAL, "from_parts bad local: rc %d", rc);

    rc = cv_jid_copy(&cp, &a);
    CHECK(rc == 0 && cv_jid_full_eq(&cp, &a) && cp.mem != a.mem, "copy: rc %d", rc);
    rc = cv_jid_copy_bare(&bare, &a);
    CHECK(rc == 0 && bare.resource == NULL && cv_jid_bare_eq(&bare, &a), "copy_bare: rc %d", rc);
    rc = cv_jid_copy(&p, &init);
    CHECK(rc == CV_EINVAL && p.mem == NULL, "copy of empty JID: rc %d", rc);

    rc = cv_jid_format_bare(&a, &buf);
    CHECK(rc == 0 && strcmp(buf.data, "juliet@example.com") == 0, "format_bare: [%s]",
          buf.data ? buf.data : "");
    cv_buf_clear(&buf);
    rc = cv_jid_format_full(&d, &buf);
    CHECK(rc == 0 && strcmp(buf.data, "example.com") == 0, "format_full domain only");
    rc = cv_jid_format_full(&a, &buf);
    CHECK(rc == 0 && strcmp(buf.data, "example.comjuliet@example.com/Balcony") == 0,
          "format appends: [%s]", buf.data);
    rc = cv_jid_format_full(&init, &buf);
    CHECK(rc == CV_EINVAL, "format of empty JID: rc %d", rc);
    cv_buf_free(&buf);

    cv_jid_free(&init);
    CHECK(init.mem == NULL, "free of CV_JID_INIT");
    cv_jid_free(&cp);
    cv_jid_free(&bare);
    cv_jid_free(&a);
    cv_jid_free(&b);
    cv_jid_free(&c);
    cv_jid_free(&d);
}

int main(void)
{
    test_table();
    test_lengths();
    test_embedded_nul();
    test_ascii_matches_stringprep();
    test_prep_helpers();
    test_parts_copy_eq_hash();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all %zu table cases and checks passed\n", CV_ARRAY_LEN(cases));
    return 0;
}
