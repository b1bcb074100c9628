/*
 * corvidctl — account administration on the server's data: add, remove and list users,
 * set passwords. It opens the same store the server uses (LMDB allows both processes at
 * once) and never stores a plaintext password: it derives SCRAM credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "corvid/jid.h"
#include "corvid/log.h"
#include "corvid/scram.h"
#include "corvid/setup.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(
        f,
        "usage: %s [-c FILE] [--set KEY=VALUE]... COMMAND\n"
        "commands:\n"
        "  adduser USER@HOST [PASSWORD]   create an account (password read from stdin if absent)\n"
        "  passwd USER@HOST [PASSWORD]    set an account's password\n"
        "  deluser USER@HOST              remove an account\n"
        "  list HOST                      list the accounts of a host\n"
        "  adduser-bulk PREFIX FIRST COUNT HOST [PASSWORD]\n"
        "                                 create load-test accounts PREFIX<FIRST>.. sharing one\n"
        "                                 password and one salt (existing ones are kept)\n"
        "  roster-add USER@HOST CONTACT [none|to|from|both] [NAME]\n"
        "                                 put a contact on a roster (no stanzas are sent)\n",
        prog);
}

/* Reads one line from stdin (without echo on a terminal). */
static int read_password(char *out, size_t cap)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "Password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    char *line = fgets(out, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (!line)
        return CV_EINVAL;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* Splits and normalizes USER@HOST and checks the host is served. */
static int parse_account(const cv_config_t *cfg, const char *arg, cv_jid_t *jid)
{
    int rc = cv_jid_parse(jid, arg, strlen(arg));
    if (rc < 0 || !jid->local || jid->resource) {
        fprintf(stderr, "not an account address (USER@HOST): %s\n", arg);
        return CV_EINVAL;
    }
    if (!cv_config_host(cfg, jid->domain)) {
        fprintf(stderr, "host %s is not served by this configuration (%s)\n", jid->domain,
                cfg->path);
        return CV_ENOTFOUND;
    }
    return 0;
}

/*
 * The SCRAM credential for a password given on the command line, or read from stdin when
 * given is NULL, checked against registration.min_password_length, encoded into *blob.
 * The plaintext never outlives the call.
 */
static int credential_from_password(const cv_config_t *cfg, const char *given, cv_buf_t *blob)
{
    char password[1024];
    cv_scram_cred_t cred;
    int rc = 0;

    memset(&cred, 0, sizeof cred);
    if (given)
        snprintf(password, sizeof password, "%s", given);
    else
        rc = read_password(password, sizeof password);
    if (rc < 0 || password[0] == '\0') {
        fprintf(stderr, "no password given\n");
        rc = CV_EINVAL;
        goto out;
    }
    if (strlen(password) < cfg->min_password_length) {
        fprintf(stderr, "password shorter than registration.min_password_length (%u)\n",
                cfg->min_password_length);
        rc = CV_EINVAL;
        goto out;
    }
    rc = cv_scram_cred_derive(&cred, password, cfg->scram_iterations, NULL, 0);
    if (rc == 0)
        rc = cv_scram_cred_encode(&cred, blob);
out:
    memset(password, 0, sizeof password);
    memset(&cred, 0, sizeof cred);
    return rc;
}

static int set_password(const cv_config_t *cfg, cv_store_t *st, const cv_jid_t *jid,
                        const char *given, int create)
{
    cv_buf_t blob = CV_BUF_INIT;
    int rc = credential_from_password(cfg, given, &blob);

    if (rc < 0)
        goto out;
    rc = create ? cv_store_account_create(st, jid->domain, jid->local, blob.data, blob.len)
                : cv_store_account_set_cred(st, jid->domain, jid->local, blob.data, blob.len);
    if (rc == CV_EEXIST)
        fprintf(stderr, "account %s@%s exists already\n", jid->local, jid->domain);
    else if (rc == CV_ENOTFOUND)
        fprintf(stderr, "no account %s@%s\n", jid->local, jid->domain);
    else if (rc < 0)
        fprintf(stderr, "store error: %s\n", cv_strerror(rc));
out:
    cv_buf_free_wiped(&blob);
    return rc;
}

/*
 * Load-test accounts: the keys are derived once and stored for every account, so an
 * account costs a share of a store commit (BULK_BATCH accounts per commit) instead of a
 * PBKDF2. The shared salt means one password guess tests all of them at once, which is
 * why this is for benchmark accounts only, never for people.
 */
#define BULK_BATCH 1000

