/*
 * Configuration loading: the shipped default file, defaults, every kind of error with its
 * exact message and line, overrides (unknown key, list append, list value) and the
 * resolution of require_tls: auto.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "corvid/config.h"
#include "check.h"

/* Loads text as "t.yml"; the error text (possibly empty) is left in err. */
static int load(cv_config_t **c, cv_buf_t *err, const char *text, const char *const *ov, size_t nov)
{
    cv_buf_clear(err);
    return cv_config_load_mem(c, "t.yml", text, strlen(text), ov, nov, err);
}

/* Expects text (with overrides) to fail with exactly the message lines in want. */
static void expect_error(int line, const char *text, const char *const *ov, size_t nov,
                         const char *want)
{
    cv_buf_t err = CV_BUF_INIT;
    cv_config_t *c = (cv_config_t *)1;
    int rc = load(&c, &err, text, ov, nov);
    const char *got = err.data ? err.data : "";
    if (rc != CV_ECONFIG || c != NULL || strcmp(got, want) != 0) {
        printf("FAIL %s:%d: rc=%d\n  want: %s  got:  %s", __FILE__, line, rc, want, got);
        failures++;
    }
    cv_config_free(c == (cv_config_t *)1 ? NULL : c);
    cv_buf_free(&err);
}

#define EXPECT_ERROR(text, want) expect_error(__LINE__, text, NULL, 0, want)
#define EXPECT_ERROR_OV(text, ov, want) expect_error(__LINE__, text, ov, CV_ARRAY_LEN(ov), want)

/* Loads text that must be valid; returns NULL (and counts a failure) otherwise. */
static cv_config_t *load_ok(int line, const char *text, const char *const *ov, size_t nov)
{
    cv_buf_t err = CV_BUF_INIT;
    cv_config_t *c = NULL;
    int rc = load(&c, &err, text, ov, nov);
    if (rc != 0 || !c) {
        printf("FAIL %s:%d: rc=%d, errors:\n%s", __FILE__, line, rc, err.data ? err.data : "");
        failures++;
    }
    cv_buf_free(&err);
    return c;
}

#define LOAD_OK(text) load_ok(__LINE__, text, NULL, 0)
#define LOAD_OK_OV(text, ov) load_ok(__LINE__, text, ov, CV_ARRAY_LEN(ov))

#define HOSTS "hosts:\n  - name: example.org\n"

static void check_defaults(const cv_config_t *c)
{
    CHECK(c->nlisteners == 2);
    if (c->nlisteners == 2) {
        CHECK(strcmp(c->listeners[0].type, "c2s") == 0);
        CHECK(strcmp(c->listeners[0].address, "127.0.0.1") == 0);
        CHECK(c->listeners[0].port == 5222);
        CHECK(c->listeners[0].tls == CV_TLS_MODE_STARTTLS);
        CHECK(c->listeners[0].require_tls == 0); /* auto on loopback */
        CHECK(c->listeners[0].allow_plain_without_tls == 0);
        CHECK(c->listeners[1].port == 5223);
        CHECK(c->listeners[1].tls == CV_TLS_MODE_DIRECT);
        CHECK(c->listeners[1].require_tls == 1);
    }
    CHECK(strcmp(c->storage_backend, "lmdb") == 0);
    CHECK(strcmp(c->data_dir, "data") == 0);
    CHECK(c->lmdb_map_size == (size_t)1 << 30);
    CHECK(c->store_write_threads == 16);
    CHECK(c->workers >= 1);
    CHECK(c->batch_wait_us == 200);
    CHECK(c->max_stanza_size == 256 * 1024);
    CHECK(c->max_depth == 32);
    CHECK(c->max_attributes == 64);
    CHECK(c->max_connections == 100000);
    CHECK(c->negotiation_timeout_ms == 30000);
    CHECK(c->dead_peer_timeout_ms == 300000);
    CHECK(c->max_output_queue == 1024 * 1024);
    CHECK(c->c2s_rate == 256 * 1024);
    CHECK(c->max_pending_stanzas == 256);
    CHECK(c->nmechanisms == 5);
    if (c->nmechanisms == 5) {
        CHECK(strcmp(c->mechanisms[0], "SCRAM-SHA-256-PLUS") == 0);
        CHECK(strcmp(c->mechanisms[1], "SCRAM-SHA-1-PLUS") == 0);
        CHECK(strcmp(c->mechanisms[2], "SCRAM-SHA-256") == 0);
        CHECK(strcmp(c->mechanisms[3], "SCRAM-SHA-1") == 0);
        CHECK(strcmp(c->mechanisms[4], "PLAIN") == 0);
    }
    CHECK(c->scram_iterations == 4096);
    CHECK(c->legacy_iq_auth == 0);
    CHECK(c->max_failures_per_ip == 10);
    CHECK(c->max_failures_per_account == 5);
    CHECK(c->registration_enabled == 0);
    CHECK(c->min_password_length == 8);
    CHECK(c->log_level == CV_LOG_INFO);
}

