/*
 * What the load threads do in each scenario and phase: which users to connect, what to
 * send on each tick, and what to count in each stanza received. Messages and presences
 * carry "cvb <run id> <send time ns> ..." in their body / status, so latency is measured
 * end to end on one clock and stanzas left over from earlier runs are told apart.
 */
#include <string.h>

#include "corvid/xmpp.h"
#include "bench.h"

#define NS_ROSTER "jabber:iq:roster"
#define OFFLINE_WINDOW 50u /* messages per ping on one sender */
#define OFFLINE_PINGS 2u   /* pings in flight per sender */
#define TICK_BUDGET 20000u /* stanzas one thread sends per tick at most */

static int is_offline_sender(const cv_bench_run_t *r, uint32_t idx)
{
    unsigned senders = r->nusers / 2 ? r->nusers / 2 : 1;
    return idx < senders;
}

static unsigned thread_share(const cv_bench_thread_t *th, unsigned total)
{
    unsigned t = th->run->nthreads;
    return total / t + (th->index < total % t ? 1u : 0u);
}

static void note_failure(cv_bench_thread_t *th, int code, const char *why)
{
    if (th->fail_note[0])
        return;
    th->fail_code = code;
    snprintf(th->fail_note, sizeof th->fail_note, "%s", why);
}

/* Position of contact j in user i's expected roster (both bitmaps), or -1. */
static int contact_pos(const cv_bench_run_t *r, uint32_t i, uint32_t j)
{
    uint32_t n = r->nusers, half = r->o->contacts / 2;
    uint32_t diff = (j + n - i) % n;
    if (diff >= 1 && diff <= half)
        return (int)(diff - 1);
    if (diff >= n - half && diff > 0)
        return (int)(half + (n - diff) - 1);
    return -1;
}

static uint32_t contact_at(const cv_bench_run_t *r, uint32_t i, uint32_t pos)
{
    uint32_t n = r->nusers, half = r->o->contacts / 2;
    if (pos < half)
        return (i + pos + 1) % n;
    return (i + n - (pos - half + 1)) % n;
}

/* Index of the user whose bare JID is jid, or -1. */
static long jid_user(const cv_bench_run_t *r, const char *jid)
{
    const cv_bench_opts_t *o = r->o;
    size_t pl = strlen(o->user_prefix);
    if (!jid || strncmp(jid, o->user_prefix, pl) != 0)
        return -1;
    const char *p = jid + pl;
    unsigned long long v = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 11) {
        v = v * 10u + (unsigned long long)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || *p != '@' || strcasecmp(p + 1, o->domain) != 0)
        return -1;
    if (v < o->user_base || v - o->user_base >= r->nusers)
        return -1;
    return (long)(v - o->user_base);
}

static uint8_t *bits(cv_bench_conn_t *c, int asked)
{
    cv_bench_thread_t *th = c->thread;
    size_t bytes = (th->run->o->contacts + 7u) / 8u;
    if (!c->contact_bits)
        c->contact_bits = calloc(2, bytes);
    return c->contact_bits ? c->contact_bits + (asked ? bytes : 0) : NULL;
}

static int bit_test(const uint8_t *b, int pos)
{
    return (b[pos / 8] >> (pos % 8)) & 1;
}

static void bit_set(uint8_t *b, int pos)
{
    b[pos / 8] |= (uint8_t)(1u << (pos % 8));
}

static void roster_item(cv_bench_conn_t *c, const cv_xml_node_t *item)
{
    cv_bench_thread_t *th = c->thread;
    const char *sub = cv_xml_attr(item, "subscription");
    long j = jid_user(th->run, cv_xml_attr(item, "jid"));
    if (j < 0 || !sub || strcmp(sub, "both") != 0)
        return;
    int pos = contact_pos(th->run, c->idx, (uint32_t)j);
    uint8_t *b = bits(c, 0);
    if (pos < 0 || !b || bit_test(b, pos))
        return;
    bit_set(b, pos);
    if (++c->roster_both == th->run->o->contacts)
        th->roster_ok++;
}

