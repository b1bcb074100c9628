/*
 * corvid/store.h — persistent storage: the interface every backend implements.
 *
 * Owns one storage handle per cv_store_open(): the backend's environment (for LMDB, one
 * memory map and its named databases under the data directory), the backend's
 * group-commit writer thread, and nothing else. The rest of the server sees only this
 * interface, never backend calls, so a shared backend (PostgreSQL) can replace the
 * embedded one (LMDB) without touching callers.
 *
 * Threads: open and close belong to the main thread (start-up and shut-down). Every
 * other function may be called from any thread at the same time as any other, on the
 * same handle: each call is one self-contained transaction. Readers see a consistent
 * snapshot and never block writers; writers are serialized by the backend. A call
 * returns only once its transaction has finished, and a successful write is durable
 * (on disk) when it returns (or, for the *_async calls, when its callback reports 0).
 *
 * Group commit: writes of per-user data (roster, offline messages, vCard, private XML,
 * blocklist, last activity) are queued to one writer thread per handle, which applies
 * every queued write in one transaction and syncs once for the whole batch. A blocking
 * call waits for its batch; an *_async call returns at once and its callback runs later
 * on the writer thread. Account writes are rare and commit on the caller's thread.
 *
 * Errors: the functions return 0 or a negative CV_E* code (see corvid/core.h; the codes
 * are negative already). A backend failure is logged with the backend's own reason and
 * returned as CV_ESTORE; a full database (LMDB map) is logged and returned as CV_ELIMIT.
 *
 * Keys: host and user are NUL-terminated, non-empty and already normalized by the caller
 * (nodeprep/PRECIS, IDNA); the store compares them as bytes. A backend may bound the
 * combined length (LMDB: host + user <= CV_STORE_LMDB_KEY_MAX bytes): creating a longer
 * account returns CV_ELIMIT, and looking one up returns CV_ENOTFOUND since it cannot
 * exist. Per-user data is keyed by (host, user) and, in LMDB, a key also holds the
 * item's own name (contact JID, blocked JID, private element): host + user + that name
 * + 2 separators must stay within LMDB's key bound (CV_STORE_LMDB_KEY_MAX + 1 bytes). A
 * write beyond it returns CV_ELIMIT, a lookup CV_ENOTFOUND. Per-user data can only be written for
 * an existing account (CV_ENOTFOUND otherwise) and is deleted with it by cv_store_account_delete().
 */
#ifndef CORVID_STORE_H
#define CORVID_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corvid/buf.h"
#include "corvid/core.h"

/* Largest credential blob an account may hold (SCRAM records are about 200 bytes). */
#define CV_STORE_CRED_MAX 4096
/* Largest strlen(host) + strlen(user) the LMDB backend accepts (its 511-byte key bound
 * minus the separator). */
#define CV_STORE_LMDB_KEY_MAX 510

typedef struct cv_store_s cv_store_t;

typedef struct cv_store_opts_s {
    const char *backend; /* "lmdb"; NULL means "lmdb" */
    const char *dir;     /* data directory; created with mode 0700 if missing */
    /* LMDB map size in bytes: the most the database may ever hold. 0 keeps the size of
     * an existing database (LMDB's default, 1 MiB, for a new one). */
    size_t map_size;
    /* Called once, on whichever thread meets it, when the store can no longer be used
     * until it is closed and opened again (LMDB: a meta-page write failed, after which
     * every transaction fails with MDB_PANIC). It must not call into the store. NULL: the
     * failure is only logged. */
    void (*on_fatal)(void *arg);
    void *fatal_arg;
} cv_store_opts_t;

/*
 * Opens (creating if needed) the store described by opts and checks its schema version.
 * Thread: main. On success *out owns the handle; release it with cv_store_close().
 * Returns 0, CV_EINVAL (missing opts or dir), CV_EUNSUPP (unknown backend), CV_ENOMEM,
 * CV_ELIMIT (map_size too small even for the empty databases), or CV_ESTORE with the
 * reason logged (directory not creatable, environment not openable, schema version not
 * this build's).
 * One process must open a given directory only once (LMDB's file locks are per process).
 */
int cv_store_open(cv_store_t **out, const cv_store_opts_t *opts);

/*
 * Closes the store and frees the handle. NULL is accepted.
 * Thread: main, once no other thread uses st. Takes ownership of st.
 */
void cv_store_close(cv_store_t *st);

/*
 * Accounts. The credential is an opaque blob (the SCRAM module encodes it; never a
 * plaintext password) of at most CV_STORE_CRED_MAX bytes; cred may be NULL if len is 0.
 * The store copies it; the caller keeps ownership of its buffers.
 */