static void test_default_file(void)
{
    cv_buf_t err = CV_BUF_INIT;
    cv_config_t *c = NULL;
    int rc = cv_config_load(&c, CV_TEST_DEFAULT_CONF, NULL, 0, &err);
    CHECK(rc == 0);
    CHECK(err.len == 0);
    if (rc == 0) {
        CHECK(strcmp(c->path, CV_TEST_DEFAULT_CONF) == 0);
        CHECK(c->nhosts == 1);
        CHECK(strcmp(c->hosts[0].name, "localhost") == 0);
        CHECK(strcmp(c->hosts[0].tls_cert, "") == 0);
        CHECK(strcmp(c->hosts[0].tls_key, "") == 0);
        check_defaults(c);
    } else {
        printf("%s", err.data ? err.data : "");
    }
    cv_config_free(c);

    /* The same file with overrides, through the file API. */
    const char *const ov[] = {"listeners.1.port=5333", "log.level=debug"};
    cv_buf_clear(&err);
    rc = cv_config_load(&c, CV_TEST_DEFAULT_CONF, ov, 2, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(c->listeners[1].port == 5333);
        CHECK(c->log_level == CV_LOG_DEBUG);
    }
    cv_config_free(c);

    cv_buf_clear(&err);
    rc = cv_config_load(&c, "/nonexistent/corvid.yml", NULL, 0, &err);
    CHECK(rc == CV_ECONFIG && c == NULL);
    CHECK(err.data && strcmp(err.data, "/nonexistent/corvid.yml: cannot open: No such file or "
                                       "directory\n") == 0);
    cv_buf_free(&err);
}

static void test_defaults_apply(void)
{
    cv_config_t *c = LOAD_OK("hosts:\n  - name: Example.ORG.\n");
    if (c) {
        CHECK(c->nhosts == 1);
        CHECK(strcmp(c->hosts[0].name, "example.org") == 0);
        check_defaults(c);
        CHECK(cv_config_host(c, "example.org") == &c->hosts[0]);
        CHECK(cv_config_host(c, "EXAMPLE.org") == &c->hosts[0]);
        CHECK(cv_config_host(c, "example.com") == NULL);
    }
    cv_config_free(c);

    /* Keys written with no value keep their default. */
    c = LOAD_OK(HOSTS "limits:\n  max_depth:\nauth:\n  mechanisms: ~\nlisteners:\n");
    if (c)
        check_defaults(c);
    cv_config_free(c);
}

