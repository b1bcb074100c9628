/*
 * JIDs per RFC 7622. The contract and the normalization choices are documented in
 * include/corvid/jid.h; this file holds the mechanics.
 *
 * Most JIDs on the wire are plain ASCII, and every stanza's "to" and "from" is parsed, so
 * ASCII local and resource parts take a fast path that produces exactly what nodeprep and
 * resourceprep would (for ASCII those profiles only fold A-Z and reject a fixed set of
 * bytes); only non-ASCII parts pay for libidn and libidn2.
 */
#include "corvid/jid.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stringprep.h>
#include <string.h>

#define PREP_CAP (CV_JID_PART_MAX + 1)
#define RAW_CAP (CV_JID_INPUT_MAX + 1)
_Static_assert(CV_JID_BUF_SIZE == 3 * PREP_CAP, "parse_into lays the parts out at PREP_CAP");
#define LABEL_MAX 63

/*
 * Strict UTF-8 check (no overlong forms, surrogates, values above U+10FFFF or NUL bytes)
 * so that libidn, whose decoder is lenient, only ever sees well-formed text.
 * Returns 0 or CV_EINVAL; *ascii tells whether every byte was below 0x80.
 */
static int utf8_check(const unsigned char *s, size_t len, int *ascii)
{
    size_t i = 0;

    *ascii = 1;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;

        if (c == 0)
            return CV_EINVAL;
        if (c < 0x80) {
            i++;
            continue;
        }
        *ascii = 0;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return CV_EINVAL;
        }
        if (len - i - 1 < n)
            return CV_EINVAL;
        for (size_t k = 1; k <= n; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return CV_EINVAL;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return CV_EINVAL;
        i += n + 1;
    }
    return 0;
}

/* Decodes one code point of text already accepted by utf8_check. */
static uint32_t utf8_next(const unsigned char *s, size_t *i)
{
    unsigned c = s[*i];
    size_t n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);

    for (size_t k = 1; k <= n; k++)
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    *i += n + 1;
    return cp;
}

/*
 * Runs a stringprep profile over in[0..len) into out (PREP_CAP bytes). libidn prepares
 * in place and needs room for the input, so the text passes through a scratch copy.
 * An over-long result (STRINGPREP_TOO_SMALL_BUFFER) is a malformed part, not a caller
 * limit, because PREP_CAP is the protocol maximum.
 */
static int run_stringprep(const char *in, size_t len, Stringprep_profile_flags flags,
                          const Stringprep_profile *profile, char *out, size_t *outlen)
{
    char raw[RAW_CAP];
    int rc;

    memcpy(raw, in, len);
    raw[len] = '\0';
    rc = stringprep(raw, PREP_CAP, flags, profile);
    if (rc == STRINGPREP_MALLOC_ERROR)
        return CV_ENOMEM;
    if (rc != STRINGPREP_OK)
        return CV_EINVAL;
    *outlen = strlen(raw);
    if (*outlen == 0 || *outlen > CV_JID_PART_MAX)
        return CV_EINVAL;
    memcpy(out, raw, *outlen + 1);
    return 0;
}

/* RFC 7622 §3.3.1 plus the ASCII space and controls that nodeprep also prohibits. */
static int local_ascii_bad(unsigned char c)
{
    return c <= 0x20 || c == 0x7f || c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' ||
           c == '<' || c == '>' || c == '@';
}

/*
 * Blocks in which every code point is a symbol, punctuation or other non-letter that the
 * PRECIS IdentifierClass disallows and nodeprep would let through: Latin-1 punctuation
 * and signs, general punctuation, currency, arrows through miscellaneous symbols and
 * arrows (U+2190..U+2BFF: no letters there), and the emoji and pictograph planes.
 * Scattered symbols elsewhere are not listed; see the header.
 */
static int local_symbol(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        {0x00a1, 0x00bf}, {0x00d7, 0x00d7}, {0x00f7, 0x00f7},   {0x2010, 0x205e},
        {0x20a0, 0x20cf}, {0x2190, 0x2bff}, {0x1f000, 0x1fbff},
    };

    for (size_t i = 0; i < CV_ARRAY_LEN(ranges); i++) {
        if (cp >= ranges[i][0] && cp <= ranges[i][1])
            return 1;
    }
    return 0;
}

