/*
 * Fault injection for the integration tests, preloaded into the server (LD_PRELOAD): while
 * the file named by CV_SLOWSYNC_FLAG exists, every fdatasync() and fsync() first sleeps
 * CV_SLOWSYNC_MS milliseconds (default 500), and creates the file named by the flag plus
 * ".stalled" as it starts to, so the test knows a commit is being held. A test creates the
 * flag to hold the store's commits open for a moment it chooses (a collection's delete,
 * say) and removes it after. With CV_SLOWSYNC_FAIL=1 such a sync then fails with EIO
 * instead of reaching the disk, a disk failing for as long as the flag exists
 * (CV_SLOWSYNC_MS=0: at once, still creating the ".stalled" file).
 *
 * Built without sanitizers: it only forwards to the next definition (the sanitizer's
 * interceptor or libc). Thread: any, like the calls it wraps.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Returns 0 to go on with the real sync, or EIO to fail it (CV_SLOWSYNC_FAIL). */
static int maybe_stall(void)
{
    const char *flag = getenv("CV_SLOWSYNC_FLAG");
    const char *ms_text = getenv("CV_SLOWSYNC_MS");
    const char *fail_text = getenv("CV_SLOWSYNC_FAIL");
    long ms = ms_text ? strtol(ms_text, NULL, 10) : 500;
    int fail = fail_text && strcmp(fail_text, "1") == 0;
    int saved = errno;

    if (flag && (ms > 0 || fail) && access(flag, F_OK) == 0) {
        char stalled[4096];
        if (snprintf(stalled, sizeof stalled, "%s.stalled", flag) < (int)sizeof stalled) {
            int fd = open(stalled, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0)
                (void)close(fd);
        }
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        if (fail)
            return EIO;
    }
    errno = saved;
    return 0;
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