static void test_values(void)
{
    cv_config_t *c =
        LOAD_OK("hosts:\n"
                "  - name: a.example\n"
                "    tls_cert: /etc/a.crt\n"
                "    tls_key: /etc/a.key\n"
                "  - {name: b.example}\n"
                "listeners:\n"
                "  - {address: '::', port: 5222, tls: starttls, allow_plain_without_tls: "
                "true}\n"
                "  - {address: 0.0.0.0, tls: direct}\n"
                "storage: {data_dir: /var/lib/corvid, lmdb_map_size: 2 GiB}\n"
                "workers: 3\n"
                "batch_wait_us: 0\n"
                "limits:\n"
                "  max_stanza_size: 64KiB\n"
                "  max_depth: 16\n"
                "  max_attributes: 100\n"
                "  max_connections: 5000\n"
                "  negotiation_timeout: 500ms\n"
                "  max_output_queue: 2MB\n"
                "auth:\n"
                "  mechanisms: [scram-sha-256, PLAIN]\n"
                "  scram_iterations: 10000\n"
                "  legacy_iq_auth: true\n"
                "  max_failures_per_ip: 3\n"
                "  max_failures_per_account: 2\n"
                "registration: {enabled: True, min_password_length: 12}\n"
                "log: {level: warning}\n");
    if (c) {
        CHECK(c->nhosts == 2);
        CHECK(strcmp(c->hosts[0].tls_cert, "/etc/a.crt") == 0);
        CHECK(strcmp(c->hosts[0].tls_key, "/etc/a.key") == 0);
        CHECK(strcmp(c->hosts[1].name, "b.example") == 0);
        CHECK(strcmp(c->hosts[1].tls_cert, "") == 0);
        CHECK(c->nlisteners == 2);
        CHECK(strcmp(c->listeners[0].address, "::") == 0);
        CHECK(c->listeners[0].require_tls == 1);
        CHECK(c->listeners[0].allow_plain_without_tls == 1);
        CHECK(c->listeners[1].port == 5223); /* default port of a direct TLS listener */
        CHECK(strcmp(c->data_dir, "/var/lib/corvid") == 0);
        CHECK(c->lmdb_map_size == (size_t)2 << 30);
        CHECK(c->workers == 3);
        CHECK(c->batch_wait_us == 0);
        CHECK(c->max_stanza_size == 65536);
        CHECK(c->max_depth == 16);
        CHECK(c->max_attributes == 100);
        CHECK(c->max_connections == 5000);
        CHECK(c->negotiation_timeout_ms == 500);
        CHECK(c->max_output_queue == 2000000);
        CHECK(c->nmechanisms == 2);
        if (c->nmechanisms == 2) {
            CHECK(strcmp(c->mechanisms[0], "SCRAM-SHA-256") == 0);
            CHECK(strcmp(c->mechanisms[1], "PLAIN") == 0);
        }
        CHECK(c->scram_iterations == 10000);
        CHECK(c->legacy_iq_auth == 1);
        CHECK(c->max_failures_per_ip == 3);
        CHECK(c->max_failures_per_account == 2);
        CHECK(c->registration_enabled == 1);
        CHECK(c->min_password_length == 12);
        CHECK(c->log_level == CV_LOG_WARN);
    }
    cv_config_free(c);

    /* Duration and size spellings. */
    static const struct {
        const char *text;
        unsigned ms;
    } durations[] = {
        {"45", 45000}, {"45s", 45000}, {"2m", 120000}, {"1h", 3600000}, {"250 ms", 250},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(durations); i++) {
        char doc[128];
        snprintf(doc, sizeof doc, HOSTS "limits: {negotiation_timeout: %s}\n", durations[i].text);
        c = LOAD_OK(doc);
        CHECK(c && c->negotiation_timeout_ms == durations[i].ms);
        cv_config_free(c);
    }
    static const struct {
        const char *text;
        size_t bytes;
    } sizes[] = {
        {"10000", 10000}, {"20KB", 20000}, {"20kib", 20480}, {"1MiB", 1 << 20}, {"300000B", 300000},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++) {
        char doc[128];
        snprintf(doc, sizeof doc, HOSTS "limits: {max_stanza_size: %s}\n", sizes[i].text);
        c = LOAD_OK(doc);
        CHECK(c && c->max_stanza_size == sizes[i].bytes);
        cv_config_free(c);
    }
}

