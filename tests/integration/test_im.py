"""The IM walk-through (RFC 6121): roster, subscription approval to 'both', presence of
several resources, messages, unavailable on logout, offline storage across a restart with a
delay stamp, and blocking (XEP-0191)."""

import asyncio

from harness import HOST, check, im_client, settle, subscription_of

USERS = {'romeo': 'montague1', 'juliet': 'capulet12'}
ROMEO = 'romeo@' + HOST
JULIET = 'juliet@' + HOST


async def user(ctx, srv, jid, approve=False):
    return await im_client(ctx, srv.starttls_port, jid, USERS[jid.split('@')[0]],
                           approve=True if approve else None)


sub = subscription_of


def befriend(srv, a=ROMEO, b=JULIET):
    """A mutual 'both' subscription between a and b, written with corvidctl."""
    for x, y in ((a, b), (b, a)):
        rc, out = srv.ctl('roster-add', x, y, 'both')
        check(rc == 0, 'corvidctl roster-add: %s' % out.strip())


async def test_walkthrough(ctx):
    srv = await ctx.server(users=USERS)
    r = await user(ctx, srv, ROMEO + '/orchard')
    j = await user(ctx, srv, JULIET + '/balcony', approve=True)
    r.send_presence(pto=JULIET, ptype='subscribe')
    check(await settle(lambda: sub(r, JULIET) == 'to'), 'romeo: %s' % sub(r, JULIET))
    check(await settle(lambda: sub(j, ROMEO) == 'from'), 'juliet: %s' % sub(j, ROMEO))
    # Juliet subscribes back; romeo approves by hand.
    r.roster.auto_authorize = True
    j.send_presence(pto=ROMEO, ptype='subscribe')
    check(await settle(lambda: sub(r, JULIET) == 'both' and sub(j, ROMEO) == 'both'),
          'romeo %s juliet %s' % (sub(r, JULIET), sub(j, ROMEO)))
    # Each sees the other's presence, and both of juliet's resources.
    j2 = await user(ctx, srv, JULIET + '/garden')
    check(await settle(lambda: (JULIET + '/garden', 'available') in r.pres and
                       (JULIET + '/balcony', 'available') in r.pres),
          'romeo saw %s' % r.pres)
    check(await settle(lambda: (ROMEO + '/orchard', 'available') in j2.pres),
          'juliet/garden saw %s' % j2.pres)
    r.send_message(mto=JULIET, mbody='hello', mtype='chat')
    check(await settle(lambda: j.got[-1:] == [('hello', None)] and j2.got[-1:] == [('hello', None)]),
          'juliet got %s / %s' % (j.got, j2.got))
    # Juliet logs out: romeo sees both resources go.
    r.pres.clear()
    j.disconnect()
    j2.disconnect()
    check(await settle(lambda: (JULIET + '/balcony', 'unavailable') in r.pres and
                       (JULIET + '/garden', 'unavailable') in r.pres),
          'romeo saw %s' % r.pres)
    # Offline: stored, the server restarts, juliet gets it with a delay stamp.
    r.send_message(mto=JULIET, mbody='wherefore art thou', mtype='chat')
    await asyncio.sleep(0.5)
    r.disconnect()
    await asyncio.sleep(0.3)
    rc = await srv.terminate()
    check(rc == 0, 'server exit status %s' % rc)
    srv.users = {}  # the accounts are in the data directory already
    srv.stopped_rc = None
    await srv.start()
    j = await user(ctx, srv, JULIET + '/balcony')
    check(await settle(lambda: any(g[0] == 'wherefore art thou' for g in j.got)),
          'juliet got %s after the restart' % j.got)
    got = [g for g in j.got if g[0] == 'wherefore art thou']
    check(len(got) == 1 and got[0][1] is not None, 'offline message %s has no delay stamp' % got)
    # And only once: a second login finds nothing left.
    j.disconnect()
    await asyncio.sleep(0.3)
    j = await user(ctx, srv, JULIET + '/balcony')
    await asyncio.sleep(0.5)
    check(not any(g[0] == 'wherefore art thou' for g in j.got), 'delivered twice: %s' % j.got)


