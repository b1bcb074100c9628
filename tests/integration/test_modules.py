"""Server modules: software version (XEP-0092), entity time (XEP-0202), last activity
(XEP-0012), vcard-temp (XEP-0054) and private XML storage (XEP-0049), driven by slixmpp's
plugins for each and by hand-written XML where exact bytes matter."""

import asyncio
import os
import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from harness import (HOST, NS_SASL, REPO, check, login, q, raw_connect, show,
                     stanza_error)

USERS = {'alice': 'wonderland1', 'bob': 'builder-bob1', 'carol': 'carol-pass1'}
ALICE = 'alice@' + HOST
BOB = 'bob@' + HOST
CAROL = 'carol@' + HOST

NS_VERSION = 'jabber:iq:version'
NS_TIME = 'urn:xmpp:time'
NS_LAST = 'jabber:iq:last'
NS_VCARD = 'vcard-temp'
NS_PRIVATE = 'jabber:iq:private'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
PLAIN = {'allow_plain_without_tls': 'true'}


def project_version():
    m = re.search(r'project\(corvid VERSION ([0-9.]+)', (REPO / 'CMakeLists.txt').read_text())
    check(m, 'no project version in CMakeLists.txt')
    return m.group(1)


async def raw_login(ctx, srv, user, resource='raw'):
    """A bound raw client on the plain listener (PLAIN allowed there)."""
    r = await raw_connect(ctx, srv.plain_port)
    await r.open()
    el = await r.auth_plain(user, USERS[user])
    check(el.tag == q(NS_SASL, 'success'), 'PLAIN for %s: %s' % (user, show(el)))
    await r.bind(resource)
    return r


def payload(el):
    """The one child of an iq result (None when empty)."""
    kids = list(el)
    check(len(kids) <= 1, 'more than one child in %s' % show(el))
    return kids[0] if kids else None


def expect_result(el, what):
    check(el.get('type') == 'result', '%s: expected a result, got %s' % (what, show(el)))
    return payload(el)


def expect_error(el, cond, what):
    err = stanza_error(el)
    check(err is not None and err[1] == cond, '%s: expected <%s/>, got %s'
          % (what, cond, show(el)))


def same_tree(a, b):
    """Element equality: tag, attributes, text and tail (whitespace kept), children."""
    if a.tag != b.tag or a.attrib != b.attrib or (a.text or '') != (b.text or ''):
        return False
    if (a.tail or '').strip() != (b.tail or '').strip():
        return False
    return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))


async def features(r, to=None):
    el = await r.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to=to)
    info = expect_result(el, 'disco#info to %s' % to)
    return {f.get('var') for f in info.findall(q(NS_DISCO_INFO, 'feature'))}


async def restart(srv):
    """Stops the server and starts it again on the same data directory."""
    rc = await srv.terminate()
    check(rc == 0, 'server exited with %s on SIGTERM' % rc)
    srv.users = {}
    srv.stopped_rc = None
    await srv.start()


# --------------------------------------------------------------------------------------


