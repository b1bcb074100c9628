/*
 * In-band registration (XEP-0077): before authentication a client may create an account
 * when the configuration allows it; after authentication it may change its password or
 * cancel its account (allowed whether or not new registrations are open).
 *
 * Passwords become SCRAM credentials at once (corvid/scram.h); the plaintext is wiped
 * before the handler returns.
 */
#include <string.h>

#include "corvid/log.h"
#include "corvid/scram.h"
#include "c2s_int.h"
#include "reply.h"
#include "roster_int.h"

static int field_text(const cv_xml_node_t *q, const char *name, cv_buf_t *out)
{
    return cv__child_text(q, name, CV_NS_REGISTER, out);
}

static void wipe(cv_buf_t *b)
{
    if (b->data)
        memset(b->data, 0, b->len);
    cv_buf_free(b);
}

/* XEP-0077 §3.1: the fields to fill in, or (§3.2.1 for a logged-in user) <registered/>. */
static int register_form(cv_c2s_t *s, const cv_xml_node_t *iq)
{
    cv_stanza_t *r = NULL;
    int rc = cv__c2s_reply_new(s, iq, "result", &r);
    if (rc < 0)
        return rc;
    cv_xml_node_t *q = cv_stanza_add_child(r, cv_stanza_root(r), "query", CV_NS_REGISTER);
    if (!q) {
        rc = CV_ENOMEM;
        goto out;
    }
    if (s->authenticated) {
        cv_xml_node_t *u = cv_stanza_add_child(r, q, "username", CV_NS_REGISTER);
        rc = cv_stanza_add_child(r, q, "registered", CV_NS_REGISTER) && u
                 ? cv_stanza_add_text(r, u, s->user, strlen(s->user))
                 : CV_ENOMEM;
    } else {
        static const char text[] = "Choose a username and password for this server.";
        cv_xml_node_t *ins = cv_stanza_add_child(r, q, "instructions", CV_NS_REGISTER);
        rc = ins ? cv_stanza_add_text(r, ins, text, sizeof text - 1) : CV_ENOMEM;
    }
    if (rc == 0 && (!cv_stanza_add_child(r, q, "password", CV_NS_REGISTER) ||
                    (!s->authenticated && !cv_stanza_add_child(r, q, "username", CV_NS_REGISTER))))
        rc = CV_ENOMEM;
    if (rc == 0)
        rc = cv__c2s_send_stanza(s, cv_stanza_root(r));
out:
    cv_stanza_free(r);
    return rc;
}

/* Derives and encodes credentials for password. Returns 0 or -CV_E*. */
static int make_cred(cv_server_t *srv, const char *password, cv_buf_t *blob)
{
    cv_scram_cred_t cred;
    int rc = cv_scram_cred_derive(&cred, password, srv->config->scram_iterations, NULL, 0);
    if (rc == 0)
        rc = cv_scram_cred_encode(&cred, blob);
    memset(&cred, 0, sizeof cred);
    return rc;
}

/* A registration whose credentials are derived and stored off the ring (c2s_job.c): two
   PBKDF2 runs and an account commit (an fsync) would stall every stream of the ring. */
typedef struct register_job_s {
    cv__c2s_job_t base; /* first member */
    cv_server_t *srv;
    const char *host;
    char user[CV_JID_PART_MAX + 1];
    cv_buf_t password;
    cv_stanza_t *request; /* id and 'to' of the iq, for the answer */
    int rc;
} register_job_t;

static void register_work(cv__c2s_job_t *j)
{
    register_job_t *rj = (register_job_t *)j;
    cv_buf_t blob = CV_BUF_INIT;

    rj->rc = make_cred(rj->srv, rj->password.data ? rj->password.data : "", &blob);
    if (rj->rc == 0)
        rj->rc = cv_store_account_create(rj->srv->store, rj->host, rj->user, blob.data, blob.len);
    wipe(&blob);
}