async def test_blocked_contact_is_not_delivered(ctx):
    srv = await ctx.server(users=USERS)
    r = await user(ctx, srv, ROMEO + '/orchard')
    j = await user(ctx, srv, JULIET + '/balcony')
    iq = j.Iq()
    iq['type'] = 'set'
    block = iq.xml.makeelement('{urn:xmpp:blocking}block', {})
    item = block.makeelement('{urn:xmpp:blocking}item', {'jid': ROMEO})
    block.append(item)
    iq.xml.append(block)
    res = await iq.send(timeout=5)
    check(res['type'] == 'result', 'block: %s' % res)
    errors = []
    r.add_event_handler('message_error', lambda m: errors.append(m['error']['condition']))
    r.send_message(mto=JULIET, mbody='let me in', mtype='chat')
    check(await settle(lambda: errors == ['service-unavailable']), 'romeo got %s' % errors)
    await asyncio.sleep(0.3)
    check(not any(g[0] == 'let me in' for g in j.got), 'juliet got %s' % j.got)
    # Juliet writing to romeo, whom she blocks, is refused with not-acceptable.
    jerr = []
    j.add_event_handler('message_error', lambda m: jerr.append(m['error']['condition']))
    j.send_message(mto=ROMEO, mbody='go away', mtype='chat')
    check(await settle(lambda: jerr == ['not-acceptable']), 'juliet got %s' % jerr)
    check(not any(g[0] == 'go away' for g in r.got), 'romeo got %s' % r.got)


async def roster_iq(c, typ, items=None, ver=None):
    iq = c.Iq()
    iq['type'] = typ
    q = iq.xml.makeelement('{jabber:iq:roster}query', {})
    if ver is not None:
        q.set('ver', ver)
    for attrs, groups in items or []:
        it = q.makeelement('{jabber:iq:roster}item', attrs)
        for g in groups:
            ge = it.makeelement('{jabber:iq:roster}group', {})
            ge.text = g
            it.append(ge)
        q.append(it)
    iq.xml.append(q)
    return await iq.send(timeout=5)


async def test_roster_set_get_remove_and_versions(ctx):
    srv = await ctx.server(users=USERS)
    r = await user(ctx, srv, ROMEO + '/orchard')
    r2 = await user(ctx, srv, ROMEO + '/study')  # a second resource gets the pushes
    pushes = []
    r2.add_event_handler('roster_update', lambda iq: pushes.append(
        [(i['jid'].bare, i['subscription'], sorted(i['groups'])) for i in iq['roster']]))
    res = await roster_iq(r, 'set', [({'jid': 'mercutio@' + HOST, 'name': 'Mercutio'},
                                      ['Friends', 'Verona'])])
    check(res['type'] == 'result', 'set: %s' % res)
    check(await settle(lambda: pushes and pushes[-1] ==
                       [('mercutio@' + HOST, 'none', ['Friends', 'Verona'])]),
          'pushes %s' % pushes)
    res = await roster_iq(r, 'get')
    ver = res.xml.find('{jabber:iq:roster}query').get('ver')
    items = res.xml.findall('{jabber:iq:roster}query/{jabber:iq:roster}item')
    check([(i.get('jid'), i.get('name')) for i in items] == [('mercutio@' + HOST, 'Mercutio')],
          'roster %s' % [i.attrib for i in items])
    check(ver, 'no roster version in %s' % res)
    # XEP-0237: the current version gets an empty result.
    res = await roster_iq(r, 'get', ver=ver)
    check(res.xml.find('{jabber:iq:roster}query') is None, 'not empty: %s' % res)
    # Duplicate groups are refused (RFC 6121 §2.3.3).
    try:
        await roster_iq(r, 'set', [({'jid': 'tybalt@' + HOST}, ['A', 'A'])])
        raise AssertionError('duplicate groups accepted')
    except AssertionError:
        raise
    except Exception as e:
        check('bad-request' in str(getattr(e, 'iq', e)), 'duplicate groups: %s' % e)
    # An empty group is not-acceptable (§2.3.3).
    try:
        await roster_iq(r, 'set', [({'jid': 'tybalt@' + HOST}, [''])])
        raise AssertionError('empty group accepted')
    except AssertionError:
        raise
    except Exception as e:
        check('not-acceptable' in str(getattr(e, 'iq', e)), 'empty group: %s' % e)
    res = await roster_iq(r, 'set', [({'jid': 'mercutio@' + HOST, 'subscription': 'remove'}, [])])
    check(res['type'] == 'result', 'remove: %s' % res)
    check(await settle(lambda: pushes[-1] == [('mercutio@' + HOST, 'remove', [])]),
          'pushes %s' % pushes)
    res = await roster_iq(r, 'get')
    check(res.xml.findall('{jabber:iq:roster}query/{jabber:iq:roster}item') == [],
          'roster after remove: %s' % res)
    newver = res.xml.find('{jabber:iq:roster}query').get('ver')
    check(newver and newver != ver, 'version did not change: %s -> %s' % (ver, newver))