static void on_roster(cv_bench_conn_t *c, const cv_xml_node_t *query)
{
    for (const cv_xml_node_t *it = cv_xml_first_element(query); it; it = cv_xml_next_element(it))
        if (strcmp(it->name, "item") == 0)
            roster_item(c, it);
}

static void send_subscribe(cv_bench_conn_t *c, uint32_t j, const char *type)
{
    const cv_bench_opts_t *o = c->cfg->opts;
    (void)cv_bench_conn_sendf(c, "<presence to='%s%u@%s' type='%s'/>", o->user_prefix,
                              o->user_base + j, o->domain, type);
}

/* Parses "cvb <run id hex> <ns>" at the start of s. Returns 1 and *ts when it is ours, 0
   for another run, -1 when s is not ours at all. */
static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v, unsigned base)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* One chat message, stamped now: built by hand because vsnprintf cost the generator ~2 %
   of its CPU per message (the same bytes as the format in the fallback). */
static void send_chat(cv_bench_conn_t *c, const cv_bench_opts_t *o, unsigned to, uint64_t seq,
                      uint64_t run_id)
{
    char buf[512], *p = buf;
    uint64_t ts;

    if (strlen(o->user_prefix) + strlen(o->domain) > sizeof buf - 160) {
        ts = cv_bench_now_ns();
        (void)cv_bench_conn_sendf(c,
                                  "<message to='%s%u@%s/bench' type='chat' id='m%llu'>"
                                  "<body>cvb %llx %llu %u</body></message>",
                                  o->user_prefix, to, o->domain, (unsigned long long)seq,
                                  (unsigned long long)run_id, (unsigned long long)ts, c->idx);
        return;
    }
    p = put_str(p, "<message to='");
    p = put_str(p, o->user_prefix);
    p = put_u64(p, to, 10);
    *p++ = '@';
    p = put_str(p, o->domain);
    p = put_str(p, "/bench' type='chat' id='m");
    p = put_u64(p, seq, 10);
    p = put_str(p, "'><body>cvb ");
    p = put_u64(p, run_id, 16);
    *p++ = ' ';
    ts = cv_bench_now_ns();
    p = put_u64(p, ts, 10);
    *p++ = ' ';
    p = put_u64(p, c->idx, 10);
    p = put_str(p, "</body></message>");
    (void)cv_bench_conn_send(c, buf, (size_t)(p - buf));
}

/* Reads digits of base 10 or 16 at *p into *out and moves *p past them. Returns 0, or -1
   when there is no digit or the value overflows. (sscanf cost the generator ~2 % of its
   CPU on every message received.) */
