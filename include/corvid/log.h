/*
 * corvid/log.h — leveled logging to stderr.
 *
 * Owns the process-wide log level, set once at start-up before any worker thread
 * starts (cv_log_set_level); afterwards it is only read, so any thread may log.
 * Each line is written with one write(2) so lines from threads do not interleave.
 */
#ifndef CORVID_LOG_H
#define CORVID_LOG_H

typedef enum cv_log_level_e {
    CV_LOG_DEBUG = 0,
    CV_LOG_INFO = 1,
    CV_LOG_WARN = 2,
    CV_LOG_ERROR = 3,
} cv_log_level_t;

/* Thread: main, before workers start. */
void cv_log_set_level(cv_log_level_t level);
/* Parses "debug", "info", "warning"/"warn", "error". Returns 0 or -CV_EINVAL. */
int cv_log_level_parse(const char *s, cv_log_level_t *out);
/* Thread: any. */
int cv_log_enabled(cv_log_level_t level);
void cv_log(cv_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cv_debug(...)                                                                              \
    do {                                                                                           \
        if (cv_log_enabled(CV_LOG_DEBUG))                                                          \
            cv_log(CV_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define cv_info(...) cv_log(CV_LOG_INFO, __VA_ARGS__)
#define cv_warn(...) cv_log(CV_LOG_WARN, __VA_ARGS__)
#define cv_error(...) cv_log(CV_LOG_ERROR, __VA_ARGS__)

#endif
