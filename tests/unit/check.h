/*
 * tests/unit/check.h — the checks and scratch directories the unit tests share.
 *
 * A failed check prints one line "FAIL file:line: ..." and adds one to the test's
 * failures; it never stops the test, so one run reports every failing check. main
 * decides the exit status from failures. Tests whose threads report failures count them
 * with FAIL into an atomic counter of their own and copy the total into failures at the
 * end. Single-threaded use only, except FAIL.
 */
#ifndef CORVID_TESTS_UNIT_CHECK_H
#define CORVID_TESTS_UNIT_CHECK_H

#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corvid/core.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Checks that expr gives the code want, naming both codes when it does not. */
#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (want)) {                                                                       \
            printf("FAIL %s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, __LINE__, #expr, rc_,     \
                   cv_strerror(rc_), (want), cv_strerror(want));                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Checks that two strings are equal; NULL equals nothing, not even NULL. */
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            printf("FAIL %s:%d: %s == %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #a, #b,   \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* For any thread: prints "FAIL " and the printf-style message, and counts one failure in
 * the atomic_int (sh)->failures. Relaxed order suffices: the count is read after the
 * threads are joined. */
#define FAIL(sh, ...)                                                                              \
    do {                                                                                           \
        printf("FAIL " __VA_ARGS__);                                                               \
        printf("\n");                                                                              \
        atomic_fetch_add_explicit(&(sh)->failures, 1, memory_order_relaxed);                       \
    } while (0)

/* Creates a new directory $TMPDIR/<name>-XXXXXX (under /tmp without TMPDIR) and writes
 * its path to base. Returns 0, or -1 after printing a FAIL line. */
static inline int check_tmpdir(char *base, size_t size, const char *name)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(base, size, "%s/%s-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp", name);
    if (mkdtemp(base) == NULL) {
        printf("FAIL mkdtemp %s\n", base);
        return -1;
    }
    return 0;
}

static inline int check_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes path and everything below it; a failure is only warned about. */
static inline void check_rm_tree(const char *path)
{
    if (nftw(path, check_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        printf("warning: could not remove %s\n", path);
}

#endif