static void test_errors(void)
{
    /* Unknown keys, with and without a suggestion. */
    EXPECT_ERROR(HOSTS "listners: []\n",
                 "t.yml:3: unknown key \"listners\" (did you mean \"listeners\"?)\n");
    EXPECT_ERROR(
        HOSTS "limits:\n  max_depht: 3\n",
        "t.yml:4: unknown key \"limits.max_depht\" (did you mean \"limits.max_depth\"?)\n");
    EXPECT_ERROR(HOSTS "frobnicate: 1\n", "t.yml:3: unknown key \"frobnicate\"\n");
    EXPECT_ERROR(
        HOSTS "listeners:\n  - prot: 5222\n",
        "t.yml:4: unknown key \"listeners.0.prot\" (did you mean \"listeners.0.port\"?)\n");

    /* Wrong types. */
    EXPECT_ERROR(HOSTS "batch_wait_us: 10001\n",
                 "t.yml:3: batch_wait_us: expected an integer from 0 to 10000, got \"10001\"\n");
    EXPECT_ERROR(HOSTS "storage:\n  write_threads: 0\n",
                 "t.yml:4: storage.write_threads: expected an integer from 1 to 256, got \"0\"\n");
    EXPECT_ERROR(HOSTS "workers: [1]\n",
                 "t.yml:3: workers: expected an integer from 0 to 1024, got a list\n");
    EXPECT_ERROR(HOSTS "limits: 5\n", "t.yml:3: limits: expected a map, got \"5\"\n");
    EXPECT_ERROR(HOSTS "registration:\n  enabled: yes\n",
                 "t.yml:4: registration.enabled: expected true or false, got \"yes\"\n");
    EXPECT_ERROR(HOSTS "limits:\n  max_depth: -1\n",
                 "t.yml:4: limits.max_depth: expected an integer from 4 to 1024, got \"-1\"\n");
    EXPECT_ERROR(HOSTS "auth: {scram_iterations: 1000}\n",
                 "t.yml:3: auth.scram_iterations: expected an integer from 4096 to 10000000, "
                 "got \"1000\"\n");
    EXPECT_ERROR("- a\n- b\n",
                 "t.yml:1: expected a map of settings at the top level, got a list\n");

    /* Sizes and durations. */
    EXPECT_ERROR(HOSTS "\n\n\n\n\n\n\n\n\nlimits:\n  max_stanza_size: big\n",
                 "t.yml:13: limits.max_stanza_size: expected a size such as 65536 or 64KiB, "
                 "got \"big\"\n");
    EXPECT_ERROR(HOSTS "limits:\n  max_stanza_size: 9999\n",
                 "t.yml:4: limits.max_stanza_size: expected a size from 10000 to 64MiB, got "
                 "\"9999\"\n");
    EXPECT_ERROR(HOSTS "limits:\n  max_stanza_size: 99999999999999999999999\n",
                 "t.yml:4: limits.max_stanza_size: expected a size such as 65536 or 64KiB, got "
                 "\"99999999999999999999999\"\n");
    EXPECT_ERROR(HOSTS "limits:\n  max_stanza_size: 64 KiBs\n",
                 "t.yml:4: limits.max_stanza_size: expected a size such as 65536 or 64KiB, got "
                 "\"64 KiBs\"\n");
    EXPECT_ERROR(HOSTS "limits:\n  negotiation_timeout: 10x\n",
                 "t.yml:4: limits.negotiation_timeout: expected a duration such as 30, 30s or "
                 "500ms, got \"10x\"\n");
    EXPECT_ERROR(HOSTS "limits:\n  negotiation_timeout: 2h\n",
                 "t.yml:4: limits.negotiation_timeout: expected a duration from 100ms to 1h, "
                 "got \"2h\"\n");

    /* Enumerations. */
    EXPECT_ERROR(HOSTS "listeners:\n  - tls: tls\n",
                 "t.yml:4: listeners.0.tls: expected one of starttls, direct, none, got "
                 "\"tls\"\n");
    EXPECT_ERROR(HOSTS "log: {level: loud}\n",
                 "t.yml:3: log.level: expected one of debug, info, warning, error, got "
                 "\"loud\"\n");
    EXPECT_ERROR(HOSTS "listeners:\n  - type: s2s\n",
                 "t.yml:4: listeners.0.type: s2s listeners are not supported yet (only c2s)\n");
    EXPECT_ERROR(HOSTS "storage:\n  backend: postgres\n",
                 "t.yml:4: storage.backend: expected lmdb (the only storage backend so far), "
                 "got \"postgres\"\n");
    EXPECT_ERROR(HOSTS "auth:\n  mechanisms:\n    - PLAIN\n    - DIGEST-MD5\n",
                 "t.yml:6: auth.mechanisms.1: expected one of SCRAM-SHA-256-PLUS, "
                 "SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, got \"DIGEST-MD5\"\n");
    EXPECT_ERROR(HOSTS "auth:\n  mechanisms: [PLAIN, plain]\n",
                 "t.yml:4: auth.mechanisms.1: PLAIN is listed twice\n");
    EXPECT_ERROR(HOSTS "auth:\n  mechanisms: []\n",
                 "t.yml:4: auth.mechanisms: expected a list of SASL mechanisms such as "
                 "[SCRAM-SHA-256, PLAIN], got an empty list\n");

    /* Ports, addresses, listeners. */
    EXPECT_ERROR(HOSTS "listeners:\n  - port: 70000\n",
                 "t.yml:4: listeners.0.port: expected a port number from 1 to 65535, got "
                 "\"70000\"\n");
    EXPECT_ERROR(HOSTS "listeners:\n  - port: 0\n",
                 "t.yml:4: listeners.0.port: expected a port number from 1 to 65535, got "
                 "\"0\"\n");
    EXPECT_ERROR(HOSTS "listeners:\n  - address: localhost\n",
                 "t.yml:4: listeners.0.address: expected an IPv4 or IPv6 address literal such "
                 "as 127.0.0.1 or ::1, got \"localhost\"\n");
    EXPECT_ERROR(HOSTS "listeners:\n"
                       "  - {address: 127.0.0.1, port: 5222}\n"
                       "  - {address: 127.0.0.1, port: 5269}\n"
                       "  - address: 127.0.0.1\n"
                       "    tls: starttls\n",
                 "t.yml:6: listeners.2: duplicate listener on 127.0.0.1 port 5222 (also "
                 "listeners.0)\n");
    EXPECT_ERROR(HOSTS "listeners:\n  - {address: '::1', port: 5222}\n"
                       "  - {address: '0:0::1', port: 5222}\n",
                 "t.yml:5: listeners.1: duplicate listener on 0:0::1 port 5222 (also "
                 "listeners.0)\n");
    EXPECT_ERROR(HOSTS "listeners: []\n",
                 "t.yml:3: listeners: expected a list of at least one listener, got an empty "
                 "list\n");

    /* Hosts. */
    EXPECT_ERROR("workers: 2\n", "t.yml:1: missing required key \"hosts\"\n");
    EXPECT_ERROR("", "t.yml:1: missing required key \"hosts\"\n");
    EXPECT_ERROR("hosts:\n", "t.yml:1: missing required key \"hosts\"\n");
    EXPECT_ERROR("hosts: []\n", "t.yml:1: hosts: expected a list of at least one host such as "
                                "[{name: example.org}], got an empty list\n");
    EXPECT_ERROR("hosts:\n  - tls_cert: a.pem\n",
                 "t.yml:2: missing required key \"hosts.0.name\"\n");
    EXPECT_ERROR("hosts:\n  - name: user@example.org\n",
                 "t.yml:2: hosts.0.name: expected a domain name without \"@\", \"/\" or "
                 "spaces, got \"user@example.org\"\n");
    EXPECT_ERROR("hosts:\n  - name: \"\"\n",
                 "t.yml:2: hosts.0.name: expected a domain name without \"@\", \"/\" or "
                 "spaces, got \"\"\n");
    EXPECT_ERROR("hosts:\n  - name: a b\n",
                 "t.yml:2: hosts.0.name: expected a domain name without \"@\", \"/\" or "
                 "spaces, got \"a b\"\n");
    EXPECT_ERROR("hosts:\n  - name: example.org\n  - name: b.org\n  - name: Example.Org\n",
                 "t.yml:4: hosts.2.name: duplicate host \"example.org\" (also hosts.0)\n");
    EXPECT_ERROR("hosts:\n  - name: example.org\n    tls_cert: a.pem\n",
                 "t.yml:3: hosts.0: tls_cert and tls_key must be both set or both empty\n");

    /* Relations between keys. */
    EXPECT_ERROR(HOSTS "limits:\n  max_output_queue: 20000\n  max_stanza_size: 30000\n",
                 "t.yml:4: limits.max_output_queue (20000) must be at least "
                 "limits.max_stanza_size (30000)\n");
    EXPECT_ERROR(HOSTS "limits:\n  dead_peer_timeout: 5s\n",
                 "t.yml:4: limits.dead_peer_timeout (5000ms) must be 0 (off) or at least 9s: "
                 "keepalive probes are counted in whole seconds\n");
    EXPECT_ERROR(HOSTS "limits:\n  dead_peer_timeout: 25h\n",
                 "t.yml:4: limits.dead_peer_timeout: expected a duration from 0ms to 24h, got "
                 "\"25h\"\n");

    /* Several mistakes are all reported, in document order. */
    EXPECT_ERROR(HOSTS "workers: many\nlimits:\n  max_depth: 0\n",
                 "t.yml:3: workers: expected an integer from 0 to 1024, got \"many\"\n"
                 "t.yml:5: limits.max_depth: expected an integer from 4 to 1024, got \"0\"\n");

    /* Document structure. */
    EXPECT_ERROR(HOSTS "limits:\n  max_depth: 5\n  max_depth: 6\n",
                 "t.yml:5: duplicate key \"max_depth\" (first at line 4)\n");
    EXPECT_ERROR(HOSTS "a: &x 1\nb: *x\n",
                 "t.yml:3: anchors and aliases (&name, *name) are not supported\n");
    EXPECT_ERROR(HOSTS "? [a]\n: 1\n", "t.yml:3: map keys must be plain scalars\n");
    EXPECT_ERROR(HOSTS "---\nworkers: 1\n",
                 "t.yml:3: expected one YAML document, found a second one\n");
}