async def test_version_time_uptime_of_server(ctx):
    # A zone with a half-hour offset and no daylight saving: the offset must be computed,
    # not assumed to be UTC. POSIX TZ strings count west of UTC, hence the minus.
    os.environ['TZ'] = 'CVT-5:30'
    srv = await ctx.server(users=USERS)
    c = await login(ctx, srv.starttls_port, ALICE + '/mods', USERS['alice'],
                    mech='SCRAM-SHA-256')
    for p in ('xep_0092', 'xep_0202', 'xep_0012'):
        c.register_plugin(p)

    v = await c['xep_0092'].get_version(HOST, timeout=5)
    check(v['software_version']['name'] == 'Corvid', 'version name: %s' % v)
    check(v['software_version']['version'] == project_version(),
          'version %r, project %r' % (v['software_version']['version'], project_version()))
    check(v.xml.find('%s/%s' % (q(NS_VERSION, 'query'), q(NS_VERSION, 'os'))) is None,
          'the server disclosed its operating system: %s' % v)

    before = time.time()
    t = await c['xep_0202'].get_entity_time(HOST, timeout=5)
    after = time.time()
    tel = t.xml.find(q(NS_TIME, 'time'))
    check(tel is not None, 'no <time/> in %s' % t)
    tzo, utc = tel.findtext(q(NS_TIME, 'tzo')), tel.findtext(q(NS_TIME, 'utc'))
    check(tzo == '+05:30', 'tzo %r with TZ=CVT-5:30 (UTC+05:30)' % tzo)
    check(utc and re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z', utc),
          'utc %r is not an XEP-0082 UTC dateTime' % utc)
    stamp = datetime.strptime(utc.split('.')[0].rstrip('Z'), '%Y-%m-%dT%H:%M:%S')
    stamp = stamp.replace(tzinfo=timezone.utc).timestamp()
    check(before - 2 <= stamp <= after + 1, 'server utc %s is off: local %.0f..%.0f'
          % (utc, before, after))

    first = await c['xep_0012'].get_last_activity(HOST, timeout=5)
    up1 = int(first['last_activity']['seconds'])
    check(0 <= up1 < 30, 'server uptime %d s right after start' % up1)
    await asyncio.sleep(2.2)
    second = await c['xep_0012'].get_last_activity(HOST, timeout=5)
    up2 = int(second['last_activity']['seconds'])
    check(up2 >= up1 + 2 and up2 < up1 + 30, 'uptime went from %d to %d in 2.2 s' % (up1, up2))


async def test_disco_and_refusals(ctx):
    srv = await ctx.server(users=USERS, plain_listener=PLAIN)
    r = await raw_login(ctx, srv, 'alice')
    server = await features(r, HOST)
    for f in (NS_VERSION, NS_TIME, NS_LAST, NS_VCARD):
        check(f in server, 'server disco#info lacks %s: %s' % (f, sorted(server)))
    check(NS_PRIVATE not in server, 'server advertises private storage, which it serves only '
          'for accounts: %s' % sorted(server))
    # XEP-0191 §2: a client discovers blocking on its server.
    check('urn:xmpp:blocking' in server, 'server disco#info lacks urn:xmpp:blocking: %s'
          % sorted(server))
    own = await features(r)
    for f in (NS_PRIVATE, NS_VCARD, NS_LAST):
        check(f in own, 'own account disco#info lacks %s: %s' % (f, sorted(own)))
    other = await features(r, BOB)
    check(NS_VCARD in other and NS_LAST in other and NS_PRIVATE not in other,
          'another account disco#info: %s' % sorted(other))

    el = await r.iq("<query xmlns='%s'/>" % NS_VERSION, type_='set', to=HOST)
    expect_error(el, 'bad-request', 'version set')
    el = await r.iq("<time xmlns='%s'/>" % NS_TIME, type_='set', to=HOST)
    expect_error(el, 'bad-request', 'time set')
    el = await r.iq("<query xmlns='%s'/>" % NS_LAST, type_='set', to=HOST)
    expect_error(el, 'bad-request', 'last activity set')
    # Version and time are the server's; an account has none the server could tell.
    el = await r.iq("<query xmlns='%s'/>" % NS_VERSION, to=BOB)
    expect_error(el, 'service-unavailable', 'version of an account')
    el = await r.iq("<time xmlns='%s'/>" % NS_TIME)
    expect_error(el, 'service-unavailable', 'time of own account')
    # The server still answers after all of that.
    await r.ping()