/* Creates the batch's missing accounts in one commit and counts them. */
static int add_batch(cv_store_t *st, const char *host, char (*names)[CV_JID_PART_MAX + 1], size_t n,
                     const cv_buf_t *blob, unsigned long *created, unsigned long *kept)
{
    const char *users[BULK_BATCH] = {NULL}; /* n <= BULK_BATCH */
    size_t made = 0;
    for (size_t i = 0; i < n; i++)
        users[i] = names[i];
    int rc = cv_store_account_create_many(st, host, users, n, blob->data, blob->len, &made);
    if (rc < 0) {
        fprintf(stderr, "%s%s: store error: %s\n", names[0], n > 1 ? " and the next ones" : "",
                cv_strerror(rc));
        return rc;
    }
    *created += made;
    *kept += n - made;
    return 0;
}
static int add_bulk(const cv_config_t *cfg, cv_store_t *st, int argc, char **argv)
{
    const char *prefix = argv[1];
    char host[CV_JID_PART_MAX + 1];
    char(*names)[CV_JID_PART_MAX + 1] = NULL;
    size_t batched = 0;
    unsigned long first, count, created = 0, kept = 0;
    cv_buf_t blob = CV_BUF_INIT;
    char *end1, *end2;
    int rc = 0;

    first = strtoul(argv[2], &end1, 10);
    count = strtoul(argv[3], &end2, 10);
    if (*argv[2] == '\0' || *end1 || *argv[3] == '\0' || *end2 || count == 0 ||
        count > 100000000ul || first > 4000000000ul) {
        fprintf(stderr, "FIRST and COUNT must be numbers (COUNT 1..100000000)\n");
        rc = CV_EINVAL;
        goto out;
    }
    if (cv_jid_prep_domain(argv[4], host, sizeof host) < 0 || !cv_config_host(cfg, host)) {
        fprintf(stderr, "host %s is not served by this configuration (%s)\n", argv[4], cfg->path);
        rc = CV_ENOTFOUND;
        goto out;
    }
    rc = credential_from_password(cfg, argc == 6 ? argv[5] : NULL, &blob);
    if (rc < 0)
        goto out;
    names = malloc(BULK_BATCH * sizeof *names);
    if (!names) {
        rc = CV_ENOMEM;
        goto out;
    }
    for (unsigned long i = first; i < first + count; i++) {
        cv_jid_t jid = CV_JID_INIT;
        char addr[2 * CV_JID_PART_MAX + 2];
        snprintf(addr, sizeof addr, "%s%lu@%s", prefix, i, host);
        rc = cv_jid_parse(&jid, addr, strlen(addr));
        if (rc < 0 || !jid.local) {
            fprintf(stderr, "not an account address: %s\n", addr);
            cv_jid_free(&jid);
            /* The accounts before it are made, as if it had come at a batch's end. */
            if (batched > 0 && add_batch(st, host, names, batched, &blob, &created, &kept) == 0)
                printf("%lu accounts created, %lu existed already\n", created, kept);
            rc = CV_EINVAL;
            goto out;
        }
        snprintf(names[batched++], sizeof names[0], "%s", jid.local);
        cv_jid_free(&jid);
        if (batched == BULK_BATCH || i + 1 == first + count) {
            rc = add_batch(st, host, names, batched, &blob, &created, &kept);
            if (rc < 0)
                goto out;
            batched = 0;
        }
    }
    printf("%lu accounts created, %lu existed already\n", created, kept);
out:
    free(names);
    cv_buf_free_wiped(&blob);
    return rc;
}

static int roster_add(cv_store_t *st, const cv_jid_t *jid, int argc, char **argv)
{
    static const char *const subs[] = {"none", "to", "from", "both"};
    cv_jid_t contact = CV_JID_INIT;
    cv_buf_t bare = CV_BUF_INIT;
    cv_store_roster_item_t it;
    int rc = cv_jid_parse(&contact, argv[2], strlen(argv[2]));
    if (rc < 0 || contact.resource || cv_jid_format_bare(&contact, &bare) < 0) {
        fprintf(stderr, "not a bare JID: %s\n", argv[2]);
        rc = CV_EINVAL;
        goto out;
    }
    memset(&it, 0, sizeof it);
    it.contact = bare.data;
    it.in_roster = 1;
    it.name = argc > 4 ? argv[4] : NULL;
    rc = CV_EINVAL;
    for (unsigned i = 0; i < 4; i++)
        if (argc <= 3 || strcmp(argv[3], subs[i]) == 0) {
            it.sub = (cv_store_sub_t)(argc <= 3 ? 0 : i);
            rc = 0;
            break;
        }
    if (rc < 0) {
        fprintf(stderr, "subscription must be none, to, from or both\n");
        goto out;
    }
    rc = cv_store_roster_put(st, jid->domain, jid->local, &it, NULL);
    if (rc < 0)
        fprintf(stderr, "roster of %s@%s: %s\n", jid->local, jid->domain, cv_strerror(rc));
out:
    cv_jid_free(&contact);
    cv_buf_free(&bare);
    return rc;
}

/* Copies each contact of a roster walk into a cv_strlist_t. */
static int note_contact(void *ctx, const cv_store_roster_item_t *item)
{
    return cv_strlist_add(ctx, item->contact);
}

/* What an in-band cancel does through presence (RFC 6121 §2.5.2 both ways), done in the
   store: each local contact's record for the deleted account loses every subscription
   and pending request, and goes if it was only a pending request, so whoever registers
   the name later inherits none of them. Contacts online now are not told (no roster
   push): their next roster request shows it. */