static int register_finish(cv__c2s_job_t *j)
{
    register_job_t *rj = (register_job_t *)j;
    cv_c2s_t *s = j->s;
    const cv_xml_node_t *iq = cv_stanza_root(rj->request);
    int rc;

    if (rj->rc == 0) {
        cv_info("c2s %s: registered %s@%s", cv_net_conn_peer(s->conn), rj->user, s->host);
        rc = cv__c2s_iq_result(s, iq);
    } else if (rj->rc == CV_EEXIST) {
        rc = cv__c2s_stanza_error(s, iq, CV_STE_CONFLICT, "that username is taken");
    } else if (rj->rc == CV_ELIMIT) {
        rc =
            cv__c2s_stanza_error(s, iq, CV_STE_RESOURCE_CONSTRAINT, "the server's storage is full");
    } else {
        rc = cv__c2s_stanza_error(s, iq, CV_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    return rc < 0 ? -1 : 0;
}

static void register_free(cv__c2s_job_t *j)
{
    register_job_t *rj = (register_job_t *)j;
    wipe(&rj->password);
    cv_stanza_free(rj->request);
    free(rj);
}

/* Takes over *password when it returns 1 (the job answers). */
static int register_start(cv_c2s_t *s, const cv_xml_node_t *iq, const char *user,
                          cv_buf_t *password)
{
    register_job_t *rj = calloc(1, sizeof *rj);
    int rc = rj ? cv__reply_request_copy(iq, &rj->request) : CV_ENOMEM;

    if (rc < 0) {
        if (rj)
            register_free(&rj->base);
        return rc;
    }
    rj->srv = s->srv;
    rj->host = s->host;
    snprintf(rj->user, sizeof rj->user, "%s", user);
    rj->password = *password;
    *password = (cv_buf_t)CV_BUF_INIT;
    rj->base.work = register_work;
    rj->base.finish = register_finish;
    rj->base.free = register_free;
    return cv__c2s_job_start(s, &rj->base);
}

static int create_account(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *q)
{
    cv_buf_t username = CV_BUF_INIT, password = CV_BUF_INIT;
    char user[CV_JID_PART_MAX + 1];
    cv_stanza_err_t err = CV_STE_NOT_ACCEPTABLE;
    const char *why = "username and password are required";
    int rc;

    if (field_text(q, "username", &username) < 0 || field_text(q, "password", &password) < 0 ||
        username.len == 0)
        goto error;
    why = "that username is not allowed";
    if (cv_jid_prep_local(username.data, user, sizeof user) < 0)
        goto error;
    /* RFC 7622 allows 1023 bytes; the store keys an account by host and name together. */
    why = "that username is too long";
    if (strlen(user) + strlen(s->host) > CV_STORE_LMDB_KEY_MAX)
        goto error;
    why = "the password is too short";
    if (password.len < s->srv->config->min_password_length)
        goto error;
    rc = register_start(s, iq, user, &password);
    if (rc == 1)
        goto out; /* the job answers */
    err = CV_STE_INTERNAL_SERVER_ERROR;
    why = NULL;
error:
    rc = cv__c2s_stanza_error(s, iq, err, why);
out:
    cv_buf_free(&username);
    wipe(&password);
    return rc;
}

static int change_password(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *q)
{
    cv_buf_t username = CV_BUF_INIT, password = CV_BUF_INIT, blob = CV_BUF_INIT;
    char user[CV_JID_PART_MAX + 1];
    cv_stanza_err_t err = CV_STE_BAD_REQUEST;
    const char *why = "username and password are required";
    int rc;

    if (field_text(q, "username", &username) < 0 || field_text(q, "password", &password) < 0)
        goto error;
    why = "you can change only your own password";
    if (cv_jid_prep_local(username.data, user, sizeof user) < 0 || strcmp(user, s->user) != 0)
        goto error;
    err = CV_STE_NOT_ACCEPTABLE;
    why = "the password is too short";
    if (password.len < s->srv->config->min_password_length)
        goto error;
    why = NULL;
    err = CV_STE_INTERNAL_SERVER_ERROR;
    if (make_cred(s->srv, password.data, &blob) < 0 ||
        cv_store_account_set_cred(s->srv->store, s->host, user, blob.data, blob.len) < 0)
        goto error;
    /* This runs in the session's actor, maybe on another ring: the connection is not
       ours to look at, so the log names the session. */
    cv_info("%s changed the account's password", s->full);
    rc = cv__c2s_iq_result(s, iq);
    goto out;
error:
    rc = cv__c2s_stanza_error(s, iq, err, why);
out:
    cv_buf_free(&username);
    wipe(&password);
    wipe(&blob);
    return rc;
}

static int cancel_account(cv_c2s_t *s, const cv_xml_node_t *iq)
{
    /* XEP-0077 §3.2: the contacts learn first, while the roster still says who they are. */
    int rc = cv__roster_cancel_all(s->srv, NULL, s);
    if (rc < 0)
        return cv__c2s_stanza_error(s, iq, CV_STE_INTERNAL_SERVER_ERROR, NULL);
    rc = cv_store_account_delete(s->srv->store, s->host, s->user);
    if (rc < 0 && rc != CV_ENOTFOUND)
        return cv__c2s_stanza_error(s, iq, CV_STE_INTERNAL_SERVER_ERROR, NULL);
    cv_info("%s cancelled the account", s->full);
    rc = cv__c2s_iq_result(s, iq);
    /* XEP-0077 §3.2: the account is gone, so is every session of it, each with a
       not-authorized stream error; this one's close request follows the result through
       the same ring inbox, so the result leaves first. */
    (void)cv__c2s_close_account(s->srv, s->user, s->host, CV_SE_NOT_AUTHORIZED);
    return rc;
}

int cv__c2s_register(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *query)
{
    const char *type = cv_xml_attr(iq, "type");
    int rc;

    if (strcmp(query->name, "query") != 0 || !type)
        rc = cv__c2s_stanza_error(s, iq, CV_STE_BAD_REQUEST, NULL);
    else if (!s->authenticated && !s->srv->config->registration_enabled)
        rc = cv__c2s_stanza_error(s, iq, CV_STE_SERVICE_UNAVAILABLE,
                                  "registration is disabled on this server");
    else if (strcmp(type, "get") == 0)
        rc = register_form(s, iq);
    else if (strcmp(type, "set") != 0)
        rc = cv__c2s_stanza_error(s, iq, CV_STE_BAD_REQUEST, NULL);
    else if (!s->authenticated)
        rc = create_account(s, iq, query);
    else if (cv_xml_child(query, "remove", CV_NS_REGISTER))
        rc = cancel_account(s, iq);
    else
        rc = change_password(s, iq, query);
    /* 1 (a registration's job started) must reach the parser: it pauses until the job's
       answer, so nothing the client pipelined runs before it. */
    return rc < 0 ? -1 : rc;
}