async def test_last_activity_of_accounts(ctx):
    srv = await ctx.server(users=USERS, plain_listener=PLAIN)
    alice = await raw_login(ctx, srv, 'alice')
    c = await login(ctx, srv.starttls_port, CAROL + '/lib', USERS['carol'],
                    mech='SCRAM-SHA-256')
    c.register_plugin('xep_0012')

    # Own account: connected right now, so 0 (XEP-0012 §4).
    el = await alice.iq("<query xmlns='%s'/>" % NS_LAST)
    res = expect_result(el, 'own last activity')
    check(res is not None and res.get('seconds') == '0', 'own last activity: %s' % show(el))
    el = await alice.iq("<query xmlns='%s'/>" % NS_LAST, to=ALICE)
    res = expect_result(el, 'own bare JID last activity')
    check(res.get('seconds') == '0', 'own bare JID last activity: %s' % show(el))

    # Another account without a presence subscription: forbidden (§4), whether or not it
    # is online; a missing account is service-unavailable.
    el = await alice.iq("<query xmlns='%s'/>" % NS_LAST, to=BOB)
    expect_error(el, 'forbidden', 'last activity of an offline non-contact')
    check(stanza_error(el)[0] == 'auth', 'forbidden must be of type auth: %s' % show(el))
    el = await alice.iq("<query xmlns='%s'/>" % NS_LAST, to=CAROL)
    expect_error(el, 'forbidden', 'last activity of an online non-contact')
    el = await alice.iq("<query xmlns='%s'/>" % NS_LAST, to='nobody@' + HOST)
    expect_error(el, 'service-unavailable', 'last activity of a missing account')

    # slixmpp's view of the same.
    own = await c['xep_0012'].get_last_activity(CAROL, timeout=5)
    check(own['last_activity']['seconds'] == 0, 'carol own last activity: %s' % own)
    try:
        got = await c['xep_0012'].get_last_activity(ALICE, timeout=5)
        raise AssertionError('last activity of a non-contact answered: %s' % got)
    except Exception as e:  # slixmpp's IqError carries the reply
        cond = getattr(e, 'condition', None)
        check(cond == 'forbidden', 'non-contact last activity through slixmpp: %r' % e)