async def test_directed_presence_and_unavailable_on_disconnect(ctx):
    srv = await ctx.server(users=USERS)
    r = await user(ctx, srv, ROMEO + '/orchard')
    j = await user(ctx, srv, JULIET + '/balcony')
    await j.ping_server()  # answered after her initial presence: she is available now
    # No subscription: only directed presence reaches juliet (RFC 6121 §4.6).
    r.send_presence(pto=JULIET, pstatus='under your window')
    check(await settle(lambda: (ROMEO + '/orchard', 'available') in j.pres),
          'juliet saw %s' % j.pres)
    # Romeo's connection drops without unavailable presence: the server sends it for him
    # to whoever had his directed presence (§4.6.3, §4.5.2).
    r.abort()
    check(await settle(lambda: (ROMEO + '/orchard', 'unavailable') in j.pres),
          'juliet saw %s after romeo vanished' % j.pres)


async def test_unavailable_reaches_exactly_who_had_directed_presence(ctx):
    """RFC 6121 §4.6.3: the unavailable goes to the entities that got directed presence:
    the one resource it was sent to (not the account's other resources), once, also when
    that contact is a subscriber that gets it from the broadcast anyway."""
    srv = await ctx.server(users=USERS)
    jb = await user(ctx, srv, JULIET + '/balcony')
    jg = await user(ctx, srv, JULIET + '/garden')
    for subscribed in (False, True):
        if subscribed:
            befriend(srv)
        r = await user(ctx, srv, ROMEO + '/orchard')
        r.send_presence(pto=JULIET + '/balcony', pstatus='to one window')
        check(await settle(lambda: (ROMEO + '/orchard', 'available') in jb.pres),
              'balcony saw %s' % jb.pres)
        await asyncio.sleep(0.3)
        jb.pres.clear()
        jg.pres.clear()
        r.abort()
        check(await settle(lambda: (ROMEO + '/orchard', 'unavailable') in jb.pres),
              'balcony never saw romeo go: %s' % jb.pres)
        await asyncio.sleep(0.5)
        gone = (ROMEO + '/orchard', 'unavailable')
        check(jb.pres.count(gone) == 1, 'balcony got the unavailable %d times (subscribed: %s)'
              % (jb.pres.count(gone), subscribed))
        check(jg.pres.count(gone) == (1 if subscribed else 0),
              'garden got the unavailable %d times (subscribed: %s)'
              % (jg.pres.count(gone), subscribed))


