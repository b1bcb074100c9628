/*
 * The schema half of the configuration: checks the generic tree built by config_yaml.c
 * against the table of known keys and fills cv_config_t. Every problem is reported with
 * the place it came from and checking goes on, so one run lists all the mistakes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "corvid/config.h"
#include "config_int.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define TiB ((uint64_t)1 << 40)
#define MAX_LISTENERS 1024u
#define MAX_HOSTNAME 1023u /* RFC 7622 §3.2: a domainpart is at most 1023 bytes */

/* Lists that have defaults live in the tree before overrides are applied, so that
 * "--set listeners.2.port=5333" appends to the default listeners when the file has none. */
static const char cv_config_default_lists[] =
    "listeners:\n"
    "  - {type: c2s, address: 127.0.0.1, port: 5222, tls: starttls}\n"
    "  - {type: c2s, address: 127.0.0.1, port: 5223, tls: direct}\n"
    "auth:\n"
    "  mechanisms: [SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN]\n";

static const char *const cv_config_mechanisms[] = {
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
};

typedef enum cv_config_type_e {
    CF_SECTION,   /* a map described by sub */
    CF_HOSTS,     /* the list of virtual hosts */
    CF_LISTENERS, /* the list of listeners */
    CF_STR,       /* char *, any text */
    CF_DIR,       /* char *, non-empty text */
    CF_HOSTNAME,  /* char *, lowercased domain */
    CF_BOOL,      /* int 0/1 */
    CF_UINT,      /* unsigned in [min, max] */
    CF_U32,       /* uint32_t in [min, max] */
    CF_PORT,      /* uint16_t in [1, 65535] */
    CF_SIZE,      /* size_t bytes in [min, max] */
    CF_MS,        /* unsigned milliseconds in [min, max] */
    CF_ADDR,      /* char *, IPv4 or IPv6 literal */
    CF_TLS,       /* cv_tls_mode_t */
    CF_TRI,       /* int: -1 auto, 0, 1 */
    CF_LEVEL,     /* cv_log_level_t */
    CF_LTYPE,     /* char *, listener type */
    CF_BACKEND,   /* char *, storage backend */
    CF_MECHS,     /* char **mechanisms + size_t nmechanisms */
} cv_config_type_t;

typedef struct cv_config_field_s {
    const char *key; /* NULL ends a table */
    cv_config_type_t type;
    size_t off; /* into the structure the table describes */
    uint64_t min, max;
    const struct cv_config_field_s *sub;
    int required;
} cv_config_field_t;

#define CFG(f) offsetof(cv_config_t, f)