async def test_vcard(ctx):
    srv = await ctx.server(users=USERS, plain_listener=PLAIN)
    a = await login(ctx, srv.starttls_port, ALICE + '/desk', USERS['alice'],
                    mech='SCRAM-SHA-256')
    b = await login(ctx, srv.starttls_port, BOB + '/desk', USERS['bob'], mech='SCRAM-SHA-1')
    for c in (a, b):
        c.register_plugin('xep_0054')

    # Never published: an empty vCard for oneself (XEP-0054 §3.1).
    got = await a['xep_0054'].get_vcard(local=False, timeout=5)
    vc = got.xml.find(q(NS_VCARD, 'vCard'))
    check(vc is not None and len(vc) == 0, 'own vCard before publishing: %s' % got)

    card = a['xep_0054'].make_vcard()
    card['FN'] = 'Alice Liddell'
    card['NICKNAME'] = 'ali'
    await a['xep_0054'].publish_vcard(card, timeout=5)
    got = await b['xep_0054'].get_vcard(ALICE, local=False, timeout=5)
    check(got['vcard_temp']['FN'] == 'Alice Liddell', 'bob sees FN %r' % got['vcard_temp']['FN'])
    nick = got.xml.findtext('%s/%s' % (q(NS_VCARD, 'vCard'), q(NS_VCARD, 'NICKNAME')))
    check(nick == 'ali', 'bob sees NICKNAME %r in %s' % (nick, got))
    check(got['from'] == ALICE, 'reply from %s' % got['from'])

    # Exact round trip of awkward content, by hand.
    r = await raw_login(ctx, srv, 'alice')
    rb = await raw_login(ctx, srv, 'bob')
    body = ("<vCard xmlns='vcard-temp' xml:lang='de'>"
            "<FN>Alice &amp; &lt;Liddell&gt; \"quoted\" 'single' \u00e9\u4e2d\U0001F600</FN>"
            "<N><FAMILY>Liddell</FAMILY><GIVEN>Alice</GIVEN></N>"
            "<DESC>line one\nline two\ttab</DESC>"
            "<x:ext xmlns:x='urn:example:ext' xmlns:y='urn:example:other' y:kind='k&amp;1'>"
            "<x:inner>deep</x:inner></x:ext>"
            "<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard>"
            % ('QUJD' * 2000))
    el = await r.iq(body, type_='set')
    expect_result(el, 'vCard set')
    want = ET.fromstring(body)
    el = await r.iq("<vCard xmlns='vcard-temp'/>")
    check(same_tree(expect_result(el, 'own vCard'), want), 'own vCard differs: %s' % show(el))
    el = await rb.iq("<vCard xmlns='vcard-temp'/>", to=ALICE)
    check(same_tree(expect_result(el, "alice's vCard"), want),
          "alice's vCard as bob sees it differs: %s" % show(el))
    check(el.get('from') == ALICE, 'reply from %s' % el.get('from'))

    # Nobody changes another's vCard (§3.2), nor the server's.
    el = await rb.iq("<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>", type_='set', to=ALICE)
    expect_error(el, 'forbidden', "bob setting alice's vCard")
    el = await rb.iq("<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>", type_='set', to=HOST)
    expect_error(el, 'forbidden', "setting the server's vCard")
    # Too large: refused, the stored one stays.
    big = "<vCard xmlns='vcard-temp'><FN>big</FN><DESC>%s</DESC></vCard>" % ('x' * 70000)
    el = await r.iq(big, type_='set')
    expect_error(el, 'not-acceptable', 'a 70 KB vCard')
    el = await rb.iq("<vCard xmlns='vcard-temp'/>", to=ALICE)
    check(same_tree(expect_result(el, 'vCard after refusals'), want),
          'refused sets changed the vCard: %s' % show(el))

    # No vCard and no account look the same (§3.3).
    el = await r.iq("<vCard xmlns='vcard-temp'/>", to=CAROL)
    expect_error(el, 'service-unavailable', 'vCard of an account without one')
    el = await r.iq("<vCard xmlns='vcard-temp'/>", to='nobody@' + HOST)
    expect_error(el, 'service-unavailable', 'vCard of a missing account')
    # The server has none and says so with an empty one.
    el = await r.iq("<vCard xmlns='vcard-temp'/>", to=HOST)
    res = expect_result(el, "server's vCard")
    check(res is not None and res.tag == q(NS_VCARD, 'vCard') and len(res) == 0,
          "server's vCard: %s" % show(el))

    # Stored durably.
    await restart(srv)
    r = await raw_login(ctx, srv, 'bob')
    el = await r.iq("<vCard xmlns='vcard-temp'/>", to=ALICE)
    check(same_tree(expect_result(el, 'vCard after restart'), want),
          'vCard after a restart differs: %s' % show(el))

    # Publishing an empty vCard removes it.
    ra = await raw_login(ctx, srv, 'alice')
    expect_result(await ra.iq("<vCard xmlns='vcard-temp'>\n </vCard>", type_='set'),
                  'empty vCard set')
    el = await ra.iq("<vCard xmlns='vcard-temp'/>")
    res = expect_result(el, 'own vCard after removal')
    check(res is not None and len(res) == 0 and not (res.text or '').strip(),
          'own vCard after removal: %s' % show(el))
    el = await r.iq("<vCard xmlns='vcard-temp'/>", to=ALICE)
    expect_error(el, 'service-unavailable', 'removed vCard seen by bob')


