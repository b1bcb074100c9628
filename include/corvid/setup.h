/*
 * corvid/setup.h — start-up steps shared by the server (corvid) and the admin tool
 * (corvidctl): command-line configuration options and opening the store.
 *
 * Thread: main only. Owns nothing beyond what each call returns.
 */
#ifndef CORVID_SETUP_H
#define CORVID_SETUP_H

#include "corvid/config.h"
#include "corvid/store.h"

#define CV_DEFAULT_CONFIG "conf/corvid.yml"

typedef struct cv_cli_conf_s {
    const char *path;       /* -c FILE, default CV_DEFAULT_CONFIG */
    const char **overrides; /* --set values, in order */
    size_t noverrides;
} cv_cli_conf_t;

/* Consumes "-c FILE", "--config FILE", "--set K=V" (and "--set=K=V") at argv[*i].
   Returns 1 if it consumed the option (advancing *i), 0 if argv[*i] is something else,
   -CV_EINVAL (with a message on stderr) when the option's value is missing. */
int cv_cli_conf_option(cv_cli_conf_t *cli, int argc, char **argv, int *i);
void cv_cli_conf_free(cv_cli_conf_t *cli);

/* Loads the configuration; on error prints every message to stderr and returns
   -CV_ECONFIG. */
int cv_setup_config(const cv_cli_conf_t *cli, cv_config_t **out);
/* Opens the configured store; on_fatal and arg as in cv_store_opts_t (NULL: none). */
int cv_setup_store(const cv_config_t *cfg, void (*on_fatal)(void *arg), void *arg,
                   cv_store_t **out);

#endif