async def test_pipelined_store_writes_keep_their_order(ctx):
    """Stanzas that write to the store (roster, vCard, private XML, subscriptions) are
    routed off the worker while the session's later stanzas wait: everything a client
    pipelines is answered in the order it was sent, and each read sees the writes sent
    before it."""
    from harness import NS_CLIENT, q, raw_connect, show
    srv = await ctx.server(users=USERS)
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    await r.open()
    el = await r.auth_scram('SHA-256', 'romeo', USERS['romeo'])
    check(el.tag.endswith('success'), 'login failed: %s' % show(el))
    await r.bind('pipe')
    roster, vcard, private = 'jabber:iq:roster', 'vcard-temp', 'jabber:iq:private'
    sent, batch = [], []

    def iq(id_, type_, body):
        sent.append(id_)
        batch.append("<iq type='%s' id='%s'>%s</iq>" % (type_, id_, body))
    for i in range(30):
        iq('set%d' % i, 'set', "<query xmlns='%s'><item jid='c%d@%s' name='n%d'/></query>"
           % (roster, i, HOST, i))
        if i % 10 == 9:  # reads and a chat-free ping between the writes
            iq('get%d' % i, 'get', "<query xmlns='%s'/>" % roster)
            iq('ping%d' % i, 'get', "<ping xmlns='urn:xmpp:ping'/>")
    iq('vset', 'set', "<vCard xmlns='%s'><FN>Romeo M.</FN></vCard>" % vcard)
    iq('vget', 'get', "<vCard xmlns='%s'/>" % vcard)
    iq('pset', 'set', "<query xmlns='%s'><note xmlns='x:notes'>kept</note></query>" % private)
    iq('pget', 'get', "<query xmlns='%s'><note xmlns='x:notes'/></query>" % private)
    batch.append("<presence type='subscribe' to='%s'/>" % JULIET)
    iq('after', 'get', "<query xmlns='%s'/>" % roster)
    await r.send(''.join(batch))
    got, answers = [], {}
    while len(got) < len(sent):
        el = await r.element()
        if el.tag == q(NS_CLIENT, 'iq') and el.get('type') in ('result', 'error'):
            check(el.get('type') == 'result', 'error answer: %s' % show(el))
            got.append(el.get('id'))
            answers[el.get('id')] = el
    check(got == sent, 'answers out of order: %s' % got)
    for i in (9, 19, 29):
        items = answers['get%d' % i].findall('%s/%s' % (q(roster, 'query'), q(roster, 'item')))
        check(len(items) == i + 1, 'roster get after %d sets saw %d items' % (i + 1, len(items)))
    check(answers['vget'].findtext('%s/%s' % (q(vcard, 'vCard'), q(vcard, 'FN'))) == 'Romeo M.',
          'vCard read did not see the write before it: %s' % show(answers['vget']))
    check(answers['pget'].findtext('%s/{x:notes}note' % q(private, 'query')) == 'kept',
          'private read did not see the write before it: %s' % show(answers['pget']))
    items = answers['after'].findall('%s/%s' % (q(roster, 'query'), q(roster, 'item')))
    asks = [it.get('ask') for it in items if it.get('jid') == JULIET]
    check(asks == ['subscribe'], 'roster after the subscribe: juliet ask %s' % asks)


async def test_presence_names_each_recipient(ctx):
    """Presence the server fans out (broadcast to the account's resources and contacts,
    the presence of resources already online) carries each recipient's full JID in 'to'
    (RFC 6120 §8.1.1.1), escaped where the resource needs it."""
    from harness import NS_CLIENT, q, raw_connect, show
    srv = await ctx.server(users=USERS)

    async def session(resource):
        r = await raw_connect(ctx, srv.starttls_port)
        await r.open()
        await r.starttls()
        await r.open()
        el = await r.auth_scram('SHA-256', 'romeo', USERS['romeo'])
        check(el.tag.endswith('success'), 'login failed: %s' % show(el))
        await r.bind(resource)
        return r

    async def presence_from(r, frm):
        while True:
            el = await r.element()
            if el.tag == q(NS_CLIENT, 'presence') and el.get('from') == frm:
                return el
    a = await session('a')
    await a.send('<presence/>')
    mine = await presence_from(a, ROMEO + '/a')
    check(mine.get('to') == ROMEO + '/a', 'own presence came back with to=%r' % mine.get('to'))
    b = await session("b&amp;'q")  # the bind helper sends it as is
    await b.send('<presence><show>away</show></presence>')
    at_a = await presence_from(a, ROMEO + "/b&'q")
    check(at_a.get('to') == ROMEO + '/a', 'broadcast to a has to=%r' % at_a.get('to'))
    at_b = await presence_from(b, ROMEO + '/a')
    check(at_b.get('to') == ROMEO + "/b&'q", "a's presence at b has to=%r" % at_b.get('to'))