async def test_private_storage(ctx):
    srv = await ctx.server(users=USERS, plain_listener=PLAIN)
    r = await raw_login(ctx, srv, 'alice')
    rb = await raw_login(ctx, srv, 'bob')

    def query(inner):
        return "<query xmlns='jabber:iq:private'>%s</query>" % inner

    # Nothing stored: the asked-for element comes back as sent (XEP-0049 §2.3).
    el = await r.iq(query("<storage xmlns='storage:bookmarks'/>"))
    res = expect_result(el, 'empty get')
    check(res is not None and res.tag == q(NS_PRIVATE, 'query') and len(res) == 1
          and res[0].tag == '{storage:bookmarks}storage' and len(res[0]) == 0,
          'get of nothing stored: %s' % show(el))

    marks = ("<storage xmlns='storage:bookmarks'>"
             "<conference jid='tea@muc.example' autojoin='true' name='Tea &amp; &lt;cake&gt;'>"
             "<nick>alice</nick></conference>"
             "<url name='home' url='https://example.org/?a=1&amp;b=2'/></storage>")
    prefs = "<prefs xmlns='urn:example:prefs'><color>blue</color></prefs>"
    expect_result(await r.iq(query(marks + prefs), type_='set'), 'two elements set')
    el = await r.iq(query("<storage xmlns='storage:bookmarks'/>"))
    res = expect_result(el, 'bookmarks get')
    check(len(res) == 1 and same_tree(res[0], ET.fromstring(marks)),
          'bookmarks differ: %s' % show(el))
    el = await r.iq(query("<prefs xmlns='urn:example:prefs'/>"))
    res = expect_result(el, 'prefs get')
    check(len(res) == 1 and same_tree(res[0], ET.fromstring(prefs)),
          'prefs differ: %s' % show(el))
    # The key is name and namespace: another name in the same namespace is separate.
    el = await r.iq(query("<other xmlns='urn:example:prefs'/>"))
    res = expect_result(el, 'other name get')
    check(len(res) == 1 and len(res[0]) == 0, 'other name: %s' % show(el))

    # Each account has its own; nobody reaches another's (§2.3, §4).
    el = await rb.iq(query("<storage xmlns='storage:bookmarks'/>"))
    res = expect_result(el, "bob's bookmarks")
    check(len(res) == 1 and len(res[0]) == 0, "bob sees alice's data: %s" % show(el))
    el = await rb.iq(query("<storage xmlns='storage:bookmarks'/>"), to=ALICE)
    expect_error(el, 'service-unavailable', "bob reading alice's private XML")
    el = await rb.iq(query(marks), type_='set', to=ALICE)
    expect_error(el, 'service-unavailable', "bob writing alice's private XML")
    el = await r.iq(query(marks), type_='set', to=HOST)
    expect_error(el, 'service-unavailable', 'private XML of the server')

    # Refusals (§2.3, §3): reserved or missing namespaces, no element, too much.
    for inner, what in (("<foo xmlns='jabber:client'/>", 'jabber:client'),
                        ("<q xmlns='jabber:iq:roster'/>", 'jabber:iq:roster'),
                        ("<x xmlns='http://jabber.org/protocol/muc'/>", 'http://jabber.org/'),
                        ("<vCard xmlns='vcard-temp'/>", 'vcard-temp'),
                        ("<noxmlns/>", 'no namespace of its own'),
                        ("", 'no element'),
                        (prefs + "<a xmlns='jabber:x:data'/>", 'one good, one reserved')):
        for kind in ('get', 'set'):
            el = await r.iq(query(inner), type_=kind)
            expect_error(el, 'not-acceptable', '%s %s' % (kind, what))
    el = await r.iq(query("<big xmlns='urn:example:big'>%s</big>" % ('y' * 70000)), type_='set')
    expect_error(el, 'not-acceptable', 'a 70 KB element')
    many = ''.join("<e%d xmlns='urn:example:many'/>" % i for i in range(17))
    el = await r.iq(query(many), type_='set')
    expect_error(el, 'not-acceptable', '17 elements in one set')
    long_ns = 'urn:example:' + 'n' * 600
    el = await r.iq(query("<x xmlns='%s'/>" % long_ns), type_='set')
    expect_error(el, 'not-acceptable', 'a 600-byte namespace')
    # The refused set left prefs as they were.
    el = await r.iq(query("<prefs xmlns='urn:example:prefs'/>"))
    check(same_tree(expect_result(el, 'prefs after refusals')[0], ET.fromstring(prefs)),
          'refusals changed prefs: %s' % show(el))

    # slixmpp's plugin, with a payload class of its own.
    from slixmpp.xmlstream import ElementBase

    class Prefs(ElementBase):
        name = 'prefs'
        namespace = 'urn:example:prefs'
        plugin_attrib = 'prefs'
        interfaces = {'color'}
        sub_interfaces = interfaces

    c = await login(ctx, srv.starttls_port, CAROL + '/lib', USERS['carol'],
                    mech='SCRAM-SHA-256')
    c.register_plugin('xep_0049')
    c['xep_0049'].register(Prefs)
    p = Prefs()
    p['color'] = 'green'
    await c['xep_0049'].store(p, timeout=5)
    got = await c['xep_0049'].retrieve('prefs', timeout=5)
    check(got['private']['prefs']['color'] == 'green', 'slixmpp retrieve: %s' % got)

    # Durable across a restart.
    await restart(srv)
    r = await raw_login(ctx, srv, 'alice')
    el = await r.iq(query("<storage xmlns='storage:bookmarks'/>"))
    res = expect_result(el, 'bookmarks after restart')
    check(len(res) == 1 and same_tree(res[0], ET.fromstring(marks)),
          'bookmarks after a restart differ: %s' % show(el))
    # Storing an element again replaces it.
    expect_result(await r.iq(query("<prefs xmlns='urn:example:prefs'/>"), type_='set'),
                  'prefs replaced')
    el = await r.iq(query("<prefs xmlns='urn:example:prefs'/>"))
    res = expect_result(el, 'prefs after replacement')
    check(len(res) == 1 and len(res[0]) == 0, 'prefs not replaced: %s' % show(el))


