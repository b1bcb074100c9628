/*
 * corvid/jid.h — XMPP addresses (JIDs) per RFC 7622: parsing, preparation, comparison.
 *
 * Owns nothing shared: a cv_jid_t owns one heap block (mem) holding its three prepared,
 * NUL-terminated parts; whoever holds the cv_jid_t owns that block. Every function is
 * pure with respect to process state (no globals, no locale), so any thread may call any
 * function; one cv_jid_t must not be written by two threads at once.
 *
 * Preparation (what "normalized" means here, and where it departs from RFC 7622's PRECIS
 * profiles because the implementation rests on libidn's stringprep, as Prosody and
 * ejabberd do, so that accounts stored by those servers keep their identity):
 *
 *  - localpart: XMPP nodeprep (RFC 3920 appendix A: case folding, NFKC, prohibitions,
 *    bidi rule). Additionally, as the PRECIS IdentifierClass requires, any code point
 *    with a compatibility decomposition is rejected, except fullwidth and halfwidth forms
 *    (U+FF01..U+FFEE), which are width-mapped as UsernameCaseMapped prescribes. Code
 *    points of the symbol and punctuation blocks (Latin-1 signs, general punctuation,
 *    currency, U+2190..U+2BFF, emoji U+1F000..U+1FBFF) are rejected too. The characters
 *    " & ' / : < > @, space and controls are rejected (§3.3.1). Differences from
 *    UsernameCaseMapped: stringprep folds case with Unicode 3.2 case folding, so "ß"
 *    becomes "ss" and final sigma becomes "σ"; symbols outside the listed blocks are
 *    accepted; code points unassigned in Unicode 3.2 pass through unchanged.
 *  - domainpart: an IP literal "[v6]" (checked with inet_pton) or a dotted-quad IPv4
 *    address is kept byte for byte as given. One trailing dot is stripped first. An ASCII
 *    name is lowercased and must be letters, digits and hyphens (no hyphen at either end
 *    of a label), labels 1..63 bytes, the whole at most 1023 bytes, and its last label not
 *    all digits. A name with non-ASCII characters or an "xn--" label goes through libidn2
 *    (UTS #46 non-transitional mapping, NFC, IDNA2008 validation) and is stored in its
 *    canonical U-label form: lowercase, NFC, every A-label decoded, so "xn--bcher-kva.de"
 *    and "BÜCHER.de" both become "bücher.de". Such names are also bounded by DNS's limit
 *    of 255 bytes in A-label form.
 *  - resourcepart: XMPP resourceprep (NFKC, prohibitions, case preserved) without the
 *    stringprep bidi rule, which OpaqueString does not have. Difference from OpaqueString:
 *    NFKC instead of NFC, so fullwidth letters become ASCII.
 *
 * Each part is 1..CV_JID_PART_MAX bytes after preparation. Input longer than
 * CV_JID_INPUT_MAX bytes per part is rejected before any Unicode work so that hostile
 * input cannot buy unbounded CPU or memory.
 *
 * Errors are the CV_E* codes of corvid/core.h returned as they are (they are negative).
 */
#ifndef CORVID_JID_H
#define CORVID_JID_H

#include "corvid/core.h"
#include "corvid/buf.h"

#define CV_JID_PART_MAX 1023  /* bytes of one prepared part, excluding the NUL */
#define CV_JID_INPUT_MAX 4096 /* bytes of one raw part before preparation */

typedef struct cv_jid_s {
    char *local;    /* NULL when absent; points into mem */
    char *domain;   /* never NULL in a valid JID; points into mem */
    char *resource; /* NULL when absent; points into mem */
    char *mem;      /* one allocation holding the three NUL-terminated parts */
} cv_jid_t;

#define CV_JID_INIT                                                                                \
    {                                                                                              \
        NULL, NULL, NULL, NULL                                                                     \
    }