async def test_pending_stanzas_stop_input_and_lose_nothing(ctx):
    """limits.max_pending_stanzas: a client that pipelines more stanzas than the server has
    handled (here 300 roster sets, each waiting for a store write) is not read from while
    16 are pending; everything is still answered, in order."""
    from harness import NS_CLIENT, q, raw_connect, show
    srv = await ctx.server(users=USERS, log_level='debug',
                           sets={'limits.max_pending_stanzas': '16'})
    r = await raw_connect(ctx, srv.tls_port, tls=True)
    await r.open()
    el = await r.auth_scram('SHA-256', 'romeo', USERS['romeo'])
    check(el.tag.endswith('success'), 'login failed: %s' % show(el))
    await r.bind('pipe')
    ids = ['s%d' % i for i in range(300)] + ['last']
    await r.send(''.join("<iq type='set' id='s%d'><query xmlns='jabber:iq:roster'><item "
                         "jid='c%d@%s'/></query></iq>" % (i, i, HOST) for i in range(300)) +
                 "<iq type='get' id='last'><query xmlns='jabber:iq:roster'/></iq>")
    got = []
    while len(got) < len(ids):
        el = await r.element(timeout=30)
        if el.tag == q(NS_CLIENT, 'iq') and el.get('type') in ('result', 'error'):
            check(el.get('type') == 'result', 'error answer: %s' % show(el))
            got.append(el.get('id'))
    check(got == ids, 'answers out of order or missing: %s' % got[:20])
    items = el.findall('%s/%s' % (q('jabber:iq:roster', 'query'), q('jabber:iq:roster', 'item')))
    check(len(items) == 300, 'the roster holds %d items, not 300' % len(items))
    await srv.wait_log('stanzas pending: not reading until 4 are left')


async def test_subscriptions_respect_the_roster_limit(ctx):
    """limits.max_roster_items bounds a roster however items come: a subscription request
    to a new contact from a full roster is refused with not-allowed (as a roster set is,
    RFC 6121 §2.3.3) and stores nothing. Requests kept from strangers (not in the roster,
    RFC 6121 A.1) have a budget of their own: they never take the user's room, and past
    theirs they are dropped."""
    from harness import raw_connect
    names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'henry', 'ivan', 'jack']
    users = {n: n + '-pass-1' for n in names}
    srv = await ctx.server(users=users, sets={'limits.max_roster_items': '3'},
                           plain_listener={'allow_plain_without_tls': 'true'})
    for contact in ('bob', 'carol'):
        rc, out = srv.ctl('roster-add', 'alice@' + HOST, '%s@%s' % (contact, HOST), 'none')
        check(rc == 0, 'corvidctl roster-add: %s' % out.strip())

    async def raw(name):
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain(name, users[name])
        check(el.tag.endswith('success'), 'PLAIN for %s' % name)
        await c.bind('r')
        await c.send('<presence/>')
        return c

    async def next_presence(c, timeout):
        try:
            while True:
                kind, el = await c.recv(timeout)
                if kind == 'el' and el.tag == '{jabber:client}presence' and el.get('type'):
                    return el
        except asyncio.TimeoutError:
            return None

    async def roster_set(c, name):
        return await c.iq("<query xmlns='jabber:iq:roster'><item jid='%s@%s'/></query>"
                          % (name, HOST), type_='set')

    def not_allowed(el):
        return el is not None and el.get('type') == 'error' and el.find(
            '{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}not-allowed') is not None

    alice = await raw('alice')
    for stranger in ('dave', 'erin', 'frank'):
        c = await raw(stranger)
        await c.send("<presence to='alice@%s' type='subscribe'/>" % HOST)
        el = await next_presence(alice, 5)
        check(el is not None and el.get('type') == 'subscribe', 'the request of %s did not '
              'reach alice: %s' % (stranger, el.attrib if el is not None else None))
    gina = await raw('gina')
    await gina.send("<presence to='alice@%s' type='subscribe'/>" % HOST)
    el = await next_presence(alice, 1.0)
    check(el is None, 'a fourth stranger\'s request was kept past the limit: %s'
          % (el.attrib if el is not None else None))
    el = await roster_set(alice, 'henry')
    check(el.get('type') == 'result', 'strangers\' requests took the room of the third item')
    check(not_allowed(await roster_set(alice, 'ivan')), 'a fourth item was not refused')
    await alice.send("<presence to='jack@%s' type='subscribe'/>" % HOST)
    check(not_allowed(await next_presence(alice, 5)),
          'a subscribe from a full roster was not refused with not-allowed')
    el = await alice.iq("<query xmlns='jabber:iq:roster'/>")
    items = [i.get('jid') for i in el.find('{jabber:iq:roster}query')]
    check(sorted(items) == ['bob@%s' % HOST, 'carol@%s' % HOST, 'henry@%s' % HOST],
          'the roster after all that: %s' % items)


