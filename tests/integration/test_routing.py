"""Routing between bound sessions (RFC 6120 §8, §10; RFC 6121 §8): chat between two users,
bare-JID delivery by priority, order of many messages across worker threads, errors back to
the sender, and the server-stamped 'from'."""

import asyncio

from harness import HOST, check, login, settle

USERS = {'romeo': 'montague1', 'juliet': 'capulet12'}
ROMEO = 'romeo@' + HOST
JULIET = 'juliet@' + HOST


async def client(ctx, srv, jid, prio=None, presence=True):
    user = jid.split('@')[0]
    c = await login(ctx, srv.starttls_port, jid, USERS[user], mech='SCRAM-SHA-256')
    c.got = []
    c.errors = []
    c.add_event_handler('message', lambda m: c.got.append(
        (m['type'], m['from'].full, m['body'])))
    c.add_event_handler('message_error', lambda m: c.errors.append(
        (m['from'].full, m['error']['condition'], m['id'])))
    if presence:
        c.send_presence(ppriority=prio)
    return c


async def test_two_users_chat(ctx):
    srv = await ctx.server(users=USERS)
    r = await client(ctx, srv, ROMEO + '/orchard')
    j = await client(ctx, srv, JULIET + '/balcony')
    await asyncio.sleep(0.2)
    r.send_message(mto=JULIET, mbody='Lady, by yonder blessed moon I swear', mtype='chat')
    check(await settle(lambda: len(j.got) == 1), 'juliet got %s' % j.got)
    check(j.got[0] == ('chat', ROMEO + '/orchard', 'Lady, by yonder blessed moon I swear'),
          'juliet got %s' % j.got)
    j.send_message(mto=ROMEO + '/orchard', mbody='O, swear not by the moon', mtype='chat')
    check(await settle(lambda: len(r.got) == 1), 'romeo got %s' % r.got)
    check(r.got[0][1] == JULIET + '/balcony', 'romeo got %s' % r.got)


async def test_bare_jid_goes_to_highest_priority(ctx):
    srv = await ctx.server(users=USERS)
    r = await client(ctx, srv, ROMEO + '/orchard')
    js = {}
    for res, prio in (('high', 5), ('low', 1), ('negative', -1)):
        js[res] = await client(ctx, srv, JULIET + '/' + res, prio=prio)
    await asyncio.sleep(0.3)
    r.send_message(mto=JULIET, mbody='to the highest', mtype='chat')
    check(await settle(lambda: len(js['high'].got) == 1), 'high got %s' % js['high'].got)
    await asyncio.sleep(0.3)
    check(js['low'].got == [] and js['negative'].got == [],
          'low %s negative %s' % (js['low'].got, js['negative'].got))
    # A full JID reaches even the negative-priority resource.
    r.send_message(mto=JULIET + '/negative', mbody='to you alone', mtype='chat')
    check(await settle(lambda: len(js['negative'].got) == 1), 'negative got nothing')
    # Headlines go to every non-negative resource (RFC 6121 §8.5.2.1.1).
    r.send_message(mto=JULIET, mbody='news', mtype='headline')
    check(await settle(lambda: len(js['low'].got) == 1 and len(js['high'].got) == 2),
          'headline: high %s low %s' % (js['high'].got, js['low'].got))
    # A tie at the top: both get it.
    js['low'].send_presence(ppriority=5)
    await asyncio.sleep(0.3)
    r.send_message(mto=JULIET, mbody='tie', mtype='chat')
    check(await settle(lambda: js['low'].got[-1:] == [('chat', ROMEO + '/orchard', 'tie')]
                       and js['high'].got[-1][2] == 'tie'),
          'tie: high %s low %s' % (js['high'].got, js['low'].got))
    check(len(js['negative'].got) == 1, 'negative got %s' % js['negative'].got)


async def test_ten_thousand_messages_in_order(ctx):
    srv = await ctx.server(users=USERS, workers=2)
    r = await client(ctx, srv, ROMEO + '/orchard')
    j = await client(ctx, srv, JULIET + '/balcony')
    await asyncio.sleep(0.2)
    n = 10000
    for i in range(n):
        r.send_message(mto=JULIET, mbody=str(i), mtype='chat')
    check(await settle(lambda: len(j.got) >= n, timeout=25), 'juliet got %d of %d'
          % (len(j.got), n))
    bodies = [int(g[2]) for g in j.got]
    check(bodies == list(range(n)), 'out of order or lost: first mismatch at %s'
          % next((i for i, b in enumerate(bodies) if b != i), None))


