"""Offline message storage (XEP-0160), the collecting side: chat and normal messages to an
account with no available resource are stored and handed over when a resource sends
initial presence. Each stored message must reach the account exactly once: a backlog
larger than one connection's output queue arrives whole and in order without the stream
being closed, two resources coming online at the same moment share the backlog without
a duplicate, and a resource with negative priority does not collect at all (RFC 6121
§8.5.2.1.1) until it becomes non-negative, a session that goes away while its backlog
is on the way leaves it stored for the next one, and so does a collection whose delete
cannot be made durable (tested with the store's disk syncs held open, or failing, by
tests/integration/slowsync.c, preloaded into the server).

How many messages are stored is read from the data directory with mdb_stat (Debian's
lmdb-utils), so that a test starts collecting only once every message is durable."""

import asyncio
import os
import re
import shutil
import subprocess
import tempfile

from harness import HOST, check, login, settle

USERS = {'romeo': 'montague1', 'juliet': 'capulet12'}
ROMEO = 'romeo@' + HOST
JULIET = 'juliet@' + HOST


def stored_count(srv):
    """Offline messages in the server's store (all accounts), or None without mdb_stat.
    LMDB lets this reader look while the server writes."""
    if shutil.which('mdb_stat') is None:
        return None
    p = subprocess.run(['mdb_stat', '-s', 'offline', srv.data_dir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)
    m = re.search(r'Entries: (\d+)', p.stdout)
    check(p.returncode == 0 and m, 'mdb_stat on the data directory failed: %s' % p.stdout)
    return int(m.group(1))


async def wait_stored(ctx, srv, n, timeout=15.0):
    """Waits until the store holds exactly n offline messages."""
    if stored_count(srv) is None:
        # Without lmdb-utils a pause has to do: the writer commits in well under it.
        ctx.note('mdb_stat not found (lmdb-utils): waited 2 s instead of reading the store')
        await asyncio.sleep(2.0)
        return
    got = [None]

    def done():
        got[0] = stored_count(srv)
        return got[0] == n
    check(await settle(done, timeout), 'the store holds %s offline messages, not %d'
          % (got[0], n))


async def client(ctx, srv, jid, prio=None, presence=True):
    """A logged-in client recording the chat/normal bodies it receives (and any error);
    initial presence is sent only with presence=True."""
    user = jid.split('@')[0]
    c = await login(ctx, srv.starttls_port, jid, USERS[user], mech='SCRAM-SHA-256')
    c.got = []
    c.errors = []

    def on_message(m):
        if m['type'] == 'error':
            c.errors.append(str(m))
        elif m['type'] in ('chat', 'normal'):
            c.got.append(m['body'])
    c.add_event_handler('message', on_message)
    if presence:
        c.send_presence(ppriority=prio)
    return c


def numbers(bodies, tag):
    """The message numbers of the bodies that start with tag (made by body())."""
    out = []
    for b in bodies:
        if b.startswith(tag + ':'):
            out.append(int(b[len(tag) + 1:].split(':', 1)[0]))
    return out


def body(tag, i, pad=0):
    return '%s:%d:%s' % (tag, i, 'x' * pad)


def describe(got, n):
    """A short account of what arrived against range(n), for failure messages."""
    seen = set(got)
    dup = sorted({x for x in got if got.count(x) > 1}) if len(seen) != len(got) else []
    missing = [i for i in range(n) if i not in seen]
    first_off = next((k for k, x in enumerate(got) if x != k), None)
    return ('%d received, %d distinct of %d; missing %d (first %s); duplicated %s; first '
            'position out of order %s' % (len(got), len(seen), n, len(missing),
                                          missing[:5], dup[:5], first_off))


async def raw_juliet(ctx, srv, resource):
    """Juliet logged in and bound on a raw stream (plain listener), no presence sent."""
    from harness import raw_connect, q, NS_SASL
    j = await raw_connect(ctx, srv.plain_port)
    await j.open()
    el = await j.auth_plain('juliet', USERS['juliet'])
    check(el.tag == q(NS_SASL, 'success'), 'PLAIN for juliet failed')
    await j.bind(resource)
    return j


async def next_session_gets_all(ctx, srv, tag, n):
    """A new session of Juliet's collects the n stored messages tagged tag: whole, once and
    in order."""
    j = await client(ctx, srv, JULIET + '/garden')
    await settle(lambda: len(numbers(j.got, tag)) >= n)
    await asyncio.sleep(0.5)  # room for a duplicate to show
    got = numbers(j.got, tag)
    check(got == list(range(n)), 'the next session did not get the backlog whole, once, in '
          'order: %s' % describe(got, n))


async def leave(c):
    """Disconnects a client cleanly and waits until its stream is gone."""
    c.disconnect()
    try:
        await asyncio.wait_for(asyncio.shield(c.gone), 5)
    except asyncio.TimeoutError:
        c.close()


async def test_big_backlog_arrives_whole(ctx):
    """400 stored messages of ~8 KB (~3.2 MB) against the default 1 MiB output queue: the
    server must hand them over at the pace the client reads, not all at once into a queue
    that then overflows and closes the stream; what was deleted from the store must have
    reached her. A server that pushes the whole backlog into the queue loses the tail
    (and the stream) while still deleting everything."""
    n = 400
    # Only the sender's input rate limit is lifted (3.2 MB at 256 KiB/s would take most of
    # the test's time); max_output_queue and max_offline_messages keep their defaults.
    srv = await ctx.server(users=USERS, sets={'limits.c2s_rate': '0'})
    r = await client(ctx, srv, ROMEO + '/orchard')
    for i in range(n):
        r.send_message(mto=JULIET, mbody=body('big', i, 8000), mtype='chat')
    await wait_stored(ctx, srv, n)
    await leave(r)

    j = await client(ctx, srv, JULIET + '/balcony', presence=False)
    j.send_presence()
    await settle(lambda: len(j.got) >= n or j.gone.done(), timeout=20)
    await asyncio.sleep(0.5)  # anything beyond n (a duplicate) arrives too
    got = numbers(j.got, 'big')
    check(not j.gone.done(), 'juliet\'s stream was closed while collecting (stream errors %s); '
          '%s' % (j.stream_errors, describe(got, n)))
    check(got == list(range(n)), 'juliet did not get the backlog whole, once, in order: %s'
          % describe(got, n))
    check(not j.errors, 'juliet got errors: %s' % j.errors[:3])
    # The stream still works after the backlog.
    await j.ping_server()
    await wait_stored(ctx, srv, 0, timeout=5)  # delivered, so deleted

    # Delivered messages were deleted: the next login finds nothing.
    await leave(j)
    j2 = await client(ctx, srv, JULIET + '/balcony')
    await asyncio.sleep(1.5)
    again = numbers(j2.got, 'big')
    check(not again, 'the next login got %d of the messages again (first %s)'
          % (len(again), again[:5]))


async def test_two_resources_collect_without_duplicates(ctx):
    """Two resources whose initial presences arrive together: collecting must be exclusive
    (one collection reads and deletes a message before another can read it), or both get
    the same messages. Every stored message reaches exactly one of them. Three rounds
    with fresh messages make a lost race likely to show."""
    n = 300
    srv = await ctx.server(users=USERS)
    r = await client(ctx, srv, ROMEO + '/orchard')
    for rnd in range(3):
        tag = 'r%d' % rnd
        for i in range(n):
            r.send_message(mto=JULIET, mbody=body(tag, i), mtype='chat')
        await wait_stored(ctx, srv, n)
        a, b = await asyncio.gather(client(ctx, srv, JULIET + '/a', presence=False),
                                    client(ctx, srv, JULIET + '/b', presence=False))
        # Both initial presences leave in the same loop turn.
        a.send_presence()
        b.send_presence()
        await settle(lambda: len(numbers(a.got, tag)) + len(numbers(b.got, tag)) >= n,
                     timeout=10)
        await asyncio.sleep(0.5)  # a duplicate would come after the count is reached
        ga, gb = numbers(a.got, tag), numbers(b.got, tag)
        check(len(set(ga)) == len(ga) and len(set(gb)) == len(gb),
              'round %d: a resource got a message twice: /a %s; /b %s'
              % (rnd, describe(ga, n), describe(gb, n)))
        both = sorted(set(ga) & set(gb))
        check(not both, 'round %d: %d messages reached both resources (first %s); /a got %d, '
              '/b got %d' % (rnd, len(both), both[:5], len(ga), len(gb)))
        check(sorted(ga + gb) == list(range(n)), 'round %d: across both resources %s'
              % (rnd, describe(sorted(ga + gb), n)))
        check(not a.errors and not b.errors, 'errors: %s' % (a.errors + b.errors)[:3])
        await asyncio.gather(leave(a), leave(b))
        await asyncio.sleep(0.3)  # the server has seen both go before romeo writes again


async def test_negative_priority_does_not_collect(ctx):
    """RFC 6121 §8.5.2.1.1: messages to the bare JID are not delivered to a resource with
    negative priority; stored ones stay stored while that is the only resource. Once the
    resource becomes non-negative (a later available presence), it collects them."""
    n = 20
    srv = await ctx.server(users=USERS)
    r = await client(ctx, srv, ROMEO + '/orchard')
    for i in range(n):
        r.send_message(mto=JULIET, mbody=body('neg', i), mtype='chat')
    await wait_stored(ctx, srv, n)

    j = await client(ctx, srv, JULIET + '/balcony', presence=False)
    j.send_presence(ppriority=-1)
    await asyncio.sleep(1.5)
    got = numbers(j.got, 'neg')
    check(not got, 'juliet with priority -1 got %d of the %d stored messages (first %s)'
          % (len(got), n, got[:5]))
    count = stored_count(srv)
    check(count in (n, None), 'the store holds %s messages, not the %d it had' % (count, n))

    j.send_presence(ppriority=1)
    await settle(lambda: len(numbers(j.got, 'neg')) >= n)
    await asyncio.sleep(0.5)
    got = numbers(j.got, 'neg')
    check(got == list(range(n)), 'after priority 1 juliet did not get them once, in order: %s'
          % describe(got, n))
    check(not j.errors, 'juliet got errors: %s' % j.errors[:3])


async def test_session_closing_with_its_initial_presence_loses_nothing(ctx):
    """Juliet's initial presence and her closing tag arrive in one packet: the stream is
    closing (its session gone) by the time the presence's collection runs. The backlog
    must stay stored for her next session, whole and in order; a server that collects for
    the closing session hands the messages to a stream that writes nothing more and
    deletes them. (If a collection does race a close, its messages go back to storage in
    their place: storage's test_offline_restore and the debug line "put back".)"""
    n = 250
    plain = {'allow_plain_without_tls': 'true'}
    srv = await ctx.server(users=USERS, plain_listener=plain)
    r = await client(ctx, srv, ROMEO + '/orchard')
    for i in range(n):
        r.send_message(mto=JULIET, mbody=body('gone', i), mtype='chat')
    await wait_stored(ctx, srv, n)
    await leave(r)

    j = await raw_juliet(ctx, srv, 'balcony')
    await j.send('<presence/></stream:stream>')
    while True:
        kind, _ = await j.recv(timeout=10)
        if kind in ('close', 'eof'):
            break
    j.close()
    await wait_stored(ctx, srv, n, timeout=5)  # nothing was taken for the closing stream

    await next_session_gets_all(ctx, srv, 'gone', n)


async def slowsync_server(ctx, extra_env=None):
    """A server whose disk syncs stall for 1.5 s each while the returned flag file exists
    (slowsync.c, preloaded), with a plain listener and debug logging; also the directory
    to remove afterwards. extra_env adds to or overrides the shim's settings (its
    CV_SLOWSYNC_* variables)."""
    shim = ctx.build / 'libcv_slowsync.so'
    check(shim.exists(), '%s is missing: build the cv_slowsync target' % shim)
    flag_dir = tempfile.mkdtemp(prefix='corvid-slowsync-')
    flag = os.path.join(flag_dir, 'stall')
    env = {'LD_PRELOAD': str(shim), 'CV_SLOWSYNC_FLAG': flag, 'CV_SLOWSYNC_MS': '1500',
           # the sanitizer runtimes want to be first; the shim only forwards
           'ASAN_OPTIONS': os.environ.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'}
    env.update(extra_env or {})
    plain = {'allow_plain_without_tls': 'true'}
    srv = await ctx.server(users=USERS, plain_listener=plain, log_level='debug', env=env)
    return srv, flag, flag_dir


async def store_for_juliet(ctx, srv, tag, n):
    """Romeo sends Juliet (offline) n chat messages tagged tag; returns once all are
    durable and Romeo is gone."""
    r = await client(ctx, srv, ROMEO + '/orchard')
    for i in range(n):
        r.send_message(mto=JULIET, mbody=body(tag, i), mtype='chat')
    await wait_stored(ctx, srv, n)
    await leave(r)


async def collection_stalls_then_closes(ctx, srv, flag, during=None):
    """Juliet's raw session 'balcony' sends initial presence with the disk syncs stalled,
    so her collection's delete waits for its commit; during() (if given) runs then; the
    session closes before the delete is through, and the test waits until its batch was
    put back in storage."""
    j = await raw_juliet(ctx, srv, 'balcony')
    open(flag, 'w').close()
    await j.send('<presence/>')
    check(await settle(lambda: os.path.exists(flag + '.stalled'), 10),
          'no store commit after juliet\'s initial presence')
    await asyncio.sleep(0.2)  # the collection's delete is waiting for its sync
    extra = await during() if during else None
    j.close()
    check(await settle(lambda: 'put back in storage' in srv.log(), 15),
          'no collected message was put back: the close did not race the collection')
    return extra


async def test_batch_whose_session_went_away_goes_back_in_place(ctx):
    """A collection deletes its batch before it hands it to the session; if the session has
    gone by the time its ring would write the batch, every message must go back under its
    old number and reach the next session, whole, once and in order. The window is the
    delete's commit: the server runs with its disk syncs stalled (slowsync.c) while Juliet's
    initial presence is collected, and she disconnects while the delete waits for its
    sync."""
    n = 30
    srv, flag, flag_dir = await slowsync_server(ctx)
    try:
        await store_for_juliet(ctx, srv, 'back', n)
        await collection_stalls_then_closes(ctx, srv, flag)
        os.unlink(flag)
        await wait_stored(ctx, srv, n)
    finally:
        shutil.rmtree(flag_dir, ignore_errors=True)
    check('lost' not in srv.log(), 'the server reports lost messages')

    await next_session_gets_all(ctx, srv, 'back', n)


async def collection_on_a_failing_disk(ctx, tag, n):
    """Juliet has n messages tagged tag stored; her session 'balcony' sends initial
    presence while every disk sync fails (slowsync.c with CV_SLOWSYNC_FAIL, at once), so
    the collection's delete fails. Returns the server, the fault's flag file and its
    directory (to remove), the client and the warning the failure logged."""
    srv, flag, flag_dir = await slowsync_server(ctx, {'CV_SLOWSYNC_FAIL': '1',
                                                      'CV_SLOWSYNC_MS': '0'})
    warning = 'offline messages of %s: storage failure' % JULIET
    try:
        await store_for_juliet(ctx, srv, tag, n)
        j = await client(ctx, srv, JULIET + '/balcony', presence=False)
        open(flag, 'w').close()
        j.send_presence()
        check(await srv.wait_log(warning, 10), 'no warning about the collection\'s failed '
              'delete')
    except BaseException:
        shutil.rmtree(flag_dir, ignore_errors=True)
        raise
    return srv, flag, flag_dir, j, warning


async def test_collection_whose_delete_fails_to_sync_hands_over_nothing(ctx):
    """A collection deletes its batch before it hands it over; if that delete cannot be
    made durable (the disk sync fails: slowsync.c with CV_SLOWSYNC_FAIL, every sync an
    EIO while the flag exists), the batch is not handed over: it all stays stored, and
    the session that asked gets none of it rather than messages a later collection would
    hand over again. The server keeps running; a stanza from the session while the disk
    still fails tries again and fails alike; once the disk works again, the session's next
    stanza (a ping) has the whole backlog collected for it, once and in order, without
    logging in again. (What fails is LMDB's fdatasync of the data pages, before the meta
    page is written, which goes through an O_DSYNC descriptor and no sync call: the commit
    is aborted whole.)"""
    n = 30
    srv, flag, flag_dir, j, warning = await collection_on_a_failing_disk(ctx, 'fail', n)
    try:
        await asyncio.sleep(0.5)  # room for a message handed over anyway to arrive
        got = numbers(j.got, 'fail')
        check(not got, 'juliet got %d of the messages whose delete failed (first %s): the '
              'next collection hands them over again' % (len(got), got[:5]))
        check(srv.alive(), 'the server died when the sync failed')
        os.unlink(flag + '.stalled')
        await j.ping_server()  # her stream still works; the retry it starts fails too
        # (Within 3 s: the retry timer would come after 5.)
        check(await settle(lambda: os.path.exists(flag + '.stalled'), 3),
              'the session\'s next stanza did not try the collection again')
        check(not numbers(j.got, 'fail'), 'a collection whose delete failed handed over '
              'messages')
        await wait_stored(ctx, srv, n)  # nothing was deleted
        os.unlink(flag)
    finally:
        shutil.rmtree(flag_dir, ignore_errors=True)

    await j.ping_server()  # the disk works again: this stanza's retry collects
    await settle(lambda: len(numbers(j.got, 'fail')) >= n, 10)
    await asyncio.sleep(0.5)  # room for a duplicate to show
    got = numbers(j.got, 'fail')
    check(got == list(range(n)), 'the session did not get the backlog whole, once, in order '
          'after its next stanza: %s' % describe(got, n))
    await wait_stored(ctx, srv, 0, timeout=5)  # the store writes again
    check(not j.errors, 'juliet got errors: %s' % j.errors[:3])
    check('lost' not in srv.log(), 'the server reports lost messages')


async def test_collection_that_failed_is_retried_for_a_client_that_only_listens(ctx):
    """As above, but Juliet's client sends nothing after its initial presence (a client
    that only listens sends no stanza that could ask again): the session asks again by
    itself every few seconds (CV_OFFLINE_RETRY_MS), so once the disk works again the
    backlog arrives, once and in order, without a stanza or a new login. While the disk
    still fails, the retries fail alike and the warnings about them are rate-limited (one
    per 10 s), while every failed commit is still logged by the store."""
    n = 30
    srv, flag, flag_dir, j, warning = await collection_on_a_failing_disk(ctx, 'listen', n)
    try:
        failed_commits = srv.log().count('Input/output error')
        os.unlink(flag + '.stalled')
        check(await settle(lambda: os.path.exists(flag + '.stalled'), 9),
              'the session did not ask again by itself while its client sent nothing')
        await settle(lambda: srv.log().count('Input/output error') > failed_commits, 3)
        check(srv.log().count('Input/output error') > failed_commits,
              'the retry\'s failed commit was not logged by the store')
        check(srv.log().count(warning) == 1, 'the retry\'s warning came within 10 s of the '
              'first: %d warnings' % srv.log().count(warning))
        check(not numbers(j.got, 'listen'), 'a collection whose delete failed handed over '
              'messages')
        os.unlink(flag)
    finally:
        shutil.rmtree(flag_dir, ignore_errors=True)

    await settle(lambda: len(numbers(j.got, 'listen')) >= n, 10)
    await asyncio.sleep(0.5)  # room for a duplicate to show
    got = numbers(j.got, 'listen')
    check(got == list(range(n)), 'the listening session did not get the backlog whole, once, '
          'in order once the disk worked again: %s' % describe(got, n))
    await wait_stored(ctx, srv, 0, timeout=5)
    check(not j.errors, 'juliet got errors: %s' % j.errors[:3])
    check('lost' not in srv.log(), 'the server reports lost messages')


async def test_store_that_fails_for_good_stops_the_server_cleanly(ctx):
    """When a commit's last step fails (the write of LMDB's meta page: slowsync.c with
    CV_SLOWSYNC_FAIL=meta), LMDB refuses every transaction after it until the environment
    is opened again. The server must not run on refusing every login: the sender of the
    message whose commit failed is told, the server closes every stream and exits with
    status 1 (for a supervisor to start it again), and started again on the same data it
    has everything that was durable before, and not the refused message."""
    n = 5
    srv, flag, flag_dir = await slowsync_server(ctx, {'CV_SLOWSYNC_FAIL': 'meta',
                                                      'CV_SLOWSYNC_MS': '0'})
    try:
        await store_for_juliet(ctx, srv, 'kept', n)
        r = await client(ctx, srv, ROMEO + '/orchard')
        refused = []
        r.add_event_handler('message_error', lambda m: refused.append(m['error']['condition']))
        open(flag, 'w').close()
        r.send_message(mto=JULIET, mbody=body('refused', 0), mtype='chat')
        check(await srv.wait_log('failed for good', 10), 'the server did not notice that '
              'the store failed for good')
        await settle(lambda: refused, 10)
        check(refused == ['internal-server-error'],
              'romeo was not told that his message could not be stored: %s' % refused)
        rc = await srv.terminate(timeout=15, send=False)
        check(rc == 1, 'the server exited with %s after the store failed, not 1' % rc)
        os.unlink(flag)
    finally:
        shutil.rmtree(flag_dir, ignore_errors=True)
    log = srv.log()
    check('exiting with status 1' in log and 'stopped' in log,
          'no clean stop after the store failed: %s' % log[-600:])

    # Started again on the same data, without the fault.
    srv.env = {}
    srv.users = {}
    await srv.start()
    j = await client(ctx, srv, JULIET + '/balcony')
    await settle(lambda: len(j.got) >= n, 10)
    await asyncio.sleep(0.5)  # room for the refused one to show
    check(numbers(j.got, 'kept') == list(range(n)), 'after the restart juliet did not get '
          'what was durable before the failure: %s' % describe(numbers(j.got, 'kept'), n))
    check(not numbers(j.got, 'refused'), 'the message whose commit failed was stored after '
          'all (its sender was told it was not)')


async def test_batch_put_back_reaches_a_resource_already_online(ctx):
    """The same race, with a second resource of Juliet's online (initial presence sent while
    the first one's collection waited): what comes back must be collected for it at once,
    whole, once and in order, not left for a later login. Each message put back asks that
    resource to look again; those asks fold into one while one is queued, and none may be
    lost to the folding."""
    n = 30
    srv, flag, flag_dir = await slowsync_server(ctx)
    try:
        await store_for_juliet(ctx, srv, 'online', n)

        async def second_resource():
            return await client(ctx, srv, JULIET + '/garden')
        g = await collection_stalls_then_closes(ctx, srv, flag, during=second_resource)
        os.unlink(flag)
        await settle(lambda: len(numbers(g.got, 'online')) >= n, 15)
        await asyncio.sleep(0.5)  # room for a duplicate to show
    finally:
        shutil.rmtree(flag_dir, ignore_errors=True)
    got = numbers(g.got, 'online')
    check(got == list(range(n)), 'the online resource did not get the put-back batch whole, '
          'once, in order: %s' % describe(got, n))
    check(not g.errors, 'errors: %s' % g.errors[:3])
    await wait_stored(ctx, srv, 0, timeout=5)
    check('lost' not in srv.log(), 'the server reports lost messages')
    ctx.note('%d put back, %d offline rechecks ran for the online resource'
             % (srv.log().count('put back in storage'),
                srv.log().count('offline recheck for juliet@%s/garden' % HOST)))


async def test_put_back_batch_comes_before_messages_stored_after_it(ctx):
    """A collected batch whose session went away goes back to storage message by message,
    and the put-backs may take several commits. A message stored meanwhile (after the
    batch was collected, so with a higher number) must not reach another resource before
    the batch: while a batch is on its way (written or put back), its account collects
    nothing; the collection that came meanwhile is made once the whole batch is back.
    The window is made with stalled commits: balcony's collection deletes (stall 1),
    balcony leaves, Romeo's late message is stored alone (stall 2), then the batch goes
    back (stall 3); garden's initial presence comes during stall 3."""
    n = 30
    srv, flag, flag_dir = await slowsync_server(ctx)
    stalled = flag + '.stalled'

    async def next_stall(what, timeout=10):
        seen = await settle(lambda: os.path.exists(stalled), timeout)
        check(seen or timeout < 10, 'no store commit: %s' % what)
        if seen:
            os.unlink(stalled)
        return seen
    try:
        await store_for_juliet(ctx, srv, 'first', n)
        r = await client(ctx, srv, ROMEO + '/orchard')
        g = await client(ctx, srv, JULIET + '/garden', presence=False)
        b = await raw_juliet(ctx, srv, 'balcony')
        open(flag, 'w').close()
        await b.send('<presence/>')
        await next_stall('balcony\'s collection')
        await asyncio.sleep(0.2)  # the delete waits for its sync
        b.close()
        await asyncio.sleep(0.3)  # balcony is gone: the late message is stored
        r.send_message(mto=JULIET, mbody=body('late', 0), mtype='chat')
        await next_stall('the late message')
        if not await next_stall('the batch going back', 4):
            # The put-backs reached the writer before it began the late message's commit
            # (a slow build): they went in with it, and the window did not open this time.
            ctx.note('the batch went back in the late message\'s commit: no window')
        g.send_presence()
        os.unlink(flag)
        await settle(lambda: len(g.got) >= n + 1, 15)
        await asyncio.sleep(0.5)  # room for a duplicate to show
    finally:
        shutil.rmtree(flag_dir, ignore_errors=True)
    check(numbers(g.got, 'first') == list(range(n)), 'garden did not get the put-back batch '
          'whole, once, in order: %s' % describe(numbers(g.got, 'first'), n))
    check(numbers(g.got, 'late') == [0], 'garden did not get the late message once')
    check(g.got and g.got[-1].startswith('late:'), 'the late message came before the put-back '
          'batch (at position %s of %d)'
          % (next((k for k, x in enumerate(g.got) if x.startswith('late:')), None), len(g.got)))
    check(not g.errors, 'errors: %s' % g.errors[:3])
    check('lost' not in srv.log(), 'the server reports lost messages')
    await wait_stored(ctx, srv, 0, timeout=5)


async def test_message_larger_than_the_output_queue_does_not_block_the_rest(ctx):
    """With max_output_queue as small as max_stanza_size, a stored message (the stanza plus
    the server's 'from' and delay stamp) can be larger than the whole output queue: it can
    never be written, and trying would end the stream at every login. It is deleted with
    an error in the log, and the messages behind it arrive."""
    limits = {'limits.max_stanza_size': '10000', 'limits.max_output_queue': '10000'}
    srv = await ctx.server(users=USERS, sets=limits)
    r = await client(ctx, srv, ROMEO + '/orchard')
    r.send_message(mto=JULIET, mbody=body('big', 0, 9850), mtype='chat')
    for i in range(1, 4):
        r.send_message(mto=JULIET, mbody=body('big', i), mtype='chat')
    await wait_stored(ctx, srv, 4)
    await leave(r)

    j = await client(ctx, srv, JULIET + '/balcony')
    await settle(lambda: len(numbers(j.got, 'big')) >= 3)
    await asyncio.sleep(0.5)
    got = numbers(j.got, 'big')
    check(got == [1, 2, 3], 'juliet got %s, not the three small messages' % got)
    check(not j.gone.done(), 'juliet\'s stream was closed')
    check('can never be sent: deleted' in srv.log(), 'no error about the oversized message')
    await wait_stored(ctx, srv, 0, timeout=5)