static void test_syntax_errors(void)
{
    EXPECT_ERROR("hosts:\n  - name: a\n workers: 1\n",
                 "t.yml:3: syntax error: did not find expected key (while parsing a block "
                 "mapping at line 1)\n");
    EXPECT_ERROR("hosts: [a, b\nworkers: 1\n",
                 "t.yml:2: syntax error: did not find expected ',' or ']' (while parsing a "
                 "flow sequence at line 1)\n");
    EXPECT_ERROR("hosts: \"abc\n", "t.yml:2: syntax error: found unexpected end of stream "
                                   "(while scanning a quoted scalar at line 1)\n");
    EXPECT_ERROR("hosts: a\n\tworkers: 1\n",
                 "t.yml:2: syntax error: found a tab character that violates indentation "
                 "(while scanning a plain scalar at line 1)\n");
    EXPECT_ERROR("hosts:\n  - name: \xff\n",
                 "t.yml:2: syntax error: invalid leading UTF-8 octet\n");
}

static void test_billion_laughs(void)
{
    /* Rejected at the first anchor, so it costs nothing however deep it would expand. */
    const char *doc = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                      "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                      "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    EXPECT_ERROR(doc, "t.yml:1: anchors and aliases (&name, *name) are not supported\n");

    /* Deep nesting is refused instead of recursing without bound. */
    char deep[2 * 100 + 16];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "a: ");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '\n';
    deep[n] = '\0';
    EXPECT_ERROR(deep, "t.yml:1: maps and lists nested more than 32 deep\n");
}

