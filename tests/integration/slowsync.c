/*
 * Fault injection for the integration tests, preloaded into the server (LD_PRELOAD): while
 * the file named by CV_SLOWSYNC_FLAG exists, every fdatasync() and fsync() first sleeps
 * CV_SLOWSYNC_MS milliseconds (default 500), and creates the file named by the flag plus
 * ".stalled" as it starts to, so the test knows a commit is being held. A test creates the
 * flag to hold the store's commits open for a moment it chooses (a collection's delete,
 * say) and removes it after. With CV_SLOWSYNC_FAIL=1 such a sync then fails with EIO
 * instead of reaching the disk, a disk failing for as long as the flag exists
 * (CV_SLOWSYNC_MS=0: at once, still creating the ".stalled" file). With
 * CV_SLOWSYNC_FAIL=meta the syncs go through and a pwrite() through a descriptor opened
 * with O_DSYNC fails with EIO instead: LMDB writes its meta page that way (and never syncs
 * it otherwise), so the commit's last step fails, which LMDB takes as fatal for the
 * environment.
 *
 * Built without sanitizers: it only forwards to the next definition (the sanitizer's
 * interceptor or libc). Thread: any, like the calls it wraps.
 */
#define _LARGEFILE64_SOURCE 1 /* off64_t, for pwrite64 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Whether the flag file exists; if it does, FLAG.stalled is made too, for the test. */
static int flag_hit(void)
{
    const char *flag = getenv("CV_SLOWSYNC_FLAG");
    char stalled[4096];

    if (!flag || access(flag, F_OK) != 0)
        return 0;
    if (snprintf(stalled, sizeof stalled, "%s.stalled", flag) < (int)sizeof stalled) {
        int fd = open(stalled, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            (void)close(fd);
    }
    return 1;
}

static int fail_mode_is(const char *mode)
{
    const char *fail_text = getenv("CV_SLOWSYNC_FAIL");
    return fail_text && strcmp(fail_text, mode) == 0;
}

/* Before a sync: stalls while the flag exists (CV_SLOWSYNC_MS); returns 1 with errno EIO
   when the sync is to fail (CV_SLOWSYNC_FAIL=1), 0 to go on with the real one. */
static int sync_refused(void)
{
    const char *ms_text = getenv("CV_SLOWSYNC_MS");
    long ms = ms_text ? strtol(ms_text, NULL, 10) : 500;
    int fail = fail_mode_is("1");
    int saved = errno;

    if ((ms > 0 || fail) && flag_hit()) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        if (fail) {
            errno = EIO;
            return 1;
        }
    }
    errno = saved;
    return 0;
}

/* Before a write through fd: returns 1 with errno EIO when it is to fail
   (CV_SLOWSYNC_FAIL=meta, fd opened with O_DSYNC, the flag there), 0 to go on. */
static int write_refused(int fd)
{
    int saved = errno;
    int fl = fail_mode_is("meta") ? fcntl(fd, F_GETFL) : -1;

    if (fl >= 0 && (fl & O_DSYNC) == O_DSYNC && flag_hit()) {
        errno = EIO;
        return 1;
    }
    errno = saved;
    return 0;
}

/* The next definition of name (the sanitizer's interceptor or libc); NULL with errno
   ENOSYS when there is none. */
static void *next_of(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f)
        errno = ENOSYS;
    return f;
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*sync_fn)(int);

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    pwrite_fn next = (pwrite_fn)next_of("pwrite");
    return !next || write_refused(fd) ? -1 : next(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    pwrite64_fn next = (pwrite64_fn)next_of("pwrite64");
    return !next || write_refused(fd) ? -1 : next(fd, buf, len, off);
}

int fdatasync(int fd)
{
    sync_fn next = (sync_fn)next_of("fdatasync");
    return !next || sync_refused() ? -1 : next(fd);
}

int fsync(int fd)
{
    sync_fn next = (sync_fn)next_of("fsync");
    return !next || sync_refused() ? -1 : next(fd);
}