static int parse_u64(const char **p, unsigned base, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    for (;; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    if (s == *p)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

static int parse_stamp(const cv_bench_run_t *r, const char *s, uint64_t *ts)
{
    uint64_t id, t;
    if (!s || strncmp(s, "cvb ", 4) != 0)
        return -1;
    s += 4;
    if (parse_u64(&s, 16, &id) < 0 || *s++ != ' ' || parse_u64(&s, 10, &t) < 0)
        return -1;
    if (id != r->run_id)
        return 0;
    *ts = t;
    return 1;
}

static void on_message(cv_bench_conn_t *c, const cv_xml_node_t *m)
{
    cv_bench_thread_t *th = c->thread;
    const char *type = cv_xml_attr(m, "type");
    if (type && strcmp(type, "error") == 0) {
        const cv_xml_node_t *err = cv_xml_child(m, "error", NULL);
        const cv_xml_node_t *cond = err ? cv_xml_first_element(err) : NULL;
        char why[96];
        snprintf(why, sizeof why, "message bounced: %s", cond ? cond->name : "error");
        note_failure(th, CV_EUNSUPP, why);
        th->errors++;
        return;
    }
    const cv_xml_node_t *body = cv_xml_child(m, "body", NULL);
    cv_buf_t t = CV_BUF_INIT;
    uint64_t ts = 0;
    if (body && cv_xml_text(body, &t) == 0) {
        int mine = parse_stamp(th->run, t.data, &ts);
        if (mine == 1) {
            uint64_t now = cv_bench_now_ns();
            th->received++;
            cv_bench_hist_record(&th->hist_lat, now > ts ? now - ts : 0);
            th->last_rx_ns = now;
        } else if (mine == 0) {
            th->stale++;
        }
    }
    cv_buf_free(&t);
}

static void on_presence(cv_bench_conn_t *c, const cv_xml_node_t *p)
{
    cv_bench_thread_t *th = c->thread;
    const cv_bench_run_t *r = th->run;
    const char *type = cv_xml_attr(p, "type");
    if (type && strcmp(type, "subscribe") == 0) {
        long j = jid_user(r, cv_xml_attr(p, "from"));
        if (j < 0 || r->o->scenario != CV_BENCH_PRESENCE)
            return;
        send_subscribe(c, (uint32_t)j, "subscribed");
        int pos = contact_pos(r, c->idx, (uint32_t)j);
        uint8_t *asked = bits(c, 1);
        if (pos >= 0 && asked && !bit_test(asked, pos)) {
            bit_set(asked, pos);
            send_subscribe(c, (uint32_t)j, "subscribe");
        }
        return;
    }
    if (type && strcmp(type, "unavailable") != 0)
        return; /* subscribed, unsubscribe(d), probe, error */
    if (th->phase != CV_BENCH_PH_RUN && th->phase != CV_BENCH_PH_DRAIN)
        return;
    th->presences++;
    const cv_xml_node_t *status = cv_xml_child(p, "status", NULL);
    cv_buf_t t = CV_BUF_INIT;
    uint64_t ts;
    /* A presence sent before this session came online is the answer to its probe, not a
       broadcast: it has no latency to measure. */
    if (status && cv_xml_text(status, &t) == 0 && parse_stamp(r, t.data, &ts) == 1 &&
        ts >= c->t_online_ns) {
        uint64_t now = cv_bench_now_ns();
        cv_bench_hist_record(&th->hist_lat, now - ts);
        th->last_rx_ns = now;
    }
    cv_buf_free(&t);
}

static void offline_check_done(cv_bench_thread_t *th)
{
    if (th->offline_target > 0 || th->stored_ns)
        return;
    for (unsigned s = 0; s < th->nslots; s++) {
        cv_bench_conn_t *c = th->slots[s];
        if (c && is_offline_sender(th->run, c->idx) && c->pings_out > 0)
            return;
    }
    th->stored_ns = cv_bench_now_ns();
    atomic_store_explicit(&th->pub.sending_done, 1, memory_order_release);
}

static void on_iq(cv_bench_conn_t *c, const cv_xml_node_t *iq)
{
    cv_bench_thread_t *th = c->thread;
    const char *id = cv_xml_attr(iq, "id");
    const char *type = cv_xml_attr(iq, "type");
    const cv_xml_node_t *q = cv_xml_child(iq, "query", NS_ROSTER);
    if (id && strcmp(id, "roster") == 0 && c->state == CV_BENCH_CS_ROSTER) {
        if (c->roster_error) {
            th->roster_err++;
            note_failure(th, CV_EUNSUPP, "roster get refused");
        } else if (q) {
            on_roster(c, q);
        }
        return;
    }
    if (q && type && strcmp(type, "set") == 0) {
        on_roster(c, q); /* roster push */
        return;
    }
    if (id && strncmp(id, "png", 3) == 0 && c->pings_out > 0) {
        c->pings_out--;
        offline_check_done(th);
    }
}

static void scen_on_stanza(cv_bench_conn_t *c, const cv_xml_node_t *root)
{
    if (strcmp(root->name, "message") == 0)
        on_message(c, root);
    else if (strcmp(root->name, "presence") == 0)
        on_presence(c, root);
    else
        on_iq(c, root);
}

static void scen_on_online(cv_bench_conn_t *c)
{
    cv_bench_thread_t *th = c->thread;
    const cv_bench_run_t *r = th->run;
    uint64_t now = c->t_online_ns;
    th->pending--;
    th->logins++;
    cv_bench_hist_record(&th->hist_login, now - c->t_start_ns);
    c->counted_online = 1;
    th->online++;
    if (r->o->scenario == CV_BENCH_PRESENCE)
        (void)cv_bench_conn_sendf(c, "<presence><status>cvb %llx %llu</status></presence>",
                                  (unsigned long long)r->run_id, (unsigned long long)now);
    else
        (void)cv_bench_conn_send(c, "<presence/>", 11);
    if (r->o->scenario == CV_BENCH_LOGIN)
        cv__bench_conn_close(c);
}

static void scen_on_fail(cv_bench_conn_t *c, int code, const char *why)
{
    cv_bench_thread_t *th = c->thread;
    /* Failures once the run is closing are the teardown, not the server's fault. */
    if (th->phase != CV_BENCH_PH_CLOSE && !c->cycling) {
        th->failed++;
        note_failure(th, code, why);
    }
    cv__bench_mark_dirty(c);
}

const cv_bench_client_ops_t cv__bench_scen_ops = {scen_on_online, scen_on_stanza, scen_on_fail,
                                                  NULL};

void cv__bench_scen_freed(cv_bench_thread_t *th, cv_bench_conn_t *c)
{
    if (c->counted_online) {
        th->online--;
        if (th->run->o->contacts && c->roster_both == th->run->o->contacts &&
            th->run->o->scenario == CV_BENCH_PRESENCE)
            th->roster_ok--;
    } else {
        th->pending--;
    }
    if (c->cycling) {
        th->cycling--;
        /* Comes back at the next tick, unless the run is closing. */
        unsigned slot = c->idx / th->run->nthreads;
        if (th->phase < CV_BENCH_PH_CLOSE && th->cursor_q_len < th->nslots)
            th->reopen[(th->reopen_head + th->cursor_q_len++) % th->nslots] = slot;
    }
}

/* Opens not-yet-opened slots accepted by filter, keeping `concurrency` negotiations in
   flight at most. */
static void open_pass(cv_bench_thread_t *th, int (*want)(const cv_bench_run_t *, uint32_t))
{
    const cv_bench_opts_t *o = th->run->o;
    while (th->next_slot < th->nslots && th->pending < o->concurrency) {
        unsigned s = th->next_slot++;
        uint32_t idx = th->index + s * th->run->nthreads;
        if (want && !want(th->run, idx))
            continue;
        int rc = cv__bench_conn_open(th, s);
        if (rc < 0 && rc != CV_EEXIST) {
            th->failed++;
            note_failure(th, rc, cv_strerror(rc));
        }
    }
}

static int want_sender(const cv_bench_run_t *r, uint32_t idx)
{
    return is_offline_sender(r, idx);
}

static int want_receiver(const cv_bench_run_t *r, uint32_t idx)
{
    return !is_offline_sender(r, idx);
}

static cv_bench_conn_t *online_at(cv_bench_thread_t *th, unsigned s)
{
    cv_bench_conn_t *c = th->slots[s];
    return c && c->state == CV_BENCH_CS_ONLINE && !c->closing ? c : NULL;
}

static double pace(cv_bench_thread_t *th, uint64_t now)
{
    double per_thread = th->run->rate / th->run->nthreads;
    th->credit += per_thread * (double)(now - th->last_pace_ns) / 1e9;
    th->last_pace_ns = now;
    if (th->credit > TICK_BUDGET)
        th->credit = TICK_BUDGET; /* behind schedule: the shortfall shows as sent < offered */
    return th->credit;
}

static void chat_tick(cv_bench_thread_t *th, uint64_t now)
{
    const cv_bench_run_t *r = th->run;
    const cv_bench_opts_t *o = r->o;
    if (th->nslots == 0)
        return;
    pace(th, now);
    unsigned misses = 0;
    while (th->credit >= 1.0 && misses < 64) {
        unsigned s = (unsigned)(cv__bench_rand(th) % th->nslots);
        cv_bench_conn_t *c = online_at(th, s);
        if (!c) {
            misses++;
            continue;
        }
        uint32_t to = (uint32_t)(cv__bench_rand(th) % (r->nusers - 1));
        if (to >= c->idx)
            to++;
        send_chat(c, o, o->user_base + to, th->sent, r->run_id);
        th->sent++;
        th->credit -= 1.0;
    }
}

static void offline_tick(cv_bench_thread_t *th)
{
    const cv_bench_run_t *r = th->run;
    const cv_bench_opts_t *o = r->o;
    unsigned receivers = r->nusers - (r->nusers / 2 ? r->nusers / 2 : 1);
    unsigned budget = TICK_BUDGET;
    int progress = 1;
    if (receivers == 0)
        return;
    while (th->offline_target > 0 && budget > 0 && progress) {
        progress = 0;
        for (unsigned s = 0; s < th->nslots && th->offline_target > 0 && budget > 0; s++) {
            cv_bench_conn_t *c = online_at(th, s);
            if (!c || !is_offline_sender(r, c->idx) || c->pings_out >= OFFLINE_PINGS)
                continue;
            /* Recipients in turn, not at random: with message g = k * threads + index of
               this thread's k-th, the threads' messages number 0..count-1 once each, so
               every recipient gets count / receivers (one more for some) and a count that
               fits the server's offline quota per account is never refused by it. */
            uint64_t g = th->sent * r->nthreads + th->index;
            uint32_t to = r->nusers - receivers + (uint32_t)(g % receivers);
            uint64_t ts = cv_bench_now_ns();
            (void)cv_bench_conn_sendf(c,
                                      "<message to='%s%u@%s' type='chat' id='o%llu'>"
                                      "<body>cvb %llx %llu %u</body></message>",
                                      o->user_prefix, o->user_base + to, o->domain,
                                      (unsigned long long)th->sent, (unsigned long long)r->run_id,
                                      (unsigned long long)ts, c->idx);
            th->sent++;
            th->offline_target--;
            budget--;
            progress = 1;
            if (++c->unacked >= OFFLINE_WINDOW || th->offline_target == 0) {
                /* The server answers in order, so the pong says every earlier message
                   of this session has been handled (stored). */
                (void)cv_bench_conn_sendf(
                    c, "<iq type='get' id='png%u' to='%s'><ping xmlns='" CV_NS_PING "'/></iq>",
                    c->next_id++, o->domain);
                c->pings_out++;
                c->unacked = 0;
            }
        }
    }
    if (th->offline_target == 0) {
        for (unsigned s = 0; s < th->nslots; s++) {
            cv_bench_conn_t *c = online_at(th, s);
            if (c && c->unacked > 0) {
                (void)cv_bench_conn_sendf(
                    c, "<iq type='get' id='png%u' to='%s'><ping xmlns='" CV_NS_PING "'/></iq>",
                    c->next_id++, o->domain);
                c->pings_out++;
                c->unacked = 0;
            }
        }
        offline_check_done(th);
    }
}

static void setup_tick(cv_bench_thread_t *th, uint64_t now)
{
    const cv_bench_run_t *r = th->run;
    /* Ask again every few seconds for whatever is still missing. */
    if (th->last_pace_ns && now - th->last_pace_ns < 3000000000ull)
        return;
    th->last_pace_ns = now;
    for (unsigned s = 0; s < th->nslots; s++) {
        cv_bench_conn_t *c = online_at(th, s);
        uint8_t *both = c ? bits(c, 0) : NULL;
        uint8_t *asked = c ? bits(c, 1) : NULL;
        if (!both || !asked || c->roster_both == r->o->contacts)
            continue;
        for (uint32_t pos = 0; pos < r->o->contacts; pos++) {
            if (bit_test(both, (int)pos))
                continue;
            bit_set(asked, (int)pos);
            send_subscribe(c, contact_at(r, c->idx, pos), "subscribe");
        }
    }
}

static void presence_tick(cv_bench_thread_t *th, uint64_t now)
{
    const cv_bench_run_t *r = th->run;
    while (th->cursor_q_len > 0 && th->pending < r->o->concurrency) {
        unsigned s = th->reopen[th->reopen_head];
        th->reopen_head = (th->reopen_head + 1) % th->nslots;
        th->cursor_q_len--;
        if (cv__bench_conn_open(th, s) < 0)
            th->failed++;
    }
    if (th->phase != CV_BENCH_PH_RUN || th->nslots == 0)
        return;
    pace(th, now);
    unsigned scanned = 0;
    while (th->credit >= 1.0 && th->cycling < r->o->concurrency && scanned < th->nslots) {
        unsigned s = th->cycle_cursor++ % th->nslots;
        scanned++;
        cv_bench_conn_t *c = online_at(th, s);
        if (!c)
            continue;
        (void)cv_bench_conn_sendf(c,
                                  "<presence type='unavailable'><status>cvb %llx %llu</status>"
                                  "</presence>",
                                  (unsigned long long)r->run_id,
                                  (unsigned long long)cv_bench_now_ns());
        c->cycling = 1;
        th->cycling++;
        th->sent++;
        cv__bench_conn_close(c);
        th->credit -= 1.0;
    }
}

static void login_tick(cv_bench_thread_t *th)
{
    const cv_bench_run_t *r = th->run;
    unsigned share = thread_share(th, r->count);
    unsigned scanned = 0;
    while (th->logins_started < share && th->pending < r->o->concurrency && scanned < th->nslots) {
        unsigned s = th->cycle_cursor++ % th->nslots;
        scanned++;
        if (th->slots[s])
            continue;
        int rc = cv__bench_conn_open(th, s);
        if (rc < 0) {
            th->failed++;
            note_failure(th, rc, cv_strerror(rc));
        }
        th->logins_started++;
    }
    if (th->logins_started >= share && th->live == 0)
        atomic_store_explicit(&th->pub.sending_done, 1, memory_order_release);
}

static void enter_phase(cv_bench_thread_t *th, cv_bench_phase_t ph, uint64_t now)
{
    const cv_bench_run_t *r = th->run;
    th->phase = ph;
    th->phase_t0 = now;
    th->last_pace_ns = now;
    th->credit = 0;
    switch (ph) {
    case CV_BENCH_PH_SETUP: th->last_pace_ns = 0; break;
    case CV_BENCH_PH_RUN:
        if (r->o->scenario == CV_BENCH_OFFLINE) {
            th->offline_target = thread_share(th, r->count);
            atomic_store_explicit(&th->pub.sending_done, 0, memory_order_relaxed);
        }
        break;
    case CV_BENCH_PH_DRAIN:
        atomic_store_explicit(&th->pub.sending_done, 1, memory_order_release);
        break;
    case CV_BENCH_PH_DELIVER: th->next_slot = 0; break;
    case CV_BENCH_PH_CLOSE:
        th->close_deadline_ns = now + 3000000000ull;
        for (unsigned s = 0; s < th->nslots; s++)
            if (th->slots[s])
                cv__bench_conn_close(th->slots[s]);
        break;
    default: break;
    }
}

void cv__bench_scen_tick(cv_bench_thread_t *th, uint64_t now)
{
    const cv_bench_run_t *r = th->run;
    cv_bench_phase_t ph =
        (cv_bench_phase_t)atomic_load_explicit(&th->run->phase, memory_order_acquire);
    if (ph != th->phase)
        enter_phase(th, ph, now);
    if (ph == CV_BENCH_PH_CLOSE)
        return;
    switch (r->o->scenario) {
    case CV_BENCH_LOGIN: login_tick(th); break;
    case CV_BENCH_CHAT:
    case CV_BENCH_MAXRATE:
        open_pass(th, NULL);
        if (ph == CV_BENCH_PH_RUN)
            chat_tick(th, now);
        break;
    case CV_BENCH_IDLE: open_pass(th, NULL); break;
    case CV_BENCH_PRESENCE:
        open_pass(th, NULL);
        if (ph == CV_BENCH_PH_SETUP)
            setup_tick(th, now);
        else
            presence_tick(th, now);
        break;
    case CV_BENCH_OFFLINE:
        if (ph == CV_BENCH_PH_DELIVER)
            open_pass(th, want_receiver);
        else
            open_pass(th, want_sender);
        if (ph == CV_BENCH_PH_RUN)
            offline_tick(th);
        break;
    }
}