static void test_overrides(void)
{
    /* An unknown key names the override, not a line. */
    const char *const ov_unknown[] = {"limits.foo=1"};
    EXPECT_ERROR_OV(HOSTS, ov_unknown, "--set limits.foo=1: unknown key \"limits.foo\"\n");

    /* A bad value names the override and the key. */
    const char *const ov_bad[] = {"limits.max_stanza_size=big"};
    EXPECT_ERROR_OV(HOSTS, ov_bad,
                    "--set limits.max_stanza_size=big: limits.max_stanza_size: expected a size "
                    "such as 65536 or 64KiB, got \"big\"\n");

    /* Syntax of the override itself. */
    const char *const ov_noeq[] = {"limits.max_depth"};
    EXPECT_ERROR_OV(HOSTS, ov_noeq,
                    "--set limits.max_depth: expected path=value, such as "
                    "limits.max_depth=16\n");
    const char *const ov_empty_seg[] = {"limits..max_depth=3"};
    EXPECT_ERROR_OV(HOSTS, ov_empty_seg, "--set limits..max_depth=3: empty path segment\n");
    const char *const ov_range[] = {"listeners.5.port=1"};
    EXPECT_ERROR_OV(HOSTS, ov_range,
                    "--set listeners.5.port=1: index 5 is out of range: \"listeners\" has 2 "
                    "elements (use 2 to append one)\n");
    const char *const ov_notidx[] = {"listeners.x.port=1"};
    EXPECT_ERROR_OV(HOSTS, ov_notidx,
                    "--set listeners.x.port=1: \"listeners\" is a list: expected an index, got "
                    "\"x\"\n");
    const char *const ov_scalar[] = {"hosts.0.name.x=1"};
    EXPECT_ERROR_OV(HOSTS, ov_scalar,
                    "--set hosts.0.name.x=1: cannot set \"x\" inside \"hosts.0.name\": it is a "
                    "single value\n");
    const char *const ov_yaml[] = {"auth.mechanisms=[PLAIN"};
    EXPECT_ERROR_OV(HOSTS, ov_yaml,
                    "--set auth.mechanisms=[PLAIN: syntax error: did not find expected ',' or "
                    "']' (while parsing a flow sequence at line 1)\n");

    /* Index one past the end appends: a third listener next to the two defaults. */
    const char *const ov_append[] = {"listeners.2.port=5333", "listeners.2.tls=none",
                                     "listeners.2.allow_plain_without_tls=true"};
    cv_config_t *c = LOAD_OK_OV(HOSTS, ov_append);
    if (c) {
        CHECK(c->nlisteners == 3);
        if (c->nlisteners == 3) {
            CHECK(c->listeners[0].port == 5222);
            CHECK(c->listeners[1].port == 5223);
            CHECK(c->listeners[2].port == 5333);
            CHECK(strcmp(c->listeners[2].address, "127.0.0.1") == 0);
            CHECK(c->listeners[2].tls == CV_TLS_MODE_NONE);
            CHECK(c->listeners[2].require_tls == 0);
            CHECK(c->listeners[2].allow_plain_without_tls == 1);
        }
    }
    cv_config_free(c);

    /* Appending to a list the file defines, and adding a host. */
    const char *const ov_append2[] = {"listeners.1.port=5333", "hosts.1.name=Other.example"};
    c = LOAD_OK_OV(HOSTS "listeners:\n  - port: 5555\n", ov_append2);
    if (c) {
        CHECK(c->nlisteners == 2);
        CHECK(c->nlisteners == 2 && c->listeners[0].port == 5555);
        CHECK(c->nlisteners == 2 && c->listeners[1].port == 5333);
        CHECK(c->nhosts == 2 && strcmp(c->hosts[1].name, "other.example") == 0);
    }
    cv_config_free(c);

    /* A whole scalar list, and keys the file does not mention. */
    const char *const ov_list[] = {"auth.mechanisms=[PLAIN, scram-sha-1]",
                                   "registration.enabled=true", "limits.max_depth=8", "workers=2"};
    c = LOAD_OK_OV(HOSTS "workers: 4\n", ov_list);
    if (c) {
        CHECK(c->nmechanisms == 2);
        if (c->nmechanisms == 2) {
            CHECK(strcmp(c->mechanisms[0], "PLAIN") == 0);
            CHECK(strcmp(c->mechanisms[1], "SCRAM-SHA-1") == 0);
        }
        CHECK(c->registration_enabled == 1);
        CHECK(c->max_depth == 8);
        CHECK(c->workers == 2);
    }
    cv_config_free(c);

    /* An element of a list, and a later override winning over an earlier one. */
    const char *const ov_elem[] = {"auth.mechanisms.0=PLAIN", "auth.mechanisms.0=SCRAM-SHA-1"};
    c = LOAD_OK_OV(HOSTS "auth:\n  mechanisms: [SCRAM-SHA-256, PLAIN]\n", ov_elem);
    CHECK(c && c->nmechanisms == 2 && strcmp(c->mechanisms[0], "SCRAM-SHA-1") == 0);
    cv_config_free(c);

    /* A document with no hosts made whole by an override. */
    const char *const ov_host[] = {"hosts.0.name=example.net"};
    c = LOAD_OK_OV("", ov_host);
    CHECK(c && c->nhosts == 1 && strcmp(c->hosts[0].name, "example.net") == 0);
    cv_config_free(c);

    /* Errors in an override-added listener are located in that override. */
    const char *const ov_dup[] = {"listeners.2.port=5222"};
    EXPECT_ERROR_OV(HOSTS, ov_dup,
                    "--set listeners.2.port=5222: listeners.2: duplicate listener on 127.0.0.1 "
                    "port 5222 (also listeners.0)\n");
}