/*
 * Checks a non-ASCII localpart against the PRECIS IdentifierClass rules that nodeprep
 * lacks. IdentifierClass disallows code points with a compatibility decomposition
 * (RFC 8264 §9.17: toNFKC(cp) != cp), which nodeprep would silently fold (so "henry"
 * followed by ROMAN NUMERAL FOUR would become "henryiv"); fullwidth and halfwidth forms
 * are the exception, since UsernameCaseMapped width-maps them first. A string whose NFKC
 * is itself has no such code point, which spares the per-code-point normalization for
 * nearly all real names. Returns 0, CV_EINVAL or CV_ENOMEM.
 */
static int local_class_check(const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    char *whole;
    size_t i = 0;
    int stable;

    whole = stringprep_utf8_nfkc_normalize(in, (ssize_t)len);
    if (!whole)
        return CV_ENOMEM;
    stable = strlen(whole) == len && memcmp(whole, in, len) == 0;
    free(whole);
    while (i < len) {
        uint32_t cp = utf8_next(s, &i);
        uint32_t *n;
        int compat;

        if (cp < 0x80)
            continue;
        if (local_symbol(cp))
            return CV_EINVAL;
        if (stable || (cp >= 0xff01 && cp <= 0xffee))
            continue;
        n = stringprep_ucs4_nfkc_normalize(&cp, 1);
        if (!n)
            return CV_ENOMEM;
        compat = n[0] != cp || n[1] != 0;
        free(n);
        if (compat)
            return CV_EINVAL;
    }
    return 0;
}

static int prep_local(const char *in, size_t len, char *out, size_t *outlen)
{
    int ascii, rc;

    if (len == 0 || len > CV_JID_INPUT_MAX)
        return CV_EINVAL;
    rc = utf8_check((const unsigned char *)in, len, &ascii);
    if (rc < 0)
        return rc;
    if (ascii) {
        if (len > CV_JID_PART_MAX)
            return CV_EINVAL;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)in[i];
            if (local_ascii_bad(c))
                return CV_EINVAL;
            out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        out[len] = '\0';
        *outlen = len;
        return 0;
    }
    rc = local_class_check(in, len);
    if (rc < 0)
        return rc;
    rc = run_stringprep(in, len, 0, stringprep_xmpp_nodeprep, out, outlen);
    if (rc < 0)
        return rc;
    /* The prepared form must pass the same classes: a fullwidth symbol (U+FFE1) is let
       through above to be mapped, and maps to one (U+00A3) that a second preparation
       would refuse. Checking the result keeps preparation idempotent. */
    rc = local_class_check(out, *outlen);
    if (rc < 0)
        return rc;
    /* nodeprep prohibits all of these already; the check keeps §3.3.1 true even if a
     * different libidn build ships other tables. */
    for (size_t i = 0; i < *outlen; i++) {
        if (local_ascii_bad((unsigned char)out[i]))
            return CV_EINVAL;
    }
    return 0;
}

static int prep_resource(const char *in, size_t len, char *out, size_t *outlen)
{
    int ascii, rc;

    if (len == 0 || len > CV_JID_INPUT_MAX)
        return CV_EINVAL;
    rc = utf8_check((const unsigned char *)in, len, &ascii);
    if (rc < 0)
        return rc;
    if (ascii) {
        if (len > CV_JID_PART_MAX)
            return CV_EINVAL;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)in[i];
            if (c < 0x20 || c == 0x7f)
                return CV_EINVAL;
        }
        memcpy(out, in, len);
        out[len] = '\0';
        *outlen = len;
        return 0;
    }
    /*
     * OpaqueString has no directionality rule, and stringprep's would refuse ordinary
     * mixed-direction nicknames such as a Hebrew name followed by digits. libidn marks
     * resourceprep's bidi steps as mandatory (STRINGPREP_NO_BIDI does not skip them), so
     * the profile is copied without them; C.8 stays prohibited by its own table step.
     */
    Stringprep_profile profile[32];
    size_t n = 0;

    for (const Stringprep_profile *p = stringprep_xmpp_resourceprep; p->operation; p++) {
        if (p->operation == STRINGPREP_BIDI || p->operation == STRINGPREP_BIDI_PROHIBIT_TABLE ||
            p->operation == STRINGPREP_BIDI_RAL_TABLE || p->operation == STRINGPREP_BIDI_L_TABLE)
            continue;
        CV_ASSERT(n + 1 < CV_ARRAY_LEN(profile));
        profile[n++] = *p;
    }
    memset(&profile[n], 0, sizeof(profile[n]));
    return run_stringprep(in, len, 0, profile, out, outlen);
}

