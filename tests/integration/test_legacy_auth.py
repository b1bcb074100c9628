"""Legacy authentication, XEP-0078 jabber:iq:auth, over TLS and (on a `tls: none` listener
that allows plaintext passwords) without it."""

from harness import (HOST, NS_CLIENT, NS_IQ_AUTH, NS_IQ_AUTH_FEATURE, check, login, q,
                     raw_connect, show, stanza_error)

USERS = {'alice': 'wonderland1'}


def auth_set(user, password, resource):
    return ("<query xmlns='%s'><username>%s</username><password>%s</password>"
            "<resource>%s</resource></query>" % (NS_IQ_AUTH, user, password, resource))


async def legacy_login(ctx, port, tls, resource):
    r = await raw_connect(ctx, port, tls=tls)
    feats = await r.open()
    check(feats.find(q(NS_IQ_AUTH_FEATURE, 'auth')) is not None,
          'iq-auth feature missing with legacy_iq_auth on: %s' % show(feats))
    res = await r.iq("<query xmlns='%s'><username>alice</username></query>" % NS_IQ_AUTH)
    check(res.get('type') == 'result', 'jabber:iq:auth get: %s' % show(res))
    fields = res.find(q(NS_IQ_AUTH, 'query'))
    check(fields is not None and all(fields.find(q(NS_IQ_AUTH, f)) is not None
                                     for f in ('username', 'password', 'resource')),
          'auth fields missing: %s' % show(res))
    res = await r.iq(auth_set('alice', USERS['alice'], resource), type_='set')
    check(res.get('type') == 'result', 'jabber:iq:auth set: %s' % show(res))
    return r


async def test_legacy_auth_over_tls(ctx):
    srv = await ctx.server(users=USERS, sets={'auth.legacy_iq_auth': 'true'})
    r = await legacy_login(ctx, srv.tls_port, True, 'old')
    await r.ping()
    # Answers to a bound session are addressed to its full JID (or carry no 'to').
    el = await r.iq("<ping xmlns='urn:xmpp:ping'/>", to=HOST)
    check(el.get('to') in (None, 'alice@%s/old' % HOST), 'ping answer to %s' % el.get('to'))

    # Wrong password: an error (XEP-0078 §3: not-authorized), no session.
    r2 = await raw_connect(ctx, srv.tls_port, tls=True)
    await r2.open()
    res = await r2.iq(auth_set('alice', 'wrong-password', 'bad'), type_='set')
    check(stanza_error(res) is not None and stanza_error(res)[1] == 'not-authorized',
          'wrong legacy password: %s' % show(res))
    # An unknown account gets the same answer (after the same decoy check).
    res = await r2.iq(auth_set('nobody', 'wrong-password', 'bad'), type_='set')
    check(stanza_error(res) is not None and stanza_error(res)[1] == 'not-authorized',
          'unknown legacy account: %s' % show(res))

    # A SASL session of the same account on another resource coexists with it.
    c = await login(ctx, srv.starttls_port, 'alice@%s/fresh' % HOST, USERS['alice'],
                    mech='SCRAM-SHA-256')
    await c.ping_server()
    await r.ping()


async def test_legacy_auth_without_tls_when_allowed(ctx):
    srv = await ctx.server(users=USERS, sets={'auth.legacy_iq_auth': 'true'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    r = await legacy_login(ctx, srv.plain_port, False, 'plain')
    await r.ping()


async def test_legacy_auth_off_by_default(ctx):
    srv = await ctx.server(users=USERS)
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    feats = await r.open()
    check(feats.find(q(NS_IQ_AUTH_FEATURE, 'auth')) is None,
          'iq-auth feature offered with legacy_iq_auth off: %s' % show(feats))
    await r.send("<iq type='set' id='a1'>%s</iq>" % auth_set('alice', USERS['alice'], 'x'))
    # Either a stanza error or the stream error for stanzas before authentication; never
    # a session.
    kind, el = await r.recv()
    if kind == 'el' and el.tag == q(NS_CLIENT, 'iq'):
        check(el.get('type') == 'error', 'legacy auth with the feature off: %s' % show(el))
    else:
        r.items.insert(0, (kind, el, None))
        cond, _, _ = await r.expect_stream_error()
        check(cond == 'not-authorized', 'legacy auth with the feature off: stream error %s'
              % cond)


async def test_legacy_auth_check_off_the_ring_holds_pipelined_input(ctx):
    """The password check of a legacy login runs off the ring: a ping pipelined behind the
    auth request waits for it and is answered after it, by the bound session; a client
    that vanishes mid-check leaves the server serving."""
    srv = await ctx.server(users=USERS, sets={'auth.legacy_iq_auth': 'true'})
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    await r.open()
    await r.send("<iq type='set' id='a1'>%s</iq><iq type='get' id='p1' to='%s'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>" % (auth_set('alice', USERS['alice'], 'piped'),
                                                         HOST))
    first, second = await r.element(), await r.element()
    check(first.get('id') == 'a1' and first.get('type') == 'result',
          'auth answer first: %s' % show(first))
    check(second.get('id') == 'p1' and second.get('type') == 'result',
          'then the ping, answered: %s' % show(second))
    for _ in range(10):
        gone = await raw_connect(ctx, srv.tls_port, tls=True)
        await gone.open()
        await gone.send("<iq type='set' id='x'>%s</iq>" % auth_set('alice', USERS['alice'], 'x'))
        gone.close()
    await r.ping()


async def test_legacy_auth_cannot_meet_a_sasl_exchange(ctx):
    """A SASL exchange in progress and a legacy login do not mix: Mallory starts SCRAM as
    herself, tries a legacy login as Alice with a wrong password in the middle (refused
    with not-allowed), then finishes SCRAM with her own proof: she is Mallory, never
    Alice."""
    users = {'alice': 'wonderland1', 'mallory': 'mallory-pass1'}
    srv = await ctx.server(users=users, sets={'auth.legacy_iq_auth': 'true'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    answers = []

    async def legacy_attempt():
        answers.append(await r.iq(auth_set('alice', 'not-her-password', 'x'), type_='set'))
    el = await r.auth_scram('SHA-1', 'mallory', users['mallory'], between=legacy_attempt)
    check(answers and stanza_error(answers[0]) is not None and
          stanza_error(answers[0])[1] == 'not-allowed',
          'the legacy login during SASL: %s' % (show(answers[0]) if answers else None))
    check(el.tag.endswith('success'), 'SCRAM as mallory: %s' % show(el))
    jid = await r.bind('x')
    check(jid == 'mallory@%s/x' % HOST, 'bound as %s with mallory\'s password' % jid)
