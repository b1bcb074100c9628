#include <stdio.h>
#include <string.h>

#include "corvid/buf.h"
#include "corvid/setup.h"

int cv_cli_conf_option(cv_cli_conf_t *cli, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *value = NULL;
    int is_set = 0;

    if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
        value = *i + 1 < argc ? argv[*i + 1] : NULL;
    } else if (strcmp(arg, "--set") == 0) {
        value = *i + 1 < argc ? argv[*i + 1] : NULL;
        is_set = 1;
    } else if (strncmp(arg, "--set=", 6) == 0) {
        value = arg + 6;
        is_set = 1;
    } else if (strncmp(arg, "--config=", 9) == 0) {
        value = arg + 9;
    } else {
        return 0;
    }
    if (!value) {
        fprintf(stderr, "%s: %s needs a value\n", argv[0], arg);
        return CV_EINVAL;
    }
    if (strchr(arg, '=') == NULL)
        (*i)++;
    (*i)++;
    if (!is_set) {
        cli->path = value;
        return 1;
    }
    const char **grown = realloc(cli->overrides, (cli->noverrides + 1) * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return CV_ENOMEM;
    }
    cli->overrides = grown;
    cli->overrides[cli->noverrides++] = value;
    return 1;
}

void cv_cli_conf_free(cv_cli_conf_t *cli)
{
    free(cli->overrides);
    cli->overrides = NULL;
    cli->noverrides = 0;
}

int cv_setup_config(const cv_cli_conf_t *cli, cv_config_t **out)
{
    cv_buf_t err = CV_BUF_INIT;
    const char *path = cli->path ? cli->path : CV_DEFAULT_CONFIG;
    int rc = cv_config_load(out, path, cli->overrides, cli->noverrides, &err);
    if (rc < 0) {
        fprintf(stderr, "%s", err.data ? err.data : "configuration error\n");
        if (err.len && err.data[err.len - 1] != '\n')
            fputc('\n', stderr);
        rc = CV_ECONFIG;
    }
    cv_buf_free(&err);
    return rc;
}

int cv_setup_store(const cv_config_t *cfg, void (*on_fatal)(void *arg), void *arg, cv_store_t **out)
{
    cv_store_opts_t opts = {.backend = cfg->storage_backend,
                            .dir = cfg->data_dir,
                            .map_size = cfg->lmdb_map_size,
                            .on_fatal = on_fatal,
                            .fatal_arg = arg};
    int rc = cv_store_open(out, &opts);
    if (rc < 0)
        fprintf(stderr, "cannot open the %s store in %s: %s\n", cfg->storage_backend, cfg->data_dir,
                cv_strerror(rc));
    return rc;
}
