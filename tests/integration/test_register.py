"""In-band registration (XEP-0077): creating an account, conflicts, changing the password,
cancelling the account, and the feature being off by default."""

import asyncio
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError

from harness import (HOST, NS_REGISTER, NS_REGISTER_FEATURE, NS_SASL, check, im_client,
                     login, login_fails, q, raw_connect, settle, show, stanza_error,
                     subscription_of)


def register_body(user, password):
    return ("<query xmlns='%s'><username>%s</username><password>%s</password></query>"
            % (NS_REGISTER, user, password))


async def client_register_iq(c, body, timeout=5):
    """Sends an iq set carrying body from a slixmpp client; returns the answer (an error
    answer is returned, not raised)."""
    iq = c.Iq()
    iq['type'] = 'set'
    iq['to'] = HOST
    iq.append(ET.fromstring(body))
    try:
        return await iq.send(timeout=timeout)
    except IqError as e:
        return e.iq


async def test_register_login_change_cancel(ctx):
    srv = await ctx.server(sets={'registration.enabled': 'true'})

    r = await raw_connect(ctx, srv.tls_port, tls=True)
    feats = await r.open()
    check(feats.find(q(NS_REGISTER_FEATURE, 'register')) is not None,
          'register feature missing with registration on: %s' % show(feats))
    form = await r.iq("<query xmlns='%s'/>" % NS_REGISTER)
    check(form.get('type') == 'result', 'registration form request: %s' % show(form))
    query = form.find(q(NS_REGISTER, 'query'))
    check(query is not None and query.find(q(NS_REGISTER, 'username')) is not None
          and query.find(q(NS_REGISTER, 'password')) is not None,
          'form lacks username/password: %s' % show(form))

    res = await r.iq(register_body('newbie', 'first-pass-1'), type_='set')
    check(res.get('type') == 'result', 'registration failed: %s' % show(res))
    res = await r.iq(register_body('newbie', 'other-pass-2'), type_='set')
    check(stanza_error(res) == ('cancel', 'conflict'),
          'second registration of the same name: %s' % show(res))
    # Case-folded names are the same account (RFC 7622 localpart preparation).
    res = await r.iq(register_body('NewBie', 'other-pass-2'), type_='set')
    check(stanza_error(res) == ('cancel', 'conflict'),
          'registration of NewBie after newbie: %s' % show(res))
    # RFC 7622 allows long localparts, the store keys accounts by host and name together:
    # one past that is refused as not-acceptable, not as a server error.
    res = await r.iq(register_body('x' * 600, 'long-name-pass1'), type_='set')
    check(stanza_error(res) is not None and stanza_error(res)[1] == 'not-acceptable',
          'registration of a 600-byte name: %s' % show(res))
    res = await r.iq(register_body('shorty', 'abc'), type_='set')
    check(stanza_error(res) is not None and stanza_error(res)[1] == 'not-acceptable',
          'password shorter than registration.min_password_length: %s' % show(res))
    r.close()

    jid = 'newbie@' + HOST
    f = await login_fails(ctx, srv.starttls_port, 'shorty@' + HOST, 'abc', mech='SCRAM-SHA-256')
    check(f[:1] == ['not-authorized'], 'refused registration still created an account: %s' % f)

    c = await login(ctx, srv.starttls_port, jid + '/r1', 'first-pass-1', mech='SCRAM-SHA-256')
    await c.ping_server()
    res = await client_register_iq(c, register_body('newbie', 'second-pass-3'))
    check(res['type'] == 'result', 'password change: %s' % res)
    await c.ping_server()
    c.close()

    f = await login_fails(ctx, srv.starttls_port, jid, 'first-pass-1', mech='SCRAM-SHA-256')
    check(f[:1] == ['not-authorized'], 'old password after change: %s' % f)
    c = await login(ctx, srv.starttls_port, jid + '/r2', 'second-pass-3', mech='SCRAM-SHA-1')
    await c.ping_server()

    # Someone else's password cannot be changed.
    res = await client_register_iq(c, register_body('admin', 'takeover-pass'))
    check(res['type'] == 'error', 'changing another user\'s password: %s' % res)

    res = await client_register_iq(c, "<query xmlns='%s'><remove/></query>" % NS_REGISTER)
    check(res['type'] == 'result', 'account removal: %s' % res)

    f = await login_fails(ctx, srv.starttls_port, jid, 'second-pass-3', mech='SCRAM-SHA-256')
    check(f[:1] == ['not-authorized'], 'login after cancel: %s' % f)
    f = await login_fails(ctx, srv.tls_port, jid, 'second-pass-3', mech='PLAIN',
                          direct_tls=True)
    check(f[:1] == ['not-authorized'], 'PLAIN login after cancel: %s' % f)


