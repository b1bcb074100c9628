"""Hostile and broken input on raw sockets (RFC 6120 §4.9.3, §11): each case must end its own
stream with the right stream error and then close it, while a logged-in client on the same
server keeps working."""

import time

from harness import HOST, NS_SASL, check, login, q, raw_connect, show

USERS = {'alice': 'wonderland1', 'bob': 'builder-bob1'}

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")


def header(to=HOST, version='1.0', ns='jabber:client',
           stream_ns='http://etherx.jabber.org/streams'):
    v = " version='%s'" % version if version is not None else ''
    return ("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='%s'%s>"
            % (ns, stream_ns, to, v))


async def expect_error(r, want, case, timeout=5.0):
    cond, text, rest = await r.expect_stream_error(timeout)
    check(cond == want, '%s: stream error %r (text %r), expected %s' % (case, cond, text, want))
    # After the error the server closes the stream and then the connection (§4.9.1.1).
    check(rest[:1] == ['close'] and 'eof' in rest,
          '%s: after the error the stream was not closed: %s' % (case, rest))


async def case_after_open(ctx, srv, payload, want, case):
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    await r.send(payload)
    await expect_error(r, want, case)


async def case_before_open(ctx, srv, payload, want, case):
    r = await raw_connect(ctx, srv.plain_port)
    await r.send(payload)
    await expect_error(r, want, case)


async def logged_in_raw(ctx, srv):
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    el = await r.auth_plain('bob', USERS['bob'])
    check(el.tag == q(NS_SASL, 'success'), 'PLAIN on the plain listener: %s' % show(el))
    await r.bind('raw')
    return r