async def test_subscription_to_oneself_sends_nothing_twice(ctx):
    """A user may subscribe to her own bare JID; her resources get each other's presence
    anyway (RFC 6121 §4.2.2). Each presence must still reach them once, and removing the
    item must not tell her that her own online resources went away."""
    srv = await ctx.server(users=USERS)
    r1 = await user(ctx, srv, ROMEO + '/one', approve=True)
    r1.send_presence(pto=ROMEO, ptype='subscribe')
    check(await settle(lambda: sub(r1, ROMEO) == 'both'), 'self-subscription: %s'
          % sub(r1, ROMEO))
    r1.pres.clear()
    r2 = await user(ctx, srv, ROMEO + '/two')
    check(await settle(lambda: (ROMEO + '/two', 'available') in r1.pres), 'r1 saw %s' % r1.pres)
    await asyncio.sleep(0.5)
    check(r1.pres.count((ROMEO + '/two', 'available')) == 1,
          'romeo/one got romeo/two\'s presence %d times: %s'
          % (r1.pres.count((ROMEO + '/two', 'available')), r1.pres))
    r1.pres.clear()
    res = await roster_iq(r1, 'set', [({'jid': ROMEO, 'subscription': 'remove'}, [])])
    check(res['type'] == 'result', 'remove: %s' % res)
    await asyncio.sleep(0.5)
    check((ROMEO + '/two', 'unavailable') not in r1.pres,
          'removing the self-subscription said romeo/two went away: %s' % r1.pres)
    await r2.ping_server()


async def blocking_iq(c, verb, jids):
    iq = c.Iq()
    iq['type'] = 'set'
    el = iq.xml.makeelement('{urn:xmpp:blocking}%s' % verb, {})
    for jid in jids:
        el.append(el.makeelement('{urn:xmpp:blocking}item', {'jid': jid}))
    iq.xml.append(el)
    return await iq.send(timeout=5)