async def test_cancel_ends_every_session_of_the_account(ctx):
    """XEP-0077 §3.2: cancelling an account ends every active session of it with a
    not-authorized stream error, not only the one that asked. A session left open would go
    on receiving what is sent to the name, and, once a stranger registered the name again,
    the stranger's messages and roster."""
    srv = await ctx.server(sets={'registration.enabled': 'true'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    res = await r.iq(register_body('leaver', 'leaver-pass-1'), type_='set')
    check(res.get('type') == 'result', 'registration failed: %s' % show(res))
    r.close()
    sessions = []
    for resource in ('a', 'b', 'c'):
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain('leaver', 'leaver-pass-1')
        check(el.tag == q(NS_SASL, 'success'), 'PLAIN for leaver: %s' % show(el))
        await c.bind(resource)
        sessions.append(c)
    a, others = sessions[0], sessions[1:]
    res = await a.iq("<query xmlns='%s'><remove/></query>" % NS_REGISTER, type_='set')
    check(res.get('type') == 'result', 'account removal: %s' % show(res))
    for name, c in zip('abc', sessions):
        cond, _text, rest = await c.expect_stream_error()
        check(cond == 'not-authorized', 'session %s after the cancel: stream error %r'
              % (name, cond))
        check('eof' in rest, 'session %s was not closed after the cancel: %s' % (name, rest))

    # The name registered again by someone else reaches only the new account's sessions.
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    res = await r.iq(register_body('leaver', 'stranger-pass-2'), type_='set')
    check(res.get('type') == 'result', 'registering the name again: %s' % show(res))
    r.close()
    f = await login_fails(ctx, srv.starttls_port, 'leaver@' + HOST, 'leaver-pass-1',
                          mech='SCRAM-SHA-256')
    check(f[:1] == ['not-authorized'], 'the old password after the cancel: %s' % f)


async def im_user(ctx, srv, jid, password):
    """An IM client (harness.im_client) that approves subscription requests."""
    return await im_client(ctx, srv.starttls_port, jid, password, approve=True)


def bare(jid):
    return jid.split('/')[0]


async def test_cancel_ends_the_subscriptions_of_the_account(ctx):
    """XEP-0077 §3.2: a cancelled account's subscriptions are cancelled as a roster removal
    would cancel them (RFC 6121 §2.5.2): its contact sees it go unavailable and its roster
    item drop to 'none'. Someone who registers the name afterwards inherits nothing: the
    contact's presence does not reach them, theirs does not reach the contact."""
    srv = await ctx.server(users={'friend': 'friendly-pass1'},
                           sets={'registration.enabled': 'true'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    leaver, friend = 'leaver@' + HOST, 'friend@' + HOST
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    res = await r.iq(register_body('leaver', 'leaver-pass-1'), type_='set')
    check(res.get('type') == 'result', 'registration failed: %s' % show(res))
    r.close()
    f = await im_user(ctx, srv, friend + '/home', 'friendly-pass1')
    lv = await im_user(ctx, srv, leaver + '/phone', 'leaver-pass-1')
    lv.send_presence(pto=friend, ptype='subscribe')
    f.send_presence(pto=leaver, ptype='subscribe')
    check(await settle(lambda: subscription_of(f, leaver) == 'both' and
                       subscription_of(lv, friend) == 'both'),
          'no mutual subscription: friend %s, leaver %s'
          % (subscription_of(f, leaver), subscription_of(lv, friend)))
    f.pres.clear()
    res = await client_register_iq(lv, "<query xmlns='%s'><remove/></query>" % NS_REGISTER)
    check(res['type'] == 'result', 'account removal: %s' % res)
    check(await settle(lambda: subscription_of(f, leaver) == 'none'),
          'the friend\'s roster still says %r for the cancelled account'
          % subscription_of(f, leaver))
    check(await settle(lambda: (leaver, 'unavailable') in [(bare(j), t) for j, t in f.pres]),
          'the friend did not see the cancelled account go: %s' % f.pres)

    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    res = await r.iq(register_body('leaver', 'stranger-pass-2'), type_='set')
    check(res.get('type') == 'result', 'registering the name again: %s' % show(res))
    r.close()
    f.pres.clear()
    st = await im_user(ctx, srv, leaver + '/new', 'stranger-pass-2')
    f.send_presence(pstatus='still here')
    await asyncio.sleep(1.0)
    check(not [p for p in st.pres if bare(p[0]) == friend],
          'the new owner of the name got the old owner\'s contact\'s presence: %s' % st.pres)
    check(not [p for p in f.pres if bare(p[0]) == leaver and p[1] != 'unavailable'],
          'the contact got the new owner\'s presence: %s' % f.pres)


async def test_deluser_releases_the_contacts(ctx):
    """`corvidctl deluser` does to the contacts' rosters what an in-band cancel does: each
    local contact's item for the deleted account keeps no subscription (and a record that
    was only a pending request goes), so an account made again under the name inherits
    nothing of the old one's."""
    srv = await ctx.server(users={'friend': 'friendly-pass1', 'gone': 'gone-pass-1',
                                  'asker': 'asker-pass-1'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    gone, friend, asker = ('%s@%s' % (u, HOST) for u in ('gone', 'friend', 'asker'))
    for a, b in ((gone, friend), (friend, gone)):
        rc, out = srv.ctl('roster-add', a, b, 'both')
        check(rc == 0, 'corvidctl roster-add: %s' % out.strip())
    # asker asks gone for a subscription: a pending request on each side.
    a = await im_user(ctx, srv, asker + '/r', 'asker-pass-1')
    a.roster.auto_authorize = None
    a.send_presence(pto=gone, ptype='subscribe')
    check(await settle(lambda: a.client_roster[gone]['pending_out']
                       if gone in a.client_roster.keys() else False),
          'the subscription request of asker is not pending')
    a.disconnect()

    rc, out = srv.ctl('deluser', gone)
    check(rc == 0, 'corvidctl deluser: %s' % out.strip())
    rc, out = srv.ctl('adduser', gone, 'new-owner-pass1')
    check(rc == 0, 'corvidctl adduser again: %s' % out.strip())

    f = await im_user(ctx, srv, friend + '/r', 'friendly-pass1')
    check(subscription_of(f, gone) == 'none',
          'the friend\'s item for the deleted account says %r' % subscription_of(f, gone))
    a = await im_user(ctx, srv, asker + '/r', 'asker-pass-1')
    check(not (gone in a.client_roster.keys() and a.client_roster[gone]['pending_out']),
          'the request to the deleted account is still pending')
    n = await im_user(ctx, srv, gone + '/new', 'new-owner-pass1')
    await asyncio.sleep(0.5)
    check(not [p for p in n.pres if bare(p[0]) in (friend, asker)],
          'the new owner of the name got presence meant for the old one: %s' % n.pres)


async def test_deluser_ends_the_sessions_of_a_running_server(ctx):
    """`corvidctl deluser` is another process: the server learns of the deletion from the
    store's log of deleted accounts (read once a second) and ends every session of the
    account with not-authorized, as an in-band cancel does; other accounts stay."""
    srv = await ctx.server(users={'gone': 'gone-pass-1', 'stays': 'stays-pass-1'},
                           plain_listener={'allow_plain_without_tls': 'true'})

    async def bound(user, password, resource):
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain(user, password)
        check(el.tag == q(NS_SASL, 'success'), 'PLAIN for %s: %s' % (user, show(el)))
        await c.bind(resource)
        return c
    sessions = [await bound('gone', 'gone-pass-1', r) for r in ('a', 'b')]
    other = await bound('stays', 'stays-pass-1', 'x')
    rc, out = srv.ctl('deluser', 'gone@' + HOST)
    check(rc == 0, 'corvidctl deluser: %s' % out.strip())
    for name, c in zip('ab', sessions):
        cond, _text, rest = await c.expect_stream_error(timeout=5)
        check(cond == 'not-authorized', 'session %s after deluser: %r' % (name, cond))
        check('eof' in rest, 'session %s not closed: %s' % (name, rest))
    await other.ping()
    check(await srv.wait_log('account gone@%s was deleted' % HOST, 2), 'nothing logged')


async def test_registration_off_by_default(ctx):
    srv = await ctx.server(users={'alice': 'wonderland1'})
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    feats = await r.open()
    check(feats.find(q(NS_REGISTER_FEATURE, 'register')) is None,
          'register feature offered with registration off: %s' % show(feats))
    res = await r.iq("<query xmlns='%s'/>" % NS_REGISTER)
    check(stanza_error(res) == ('cancel', 'service-unavailable'),
          'registration form with registration off: %s' % show(res))
    res = await r.iq(register_body('intruder', 'intruder-pass'), type_='set')
    check(stanza_error(res) == ('cancel', 'service-unavailable'),
          'registration with registration off: %s' % show(res))
    r.close()
    f = await login_fails(ctx, srv.tls_port, 'intruder@' + HOST, 'intruder-pass',
                          mech='PLAIN', direct_tls=True)
    check(f[:1] == ['not-authorized'], 'refused registration created an account: %s' % f)
    # A logged-in user may still change the password with registration off.
    c = await login(ctx, srv.tls_port, 'alice@' + HOST, 'wonderland1', mech='SCRAM-SHA-256',
                    direct_tls=True)
    res = await client_register_iq(c, register_body('alice', 'looking-glass2'))
    check(res['type'] == 'result', 'password change with registration off: %s' % res)


async def test_pipelined_input_waits_for_the_registration(ctx):
    """A registration derives credentials and commits off the ring; what the client sent
    behind it (more registrations, then a PLAIN login of the new account) waits for each
    answer in turn: answers come in order and the login sees the account. Clients that
    vanish meanwhile leave the server serving (the sanitizer runs would catch a use after
    free)."""
    import base64
    from harness import NS_SASL
    srv = await ctx.server(sets={'registration.enabled': 'true'})
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    await r.open()
    cred = base64.b64encode(b'\0piped1\0pipe-secret1').decode()
    await r.send("<iq type='set' id='r1'>%s</iq><iq type='set' id='r2'>%s</iq>"
                 "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                 % (register_body('piped1', 'pipe-secret1'), register_body('piped2', 'pipe-secret2'),
                    NS_SASL, cred))
    first, second, third = await r.element(), await r.element(), await r.element()
    check(first.get('id') == 'r1' and first.get('type') == 'result', 'first: %s' % show(first))
    check(second.get('id') == 'r2' and second.get('type') == 'result', 'second: %s' % show(second))
    check(third.tag == q(NS_SASL, 'success'), 'then the login succeeds: %s' % show(third))
    for i in range(10):
        gone = await raw_connect(ctx, srv.tls_port, tls=True)
        await gone.open()
        await gone.send("<iq type='set' id='g'>%s</iq><auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                        % (register_body('gone%d' % i, 'gone-secret1'), NS_SASL, cred))
        gone.close()
    c = await login(ctx, srv.starttls_port, 'piped2@' + HOST + '/x', 'pipe-secret2',
                    mech='SCRAM-SHA-256')
    await c.ping_server()