static const cv_config_field_t cv_config_storage_fields[] = {
    {"backend", CF_BACKEND, CFG(storage_backend), 0, 0, NULL, 0},
    {"data_dir", CF_DIR, CFG(data_dir), 0, 0, NULL, 0},
    {"lmdb_map_size", CF_SIZE, CFG(lmdb_map_size), MiB, SIZE_MAX > 16 * TiB ? 16 * TiB : SIZE_MAX,
     NULL, 0},
    {"write_threads", CF_UINT, CFG(store_write_threads), 1, 256, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

static const cv_config_field_t cv_config_limits_fields[] = {
    {"max_stanza_size", CF_SIZE, CFG(max_stanza_size), 10000, 64 * MiB, NULL, 0},
    {"max_depth", CF_UINT, CFG(max_depth), 4, 1024, NULL, 0},
    {"max_attributes", CF_UINT, CFG(max_attributes), 8, 65535, NULL, 0},
    {"max_connections", CF_UINT, CFG(max_connections), 1, 10000000, NULL, 0},
    {"negotiation_timeout", CF_MS, CFG(negotiation_timeout_ms), 100, 3600000, NULL, 0},
    {"dead_peer_timeout", CF_MS, CFG(dead_peer_timeout_ms), 0, 86400000, NULL, 0},
    {"max_output_queue", CF_SIZE, CFG(max_output_queue), 10000, GiB, NULL, 0},
    {"c2s_rate", CF_SIZE, CFG(c2s_rate), 0, GiB, NULL, 0},
    {"max_pending_stanzas", CF_UINT, CFG(max_pending_stanzas), 16, 1000000, NULL, 0},
    {"max_roster_items", CF_UINT, CFG(max_roster_items), 1, 1000000, NULL, 0},
    {"max_offline_messages", CF_UINT, CFG(max_offline_messages), 0, 1000000, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

static const cv_config_field_t cv_config_auth_fields[] = {
    {"mechanisms", CF_MECHS, CFG(mechanisms), 0, 0, NULL, 0},
    {"scram_iterations", CF_U32, CFG(scram_iterations), 4096, 10000000, NULL, 0},
    {"legacy_iq_auth", CF_BOOL, CFG(legacy_iq_auth), 0, 0, NULL, 0},
    {"max_failures_per_ip", CF_UINT, CFG(max_failures_per_ip), 1, 1000000, NULL, 0},
    {"max_failures_per_account", CF_UINT, CFG(max_failures_per_account), 1, 1000000, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

static const cv_config_field_t cv_config_registration_fields[] = {
    {"enabled", CF_BOOL, CFG(registration_enabled), 0, 0, NULL, 0},
    {"min_password_length", CF_UINT, CFG(min_password_length), 1, 1024, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

static const cv_config_field_t cv_config_log_fields[] = {
    {"level", CF_LEVEL, CFG(log_level), 0, 0, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

static const cv_config_field_t cv_config_top_fields[] = {
    {"hosts", CF_HOSTS, 0, 0, 0, NULL, 1},
    {"listeners", CF_LISTENERS, 0, 0, 0, NULL, 0},
    {"storage", CF_SECTION, 0, 0, 0, cv_config_storage_fields, 0},
    {"workers", CF_UINT, CFG(workers), 0, 1024, NULL, 0},
    {"batch_wait_us", CF_UINT, CFG(batch_wait_us), 0, 10000, NULL, 0},
    {"direct_descriptors", CF_TRI, CFG(direct_descriptors), 0, 0, NULL, 0},
    {"limits", CF_SECTION, 0, 0, 0, cv_config_limits_fields, 0},
    {"auth", CF_SECTION, 0, 0, 0, cv_config_auth_fields, 0},
    {"registration", CF_SECTION, 0, 0, 0, cv_config_registration_fields, 0},
    {"log", CF_SECTION, 0, 0, 0, cv_config_log_fields, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

#define HOST(f) offsetof(cv_conf_host_t, f)

static const cv_config_field_t cv_config_host_fields[] = {
    {"name", CF_HOSTNAME, HOST(name), 0, 0, NULL, 1},
    {"tls_cert", CF_STR, HOST(tls_cert), 0, 0, NULL, 0},
    {"tls_key", CF_STR, HOST(tls_key), 0, 0, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

#define LIS(f) offsetof(cv_conf_listener_t, f)

static const cv_config_field_t cv_config_listener_fields[] = {
    {"type", CF_LTYPE, LIS(type), 0, 0, NULL, 0},
    {"address", CF_ADDR, LIS(address), 0, 0, NULL, 0},
    {"port", CF_PORT, LIS(port), 1, 65535, NULL, 0},
    {"tls", CF_TLS, LIS(tls), 0, 0, NULL, 0},
    {"require_tls", CF_TRI, LIS(require_tls), 0, 0, NULL, 0},
    {"allow_plain_without_tls", CF_BOOL, LIS(allow_plain_without_tls), 0, 0, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0},
};

/* The state of one schema check: where errors go and the key path being checked. */
typedef struct cv_config_check_s {
    cv__config_diag_t *d;
    cv_config_t *c;
    char path[256];
    size_t plen;
    int oom;
} cv_config_check_t;

/* Appends a key or index to the path; returns the length to restore with path_pop. */
static size_t path_push(cv_config_check_t *ck, const char *seg)
{
    size_t old = ck->plen;
    int n =
        snprintf(ck->path + ck->plen, sizeof ck->path - ck->plen, "%s%s", ck->plen ? "." : "", seg);
    if (n > 0)
        ck->plen += (size_t)n;
    if (ck->plen >= sizeof ck->path)
        ck->plen = sizeof ck->path - 1; /* truncated; only messages read it */
    return old;
}

static size_t path_push_index(cv_config_check_t *ck, size_t i)
{
    char num[24];
    snprintf(num, sizeof num, "%zu", i);
    return path_push(ck, num);
}

static void path_pop(cv_config_check_t *ck, size_t old)
{
    ck->plen = old;
    ck->path[old] = '\0';
}

/* Describes what a node holds, for "got ..." in messages. */
static const char *describe(const cv__config_node_t *n, char *buf, size_t cap)
{
    char esc[CV__CONFIG_ESC_CAP];
    if (n->kind == CV__CONFIG_MAP)
        return "a map";
    if (n->kind == CV__CONFIG_SEQ)
        return n->n ? "a list" : "an empty list";
    if (n->plain && n->len == 0)
        return "nothing";
    snprintf(buf, cap, "\"%s\"", cv__config_escape(esc, sizeof esc, n->text, n->len));
    return buf;
}

/* Reports "<path>: expected <what>, got <node>" at the node. */
static void expect(cv_config_check_t *ck, const cv__config_node_t *n, const char *what)
{
    char got[CV__CONFIG_ESC_CAP + 2];
    cv__config_error(ck->d, n->src, n->line, "%s%sexpected %s, got %s", ck->path,
                     ck->plen ? ": " : "", what, describe(n, got, sizeof got));
}

static int scalar(cv_config_check_t *ck, const cv__config_node_t *n, const char *what)
{
    if (n->kind == CV__CONFIG_SCALAR)
        return 0;
    expect(ck, n, what);
    return -1;
}

static void fmt_size(char *buf, size_t cap, uint64_t v)
{
    static const struct {
        uint64_t unit;
        const char *name;
    } units[] = {
        {TiB, "TiB"},
        {GiB, "GiB"},
        {MiB, "MiB"},
        {KiB, "KiB"},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(units); i++) {
        if (v >= units[i].unit && v % units[i].unit == 0) {
            snprintf(buf, cap, "%llu%s", (unsigned long long)(v / units[i].unit), units[i].name);
            return;
        }
    }
    snprintf(buf, cap, "%llu", (unsigned long long)v);
}

static void fmt_ms(char *buf, size_t cap, uint64_t v)
{
    if (v >= 3600000 && v % 3600000 == 0)
        snprintf(buf, cap, "%lluh", (unsigned long long)(v / 3600000));
    else if (v >= 60000 && v % 60000 == 0)
        snprintf(buf, cap, "%llum", (unsigned long long)(v / 60000));
    else if (v >= 1000 && v % 1000 == 0)
        snprintf(buf, cap, "%llus", (unsigned long long)(v / 1000));
    else
        snprintf(buf, cap, "%llums", (unsigned long long)v);
}

/* Parses leading decimal digits; *end points after them. Returns 0, or -1 if there are
 * none or the value exceeds UINT64_MAX. */
static int parse_digits(const char *s, const char **end, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (p == s)
        return -1;
    *end = p;
    *out = v;
    return 0;
}

typedef struct cv_config_unit_s {
    const char *name;
    uint64_t mult;
} cv_config_unit_t;

/* Parses "<digits>[ ]<unit>" where unit is one of units (compared without case) or empty
 * (multiplier empty_mult). Returns 0, or -1 on bad syntax or overflow. */
static int parse_with_unit(const char *s, const cv_config_unit_t *units, size_t nunits,
                           uint64_t empty_mult, uint64_t *out)
{
    const char *p;
    uint64_t v;
    if (parse_digits(s, &p, &v) < 0)
        return -1;
    if (*p == ' ')
        p++;
    uint64_t mult = 0;
    if (!*p && p[-1] != ' ') {
        mult = empty_mult;
    } else {
        for (size_t i = 0; i < nunits; i++) {
            if (strcasecmp(p, units[i].name) == 0)
                mult = units[i].mult;
        }
    }
    if (!mult || v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static const cv_config_unit_t cv_config_size_units[] = {
    {"B", 1},        {"KiB", KiB},          {"MiB", MiB},
    {"GiB", GiB},    {"TiB", TiB},          {"KB", 1000},
    {"MB", 1000000}, {"GB", 1000000000ull}, {"TB", 1000000000000ull},
};

static const cv_config_unit_t cv_config_duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
};

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* Replaces the string at *slot with a copy of s. */
static void set_str(cv_config_check_t *ck, char **slot, const char *s)
{
    char *copy = strdup(s);
    if (!copy) {
        ck->oom = 1;
        return;
    }
    free(*slot);
    *slot = copy;
}

/* Decodes an address literal into a family and 16 bytes (IPv4 in the first 4). */
static int addr_parse(const char *s, int *family, unsigned char bin[16])
{
    memset(bin, 0, 16);
    if (inet_pton(AF_INET, s, bin) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, bin) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

static int addr_is_loopback(const char *s)
{
    static const unsigned char v6_loop[16] = {[15] = 1};
    static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
    unsigned char bin[16];
    int family;
    if (addr_parse(s, &family, bin) < 0)
        return 0;
    if (family == AF_INET)
        return bin[0] == 127;
    return memcmp(bin, v6_loop, 16) == 0 || (memcmp(bin, v4_mapped, 12) == 0 && bin[12] == 127);
}

/* Lowercases and checks a host name in place. Returns 0 or -1. */
static int hostname_normalize(char *s)
{
    size_t len = strlen(s);
    /* RFC 7622 §3.2: a trailing dot is removed before comparison. */
    if (len > 1 && s[len - 1] == '.')
        s[--len] = '\0';
    if (len == 0 || len > MAX_HOSTNAME || s[0] == '.' || strstr(s, ".."))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '@' || ch == '/' || ch == '\\')
            return -1;
        if (ch >= 'A' && ch <= 'Z')
            s[i] = (char)(ch - 'A' + 'a');
    }
    return 0;
}

static void check_map(cv_config_check_t *ck, const cv__config_node_t *map,
                      const cv_config_field_t *fields, void *base);

static void check_mechanisms(cv_config_check_t *ck, const cv__config_node_t *n)
{
    cv_config_t *c = ck->c;
    if (n->kind != CV__CONFIG_SEQ || n->n == 0) {
        expect(ck, n, "a list of SASL mechanisms such as [SCRAM-SHA-256, PLAIN]");
        return;
    }
    char **m = calloc(n->n, sizeof *m);
    if (!m) {
        ck->oom = 1;
        return;
    }
    for (size_t i = 0; i < c->nmechanisms; i++)
        free(c->mechanisms[i]);
    free(c->mechanisms);
    c->mechanisms = m;
    c->nmechanisms = n->n;
    for (size_t i = 0; i < n->n; i++) {
        const cv__config_node_t *e = n->ent[i].val;
        size_t old = path_push_index(ck, i);
        const char *canon = NULL;
        if (e->kind == CV__CONFIG_SCALAR) {
            for (size_t k = 0; k < CV_ARRAY_LEN(cv_config_mechanisms); k++) {
                if (strcasecmp(e->text, cv_config_mechanisms[k]) == 0)
                    canon = cv_config_mechanisms[k];
            }
        }
        int dup = 0;
        for (size_t k = 0; canon && k < i; k++)
            dup |= m[k] && strcmp(m[k], canon) == 0;
        if (!canon)
            expect(ck, e,
                   "one of SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, "
                   "PLAIN");
        else if (dup)
            cv__config_error(ck->d, e->src, e->line, "%s: %s is listed twice", ck->path, canon);
        else
            set_str(ck, &m[i], canon);
        path_pop(ck, old);
    }
}

/* Checks one value of a known key and stores it; errors are reported, not returned. */
static void check_value(cv_config_check_t *ck, const cv_config_field_t *f,
                        const cv__config_node_t *n, void *base)
{
    char lo[32], hi[32], what[96];
    void *slot = (char *)base + f->off;
    uint64_t v;
    int b;
    const char *end;

    switch (f->type) {
    case CF_SECTION: check_map(ck, n, f->sub, base); return;
    case CF_HOSTS:
    case CF_LISTENERS: CV_ASSERT(!"lists are checked by their own functions"); return;
    case CF_MECHS: check_mechanisms(ck, n); return;
    case CF_STR:
        if (scalar(ck, n, "a string") == 0)
            set_str(ck, slot, n->text);
        return;
    case CF_DIR:
        if (scalar(ck, n, "a directory path") < 0)
            return;
        if (n->len == 0)
            expect(ck, n, "a directory path");
        else
            set_str(ck, slot, n->text);
        return;
    case CF_HOSTNAME: {
        static const char what_host[] = "a domain name without \"@\", \"/\" or spaces";
        if (scalar(ck, n, what_host) < 0)
            return;
        char *name = strdup(n->text);
        if (!name) {
            ck->oom = 1;
            return;
        }
        if (hostname_normalize(name) < 0) {
            expect(ck, n, what_host);
            free(name);
            return;
        }
        free(*(char **)slot);
        *(char **)slot = name;
        return;
    }
    case CF_BOOL:
        if (scalar(ck, n, "true or false") < 0)
            return;
        if (parse_bool(n->text, &b) < 0)
            expect(ck, n, "true or false");
        else
            *(int *)slot = b;
        return;
    case CF_TRI:
        if (scalar(ck, n, "auto, true or false") < 0)
            return;
        if (strcmp(n->text, "auto") == 0)
            *(int *)slot = -1;
        else if (parse_bool(n->text, &b) == 0)
            *(int *)slot = b;
        else
            expect(ck, n, "auto, true or false");
        return;
    case CF_UINT:
    case CF_U32:
    case CF_PORT:
        snprintf(what, sizeof what, "%s from %llu to %llu",
                 f->type == CF_PORT ? "a port number" : "an integer", (unsigned long long)f->min,
                 (unsigned long long)f->max);
        if (scalar(ck, n, what) < 0)
            return;
        if (parse_digits(n->text, &end, &v) < 0 || *end || v < f->min || v > f->max) {
            expect(ck, n, what);
            return;
        }
        if (f->type == CF_UINT)
            *(unsigned *)slot = (unsigned)v;
        else if (f->type == CF_U32)
            *(uint32_t *)slot = (uint32_t)v;
        else
            *(uint16_t *)slot = (uint16_t)v;
        return;
    case CF_SIZE:
        if (scalar(ck, n, "a size such as 65536 or 64KiB") < 0)
            return;
        if (parse_with_unit(n->text, cv_config_size_units, CV_ARRAY_LEN(cv_config_size_units), 1,
                            &v) < 0) {
            expect(ck, n, "a size such as 65536 or 64KiB");
            return;
        }
        if (v < f->min || v > f->max) {
            fmt_size(lo, sizeof lo, f->min);
            fmt_size(hi, sizeof hi, f->max);
            snprintf(what, sizeof what, "a size from %s to %s", lo, hi);
            expect(ck, n, what);
            return;
        }
        *(size_t *)slot = (size_t)v;
        return;
    case CF_MS:
        if (scalar(ck, n, "a duration such as 30, 30s or 500ms") < 0)
            return;
        if (parse_with_unit(n->text, cv_config_duration_units,
                            CV_ARRAY_LEN(cv_config_duration_units), 1000, &v) < 0) {
            expect(ck, n, "a duration such as 30, 30s or 500ms");
            return;
        }
        if (v < f->min || v > f->max) {
            fmt_ms(lo, sizeof lo, f->min);
            fmt_ms(hi, sizeof hi, f->max);
            snprintf(what, sizeof what, "a duration from %s to %s", lo, hi);
            expect(ck, n, what);
            return;
        }
        *(unsigned *)slot = (unsigned)v;
        return;
    case CF_ADDR: {
        static const char what_addr[] = "an IPv4 or IPv6 address literal such as 127.0.0.1 or ::1";
        unsigned char bin[16];
        int family;
        if (scalar(ck, n, what_addr) < 0)
            return;
        if (addr_parse(n->text, &family, bin) < 0)
            expect(ck, n, what_addr);
        else
            set_str(ck, slot, n->text);
        return;
    }
    case CF_TLS:
        if (scalar(ck, n, "one of starttls, direct, none") < 0)
            return;
        if (strcmp(n->text, "starttls") == 0)
            *(cv_tls_mode_t *)slot = CV_TLS_MODE_STARTTLS;
        else if (strcmp(n->text, "direct") == 0)
            *(cv_tls_mode_t *)slot = CV_TLS_MODE_DIRECT;
        else if (strcmp(n->text, "none") == 0)
            *(cv_tls_mode_t *)slot = CV_TLS_MODE_NONE;
        else
            expect(ck, n, "one of starttls, direct, none");
        return;
    case CF_LEVEL: {
        cv_log_level_t level;
        if (scalar(ck, n, "one of debug, info, warning, error") < 0)
            return;
        if (cv_log_level_parse(n->text, &level) < 0)
            expect(ck, n, "one of debug, info, warning, error");
        else
            *(cv_log_level_t *)slot = level;
        return;
    }
    case CF_LTYPE:
        if (scalar(ck, n, "c2s") < 0)
            return;
        if (strcmp(n->text, "c2s") == 0)
            set_str(ck, slot, n->text);
        else if (strcmp(n->text, "s2s") == 0 || strcmp(n->text, "component") == 0)
            cv__config_error(ck->d, n->src, n->line,
                             "%s: %s listeners are not supported yet (only c2s)", ck->path,
                             n->text);
        else
            expect(ck, n, "c2s");
        return;
    case CF_BACKEND:
        if (scalar(ck, n, "lmdb") < 0)
            return;
        if (strcmp(n->text, "lmdb") == 0)
            set_str(ck, slot, n->text);
        else
            expect(ck, n, "lmdb (the only storage backend so far)");
        return;
    }
}

/* Edit distance counting a swap of neighbours as one edit (optimal string alignment),
 * for "did you mean"; keys are short, so the full table is small. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d[65][65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < best)
                best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best)
                best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[la][lb];
}

static void report_unknown(cv_config_check_t *ck, const cv__config_entry_t *e,
                           const cv_config_field_t *fields)
{
    char esc[CV__CONFIG_ESC_CAP];
    const char *best = NULL;
    size_t best_d = strlen(e->key) < 5 ? 2 : 3; /* suggestions must be closer than this */
    for (const cv_config_field_t *f = fields; f->key; f++) {
        size_t dist = edit_distance(e->key, f->key);
        if (dist < best_d) {
            best_d = dist;
            best = f->key;
        }
    }
    cv__config_escape(esc, sizeof esc, e->key, strlen(e->key));
    const char *dot = ck->plen ? "." : "";
    if (best)
        cv__config_error(ck->d, e->key_src, e->key_line,
                         "unknown key \"%s%s%s\" (did you mean \"%s%s%s\"?)", ck->path, dot, esc,
                         ck->path, dot, best);
    else
        cv__config_error(ck->d, e->key_src, e->key_line, "unknown key \"%s%s%s\"", ck->path, dot,
                         esc);
}

static void check_hosts(cv_config_check_t *ck, const cv__config_node_t *n);
static void check_listeners(cv_config_check_t *ck, const cv__config_node_t *n);

static void check_map(cv_config_check_t *ck, const cv__config_node_t *map,
                      const cv_config_field_t *fields, void *base)
{
    if (map->kind != CV__CONFIG_MAP) {
        expect(ck, map, "a map");
        return;
    }
    for (size_t i = 0; i < map->n; i++) {
        const cv__config_entry_t *e = &map->ent[i];
        const cv_config_field_t *f = fields;
        while (f->key && strcmp(f->key, e->key) != 0)
            f++;
        if (!f->key) {
            report_unknown(ck, e, fields);
            continue;
        }
        /* A null value ("key:" with nothing after it) keeps the default. */
        if (cv__config_is_null(e->val))
            continue;
        size_t old = path_push(ck, f->key);
        if (f->type == CF_HOSTS)
            check_hosts(ck, e->val);
        else if (f->type == CF_LISTENERS)
            check_listeners(ck, e->val);
        else
            check_value(ck, f, e->val, base);
        path_pop(ck, old);
    }
    for (const cv_config_field_t *f = fields; f->key; f++) {
        const cv__config_entry_t *e = cv__config_map_find(map, f->key);
        if (f->required && (!e || cv__config_is_null(e->val)))
            cv__config_error(ck->d, e ? e->val->src : map->src, e ? e->val->line : map->line,
                             "missing required key \"%s%s%s\"", ck->path, ck->plen ? "." : "",
                             f->key);
    }
}

/* The node where a key of map is set, or the map itself when the key is absent. */
static const cv__config_node_t *where(const cv__config_node_t *map, const char *key)
{
    const cv__config_entry_t *e = cv__config_map_find(map, key);
    return e ? e->val : map;
}

typedef struct cv_config_host_ref_s {
    const char *name;
    size_t idx;
} cv_config_host_ref_t;

static int host_ref_cmp(const void *a, const void *b)
{
    const cv_config_host_ref_t *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    if (r)
        return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void check_hosts(cv_config_check_t *ck, const cv__config_node_t *n)
{
    cv_config_t *c = ck->c;
    cv_config_host_ref_t *refs = NULL;
    static const char what[] = "a list of at least one host such as [{name: example.org}]";

    if (n->kind != CV__CONFIG_SEQ || n->n == 0) {
        expect(ck, n, what);
        goto out;
    }
    c->hosts = calloc(n->n, sizeof *c->hosts);
    refs = calloc(n->n, sizeof *refs);
    if (!c->hosts || !refs) {
        ck->oom = 1;
        goto out;
    }
    c->nhosts = n->n;
    for (size_t i = 0; i < n->n; i++) {
        cv_conf_host_t *h = &c->hosts[i];
        const cv__config_node_t *e = n->ent[i].val;
        size_t old = path_push_index(ck, i);
        h->tls_cert = strdup("");
        h->tls_key = strdup("");
        if (!h->tls_cert || !h->tls_key)
            ck->oom = 1;
        unsigned before = ck->d->nerrors;
        check_map(ck, e, cv_config_host_fields, h);
        if (ck->d->nerrors == before && !ck->oom && !*h->tls_cert != !*h->tls_key)
            cv__config_error(ck->d, where(e, *h->tls_cert ? "tls_cert" : "tls_key")->src,
                             where(e, *h->tls_cert ? "tls_cert" : "tls_key")->line,
                             "%s: tls_cert and tls_key must be both set or both empty", ck->path);
        refs[i] = (cv_config_host_ref_t){h->name ? h->name : "", i};
        path_pop(ck, old);
    }
    /* Names are lowercased, so "Example.org" and "example.org" collide here. */
    qsort(refs, n->n, sizeof *refs, host_ref_cmp);
    for (size_t i = 1, first = 0; i < n->n; i++) {
        if (strcmp(refs[i].name, refs[first].name) != 0 || !*refs[i].name) {
            first = i;
            continue;
        }
        const cv__config_node_t *at = where(n->ent[refs[i].idx].val, "name");
        char esc[CV__CONFIG_ESC_CAP];
        cv__config_error(ck->d, at->src, at->line,
                         "%s.%zu.name: duplicate host \"%s\" (also %s.%zu)", ck->path, refs[i].idx,
                         cv__config_escape(esc, sizeof esc, refs[i].name, strlen(refs[i].name)),
                         ck->path, refs[first].idx);
    }
out:
    free(refs);
}

static void check_listeners(cv_config_check_t *ck, const cv__config_node_t *n)
{
    cv_config_t *c = ck->c;
    static const char what[] = "a list of at least one listener";

    if (n->kind != CV__CONFIG_SEQ || n->n == 0) {
        expect(ck, n, what);
        return;
    }
    if (n->n > MAX_LISTENERS) {
        cv__config_error(ck->d, n->src, n->line, "%s: more than %u listeners", ck->path,
                         MAX_LISTENERS);
        return;
    }
    c->listeners = calloc(n->n, sizeof *c->listeners);
    if (!c->listeners) {
        ck->oom = 1;
        return;
    }
    c->nlisteners = n->n;
    for (size_t i = 0; i < n->n; i++) {
        cv_conf_listener_t *l = &c->listeners[i];
        const cv__config_node_t *e = n->ent[i].val;
        size_t old = path_push_index(ck, i);
        l->type = strdup("c2s");
        l->address = strdup("127.0.0.1");
        if (!l->type || !l->address)
            ck->oom = 1;
        l->tls = CV_TLS_MODE_STARTTLS;
        l->require_tls = -1;
        unsigned before = ck->d->nerrors;
        check_map(ck, e, cv_config_listener_fields, l);
        if (ck->d->nerrors != before || ck->oom) {
            path_pop(ck, old);
            continue;
        }
        if (l->port == 0)
            l->port = l->tls == CV_TLS_MODE_DIRECT ? 5223 : 5222;
        int explicit_req = l->require_tls >= 0;
        if (l->tls == CV_TLS_MODE_DIRECT)
            l->require_tls = 1; /* every byte is encrypted anyway */
        else if (l->require_tls < 0)
            l->require_tls = !addr_is_loopback(l->address);
        if (l->tls == CV_TLS_MODE_NONE && l->require_tls) {
            const cv__config_node_t *at = where(e, explicit_req ? "require_tls" : "tls");
            cv__config_error(ck->d, at->src, at->line,
                             explicit_req ? "%s: require_tls is true but tls is none"
                                          : "%s: tls: none on a non-loopback address needs "
                                            "require_tls: false",
                             ck->path);
        }
        /* Binding the same address and port twice would fail at start-up anyway, but
         * later and with a less helpful message. */
        unsigned char a[16], b[16];
        int fa, fb;
        if (addr_parse(l->address, &fa, a) == 0) {
            for (size_t j = 0; j < i; j++) {
                const cv_conf_listener_t *o = &c->listeners[j];
                if (o->port != l->port || !o->address || addr_parse(o->address, &fb, b) < 0 ||
                    fa != fb || memcmp(a, b, 16) != 0)
                    continue;
                const cv__config_node_t *at = where(e, "port");
                cv__config_error(ck->d, at->src, at->line,
                                 "%s: duplicate listener on %s port %u (also %.*s.%zu)", ck->path,
                                 l->address, l->port, (int)old, ck->path, j);
                break;
            }
        }
        path_pop(ck, old);
    }
}

static void config_defaults(cv_config_t *c)
{
    c->lmdb_map_size = GiB;
    c->store_write_threads = 16;
    c->workers = 0;
    c->batch_wait_us = 200;
    c->direct_descriptors = -1;
    c->max_stanza_size = 256 * KiB;
    c->max_depth = 32;
    c->max_attributes = 64;
    c->max_connections = 100000;
    c->negotiation_timeout_ms = 30000;
    c->dead_peer_timeout_ms = 300000;
    c->max_output_queue = MiB;
    c->c2s_rate = 256 * KiB;
    c->max_pending_stanzas = 256;
    c->max_roster_items = 1000;
    c->max_offline_messages = 1000;
    c->scram_iterations = 4096;
    c->legacy_iq_auth = 0;
    c->max_failures_per_ip = 10;
    c->max_failures_per_account = 5;
    c->registration_enabled = 0;
    c->min_password_length = 8;
    c->log_level = CV_LOG_INFO;
}

/* Checks that hold between keys, once every key is valid on its own. */
static void check_cross(cv_config_check_t *ck, const cv__config_node_t *root)
{
    cv_config_t *c = ck->c;
    if (c->max_output_queue < c->max_stanza_size) {
        const cv__config_node_t *limits = where(root, "limits");
        const cv__config_node_t *at = where(limits, "max_output_queue");
        if (at == limits)
            at = where(limits, "max_stanza_size");
        cv__config_error(ck->d, at->src, at->line,
                         "limits.max_output_queue (%zu) must be at least "
                         "limits.max_stanza_size (%zu)",
                         c->max_output_queue, c->max_stanza_size);
    }
    if (c->dead_peer_timeout_ms != 0 && c->dead_peer_timeout_ms < CV_DEAD_PEER_TIMEOUT_MIN_MS) {
        const cv__config_node_t *limits = where(root, "limits");
        const cv__config_node_t *at = where(limits, "dead_peer_timeout");
        cv__config_error(ck->d, at->src, at->line,
                         "limits.dead_peer_timeout (%ums) must be 0 (off) or at least %us: "
                         "keepalive probes are counted in whole seconds",
                         c->dead_peer_timeout_ms, CV_DEAD_PEER_TIMEOUT_MIN_MS / 1000);
    }
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
    }
}

int cv_config_load_mem(cv_config_t **out, const char *name, const char *data, size_t len,
                       const char *const *overrides, size_t noverrides, cv_buf_t *err)
{
    cv__config_diag_t d = {err, 0};
    const cv__config_src_t doc = {CV__CONFIG_SRC_DOC, name};
    const cv__config_src_t def = {CV__CONFIG_SRC_DEFAULT, "built-in"};
    cv__config_src_t *osrc = NULL;
    cv__config_node_t *root = NULL, *defs = NULL;
    cv_config_t *c = NULL;
    int rc;

    *out = NULL;
    if (len > CV__CONFIG_MAX_INPUT) {
        cv__config_error(&d, &doc, 0, "larger than %u bytes", CV__CONFIG_MAX_INPUT);
        rc = CV_ECONFIG;
        goto out;
    }
    rc = cv__config_parse(&d, &doc, data, len, &root);
    if (rc < 0)
        goto out;
    if (!root || cv__config_is_null(root)) {
        cv__config_node_free(root);
        root = cv__config_map_new(&doc, 1);
        if (!root) {
            rc = CV_ENOMEM;
            goto out;
        }
    }
    if (root->kind != CV__CONFIG_MAP) {
        cv_config_check_t ck = {.d = &d};
        expect(&ck, root, "a map of settings at the top level");
        rc = CV_ECONFIG;
        goto out;
    }
    rc = cv__config_parse(&d, &def, cv_config_default_lists, sizeof cv_config_default_lists - 1,
                          &defs);
    if (rc < 0)
        goto out;
    cv__config_merge_defaults(root, defs);

    if (noverrides) {
        osrc = calloc(noverrides, sizeof *osrc);
        if (!osrc) {
            rc = CV_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < noverrides; i++) {
        CV_ASSERT(overrides[i]);
        osrc[i] = (cv__config_src_t){CV__CONFIG_SRC_OVERRIDE, overrides[i]};
        rc = cv__config_apply_override(&d, root, &osrc[i]);
        if (rc == CV_ENOMEM)
            goto out;
    }
    if (d.nerrors) {
        rc = CV_ECONFIG;
        goto out;
    }

    c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(name))) {
        rc = CV_ENOMEM;
        goto out;
    }
    config_defaults(c);
    cv_config_check_t ck = {.d = &d, .c = c};
    set_str(&ck, &c->storage_backend, "lmdb");
    set_str(&ck, &c->data_dir, "data");
    check_map(&ck, root, cv_config_top_fields, c);
    if (!ck.oom && !d.nerrors)
        check_cross(&ck, root);
    rc = ck.oom ? CV_ENOMEM : d.nerrors ? CV_ECONFIG : 0;
out:
    cv__config_node_free(root);
    cv__config_node_free(defs);
    free(osrc);
    if (rc < 0) {
        cv_config_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

int cv_config_load(cv_config_t **out, const char *path, const char *const *overrides,
                   size_t noverrides, cv_buf_t *err)
{
    cv__config_diag_t d = {err, 0};
    const cv__config_src_t doc = {CV__CONFIG_SRC_DOC, path};
    cv_buf_t text = CV_BUF_INIT;
    int rc = 0;
    FILE *f;

    *out = NULL;
    f = fopen(path, "rb");
    if (!f) {
        cv__config_error(&d, &doc, 0, "cannot open: %s", strerror(errno));
        rc = CV_ECONFIG;
        goto out;
    }
    for (;;) {
        rc = cv_buf_reserve(&text, 65536);
        if (rc < 0)
            goto out;
        size_t n = fread(text.data + text.len, 1, 65536, f);
        text.len += n;
        if (n < 65536)
            break;
        if (text.len > CV__CONFIG_MAX_INPUT) {
            cv__config_error(&d, &doc, 0, "larger than %u bytes", CV__CONFIG_MAX_INPUT);
            rc = CV_ECONFIG;
            goto out;
        }
    }
    if (ferror(f)) {
        cv__config_error(&d, &doc, 0, "cannot read: %s", strerror(errno));
        rc = CV_ECONFIG;
        goto out;
    }
    rc = cv_config_load_mem(out, path, text.data ? text.data : "", text.len, overrides, noverrides,
                            err);
out:
    if (f)
        fclose(f);
    cv_buf_free(&text);
    return rc;
}

void cv_config_free(cv_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nhosts; i++) {
        free(c->hosts[i].name);
        free(c->hosts[i].tls_cert);
        free(c->hosts[i].tls_key);
    }
    free(c->hosts);
    for (size_t i = 0; i < c->nlisteners; i++) {
        free(c->listeners[i].type);
        free(c->listeners[i].address);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->nmechanisms; i++)
        free(c->mechanisms[i]);
    free(c->mechanisms);
    free(c->storage_backend);
    free(c->data_dir);
    free(c->path);
    free(c);
}

const cv_conf_host_t *cv_config_host(const cv_config_t *c, const char *name)
{
    for (size_t i = 0; i < c->nhosts; i++) {
        if (c->hosts[i].name && strcasecmp(c->hosts[i].name, name) == 0)
            return &c->hosts[i];
    }
    return NULL;
}
