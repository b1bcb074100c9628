#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corvid/core.h"
#include "corvid/log.h"

/* Written once by the main thread before workers start, then read-only. */
static struct {
    cv_log_level_t level;
} cv_log_state = {CV_LOG_INFO};

void cv_log_set_level(cv_log_level_t level)
{
    cv_log_state.level = level;
}

int cv_log_level_parse(const char *s, cv_log_level_t *out)
{
    static const struct {
        const char *name;
        cv_log_level_t level;
    } names[] = {
        {"debug", CV_LOG_DEBUG}, {"info", CV_LOG_INFO},   {"warning", CV_LOG_WARN},
        {"warn", CV_LOG_WARN},   {"error", CV_LOG_ERROR},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return CV_EINVAL;
}

int cv_log_enabled(cv_log_level_t level)
{
    return level >= cv_log_state.level;
}

void cv_log(cv_log_level_t level, const char *fmt, ...)
{
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    if (!cv_log_enabled(level))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* Nothing sensible to do if stderr is gone. */
}