/* Thread: any. Returns 0, CV_EEXIST, CV_EINVAL, CV_ELIMIT (blob or key too long, or the
 * database is full), CV_ESTORE. */
int cv_store_account_create(cv_store_t *st, const char *host, const char *user, const void *cred,
                            size_t len);

/* Creates the accounts users[0..n) of host that do not exist yet, all with the same
 * credential, in one transaction (one commit for the lot: bulk set-up of load-test
 * accounts). Existing accounts are left as they are. Either every missing account is
 * created or, on an error, none. *created (may be NULL) gets how many were new.
 * Thread: any. Returns 0, CV_EINVAL (a bad name), CV_ELIMIT, CV_ESTORE. */
int cv_store_account_create_many(cv_store_t *st, const char *host, const char *const *users,
                                 size_t n, const void *cred, size_t len, size_t *created);

/* Replaces the credential of an existing account.
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ELIMIT, CV_ESTORE. */
int cv_store_account_set_cred(cv_store_t *st, const char *host, const char *user, const void *cred,
                              size_t len);

/*
 * Copies the credential into buf (cap bytes) and sets *len to its size. If cap is too
 * small, nothing is copied, *len still gets the size and CV_ELIMIT is returned, so a
 * call with cap 0 (buf may then be NULL) asks for the size.
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_ELIMIT, CV_EINVAL, CV_ESTORE.
 */
int cv_store_account_get(cv_store_t *st, const char *host, const char *user, void *buf, size_t cap,
                         size_t *len);

/* Tells whether the account exists without copying its credential (delivery rules ask
 * this for every stanza to a bare JID that has no session).
 * Thread: any. Returns 0 (exists), CV_ENOTFOUND, CV_EINVAL, CV_ESTORE. */
int cv_store_account_exists(cv_store_t *st, const char *host, const char *user);

/* Deletes the account and, in the same transaction, all its per-user data (roster,
 * roster version, offline queue, vCard, private XML, blocklist, last activity), and
 * notes the deletion in the store's log of deleted accounts (cv_store_accounts_deleted).
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ELIMIT (database full), CV_ESTORE. */
int cv_store_account_delete(cv_store_t *st, const char *host, const char *user);

/* How many of the latest deletions the log keeps: a reader that falls further behind
 * misses the older ones. */
#define CV_STORE_DELETED_KEEP 4096

/*
 * The log of deleted accounts, so that a process that did not delete an account (the
 * server, when `corvidctl deluser` did) learns of it. *cursor is a position in the log:
 * with cb NULL it is set to the newest entry (where a reader starts); otherwise cb(ctx,
 * host, user) is called for each deletion after it, oldest first, and *cursor moves past
 * each. cb returning non-zero stops the walk and that value is returned.
 * Thread: any. Returns 0, cb's value, CV_EINVAL, CV_ESTORE.
 */
int cv_store_accounts_deleted(cv_store_t *st, uint64_t *cursor,
                              int (*cb)(void *ctx, const char *host, const char *user), void *ctx);

/*
 * Calls cb(ctx, user) for each user of host, in byte order of the user names, from one
 * consistent snapshot. user is valid only during the call. cb returning non-zero stops
 * the walk and that value is returned. cb runs while the snapshot is held, so it should
 * be short; it may call the store (reads and writes) but never cv_store_close().
 * Thread: any. Returns 0 (walk complete), cb's non-zero value, CV_EINVAL, CV_ESTORE.
 */
int cv_store_account_list(cv_store_t *st, const char *host, int (*cb)(void *ctx, const char *user),
                          void *ctx);

/* Sets *count to the number of accounts of host (a walk over that host's keys: meant for
 * administration, not for hot paths).
 * Thread: any. Returns 0, CV_EINVAL, CV_ESTORE. */
int cv_store_account_count(cv_store_t *st, const char *host, size_t *count);

/*
 * Completion of an asynchronous write. rc is 0 or a CV_E* code, as the blocking variant
 * would return; value is the call's result (documented per call, 0 when it has none).
 * Runs exactly once, on the store's writer thread, after the batch holding the write has
 * been committed and synced (rc 0) or has failed. It must be short and must not wait for
 * the writer (no blocking store write from inside it: that would deadlock); posting the
 * result back to the caller's own thread is the intended use. Reads are allowed.
 */
typedef void (*cv_store_done_fn)(void *ctx, int rc, uint64_t value);