async def test_blocking_withdraws_and_gives_back_presence(ctx):
    """XEP-0191 §3.3/§3.4: blocking a contact that gets the user's presence sends it
    unavailable from each of the user's resources, unblocking (one item, or all) sends the
    current presence; and blocking never stands between the user's own resources (§5),
    even when the block names her own domain."""
    srv = await ctx.server(users=USERS)
    befriend(srv)
    j = await user(ctx, srv, JULIET + '/balcony')
    r = await user(ctx, srv, ROMEO + '/orchard')
    check(await settle(lambda: (JULIET + '/balcony', 'available') in r.pres),
          'romeo never saw juliet: %s' % r.pres)
    for verb, jids, want in (('block', [ROMEO], 'unavailable'), ('unblock', [ROMEO], 'available'),
                             ('block', [HOST], 'unavailable'), ('unblock', [], 'available')):
        r.pres.clear()
        res = await blocking_iq(j, verb, jids)
        check(res['type'] == 'result', '%s %s: %s' % (verb, jids, res))
        check(await settle(lambda: (JULIET + '/balcony', want) in r.pres),
              'after juliet\'s %s %s romeo saw %s, not %s' % (verb, jids or 'all', r.pres, want))
    res = await blocking_iq(j, 'block', [HOST])
    check(res['type'] == 'result', 'block the own domain: %s' % res)
    j2 = await user(ctx, srv, JULIET + '/garden')
    errors = []
    j.add_event_handler('message_error', lambda m: errors.append(m['error']['condition']))
    j.send_message(mto=JULIET + '/garden', mbody='to myself', mtype='chat')
    check(await settle(lambda: ('to myself', None) in j2.got),
          'a block of the own domain stopped a message between own resources: %s' % errors)


async def test_subscription_to_a_missing_account_is_refused(ctx):
    """RFC 6121 §3.1.2/§3.1.3: a subscription request to an account that does not exist on
    this server is recorded in the user's roster (pushed with ask='subscribe') and refused
    for the missing contact with "unsubscribed", which clears the pending request."""
    srv = await ctx.server(users=USERS)
    r = await user(ctx, srv, ROMEO + '/orchard')
    nobody = 'nobody@' + HOST
    r.send_presence(pto=nobody, ptype='subscribe')
    check(await settle(lambda: (nobody, 'unsubscribed') in r.pres),
          'no "unsubscribed" for the missing account: %s' % r.pres)
    check(await settle(lambda: nobody in r.client_roster.keys() and
                       not r.client_roster[nobody]['pending_out']),
          'the request to the missing account stays pending')
    check(sub(r, nobody) == 'none', 'subscription to the missing account: %s' % sub(r, nobody))


async def test_blocklist_push_carries_the_items_as_stored(ctx):
    """The blocklist push (XEP-0191 §3.3) names each item as the blocklist holds it (the
    normalized JID), not as the request spelled it."""
    from harness import raw_connect
    srv = await ctx.server(users=USERS, plain_listener={'allow_plain_without_tls': 'true'})

    async def raw(resource):
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain('juliet', USERS['juliet'])
        check(el.tag.endswith('success'), 'PLAIN for juliet')
        await c.bind(resource)
        return c
    watcher, actor = await raw('watch'), await raw('act')
    el = await watcher.iq("<blocklist xmlns='urn:xmpp:blocking'/>")
    check(el.get('type') == 'result', 'blocklist get: %s' % el.get('type'))
    el = await actor.iq("<block xmlns='urn:xmpp:blocking'><item jid='Tybalt@LOCALHOST/Res'/>"
                        "</block>", type_='set')
    check(el.get('type') == 'result', 'block: %s' % el.get('type'))
    push = await watcher.element()
    items = [i.get('jid') for i in push.iter('{urn:xmpp:blocking}item')]
    check(items == ['tybalt@%s/Res' % HOST], 'the push carried %s' % items)