static int release_contacts(const cv_config_t *cfg, cv_store_t *st, const cv_jid_t *jid)
{
    cv_strlist_t l = {NULL, 0, 0};
    cv_buf_t me = CV_BUF_INIT;
    int rc = cv_store_roster_get(st, jid->domain, jid->local, note_contact, &l, NULL);

    if (rc == 0)
        rc = cv_jid_format_bare(jid, &me);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        cv_jid_t c = CV_JID_INIT;
        cv_store_roster_item_t *it = NULL;
        if (cv_jid_parse(&c, l.v[i], strlen(l.v[i])) == 0 && c.local &&
            cv_config_host(cfg, c.domain) &&
            cv_store_roster_get_item(st, c.domain, c.local, me.data, &it) == 0) {
            if (!it->in_roster) {
                rc = cv_store_roster_remove(st, c.domain, c.local, me.data, NULL);
            } else {
                it->sub = CV_STORE_SUB_NONE;
                it->ask = it->approved = it->pending_in = false;
                it->pending_status = NULL;
                rc = cv_store_roster_put(st, c.domain, c.local, it, NULL);
            }
            if (rc == CV_ENOTFOUND)
                rc = 0; /* the contact's account went meanwhile */
        }
        free(it);
        cv_jid_free(&c);
    }
    if (rc < 0)
        fprintf(stderr, "releasing the contacts of %s@%s: %s\n", jid->local, jid->domain,
                cv_strerror(rc));
    cv_strlist_free(&l);
    cv_buf_free(&me);
    return rc;
}

static int print_user(void *ctx, const char *user)
{
    printf("%s@%s\n", user, (const char *)ctx);
    return 0;
}

static int command(const cv_config_t *cfg, cv_store_t *st, int argc, char **argv)
{
    const char *cmd = argv[0];
    cv_jid_t jid = CV_JID_INIT;
    int rc = CV_EINVAL;

    if (strcmp(cmd, "list") == 0 && argc == 2) {
        char host[CV_JID_PART_MAX + 1];
        if (cv_jid_prep_domain(argv[1], host, sizeof host) < 0 || !cv_config_host(cfg, host)) {
            fprintf(stderr, "host %s is not served by this configuration\n", argv[1]);
            return CV_ENOTFOUND;
        }
        return cv_store_account_list(st, host, print_user, host);
    }
    if (strcmp(cmd, "adduser-bulk") == 0 && (argc == 5 || argc == 6))
        return add_bulk(cfg, st, argc, argv);
    if (argc < 2)
        return CV_EINVAL;
    rc = parse_account(cfg, argv[1], &jid);
    if (rc < 0)
        return rc;
    if (strcmp(cmd, "adduser") == 0 && argc <= 3) {
        rc = set_password(cfg, st, &jid, argc == 3 ? argv[2] : NULL, 1);
    } else if (strcmp(cmd, "passwd") == 0 && argc <= 3) {
        rc = set_password(cfg, st, &jid, argc == 3 ? argv[2] : NULL, 0);
    } else if (strcmp(cmd, "roster-add") == 0 && argc >= 3 && argc <= 5) {
        rc = roster_add(st, &jid, argc, argv);
    } else if (strcmp(cmd, "deluser") == 0 && argc == 2) {
        rc = cv_store_account_exists(st, jid.domain, jid.local);
        if (rc == 0)
            rc = release_contacts(cfg, st, &jid);
        if (rc == 0)
            rc = cv_store_account_delete(st, jid.domain, jid.local);
        if (rc == CV_ENOTFOUND)
            fprintf(stderr, "no account %s@%s\n", jid.local, jid.domain);
    } else {
        rc = CV_EINVAL;
    }
    cv_jid_free(&jid);
    return rc;
}

int main(int argc, char **argv)
{
    cv_cli_conf_t cli = {NULL, NULL, 0};
    cv_config_t *cfg = NULL;
    cv_store_t *st = NULL;
    int i = 1, rc = 0;

    cv_log_set_level(CV_LOG_WARN); /* the tool's own messages are what the user reads */
    while (i < argc && (rc = cv_cli_conf_option(&cli, argc, argv, &i)) == 1)
        ;
    if (rc < 0)
        goto out;
    if (i >= argc || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
        usage(i >= argc ? stderr : stdout, argv[0]);
        rc = i >= argc ? CV_EINVAL : 0;
        goto out;
    }
    rc = cv_setup_config(&cli, &cfg);
    if (rc == 0)
        rc = cv_setup_store(cfg, NULL, NULL, &st);
    if (rc == 0) {
        rc = command(cfg, st, argc - i, argv + i);
        if (rc == CV_EINVAL)
            usage(stderr, argv[0]);
    }
out:
    if (st)
        cv_store_close(st);
    cv_config_free(cfg);
    cv_cli_conf_free(&cli);
    return rc < 0 ? 1 : 0;
}