static int is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * Validates and lowercases an ASCII host name (no trailing dot) into out (PREP_CAP).
 * A name whose last label is all digits must be a dotted-quad IPv4 address: no top-level
 * domain is numeric, and accepting "1.2.3.999" as a name would let it masquerade as an
 * address.
 */
static int prep_ascii_host(const char *in, size_t len, char *out, size_t *outlen)
{
    size_t label = 0;
    int digits = 1;

    if (len == 0 || len > CV_JID_PART_MAX)
        return CV_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == '.') {
            if (label == 0 || in[i - 1] == '-')
                return CV_EINVAL;
            label = 0;
            digits = 1;
            out[i] = '.';
            continue;
        }
        if (!is_ldh(c) || (label == 0 && c == '-') || ++label > LABEL_MAX)
            return CV_EINVAL;
        if (c < '0' || c > '9')
            digits = 0;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    if (label == 0 || in[len - 1] == '-')
        return CV_EINVAL;
    out[len] = '\0';
    if (digits) {
        struct in_addr a4;
        if (inet_pton(AF_INET, out, &a4) != 1)
            return CV_EINVAL;
    }
    *outlen = len;
    return 0;
}

static int prep_ip_literal(const char *in, size_t len, char *out, size_t *outlen)
{
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a6;

    if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(addr))
        return CV_EINVAL;
    memcpy(addr, in + 1, len - 2);
    addr[len - 2] = '\0';
    if (inet_pton(AF_INET6, addr, &a6) != 1)
        return CV_EINVAL;
    memcpy(out, in, len);
    out[len] = '\0';
    *outlen = len;
    return 0;
}

static int has_alabel(const char *in, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++) {
        if ((i == 0 || in[i - 1] == '.') && strncasecmp(in + i, "xn--", 4) == 0)
            return 1;
    }
    return 0;
}

static int idn2_err(int rc)
{
    return rc == IDN2_MALLOC ? CV_ENOMEM : CV_EINVAL;
}

/*
 * Internationalized names: libidn2 maps (UTS #46 non-transitional: lowercase, width,
 * NFC) and validates (IDNA2008) into A-label form, which is checked once more as an ASCII
 * host, then decoded to the U-label form that is stored. STD3 rules stay off because
 * libidn2 then drops disallowed ASCII such as "_" or "@" silently instead of failing;
 * rejecting those bytes here and re-checking the A-label form is stricter.
 */
static int prep_idn_host(const char *in, size_t len, char *out, size_t *outlen)
{
    char raw[RAW_CAP], alabel[PREP_CAP];
    uint8_t *lookup = NULL;
    char *ulabel = NULL;
    size_t alen, ulen;
    int rc;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80 && c != '.' && !is_ldh(c)) {
            rc = CV_EINVAL;
            goto out;
        }
    }
    memcpy(raw, in, len);
    raw[len] = '\0';
    rc = idn2_lookup_u8((const uint8_t *)raw, &lookup, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
        rc = idn2_err(rc);
        goto out;
    }
    alen = strlen((const char *)lookup);
    /* A final ideographic full stop becomes "." only through the mapping. */
    if (alen > 0 && lookup[alen - 1] == '.')
        alen--;
    rc = prep_ascii_host((const char *)lookup, alen, alabel, &alen);
    if (rc < 0)
        goto out;
    rc = idn2_to_unicode_8z8z(alabel, &ulabel, 0);
    if (rc != IDN2_OK) {
        rc = idn2_err(rc);
        goto out;
    }
    ulen = strlen(ulabel);
    if (ulen == 0 || ulen > CV_JID_PART_MAX) {
        rc = CV_EINVAL;
        goto out;
    }
    /*
     * libidn2 checks an A-label given as input only for a clean Punycode round trip, not
     * that what it encodes is a valid U-label ("xn--cnkevak" decodes to parenthesized
     * ideographs). The decoded form must map back to the same A-label, which also makes
     * the stored form prepare to itself.
     */
    idn2_free(lookup);
    lookup = NULL;
    rc = idn2_lookup_u8((const uint8_t *)ulabel, &lookup, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
        rc = idn2_err(rc);
        goto out;
    }
    if (strcmp((const char *)lookup, alabel) != 0) {
        rc = CV_EINVAL;
        goto out;
    }
    memcpy(out, ulabel, ulen + 1);
    *outlen = ulen;
    rc = 0;
out:
    idn2_free(ulabel);
    idn2_free(lookup);
    return rc;
}

