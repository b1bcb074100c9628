/*
 * corvid/core.h — shared typedefs, error codes and assertion macros.
 *
 * Owns nothing at run time. Every module includes it; it includes no other Corvid
 * header. Error convention: functions return int, 0 on success or a negative code:
 * either -errno (small magnitudes) or one of the CV_E* codes below, which all lie
 * below -30000 so they never collide with errno values.
 */
#ifndef CORVID_CORE_H
#define CORVID_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    CV_AGAIN = -30001,     /* not yet: call again when more input or capacity arrives */
    CV_ENOMEM = -30002,    /* out of memory for this connection or stanza */
    CV_EINVAL = -30003,    /* malformed argument or input */
    CV_ENOTFOUND = -30004, /* the named thing does not exist */
    CV_EEXIST = -30005,    /* the named thing exists already */
    CV_ELIMIT = -30006,    /* a configured or built-in limit was reached */
    CV_EPROTO = -30007,    /* the peer broke the protocol (detail kept by the caller) */
    CV_ESTORE = -30008,    /* the storage backend failed */
    CV_ECONFIG = -30009,   /* configuration is invalid (message already reported) */
    CV_EAUTH = -30010,     /* authentication failed */
    CV_ETLS = -30011,      /* TLS failure */
    CV_ECLOSED = -30012,   /* the stream or connection is closed */
    CV_EUNSUPP = -30013,   /* not supported / not implemented */
};

/* Thread: any. 1 if the running Linux kernel is major.minor or later; 0 if older or
   unknown (uname unreadable), so that callers err on the side of the older behaviour. */
int cv_kernel_at_least(unsigned major, unsigned minor);

/* Returns a static English description of a negative Corvid or errno code. */
const char *cv_strerror(int code);

/*
 * CV_ASSERT is always on. It guards internal invariants only: anything the network can
 * reach must be an error path, never an assertion.
 */
#define CV_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "corvid: assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CV_UNUSED(x) ((void)(x))

/* FNV-1a over a NUL-terminated string, continuing from h (start with CV_HASH_SEED): for
   picking a stripe or a bucket, never for anything an attacker must not steer. */
#define CV_HASH_SEED 1469598103934665603ull
static inline uint64_t cv_hash_text(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

#endif
