"""Session lifetime: a resource bound twice (RFC 6120 §7.7.2.2), throttling of failed logins,
the shutdown on SIGTERM, and TCP keepalive for peers that vanish (limits.dead_peer_timeout)."""

import asyncio
import os
import signal

from harness import HOST, check, login, login_fails, raw_connect

USERS = {'alice': 'wonderland1'}
ALICE = 'alice@' + HOST


async def test_resource_conflict_replaces_old_session(ctx):
    srv = await ctx.server(users=USERS)
    first = await login(ctx, srv.starttls_port, ALICE + '/same', USERS['alice'],
                        mech='SCRAM-SHA-256')
    await first.ping_server()
    second = await login(ctx, srv.tls_port, ALICE + '/same', USERS['alice'],
                         mech='SCRAM-SHA-256', direct_tls=True)
    check(str(second.boundjid) == ALICE + '/same', 'second bound %s' % second.boundjid)
    try:
        await asyncio.wait_for(asyncio.shield(first.gone), 5)
    except asyncio.TimeoutError:
        raise AssertionError('first session still connected 5 s after the second bound the '
                             'same resource (stream errors %s)' % first.stream_errors)
    check(first.stream_errors == ['conflict'], 'first session got stream errors %s'
          % first.stream_errors)
    await second.ping_server()
    check(second.stream_errors == [], 'second session got %s' % second.stream_errors)

    # A third login on another resource leaves the second alone.
    third = await login(ctx, srv.starttls_port, ALICE + '/other', USERS['alice'],
                        mech='SCRAM-SHA-1')
    await third.ping_server()
    await second.ping_server()


async def test_stanzas_before_the_close_are_answered(ctx):
    """RFC 6120 §4.4: the side that closes its stream waits for the other's closing tag,
    so that the other can finish sending. Stanzas a client sends right before its closing
    tag are answered before the server's closing tag, which comes last, before end of
    file. (An end of file ends the session at once, closing tag or not: the server cannot
    tell a peer that only shut its sending side from one that closed for good, and what
    would be written to the latter is better kept in offline storage.)"""
    srv = await ctx.server(users=USERS, plain_listener={'allow_plain_without_tls': 'true'})
    ping = "<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>"
    roster = "<iq type='get' id='r%d'><query xmlns='jabber:iq:roster'/></iq>"
    for how in ('first connection', 'second connection'):
        r = await raw_connect(ctx, srv.plain_port)
        await r.open()
        el = await r.auth_plain('alice', USERS['alice'])
        check(el.tag.endswith('success'), 'PLAIN: %s' % el.tag)
        await r.bind('closing')
        await r.send(''.join(ping % i + roster % i for i in range(20)) + '</stream:stream>')
        seen = []
        while True:
            kind, val = await r.recv()
            seen.append(val.get('id') + ':' + val.get('type') if kind == 'el' else kind)
            if kind == 'eof':
                break
        want = [x for i in range(20) for x in ('p%d:result' % i, 'r%d:result' % i)]
        check(seen == want + ['close', 'eof'], '%s: the server sent %s' % (how, seen))