static void test_require_tls(void)
{
    static const struct {
        const char *listener;
        int require;
    } cases[] = {
        {"{address: 127.0.0.1}", 0},
        {"{address: 127.8.9.10}", 0},
        {"{address: '::1'}", 0},
        {"{address: '::ffff:127.0.0.1'}", 0},
        {"{address: 0.0.0.0}", 1},
        {"{address: '::'}", 1},
        {"{address: 192.0.2.1, require_tls: auto}", 1},
        {"{address: 192.0.2.1, require_tls: false}", 0},
        {"{address: 127.0.0.1, require_tls: true}", 1},
        {"{address: 127.0.0.1, tls: direct, require_tls: false}", 1},
        {"{address: 127.0.0.1, tls: none}", 0},
        {"{address: 192.0.2.1, tls: none, require_tls: false}", 0},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        char doc[256];
        snprintf(doc, sizeof doc, HOSTS "listeners: [%s]\n", cases[i].listener);
        cv_config_t *c = LOAD_OK(doc);
        if (c && c->nlisteners == 1 && c->listeners[0].require_tls != cases[i].require) {
            printf("FAIL %s:%d: %s: require_tls %d\n", __FILE__, __LINE__, cases[i].listener,
                   c->listeners[0].require_tls);
            failures++;
        }
        cv_config_free(c);
    }
    EXPECT_ERROR(HOSTS "listeners:\n  - address: 192.0.2.1\n    tls: none\n",
                 "t.yml:5: listeners.0: tls: none on a non-loopback address needs "
                 "require_tls: false\n");
    EXPECT_ERROR(HOSTS "listeners:\n  - tls: none\n    require_tls: true\n",
                 "t.yml:5: listeners.0: require_tls is true but tls is none\n");
}