async def test_hostile_input(ctx):
    srv = await ctx.server(users=USERS,
                           sets={'limits.max_stanza_size': '10000',
                                 'limits.negotiation_timeout': '2s'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    watcher = await login(ctx, srv.starttls_port, 'alice@%s/watch' % HOST, USERS['alice'],
                          mech='SCRAM-SHA-256')
    await watcher.ping_server()

    body = 'x' * 20000
    cases = [
        # a) not well-formed
        ('mismatched tags', case_after_open,
         "<message to='a@localhost'><body>hi</message></body>", 'not-well-formed'),
        ('garbage bytes', case_after_open, '<<<>>>&&&', 'not-well-formed'),
        ('invalid UTF-8', case_after_open, b"<message><body>\xff\xfe</body></message>",
         'not-well-formed'),
        # b) DTD and entity declarations
        ('DOCTYPE with entity', case_before_open,
         "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'boom'>]>" +
         header()[len("<?xml version='1.0'?>"):], 'restricted-xml'),
        # RFC 6120 §4.9.3.18 lists entity references among the restricted features.
        ('entity reference', case_after_open, '<message><body>&bogus;</body></message>',
         'restricted-xml'),
        ('bare DOCTYPE', case_before_open,
         "<?xml version='1.0'?><!DOCTYPE stream>" + header()[len("<?xml version='1.0'?>"):],
         'restricted-xml'),
        # c) processing instruction and comment
        ('processing instruction', case_after_open, "<?evil stuff?>", 'restricted-xml'),
        ('comment', case_after_open, '<!-- hello -->', 'restricted-xml'),
        ('comment inside a stanza', case_after_open,
         "<message to='a@localhost'><!-- x --><body>hi</body></message>", 'restricted-xml'),
        # d) oversized stanza before authentication
        ('oversized stanza before auth', case_after_open,
         "<message to='a@localhost'><body>%s</body></message>" % body, 'policy-violation'),
        # The other parser limits (limits.max_depth 32, limits.max_attributes 64).
        ('nesting too deep', case_after_open,
         "<message to='a@localhost'>" + '<x>' * 40 + '</x>' * 40 + '</message>',
         'policy-violation'),
        ('too many attributes', case_after_open,
         "<message to='a@localhost' %s/>" % ' '.join("a%d='1'" % i for i in range(100)),
         'policy-violation'),
        # e) wrong namespaces, host, version
        ('wrong stream namespace', case_before_open,
         header(stream_ns='http://example.com/not-streams'), 'invalid-namespace'),
        ('wrong content namespace', case_before_open, header(ns='jabber:server'),
         'invalid-namespace'),
        ('unknown host', case_before_open, header(to='unknown.example'), 'host-unknown'),
        ('missing version', case_before_open, header(version=None), 'unsupported-version'),
        ('version 2.0', case_before_open, header(version='2.0'), 'unsupported-version'),
        # g) stanzas before authentication
        ('iq before auth', case_after_open,
         "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
         'not-authorized'),
        ('message before auth', case_after_open,
         "<message to='alice@localhost'><body>hi</body></message>", 'not-authorized'),
    ]
    failures = []
    for name, fn, payload, want in cases:
        try:
            await fn(ctx, srv, payload, want, name)
        except AssertionError as e:
            failures.append(str(e) if name in str(e) else '%s: %s' % (name, e))
        if not srv.alive():
            failures.append('server died after case %r' % name)
            break
        await watcher.ping_server()

    # d) oversized stanza from an authenticated, bound client.
    if srv.alive():
        try:
            r = await logged_in_raw(ctx, srv)
            await r.ping()
            await r.send("<message to='alice@localhost/watch'><body>%s</body></message>" % body)
            await expect_error(r, 'policy-violation', 'oversized stanza after bind')
        except AssertionError as e:
            failures.append('oversized stanza after bind: %s' % e)
        await watcher.ping_server()

    # f) silence after connecting: the negotiation deadline (2 s) ends the stream.
    if srv.alive():
        try:
            r = await raw_connect(ctx, srv.plain_port)
            t0 = time.monotonic()
            cond, text, rest = await r.expect_stream_error(timeout=4.5)
            took = time.monotonic() - t0
            check(cond == 'connection-timeout', 'silent client got %r (%r)' % (cond, text))
            check(1.5 <= took <= 4.5, 'connection-timeout after %.1f s, expected ~2 s' % took)
            check('eof' in rest, 'not closed after connection-timeout: %s' % rest)
        except AssertionError as e:
            failures.append('negotiation timeout: %s' % e)
        # A client that opened its stream but never authenticates is timed out as well.
        try:
            r = await raw_connect(ctx, srv.plain_port)
            await r.open()
            cond, text, rest = await r.expect_stream_error(timeout=4.5)
            check(cond == 'connection-timeout', 'idle unauthenticated stream got %r' % cond)
        except AssertionError as e:
            failures.append('negotiation timeout after stream open: %s' % e)

    # The bound client is not subject to the negotiation deadline and still works.
    try:
        await watcher.ping_server()
    except Exception as e:  # reported with the rest
        failures.append('logged-in client stopped answering at the end: %r' % e)
    check(watcher.stream_errors == [], 'logged-in client got stream errors %s'
          % watcher.stream_errors)
    check(not failures, '%d case(s) failed:\n  ' % len(failures) + '\n  '.join(failures))


async def test_starttls_required_means_no_plaintext_auth(ctx):
    """With require_tls=true, SASL before STARTTLS must not start: either the SASL failure
    <encryption-required/> (RFC 6120 §6.5.3) or a policy-violation stream error."""
    srv = await ctx.server(users=USERS, sets={'listeners.0.require_tls': 'true'})
    r = await raw_connect(ctx, srv.starttls_port)
    await r.open()
    await r.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>"
                 % (NS_SASL, 'biwsbj1hbGljZSxyPWFiY2RlZmdoaWprbG1ub3A='))
    kind, el = await r.recv()
    if kind == 'el' and el.tag == q(NS_SASL, 'failure'):
        check(el.find(q(NS_SASL, 'encryption-required')) is not None,
              'SASL before STARTTLS: %s' % show(el))
        return
    r.items.insert(0, (kind, el, None))
    await expect_error(r, 'policy-violation', 'SASL before required STARTTLS')


async def test_restart_to_another_host_is_refused(ctx):
    """Authenticated as alice@localhost with her password, a client restarts the stream
    with to='other.test', another host this server serves where another alice lives. The
    restart is between the same parties (RFC 6120 §4.3.3): the server must end the
    stream, never bind the other host's alice without her password."""
    srv = await ctx.server(users=USERS, sets={'hosts.1.name': 'other.test'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    rc, out = srv.ctl('adduser', 'alice@other.test', 'someone-else1')
    check(rc == 0, 'corvidctl adduser alice@other.test failed: %s' % out.strip())
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    el = await r.auth_plain('alice', USERS['alice'])
    check(el.tag == q(NS_SASL, 'success'), 'PLAIN for alice@localhost: %s' % show(el))
    r.restart()
    await r.send(header(to='other.test'))
    await expect_error(r, 'not-authorized', 'restart to another host after SASL')

    # The same restart to the host of the first header binds as usual.
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    el = await r.auth_plain('alice', USERS['alice'])
    check(el.tag == q(NS_SASL, 'success'), 'PLAIN for alice@localhost: %s' % show(el))
    jid = await r.bind('desk')
    check(jid == 'alice@%s/desk' % HOST, 'bound %s' % jid)