async def test_replaced_session_does_not_leave_contacts_seeing_it_offline(ctx):
    """A client that reconnects with the same resource replaces its old session (RFC 6120
    §7.7.2.2). The old session's unavailable presence and the new one's available presence
    carry the same full JID and come from two actors; whatever their order, the contact
    must end up seeing the full JID available, with the new status (RFC 6121 §4.4)."""
    srv = await ctx.server(users={'alice': USERS['alice'], 'bob': 'builder-bob1'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    for a, b in (('alice', 'bob'), ('bob', 'alice')):
        rc, out = srv.ctl('roster-add', '%s@%s' % (a, HOST), '%s@%s' % (b, HOST), 'both')
        check(rc == 0, 'corvidctl roster-add: %s' % out.strip())

    async def session(user, password, resource, status):
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain(user, password)
        check(el.tag.endswith('success'), 'PLAIN for %s: %s' % (user, el.tag))
        await c.bind(resource)
        await c.send('<presence><status>%s</status></presence>' % status)
        return c

    async def presences_for(c, secs):
        got = []
        end = asyncio.get_running_loop().time() + secs
        while True:
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                return got
            try:
                kind, el = await c.recv(left)
            except asyncio.TimeoutError:
                return got
            if kind == 'el' and el.tag.endswith('presence') and \
                    el.get('from') == ALICE + '/phone':
                st = [x.text for x in el if x.tag.endswith('status')]
                got.append((el.get('type') or 'available', st[0] if st else None))

    watcher = await session('bob', 'builder-bob1', 'watch', 'watching')
    old = await session('alice', USERS['alice'], 'phone', '0')
    await presences_for(watcher, 0.3)
    wrong = []
    for i in range(1, 13):
        new = await session('alice', USERS['alice'], 'phone', str(i))
        got = await presences_for(watcher, 0.4)
        if not got or got[-1] != ('available', str(i)):
            wrong.append((i, got))
        old.close()
        old = new
    check(not wrong, '%d of 12 reconnects left bob seeing alice/phone wrong, e.g. round %d: %s'
          % (len(wrong), wrong[0][0], wrong[0][1]) if wrong else '')


async def test_resources_per_account_are_bounded(ctx):
    """An account binds at most 64 resources at once (the router gathers an account's
    sessions into arrays that size): the 65th bind is refused with resource-constraint
    (RFC 6120 §7.6.2.1), and every bound resource, the first included, is still reached by
    its full JID; once one leaves, a new one binds."""
    srv = await ctx.server(users=USERS, plain_listener={'allow_plain_without_tls': 'true'})
    from harness import NS_BIND, stanza_error

    async def authenticated():
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain('alice', USERS['alice'])
        check(el.tag.endswith('success'), 'PLAIN: %s' % el.tag)
        return c
    bound = []
    for i in range(64):
        c = await authenticated()
        await c.bind('r%d' % i)
        bound.append(c)
    extra = await authenticated()
    extra.restart()
    await extra.open()
    el = await extra.iq("<bind xmlns='%s'><resource>r64</resource></bind>" % NS_BIND,
                        type_='set')
    check(stanza_error(el) == ('wait', 'resource-constraint') or
          (stanza_error(el) or ('', ''))[1] == 'resource-constraint',
          'the 65th bind: %s' % el.get('type'))
    async def reaches(sender, i):
        await sender.send("<message to='%s/r%d' type='chat'><body>to r%d</body></message>"
                          % (ALICE, i, i))
        el = await bound[i].element()
        check(el.tag.endswith('message') and el.findtext('{jabber:client}body') == 'to r%d' % i,
              'r%d did not get the message to its full JID' % i)
    for i in (0, 31, 63):
        await reaches(bound[63], i)
    bound[0].close()
    await asyncio.sleep(0.3)
    c = await authenticated()
    await c.bind('r64')
    await reaches(c, 1)


async def test_failed_logins_throttled_per_ip(ctx):
    srv = await ctx.server(users=USERS, sets={'auth.max_failures_per_ip': '3'})
    for i in range(3):
        f = await login_fails(ctx, srv.starttls_port, ALICE, 'wrong-%d' % i,
                              mech='SCRAM-SHA-256')
        check(f[:1] == ['not-authorized'], 'failed login %d: %s' % (i + 1, f))
    f = await login_fails(ctx, srv.starttls_port, ALICE, USERS['alice'], mech='SCRAM-SHA-256')
    check(f[:1] == ['temporary-auth-failure'],
          '4th login (right password) after 3 failures from 127.0.0.1: %s' % f)
    # Another account from the same address is throttled too: the limit is per address.
    f = await login_fails(ctx, srv.tls_port, 'bob@' + HOST, 'whatever-1', mech='PLAIN',
                          direct_tls=True)
    check(f[:1] == ['temporary-auth-failure'], 'other account from the same IP: %s' % f)


async def test_sigterm_shuts_down_cleanly(ctx):
    srv = await ctx.server(users=USERS)
    c = await login(ctx, srv.starttls_port, ALICE + '/desk', USERS['alice'],
                    mech='SCRAM-SHA-256')
    await c.ping_server()
    # A client still negotiating gets the error too.
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    await r.open()

    srv.proc.send_signal(signal.SIGTERM)
    cond, text, rest = await r.expect_stream_error(timeout=5)
    check(cond == 'system-shutdown', 'negotiating client got %r (%r)' % (cond, text))
    check(rest[:1] == ['close'] and 'eof' in rest,
          'negotiating client: stream not closed after system-shutdown: %s' % rest)
    try:
        await asyncio.wait_for(asyncio.shield(c.gone), 5)
    except asyncio.TimeoutError:
        raise AssertionError('logged-in client still connected 5 s after SIGTERM')
    check(c.stream_errors == ['system-shutdown'], 'logged-in client got stream errors %s'
          % c.stream_errors)
    rc = await srv.terminate(timeout=5, send=False)
    check(rc is not None, 'server still running 5 s after SIGTERM')
    check(rc == 0, 'server exited with status %d after SIGTERM' % rc)


def _open_descriptors(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def _open_sockets(pid):
    n = 0
    for f in os.listdir('/proc/%d/fd' % pid):
        try:
            n += os.readlink('/proc/%d/fd/%s' % (pid, f)).startswith('socket:')
        except OSError:
            pass  # closed while we looked
    return n


async def test_connections_hold_no_process_descriptors(ctx):
    """Sockets live in each ring's fixed-file table, not in the process's descriptor table,
    so the open-file limit caps a worker, not the server. 300 open streams on one worker
    leave the descriptor count where it was, and each stream still gets its features."""
    srv = await ctx.server(users=USERS, workers=1, sets={'direct_descriptors': 'true'})
    before = _open_descriptors(srv.proc.pid)
    raws = []
    for _ in range(300):
        r = await raw_connect(ctx, srv.starttls_port)
        await r.open()
        raws.append(r)
    during = _open_descriptors(srv.proc.pid)
    check(during - before < 10, 'the server holds %d descriptors with 300 streams open, '
          '%d before' % (during, before))
    for r in raws:
        r.close()
    # The slots come back: a login after the streams closed works.
    c = await login(ctx, srv.starttls_port, ALICE + '/after', USERS['alice'],
                    mech='SCRAM-SHA-256')
    await c.ping_server()


async def _fill_to_the_limit(ctx, port, open_streams):
    """Opens streams until `open_streams` are open, then one more, which the server must
    close at once without a byte. Returns the open streams."""
    raws = []
    for _ in range(open_streams):
        # The harness's start-up probes hold slots until the server has closed them, which
        # on a loaded machine may come after our first connections: a refused one is
        # retried for a while (the check below is what must hold).
        for attempt in range(50):
            r = await raw_connect(ctx, port)
            try:
                await r.open()
                break
            except AssertionError:
                r.close()
                check(attempt < 49, 'a connection below the limit stayed refused')
                await asyncio.sleep(0.1)
        raws.append(r)
    extra = await raw_connect(ctx, port)
    await extra.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>"
                     % HOST)
    seen = await extra.expect_closed(timeout=5)
    check(seen == ['eof'], 'the connection past the limit got %s before it was closed' % seen)
    return raws


async def test_connection_limit_refuses_and_recovers(ctx):
    """limits.max_connections sizes each worker's socket table: the connection past it is
    closed at once, and a slot freed by a closed stream is used again."""
    srv = await ctx.server(users=USERS, workers=1, sets={'limits.max_connections': '5'})
    raws = await _fill_to_the_limit(ctx, srv.starttls_port, 5)
    raws.pop().close()
    await asyncio.sleep(0.3)
    c = await login(ctx, srv.starttls_port, ALICE + '/after', USERS['alice'],
                    mech='SCRAM-SHA-256')
    await c.ping_server()


async def test_ordinary_descriptors_still_work(ctx):
    """With direct_descriptors off (what kernels before 6.13 get), each connection is an
    ordinary descriptor: logins, routing, the connection limit and closing all work."""
    srv = await ctx.server(users={'alice': 'wonderland1', 'bob': 'builder1234'}, workers=1,
                           sets={'direct_descriptors': 'false', 'limits.max_connections': '4'})
    await srv.wait_log('sockets: ordinary descriptors')
    await srv.wait_log('serving ' + HOST)
    before = _open_sockets(srv.proc.pid)
    a = await login(ctx, srv.starttls_port, ALICE + '/one', 'wonderland1', mech='SCRAM-SHA-256')
    b = await login(ctx, srv.tls_port, 'bob@' + HOST + '/two', 'builder1234', mech='PLAIN',
                    direct_tls=True)
    # Two listening sockets plus one per session (the harness's own probe connection may
    # still be open in `before`, so the count is checked against the floor).
    during = _open_sockets(srv.proc.pid)
    check(during >= 4, 'two sessions on ordinary descriptors, but the server holds %d '
          'sockets (%d before they logged in)' % (during, before))
    got = asyncio.get_event_loop().create_future()
    b.add_event_handler('message', lambda m: got.done() or got.set_result(m['body']))
    a.send_message(mto='bob@' + HOST + '/two', mbody='over plain fds', mtype='chat')
    body = await asyncio.wait_for(got, 5)
    check(body == 'over plain fds', 'bob got %r' % body)
    raws = await _fill_to_the_limit(ctx, srv.starttls_port, 2)
    for r in raws:
        r.close()
    deadline = asyncio.get_event_loop().time() + 5
    while _open_sockets(srv.proc.pid) > before + 2:
        check(asyncio.get_event_loop().time() < deadline,
              'sockets of closed streams not released: %d open, %d before two sessions'
              % (_open_sockets(srv.proc.pid), before))
        await asyncio.sleep(0.1)


async def test_input_rate_limit_slows_a_flood_and_loses_nothing(ctx):
    """limits.c2s_rate: a client sending faster than its budget is not read from until the
    budget refills, so 256 KiB of pings at 64 KiB/s take (at least) about three seconds to
    be answered, all of them, in order (what the kernel had handed over already waits in
    the server); the server keeps serving others meanwhile."""
    import time
    srv = await ctx.server(users=USERS, workers=1, sets={'limits.c2s_rate': '64KiB'})
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    await r.open()
    el = await r.auth_scram('SHA-256', 'alice', USERS['alice'])
    check(el.tag.endswith('success'), 'login failed')
    await r.bind('flood')
    ping = "<iq type='get' id='p%d' to='" + HOST + "'><ping xmlns='urn:xmpp:ping'/></iq>"
    pings = [ping % i for i in range(3600)]
    size = sum(len(p) for p in pings)
    check(size >= 256 * 1024, 'the flood is only %d bytes' % size)
    t0 = time.monotonic()
    await r.send(''.join(pings))
    # Meanwhile another client on the same worker is served while the flood waits.
    c = await login(ctx, srv.starttls_port, ALICE + '/other', USERS['alice'], mech='SCRAM-SHA-256')
    await c.ping_server()
    other_done = time.monotonic()
    for i in range(len(pings)):
        el = await r.element(timeout=30)
        check(el.get('id') == 'p%d' % i and el.get('type') == 'result',
              'answer %d: %s' % (i, el.attrib))
    flood_done = time.monotonic()
    took = flood_done - t0
    check(other_done < flood_done, 'the other client was served only after the flood')
    # Budget: one second's worth at once, then 64 KiB per second.
    least = (size - 64 * 1024) / (64 * 1024) * 0.75
    check(took >= least, '%d bytes answered in %.1f s: the limit did not hold (expected %.1f s '
          'or more)' % (size, took, least))


def keepalive_timers(port):
    """(timer kind, clock ticks left) of the established IPv4 sockets whose local port is
    port, from /proc/net/tcp: kind 2 is TCP's keepalive timer, 0 none."""
    timers = []
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, timer = fields[1], fields[3], fields[5]
            if int(local.split(':')[1], 16) == port and state == '01':
                kind, when = timer.split(':')
                timers.append((int(kind, 16), int(when, 16)))
    return timers


async def test_dead_peer_timeout_arms_keepalive_on_client_connections(ctx):
    """With limits.dead_peer_timeout 90 s, the server's side of an idle client connection
    has TCP's keepalive timer set to probe within 30 s (a third of it), so a peer that
    vanished without closing is found and its session ended; with 0 it has no timer."""
    hz = os.sysconf('SC_CLK_TCK')
    for value, want in (('90s', 2), ('0', 0)):
        srv = await ctx.server(users=USERS, sets={'limits.dead_peer_timeout': value})
        c = await login(ctx, srv.starttls_port, ALICE + '/idle', USERS['alice'],
                        mech='SCRAM-SHA-256')
        await c.ping_server()
        await asyncio.sleep(0.3)  # every byte acknowledged: no retransmission timer left
        timers = keepalive_timers(srv.starttls_port)
        check(len(timers) == 1, 'expected one server-side connection on port %d, found %s'
              % (srv.starttls_port, timers))
        kind, left = timers[0]
        check(kind == want, 'dead_peer_timeout %s: timer kind %d on the server side, not %d'
              % (value, kind, want))
        if want:
            check(0 < left <= 30 * hz, 'dead_peer_timeout %s: first probe in %.1f s, not '
                  'within 30 s' % (value, left / hz))
        c.disconnect()
        await srv.terminate()
