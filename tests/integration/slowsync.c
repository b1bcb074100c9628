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

/* Returns 0 to go on with the real sync, or EIO to fail it (CV_SLOWSYNC_FAIL=1). */
static int maybe_stall(void)
{
    const char *ms_text = getenv("CV_SLOWSYNC_MS");
    long ms = ms_text ? strtol(ms_text, NULL, 10) : 500;
    int fail = fail_mode_is("1");
    int saved = errno;

    if ((ms > 0 || fail) && flag_hit()) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        if (fail)
            return EIO;
    }
    errno = saved;
    return 0;
}

/* CV_SLOWSYNC_FAIL=meta: whether this write, through fd, is to fail. */
static int meta_write_fails(int fd)
{
    int saved = errno;
    int fl = fail_mode_is("meta") ? fcntl(fd, F_GETFL) : -1;
    int hit = fl >= 0 && (fl & O_DSYNC) == O_DSYNC && flag_hit();

    errno = saved;
    return hit;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t (*next)(int, const void *, size_t, off_t) =
        (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    if (meta_write_fails(fd)) {
        errno = EIO;
        return -1;
    }
    return next(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    ssize_t (*next)(int, const void *, size_t, off64_t) =
        (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    if (meta_write_fails(fd)) {
        errno = EIO;
        return -1;
    }
    return next(fd, buf, len, off);
}

int fdatasync(int fd)
{
    int (*next)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    int err = maybe_stall();
    if (err) {
        errno = err;
        return -1;
    }
    return next(fd);
}

int fsync(int fd)
{
    int (*next)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    int err = maybe_stall();
    if (err) {
        errno = err;
        return -1;
    }
    return next(fd);
}