/* Largest blob the per-user kinds store (offline message, vCard, private XML). */
#define CV_STORE_BLOB_MAX (1024u * 1024u)
/* Writes waiting for the writer thread; one more is refused with CV_AGAIN. */
#define CV_STORE_WRITE_QUEUE_MAX 65536u

/*
 * Rosters (RFC 6121 §2, versioning XEP-0237).
 *
 * An item is keyed by the contact's bare JID (normalized by the caller). Each change
 * bumps the user's roster version, a 64-bit number that only grows for a given
 * (host, user); an account that never had a roster has version 0. The first version of
 * a roster is taken from the wall clock (microseconds), so a roster deleted with its
 * account and built again later never repeats a version a client may have cached.
 */
#define CV_STORE_ROSTER_TEXT_MAX 1024 /* bytes of a name, group or status text */
#define CV_STORE_ROSTER_GROUPS_MAX 64 /* groups of one item */

typedef enum cv_store_sub_e {
    CV_STORE_SUB_NONE = 0,
    CV_STORE_SUB_TO = 1,   /* the user receives the contact's presence */
    CV_STORE_SUB_FROM = 2, /* the contact receives the user's presence */
    CV_STORE_SUB_BOTH = 3,
} cv_store_sub_t;

/*
 * One roster item. Every string is NUL-terminated and holds no NUL.
 * For a put the pointers refer to the caller's memory (e.g. into a parsed stanza), so an
 * item is built without allocating; the store copies what it keeps. name and
 * pending_status may be NULL for none; groups may be NULL when ngroups is 0.
 * An item handed out by the store has name and pending_status "" when absent, never NULL.
 */
typedef struct cv_store_roster_item_s {
    const char *contact;        /* bare JID of the contact */
    const char *name;           /* the user's handle for the contact */
    const char *pending_status; /* <status/> of the waiting inbound subscribe, if any */
    const char *const *groups;  /* ngroups group names */
    size_t ngroups;             /* <= CV_STORE_ROSTER_GROUPS_MAX */
    cv_store_sub_t sub;
    bool ask;        /* an outbound subscribe is pending (ask="subscribe") */
    bool approved;   /* the user pre-approved the contact's subscription */
    bool pending_in; /* an inbound subscription request waits for the user's answer */
    bool in_roster;  /* false for a record that only keeps a stranger's pending request
                        (RFC 6121 §3.1.3): not shown in the roster */
} cv_store_roster_item_t;

/*
 * Calls cb(ctx, item) for each item of the user's roster in byte order of the contact
 * JIDs, from one snapshot, and sets *ver (if not NULL) to the roster version of that same
 * snapshot so a roster result and its version always match. The item and every string
 * it points to live in the backend's memory (LMDB's map) and are valid only during the
 * call: copy what must outlive it. cb returning non-zero stops the walk and that value is
 * returned. cb should be short (it holds the snapshot); it may read the store and submit
 * asynchronous writes, but must not call blocking writes or cv_store_close().
 * Thread: any. Returns 0 (walk complete), cb's value, CV_EINVAL, CV_ESTORE.
 */
int cv_store_roster_get(cv_store_t *st, const char *host, const char *user,
                        int (*cb)(void *ctx, const cv_store_roster_item_t *item), void *ctx,
                        uint64_t *ver);

/* Sets *ver to the user's roster version (0: never written).
 * Thread: any. Returns 0, CV_EINVAL, CV_ESTORE. */
int cv_store_roster_version(cv_store_t *st, const char *host, const char *user, uint64_t *ver);

/* Sets *n to the number of items of the user's roster (kept with the version: O(1)).
 * Thread: any. Returns 0, CV_EINVAL, CV_ESTORE. */
int cv_store_roster_count(cv_store_t *st, const char *host, const char *user, size_t *n);

/*
 * Copies one item. On success *out is one heap block holding the item and all its
 * strings; the caller owns it and releases it with free().
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ENOMEM, CV_ESTORE.
 */
int cv_store_roster_get_item(cv_store_t *st, const char *host, const char *user,
                             const char *contact, cv_store_roster_item_t **out);

/*
 * Inserts or replaces item (keyed by item->contact) and bumps the roster version; when
 * it returns 0 the change is durable and *new_ver (if not NULL) is the new version.
 * The store copies the item before returning; the caller keeps its memory.
 * Thread: any. Returns 0, CV_ENOTFOUND (no such account), CV_EINVAL (empty contact,
 * bad sub, NULL groups with ngroups > 0), CV_ELIMIT (text or groups beyond the bounds above, key
 * too long, database full), CV_AGAIN (writer queue full), CV_ENOMEM, CV_ESTORE.
 */