static void test_hostile(void)
{
    /* Control bytes in keys and values are escaped in messages, never printed raw. */
    EXPECT_ERROR(HOSTS "\"a\\nb\\u0007\": 1\n", "t.yml:3: unknown key \"a\\x0ab\\x07\"\n");
    EXPECT_ERROR(HOSTS "\"a\\0b\": 1\n", "t.yml:3: map key contains a NUL character\n");

    /* Too many errors are cut short. */
    cv_buf_t doc = CV_BUF_INIT, err = CV_BUF_INIT;
    CHECK(cv_buf_append_str(&doc, HOSTS) == 0);
    for (int i = 0; i < 200; i++)
        CHECK(cv_buf_printf(&doc, "k%d: 1\n", i) == 0);
    cv_config_t *c = NULL;
    CHECK(cv_config_load_mem(&c, "t.yml", doc.data, doc.len, NULL, 0, &err) == CV_ECONFIG);
    size_t lines = 0;
    for (size_t i = 0; i < err.len; i++)
        lines += err.data[i] == '\n';
    CHECK(lines == 33);
    CHECK(err.data && strstr(err.data, "too many errors") != NULL);

    /* A NULL error buffer is allowed. */
    CHECK(cv_config_load_mem(&c, "t.yml", doc.data, doc.len, NULL, 0, NULL) == CV_ECONFIG);
    CHECK(c == NULL);
    cv_buf_free(&doc);
    cv_buf_free(&err);
}

int main(void)
{
    test_default_file();
    test_defaults_apply();
    test_values();
    test_errors();
    test_syntax_errors();
    test_billion_laughs();
    test_overrides();
    test_require_tls();
    test_hostile();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