/*
 * Parses s[0..len) (need not be NUL-terminated; an embedded NUL is malformed) and
 * prepares each part. The first "/" starts the resourcepart; a "@" before it ends the
 * localpart (RFC 7622 §3.1). *out must not hold a JID (it is overwritten, not freed).
 * Thread: any. On success *out owns a new block. Returns 0, CV_EINVAL (malformed:
 * callers answer jid-malformed) or CV_ENOMEM; on error *out is left CV_JID_INIT.
 */
int cv_jid_parse(cv_jid_t *out, const char *s, size_t len);

/* Room for the three prepared parts of any JID, each NUL-terminated. */
#define CV_JID_BUF_SIZE (3 * (CV_JID_PART_MAX + 1))

/*
 * cv_jid_parse without a heap block, for the per-stanza path: the prepared parts are
 * written to buf (CV_JID_BUF_SIZE bytes, typically on the caller's stack) and out points
 * into it; out->mem stays NULL, so cv_jid_free(out) is a no-op and out is valid exactly as
 * long as buf. Same returns as cv_jid_parse. Thread: any.
 */
int cv_jid_parse_buf(cv_jid_t *out, const char *s, size_t len, char *buf);

/*
 * Builds a JID from NUL-terminated parts, preparing each; local and resource may be NULL
 * (absent), domain may not, and an empty string is malformed. Thread: any. Returns 0,
 * CV_EINVAL or CV_ENOMEM; on error *out is left CV_JID_INIT.
 */
int cv_jid_from_parts(cv_jid_t *out, const char *local, const char *domain, const char *resource);

/* Deep copy. Thread: any. Returns 0, CV_EINVAL (in has no domain) or CV_ENOMEM; on
 * error *out is left CV_JID_INIT. */
int cv_jid_copy(cv_jid_t *out, const cv_jid_t *in);

/* Deep copy without the resourcepart. Thread: any. Same returns as cv_jid_copy. */
int cv_jid_copy_bare(cv_jid_t *out, const cv_jid_t *in);

/* Frees the block and leaves *j CV_JID_INIT. Safe on CV_JID_INIT. Thread: any. */
void cv_jid_free(cv_jid_t *j);

/*
 * Prepare one NUL-terminated part into out (cap bytes, result NUL-terminated). Used for
 * usernames in SASL and registration (local), hostnames from configuration (domain) and
 * resources in bind (resource). Thread: any. Returns 0, CV_EINVAL (not a valid part,
 * including empty or longer than CV_JID_PART_MAX once prepared), CV_ENOMEM, or
 * CV_ELIMIT when the prepared part does not fit in cap bytes (out is then "" if cap > 0).
 */
int cv_jid_prep_local(const char *in, char *out, size_t cap);
int cv_jid_prep_domain(const char *in, char *out, size_t cap);
int cv_jid_prep_resource(const char *in, char *out, size_t cap);

/* Append "local@domain" (or "domain") / "local@domain/resource" to out. Thread: any.
 * Returns 0, CV_EINVAL (j has no domain) or CV_ENOMEM. */
int cv_jid_format_bare(const cv_jid_t *j, cv_buf_t *out);
int cv_jid_format_full(const cv_jid_t *j, cv_buf_t *out);

/* 1 when a and b are the same bare / full JID, else 0. Both must be prepared JIDs (as
 * every cv_jid_t made by this module is), so equality is byte equality. Thread: any. */
int cv_jid_bare_eq(const cv_jid_t *a, const cv_jid_t *b);
int cv_jid_full_eq(const cv_jid_t *a, const cv_jid_t *b);

/*
 * Hash of the bare JID: 64-bit FNV-1a over "local@domain" (or "domain") followed by a
 * murmur3 finalizer so that the low bits, which pick a session-table shard, depend on
 * every input byte. Stable across runs and builds. Thread: any.
 */
uint64_t cv_jid_bare_hash(const cv_jid_t *j);

#endif