int cv_store_roster_put(cv_store_t *st, const char *host, const char *user,
                        const cv_store_roster_item_t *item, uint64_t *new_ver);
/* As cv_store_roster_put; cb gets the new version as value. If this returns non-zero, cb
 * never runs. Thread: any. Same codes, through cb or returned. */
int cv_store_roster_put_async(cv_store_t *st, const char *host, const char *user,
                              const cv_store_roster_item_t *item, cv_store_done_fn cb, void *ctx);

/* Removes the contact's item and bumps the version (durable on return).
 * Thread: any. Returns 0, CV_ENOTFOUND (no such item or account), CV_EINVAL, CV_ELIMIT,
 * CV_AGAIN, CV_ENOMEM, CV_ESTORE. */
int cv_store_roster_remove(cv_store_t *st, const char *host, const char *user, const char *contact,
                           uint64_t *new_ver);
int cv_store_roster_remove_async(cv_store_t *st, const char *host, const char *user,
                                 const char *contact, cv_store_done_fn cb, void *ctx);

/*
 * Offline messages (XEP-0160): a FIFO queue of opaque blobs per user, each numbered by a
 * per-user sequence that starts at 1 and only grows (also across deletions), with the
 * caller's timestamp (for the XEP-0203 delay stamp; microseconds since the Unix epoch by
 * convention, the store does not interpret it).
 */

/*
 * Appends data (len <= CV_STORE_BLOB_MAX bytes, copied) to the user's queue unless the
 * queue already holds max messages (then CV_ELIMIT and nothing is stored; max 0 refuses
 * every message, SIZE_MAX means no quota). Durable when it returns 0; *seq (if not NULL)
 * gets the message's sequence number.
 * Thread: any. Returns 0, CV_ENOTFOUND (no such account), CV_ELIMIT, CV_EINVAL, CV_AGAIN,
 * CV_ENOMEM, CV_ESTORE.
 */
int cv_store_offline_push(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                          const void *data, size_t len, size_t max, uint64_t *seq);
/* As cv_store_offline_push; cb gets the sequence number as value. If this returns
 * non-zero, cb never runs. data is copied before it returns. Thread: any. */
int cv_store_offline_push_async(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                                const void *data, size_t len, size_t max, cv_store_done_fn cb,
                                void *ctx);

/*
 * Puts a message that was fetched and deleted back under its old sequence number seq (with
 * its stamp), so it keeps its place before anything queued later: for a delivery that
 * could not happen after all. No quota applies (it was counted when it first came); if seq
 * is queued already nothing changes (cb gets 0 as value instead of seq). Later pushes get
 * numbers above seq. Sequence numbers are unique in the whole store, and an account
 * created again under a deleted one's name gets only numbers above the deleted one's: a
 * seq from before this account's first message is refused with CV_ENOTFOUND, as for an
 * account that no longer exists (the message was the deleted account's).
 * Thread: any. Returns (or gives cb) what cv_store_offline_push_async does, except
 * CV_ELIMIT; CV_EINVAL for seq 0.
 */
int cv_store_offline_restore_async(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                                   uint64_t stamp, const void *data, size_t len,
                                   cv_store_done_fn cb, void *ctx);
/* The same, durable on return. */
int cv_store_offline_restore(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                             uint64_t stamp, const void *data, size_t len);

/*
 * Calls cb for each queued message in order, from one snapshot; data points into the
 * backend's memory and is valid only during the call. A message the backend cannot read
 * (a damaged record) comes with data NULL and len 0, so the caller can delete it by its
 * number; the error is logged. cb returning non-zero stops the
 * walk and that value is returned. Same rules for cb as cv_store_roster_get.
 * Thread: any. Returns 0, cb's value, CV_EINVAL, CV_ESTORE.
 */
int cv_store_offline_fetch(cv_store_t *st, const char *host, const char *user,
                           int (*cb)(void *ctx, uint64_t seq, uint64_t stamp, const void *data,
                                     size_t len),
                           void *ctx);

/* Deletes the queued messages with a sequence number <= last_seq (after delivery) and
 * sets *deleted (if not NULL) to how many there were. Durable on return; deleting
 * nothing is not an error.
 * Thread: any. Returns 0, CV_EINVAL, CV_AGAIN, CV_ENOMEM, CV_ELIMIT, CV_ESTORE. */
int cv_store_offline_delete_upto(cv_store_t *st, const char *host, const char *user,
                                 uint64_t last_seq, size_t *deleted);