async def test_full_jid_block_spares_the_other_resources(ctx):
    """A blocklist item that is a full JID names that one resource (XEP-0191, matching as
    in XEP-0016): after Juliet blocks romeo/orchard, her messages to Romeo's bare JID and
    her presence reach romeo/garden and not romeo/orchard."""
    srv = await ctx.server(users=USERS)
    befriend(srv)
    orchard = await user(ctx, srv, ROMEO + '/orchard')
    garden = await user(ctx, srv, ROMEO + '/garden')
    j = await user(ctx, srv, JULIET + '/balcony')
    res = await blocking_iq(j, 'block', [ROMEO + '/orchard'])
    check(res['type'] == 'result', 'block: %s' % res)
    await asyncio.sleep(0.3)
    orchard.pres.clear()
    garden.pres.clear()
    j.send_message(mto=ROMEO, mbody='to the garden only', mtype='chat')
    j.send_presence(pstatus='elsewhere')
    check(await settle(lambda: ('to the garden only', None) in garden.got and
                       (JULIET + '/balcony', 'available') in garden.pres),
          'garden got %s / %s' % (garden.got, garden.pres))
    await asyncio.sleep(0.5)
    check(not any(g[0] == 'to the garden only' for g in orchard.got),
          'the blocked resource got the message: %s' % orchard.got)
    check((JULIET + '/balcony', 'available') not in orchard.pres,
          'the blocked resource got the presence: %s' % orchard.pres)


async def test_crossing_subscription_changes_leave_both_sides_agreeing(ctx):
    """Twenty sessions of ten accounts send subscription requests, answers, cancellations
    and roster removals to each other at random for a few seconds (crossing each other on
    the workers). Afterwards every pair of rosters must agree: one side has 'to' exactly
    when the other has 'from' (RFC 6121 §3, as two servers exchanging these stanzas in
    order would leave them). Blocking, which drops one side's stanzas by design, is left
    out."""
    import random
    from harness import raw_connect
    names = ['u%d' % i for i in range(10)]
    users = {n: n + '-pass-1' for n in names}
    srv = await ctx.server(users=users, plain_listener={'allow_plain_without_tls': 'true'})

    async def raw(name, resource):
        c = await raw_connect(ctx, srv.plain_port)
        await c.open()
        el = await c.auth_plain(name, users[name])
        check(el.tag.endswith('success'), 'PLAIN for %s' % name)
        await c.bind(resource)
        return c

    async def drain(c):
        try:
            while True:
                await c.recv(0.01)
        except asyncio.TimeoutError:
            pass

    async def churn(name, seed, until):
        rnd = random.Random(seed)
        c = await raw(name, 's%d' % seed)
        await c.send('<presence/>')
        n = 0
        while asyncio.get_running_loop().time() < until:
            n += 1
            other = '%s@%s' % (rnd.choice([x for x in names if x != name]), HOST)
            act = rnd.randrange(6)
            if act < 4:
                await c.send("<presence type='%s' to='%s'/>" % (
                    ('subscribe', 'subscribed', 'unsubscribe', 'unsubscribed')[act], other))
            elif act == 4:
                await c.send("<iq type='set' id='r%d'><query xmlns='jabber:iq:roster'><item "
                             "jid='%s' subscription='remove'/></query></iq>" % (n, other))
            else:
                await c.send("<iq type='set' id='r%d'><query xmlns='jabber:iq:roster'><item "
                             "jid='%s'/></query></iq>" % (n, other))
            if n % 10 == 0:
                await drain(c)
            await asyncio.sleep(0.002)
        # Answered once everything this session sent before it was handled (its actor
        # takes its stanzas in order): no change of its is still on the way.
        await c.ping()
        c.close()

    until = asyncio.get_running_loop().time() + 4
    await asyncio.gather(*(churn(n, i, until) for i, n in enumerate(names * 2)))
    await asyncio.sleep(1.0)
    subs = {}
    for name in names:
        c = await raw(name, 'check')
        el = await c.iq("<query xmlns='jabber:iq:roster'/>")
        subs[name] = {i.get('jid').split('@')[0]: i.get('subscription')
                      for i in el.iter('{jabber:iq:roster}item')}
        c.close()
    bad = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sa, sb = subs[a].get(b, 'none'), subs[b].get(a, 'none')
            if ((sa in ('to', 'both')) != (sb in ('from', 'both')) or
                    (sb in ('to', 'both')) != (sa in ('from', 'both'))):
                bad.append('%s:%s <-> %s:%s' % (a, sa, b, sb))
    check(not bad, '%d pairs of rosters disagree: %s' % (len(bad), bad[:4]))