async def last_of(r, to):
    return await r.iq("<query xmlns='%s'/>" % NS_LAST, to=to)


async def test_last_activity_of_a_contact(ctx):
    srv = await ctx.server(users=USERS, plain_listener=PLAIN)
    alice = await raw_login(ctx, srv, 'alice')
    bob = await raw_login(ctx, srv, 'bob')
    carol = await raw_login(ctx, srv, 'carol')
    await alice.send('<presence/>')

    # bob asks, alice approves: alice's roster has bob with subscription 'from', so bob
    # may see her presence and with it her last activity.
    await bob.send("<presence to='%s' type='subscribe'/>" % ALICE)
    await bob.ping()
    await alice.send("<presence to='%s' type='subscribed'/>" % BOB)
    await alice.ping()
    el = await last_of(bob, ALICE)
    res = expect_result(el, 'last activity of an online contact')
    check(res.get('seconds') == '0', 'online contact: %s' % show(el))
    el = await last_of(carol, ALICE)
    expect_error(el, 'forbidden', 'last activity asked by a non-contact')

    # alice leaves; her logout time is recorded and counted from.
    await alice.send('</stream:stream>')
    await alice.expect_closed()
    deadline = time.monotonic() + 5
    while True:
        el = await last_of(bob, ALICE)
        res = payload(el) if el.get('type') == 'result' else None
        if res is not None and res.get('seconds') != '0':
            break
        check(time.monotonic() < deadline, 'no last activity 5 s after logout: %s' % show(el))
        await asyncio.sleep(0.3)
    first = int(res.get('seconds'))
    check(1 <= first <= 6, 'seconds since logout %d' % first)
    await asyncio.sleep(2.1)
    el = await last_of(bob, ALICE)
    later = int(expect_result(el, 'last activity later').get('seconds'))
    check(later >= first + 2, 'seconds since logout went from %d to %d in 2.1 s' % (first, later))
    el = await last_of(carol, ALICE)
    expect_error(el, 'forbidden', 'non-contact after logout')