static int prep_domain(const char *in, size_t len, char *out, size_t *outlen)
{
    int ascii, rc;

    if (len == 0 || len > CV_JID_INPUT_MAX)
        return CV_EINVAL;
    rc = utf8_check((const unsigned char *)in, len, &ascii);
    if (rc < 0)
        return rc;
    if (in[0] == '[')
        return prep_ip_literal(in, len, out, outlen);
    /* RFC 7622 §3.2: the final label separator goes before any other step. */
    if (in[len - 1] == '.')
        len--;
    if (len == 0)
        return CV_EINVAL;
    if (ascii && !has_alabel(in, len))
        return prep_ascii_host(in, len, out, outlen);
    return prep_idn_host(in, len, out, outlen);
}

typedef int (*prep_fn)(const char *in, size_t len, char *out, size_t *outlen);

static int prep_public(prep_fn fn, const char *in, char *out, size_t cap)
{
    char tmp[PREP_CAP];
    size_t inlen, outlen = 0;
    int rc;

    if (out && cap > 0)
        out[0] = '\0';
    if (!in)
        return CV_EINVAL;
    inlen = strnlen(in, RAW_CAP);
    rc = fn(in, inlen, tmp, &outlen);
    if (rc < 0)
        return rc;
    if (!out || outlen >= cap)
        return CV_ELIMIT;
    memcpy(out, tmp, outlen + 1);
    return 0;
}

int cv_jid_prep_local(const char *in, char *out, size_t cap)
{
    return prep_public(prep_local, in, out, cap);
}

int cv_jid_prep_domain(const char *in, char *out, size_t cap)
{
    return prep_public(prep_domain, in, out, cap);
}

int cv_jid_prep_resource(const char *in, char *out, size_t cap)
{
    return prep_public(prep_resource, in, out, cap);
}

/* Lays the prepared parts out in one block: [local NUL] domain NUL [resource NUL]. */
static int jid_assemble(cv_jid_t *out, const char *l, size_t llen, const char *d, size_t dlen,
                        const char *r, size_t rlen)
{
    size_t total = dlen + 1 + (l ? llen + 1 : 0) + (r ? rlen + 1 : 0);
    char *mem, *p;

    mem = malloc(total);
    if (!mem)
        return CV_ENOMEM;
    p = mem;
    if (l) {
        out->local = p;
        memcpy(p, l, llen);
        p[llen] = '\0';
        p += llen + 1;
    }
    out->domain = p;
    memcpy(p, d, dlen);
    p[dlen] = '\0';
    p += dlen + 1;
    if (r) {
        out->resource = p;
        memcpy(p, r, rlen);
        p[rlen] = '\0';
    }
    out->mem = mem;
    return 0;
}

/*
 * Splits s[0..len) and prepares each part into buf (CV_JID_BUF_SIZE bytes: local, domain
 * and resource at PREP_CAP offsets). On success out's parts point into buf and out->mem
 * is NULL. lens receives the three prepared lengths.
 */
static int parse_into(cv_jid_t *out, const char *s, size_t len, char *buf, size_t lens[3])
{
    size_t dstart = 0, dend;
    const char *slash, *at;
    int rc;

    *out = (cv_jid_t)CV_JID_INIT;
    if (!s)
        return CV_EINVAL;
    /* RFC 7622 §3.1: the first "/" starts the resource, so "@" inside it is data. */
    slash = memchr(s, '/', len);
    dend = slash ? (size_t)(slash - s) : len;
    at = memchr(s, '@', dend);
    if (at) {
        rc = prep_local(s, (size_t)(at - s), buf, &lens[0]);
        if (rc < 0)
            return rc;
        dstart = (size_t)(at - s) + 1;
    }
    rc = prep_domain(s + dstart, dend - dstart, buf + PREP_CAP, &lens[1]);
    if (rc < 0)
        return rc;
    if (slash) {
        rc = prep_resource(slash + 1, len - dend - 1, buf + 2 * PREP_CAP, &lens[2]);
        if (rc < 0)
            return rc;
    }
    out->local = at ? buf : NULL;
    out->domain = buf + PREP_CAP;
    out->resource = slash ? buf + 2 * PREP_CAP : NULL;
    return 0;
}

int cv_jid_parse(cv_jid_t *out, const char *s, size_t len)
{
    char buf[CV_JID_BUF_SIZE];
    size_t lens[3] = {0, 0, 0};
    cv_jid_t tmp;
    int rc = parse_into(&tmp, s, len, buf, lens);

    *out = (cv_jid_t)CV_JID_INIT;
    if (rc == 0)
        rc = jid_assemble(out, tmp.local, lens[0], tmp.domain, lens[1], tmp.resource, lens[2]);
    return rc;
}

