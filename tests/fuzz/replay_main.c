/*
 * Runs a fuzz target's entry point over saved inputs, without libFuzzer: every file named
 * on the command line, and every regular file in a directory named there. It lets the
 * ordinary and sanitizer builds replay tests/fuzz/corpus/<target> (seeds and inputs that
 * once found bugs) as a unit test. A target reports a bug by crashing or aborting; the
 * replay fails too when it found no input at all, so a missing corpus cannot pass.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Returns 1 when path was run, 0 when it is not a regular file, -1 on a read error. */
static int run_file(const char *path)
{
    struct stat sb;
    uint8_t *data = NULL;
    FILE *f = NULL;
    int rc = -1;

    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    data = malloc(sb.st_size ? (size_t)sb.st_size : 1);
    f = fopen(path, "rb");
    if (!data || !f || fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        goto out;
    }
    (void)LLVMFuzzerTestOneInput(data, (size_t)sb.st_size);
    rc = 1;
out:
    if (f)
        fclose(f);
    free(data);
    return rc;
}

/* Runs every regular file of dir (sorted, so a failure is reproducible). Returns how many
   ran, or -1. */
static int run_dir(const char *dir)
{
    struct dirent **names = NULL;
    char path[4096];
    int n = scandir(dir, &names, NULL, alphasort);
    int ran = 0;

    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int rc = 0;
        if (names[i]->d_name[0] != '.' &&
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) < sizeof path)
            rc = run_file(path);
        if (rc < 0 || ran < 0)
            ran = -1;
        else
            ran += rc;
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;
    struct stat sb;

    if (LLVMFuzzerInitialize)
        (void)LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        int rc =
            stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
        if (rc < 0)
            return 1;
        total += rc;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no input found\n");
        return 1;
    }
    printf("replayed %ld inputs\n", total);
    return 0;
}
