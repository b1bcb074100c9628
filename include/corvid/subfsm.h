/*
 * corvid/subfsm.h — the RFC 6121 presence subscription state machine (Appendix A, with the
 * pre-approval of §3.4), as pure functions over the subscription state of one roster item.
 *
 * Owns nothing: no allocation, no global state, no I/O. Thread: any, without locking. The
 * caller owns the roster item, reads its state, applies one stanza with cv_sub_outbound()
 * (on the sender's side) or cv_sub_inbound() (on the recipient's side), and then carries
 * out what the returned flags say, in this order:
 *
 *   1. send_unavailable        4. auto_reply_subscribed
 *   2. store next (changed)    5. roster push (push)
 *   3. deliver                 6. send_presence
 *
 * The order matters in two places: unavailable presence must reach the contact before the
 * "unsubscribed" that ends the subscription (§3.2.2), and current presence must follow the
 * "subscribed" that grants it, or the contact's server would still see no subscription
 * (§3.1.5). The two sides of one subscription (the user's item for the contact and the
 * contact's item for the user) are updated independently, each by its own server: a stanza
 * the user sends runs cv_sub_outbound() on the user's item and, if it is delivered,
 * cv_sub_inbound() on the contact's item.
 *
 * "No item yet": a contact the user's roster does not know has the state
 * CV_SUB_STATE_ABSENT (all fields zero). Pass it in; when the result's `changed` is set,
 * create the record. Per Appendix A.1, an inbound subscription request from an unknown
 * contact must be remembered (pending_in) without adding the contact to the roster, so a
 * record may exist with in_roster == 0: keep it in storage but leave it out of roster
 * results and pushes. When a result's next state is absent again (cv_sub_state_is_absent),
 * delete the record.
 */
#ifndef CORVID_SUBFSM_H
#define CORVID_SUBFSM_H

#include "corvid/core.h"

/*
 * The 'subscription' attribute of a roster item. The values are bit sets on purpose:
 * bit 0 (TO) = the user receives the contact's presence, bit 1 (FROM) = the contact
 * receives the user's presence.
 */
typedef enum cv_sub_e {
    CV_SUB_NONE = 0,
    CV_SUB_TO = 1,
    CV_SUB_FROM = 2,
    CV_SUB_BOTH = 3,
} cv_sub_t;

/*
 * The subscription state of the user's roster item for one contact. The nine "defined
 * states" of RFC 6121 A.1 are sub plus the pending flags; pending_out is only possible
 * without TO, pending_in only without FROM. Flags are 0 or 1.
 *
 * What a client sees of an item (roster results and pushes) is sub, pending_out (as
 * ask='subscribe') and preapproved (as approved='true'), and only when in_roster is set;
 * pending_in is server-side state, shown to the client by redelivering the "subscribe".
 */
typedef struct cv_sub_state_s {
    cv_sub_t sub;
    uint8_t pending_out; /* the user asked the contact and has no answer yet */
    uint8_t pending_in;  /* the contact asked the user and has no answer yet */
    uint8_t preapproved; /* §3.4: the user approved before being asked; only without FROM
                            and without pending_in */
    uint8_t in_roster;   /* the contact is an item of the user's roster; 0 only for a
                            record that holds nothing but an inbound request */
} cv_sub_state_t;

/* The state of a contact for whom no record exists. */
#define CV_SUB_STATE_ABSENT ((cv_sub_state_t){.sub = CV_SUB_NONE})

/* The presence types that manage subscriptions (RFC 6121 §3). */
typedef enum cv_sub_type_e {
    CV_PRES_SUBSCRIBE = 0,
    CV_PRES_SUBSCRIBED = 1,
    CV_PRES_UNSUBSCRIBE = 2,
    CV_PRES_UNSUBSCRIBED = 3,
} cv_sub_type_t;

/*
 * What the server must do after one subscription stanza. "User" is the owner of the item
 * passed in, "contact" the other party, in both directions.
 */
typedef struct cv_sub_result_s {
    /* The item's new state, always normalized (see cv_sub_state_normalize). */
    cv_sub_state_t next;
    /* next differs from the (normalized) current state: store it, or delete the record if
       next is absent. */
    uint8_t changed;
    /* Something a client sees changed: send a roster push of next to the user's
       interested resources. Implies changed. */
    uint8_t push;
    /* Outbound: route the stanza to the contact (stamped with the user's bare JID).
       Inbound: deliver it to the user's available resources, or keep it for the next
       session if none is available. When 0 the stanza is silently dropped. */
    uint8_t deliver;
    /* Inbound "subscribe" that is already granted (FROM) or pre-approved: the stanza is
       not delivered; the server sends <presence type='subscribed'/> from the user's bare
       JID to the contact on the user's behalf (§3.1.3, §3.4). */
    uint8_t auto_reply_subscribed;
    /* The contact has just lost the subscription to the user's presence (FROM removed by
       an outbound "unsubscribed", §3.2.2, or an inbound "unsubscribe", §3.3.3): send
       presence of type "unavailable" from each of the user's available resources to the
       contact. */
    uint8_t send_unavailable;
    /* The contact has just been granted the subscription to the user's presence, or an
       auto-reply confirms it (§3.1.5): send the user's current presence from each of the
       user's available resources to the contact, after the "subscribed". */
    uint8_t send_presence;
} cv_sub_result_t;

/*
 * The user sends `type` to the contact: apply it to the user's item for the contact
 * (RFC 6121 A.2 and §3.4). Thread: any. A type outside cv_sub_type_t changes nothing and
 * delivers nothing.
 */
cv_sub_result_t cv_sub_outbound(cv_sub_state_t cur, cv_sub_type_t type);

/*
 * The contact's `type` arrives for the user: apply it to the user's item for the contact
 * (RFC 6121 A.3 and §3.4). Thread: any. A type outside cv_sub_type_t changes nothing and
 * delivers nothing.
 */
cv_sub_result_t cv_sub_inbound(cv_sub_state_t cur, cv_sub_type_t type);

/*
 * Returns s with its impossible combinations removed, so that a corrupt stored record
 * cannot produce a subscription nobody granted: sub keeps its two low bits, flags become
 * 0 or 1, pending_out is dropped when TO is set, pending_in when FROM is set, preapproved
 * when FROM or pending_in is set, and in_roster is set whenever sub, pending_out or
 * preapproved is. cv_sub_outbound() and cv_sub_inbound() normalize their input first.
 * Thread: any.
 */
cv_sub_state_t cv_sub_state_normalize(cv_sub_state_t s);

/* Returns 1 if s (normalized) holds nothing worth a stored record, else 0. Thread: any. */
int cv_sub_state_is_absent(cv_sub_state_t s);

/* Returns "none", "to", "from" or "both" (the low two bits of s). Thread: any. */
const char *cv_sub_name(cv_sub_t s);

/* Parses "none", "to", "from", "both" (exact case). Returns 0 or CV_EINVAL. Thread: any. */
int cv_sub_parse(const char *s, cv_sub_t *out);

/* Returns "subscribe", "subscribed", "unsubscribe", "unsubscribed", or "?" for a value
   outside the enum. Thread: any. */
const char *cv_sub_type_name(cv_sub_type_t t);

/*
 * Parses a presence 'type' attribute value naming a subscription stanza. Returns 0, or
 * CV_EINVAL for anything else (including the other presence types and NULL).
 * Thread: any.
 */
int cv_sub_type_parse(const char *s, cv_sub_type_t *out);

#endif