int cv_jid_parse_buf(cv_jid_t *out, const char *s, size_t len, char *buf)
{
    size_t lens[3] = {0, 0, 0};
    int rc = parse_into(out, s, len, buf, lens);
    if (rc < 0)
        *out = (cv_jid_t)CV_JID_INIT;
    return rc;
}

int cv_jid_from_parts(cv_jid_t *out, const char *local, const char *domain, const char *resource)
{
    char lbuf[PREP_CAP], dbuf[PREP_CAP], rbuf[PREP_CAP];
    size_t llen = 0, dlen = 0, rlen = 0;
    int rc;

    *out = (cv_jid_t)CV_JID_INIT;
    if (!domain) {
        rc = CV_EINVAL;
        goto out;
    }
    if (local) {
        rc = prep_local(local, strnlen(local, RAW_CAP), lbuf, &llen);
        if (rc < 0)
            goto out;
    }
    rc = prep_domain(domain, strnlen(domain, RAW_CAP), dbuf, &dlen);
    if (rc < 0)
        goto out;
    if (resource) {
        rc = prep_resource(resource, strnlen(resource, RAW_CAP), rbuf, &rlen);
        if (rc < 0)
            goto out;
    }
    rc = jid_assemble(out, local ? lbuf : NULL, llen, dbuf, dlen, resource ? rbuf : NULL, rlen);
out:
    return rc;
}

static int jid_copy(cv_jid_t *out, const cv_jid_t *in, int with_resource)
{
    const char *r = with_resource ? in->resource : NULL;

    *out = (cv_jid_t)CV_JID_INIT;
    if (!in->domain)
        return CV_EINVAL;
    return jid_assemble(out, in->local, in->local ? strlen(in->local) : 0, in->domain,
                        strlen(in->domain), r, r ? strlen(r) : 0);
}

int cv_jid_copy(cv_jid_t *out, const cv_jid_t *in)
{
    return jid_copy(out, in, 1);
}

int cv_jid_copy_bare(cv_jid_t *out, const cv_jid_t *in)
{
    return jid_copy(out, in, 0);
}

void cv_jid_free(cv_jid_t *j)
{
    free(j->mem);
    *j = (cv_jid_t)CV_JID_INIT;
}

static int jid_format(const cv_jid_t *j, cv_buf_t *out, int full)
{
    size_t llen, dlen, rlen;
    const char *r;
    int rc;

    if (!j->domain)
        return CV_EINVAL;
    r = full ? j->resource : NULL;
    llen = j->local ? strlen(j->local) : 0;
    dlen = strlen(j->domain);
    rlen = r ? strlen(r) : 0;
    /* Reserving first means a failed append leaves out exactly as it was. */
    rc = cv_buf_reserve(out, llen + dlen + rlen + 2);
    if (rc < 0)
        return rc;
    if (j->local) {
        CV_ASSERT(cv_buf_append(out, j->local, llen) == 0);
        CV_ASSERT(cv_buf_append(out, "@", 1) == 0);
    }
    CV_ASSERT(cv_buf_append(out, j->domain, dlen) == 0);
    if (r) {
        CV_ASSERT(cv_buf_append(out, "/", 1) == 0);
        CV_ASSERT(cv_buf_append(out, r, rlen) == 0);
    }
    return 0;
}

int cv_jid_format_bare(const cv_jid_t *j, cv_buf_t *out)
{
    return jid_format(j, out, 0);
}

int cv_jid_format_full(const cv_jid_t *j, cv_buf_t *out)
{
    return jid_format(j, out, 1);
}

static int opt_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

int cv_jid_bare_eq(const cv_jid_t *a, const cv_jid_t *b)
{
    if (!a->domain || !b->domain)
        return 0;
    return strcmp(a->domain, b->domain) == 0 && opt_eq(a->local, b->local);
}

int cv_jid_full_eq(const cv_jid_t *a, const cv_jid_t *b)
{
    return cv_jid_bare_eq(a, b) && opt_eq(a->resource, b->resource);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t cv_jid_bare_hash(const cv_jid_t *j)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    if (j->local) {
        h = fnv1a(h, j->local);
        h = fnv1a(h, "@");
    }
    if (j->domain)
        h = fnv1a(h, j->domain);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}