async def test_errors_come_back(ctx):
    srv = await ctx.server(users=USERS)
    r = await client(ctx, srv, ROMEO + '/orchard')
    r.send_message(mto='nobody@' + HOST, mbody='hello?', mtype='chat', mfrom=None)
    r.send_message(mto='someone@elsewhere.example', mbody='hello?', mtype='chat')
    check(await settle(lambda: len(r.errors) == 2), 'errors %s' % r.errors)
    conds = sorted(e[1] for e in r.errors)
    check(conds == ['remote-server-not-found', 'service-unavailable'], 'errors %s' % r.errors)
    # An IQ to a resource that is not there: service-unavailable (RFC 6121 §8.5.3.2.3).
    iq = r.Iq()
    iq['type'] = 'get'
    iq['to'] = JULIET + '/nowhere'
    iq.enable('ping')
    try:
        await iq.send(timeout=5)
        raise AssertionError('iq to a missing resource got a result')
    except Exception as e:  # slixmpp raises IqError carrying the reply
        check('service-unavailable' in str(getattr(e, 'iq', e)), 'iq error: %s' % e)


async def test_spoofed_from_is_rewritten(ctx):
    srv = await ctx.server(users=USERS)
    r = await client(ctx, srv, ROMEO + '/orchard')
    j = await client(ctx, srv, JULIET + '/balcony')
    await asyncio.sleep(0.2)
    r.send_message(mto=JULIET, mbody='it is I, the nurse', mtype='chat',
                   mfrom='nurse@' + HOST + '/kitchen')
    check(await settle(lambda: len(j.got) == 1), 'juliet got %s' % j.got)
    check(j.got[0][1] == ROMEO + '/orchard', 'from was not rewritten: %s' % (j.got,))


async def _race_a_closing_recipient(ctx, srv, stanza, count):
    """romeo pipelines `count` stanzas (stanza % i gives the i-th, id 'r<i>') to juliet's
    full JID while juliet ends her stream. Returns (the ids juliet read before her
    connection closed, romeo's errors by id)."""
    from harness import raw_connect, q, NS_SASL
    async def raw(user, resource):
        r = await raw_connect(ctx, srv.plain_port)
        await r.open()
        el = await r.auth_plain(user, USERS[user])
        check(el.tag == q(NS_SASL, 'success'), 'PLAIN for %s failed' % user)
        await r.bind(resource)
        return r
    romeo = await raw('romeo', 'orchard')
    juliet = await raw('juliet', 'balcony')
    burst = ''.join(stanza % i for i in range(count))
    await asyncio.gather(romeo.send(burst), juliet.send('</stream:stream>'))
    got = set()
    while True:
        kind, el = await juliet.recv(timeout=15)
        if kind == 'el' and el.get('id'):
            got.add(el.get('id'))
        if kind in ('close', 'eof'):
            break
    errors = {}
    while len(got) + len(errors) < count:
        try:
            el = await romeo.element(timeout=5)
        except asyncio.TimeoutError:
            break
        err = [c for c in el if c.tag.endswith('}error')]
        if el.get('type') == 'error' and err:
            errors[el.get('id')] = [c.tag.split('}')[1] for c in err[0]]
    return got, errors


async def test_recipient_leaving_mid_flight_loses_nothing(ctx):
    """A session that closes while stanzas to it are on their way (the router chose it, its
    ring delivers after the close): every iq get either reached juliet before she closed
    or comes back to romeo as service-unavailable (RFC 6121 §8.5.3.1); every chat message
    either reached her or, her offline storage refusing it, comes back as
    service-unavailable too. Nothing is silently lost. Offline storage refuses at once
    with max_offline_messages 0, and from the store's writer thread when the quota (1) is
    full. The debug log shows the answers given after a delivery found its recipient gone,
    so the test knows the race was won at least once."""
    plain = {'allow_plain_without_tls': 'true'}
    to = JULIET + '/balcony'
    iq = "<iq type='get' id='r%d' to='" + to + "'><query xmlns='jabber:iq:version'/></iq>"
    msg = "<message type='chat' id='r%d' to='" + to + "'><body>hi</body></message>"
    for quota, cases in (('0', (('iq', iq), ('message', msg))), ('1', (('message', msg),))):
        srv = await ctx.server(users=USERS, plain_listener=plain, workers=2, log_level='debug',
                               sets={'limits.max_offline_messages': quota})
        if quota == '1':
            # Fill the quota: juliet never sends presence below, so it stays full.
            c = await client(ctx, srv, ROMEO + '/filler')
            c.send_message(mto=JULIET, mbody='fills the quota', mtype='chat')
            await asyncio.sleep(0.5)
        for what, stanza in cases:
            # Two rounds, and more (8 in all at most) until a delivery has found juliet gone.
            for _ in range(8):
                if _ >= 2 and 'its recipient went away on the way' in srv.log():
                    break
                got, errors = await _race_a_closing_recipient(ctx, srv, stanza, 3000)
                missing = [i for i in range(3000)
                           if 'r%d' % i not in got and 'r%d' % i not in errors]
                check(not missing, '%s (quota %s): %d of 3000 neither reached juliet nor came '
                      'back (first: r%d)' % (what, quota, len(missing),
                                             missing[0] if missing else -1))
                wrong = {k: v for k, v in errors.items() if 'service-unavailable' not in v}
                check(not wrong, '%s: unexpected errors %s' % (what, list(wrong.items())[:3]))
        check('its recipient went away on the way' in srv.log(),
              'quota %s: no delivery found its recipient gone (the race was never won)' % quota)