/* Deletes exactly the queued messages numbered seqs[0..n) (n <= CV_STORE_OFFLINE_DELETE_MAX;
 * what a collection fetched) and sets *deleted (if not NULL) to how many were there.
 * Unlike delete_upto it leaves alone a message put back meanwhile under a smaller number
 * (cv_store_offline_restore). Durable on return.
 * Thread: any. Returns 0, CV_EINVAL, CV_AGAIN, CV_ENOMEM, CV_ELIMIT, CV_ESTORE. */
#define CV_STORE_OFFLINE_DELETE_MAX 4096
int cv_store_offline_delete(cv_store_t *st, const char *host, const char *user,
                            const uint64_t *seqs, size_t n, size_t *deleted);

/* Sets *n to the number of queued messages (O(1)).
 * Thread: any. Returns 0, CV_EINVAL, CV_ESTORE. */
int cv_store_offline_count(cv_store_t *st, const char *host, const char *user, size_t *n);

/*
 * vCard (XEP-0054) and private XML storage (XEP-0049): opaque blobs (the serialized
 * element) of at most CV_STORE_BLOB_MAX bytes. Private data is keyed by the element's
 * name and namespace. A set with len 0 removes the blob (data may then be NULL). A get
 * appends the blob to out (the caller owns out).
 * Thread: any. get returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ENOMEM, CV_ESTORE; set returns
 * 0 (durable), CV_ENOTFOUND (no such account), CV_EINVAL, CV_ELIMIT, CV_AGAIN, CV_ENOMEM,
 * CV_ESTORE.
 */
int cv_store_vcard_get(cv_store_t *st, const char *host, const char *user, cv_buf_t *out);
int cv_store_vcard_set(cv_store_t *st, const char *host, const char *user, const void *data,
                       size_t len);
int cv_store_private_get(cv_store_t *st, const char *host, const char *user, const char *name,
                         const char *ns, cv_buf_t *out);
int cv_store_private_set(cv_store_t *st, const char *host, const char *user, const char *name,
                         const char *ns, const void *data, size_t len);

/*
 * Blocklist (XEP-0191): a set of JIDs (as normalized by the caller) per user.
 */

/* Adds the n JIDs in one durable transaction, all or none: if the list would then hold
 * more than max entries, nothing is added and CV_ELIMIT is returned. JIDs already present
 * are not an error. *added (if not NULL) gets the number newly added.
 * Thread: any. Returns 0, CV_ENOTFOUND (no such account), CV_ELIMIT, CV_EINVAL, CV_AGAIN,
 * CV_ENOMEM, CV_ESTORE. */
int cv_store_block_add(cv_store_t *st, const char *host, const char *user, const char *const *jids,
                       size_t n, size_t max, size_t *added);
/* Removes the n JIDs (absent ones are ignored); *removed (if not NULL) gets how many
 * were there. Thread: any. Same codes as add, without CV_ENOTFOUND for a missing JID. */
int cv_store_block_remove(cv_store_t *st, const char *host, const char *user,
                          const char *const *jids, size_t n, size_t *removed);
/* Empties the list. Thread: any. Same codes as remove. */
int cv_store_block_clear(cv_store_t *st, const char *host, const char *user, size_t *removed);
/* Calls cb for each blocked JID in byte order from one snapshot (jid valid during the call
 * only; same rules for cb as cv_store_roster_get).
 * Thread: any. Returns 0, cb's value, CV_EINVAL, CV_ESTORE. */
int cv_store_block_list(cv_store_t *st, const char *host, const char *user,
                        int (*cb)(void *ctx, const char *jid), void *ctx);
/* Thread: any. Returns 0 (blocked), CV_ENOTFOUND, CV_EINVAL, CV_ESTORE. */
int cv_store_block_contains(cv_store_t *st, const char *host, const char *user, const char *jid);

/*
 * Last activity (XEP-0012): the user's last logout time (seconds since the Unix epoch)
 * and the status text of that unavailable presence (NULL or "" for none, at most
 * CV_STORE_ROSTER_TEXT_MAX bytes).
 * set: Thread: any. Returns 0 (durable), CV_ENOTFOUND (no such account), CV_EINVAL,
 * CV_ELIMIT, CV_AGAIN, CV_ENOMEM, CV_ESTORE.
 * get: appends the status text to status (if not NULL; nothing when empty).
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ENOMEM, CV_ESTORE.
 */
int cv_store_last_set(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                      const char *status);
/* As cv_store_last_set; cb gets 0 as value. If this returns non-zero, cb never runs. */
int cv_store_last_set_async(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                            const char *status, cv_store_done_fn cb, void *ctx);
int cv_store_last_get(cv_store_t *st, const char *host, const char *user, uint64_t *secs,
                      cv_buf_t *status);

#endif
