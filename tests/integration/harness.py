"""Integration-test harness: starts the real Corvid server and drives it with real clients.

Each test is a coroutine `async def test_x(ctx)` that receives a `Ctx`. Servers made with
`ctx.server(...)` get their own temporary data directory, free ports and two worker threads;
when the test ends (pass or fail) each server must still be alive, and must then stop on
SIGTERM with exit status 0 within a few seconds. Clients made through `ctx` are closed at the
end as well.

Two kinds of client:
- `login()` / `Client`: slixmpp (python3-slixmpp 1.8), a real XMPP client library;
- `Raw`: a plain asyncio socket (optionally TLS) speaking XML by hand, for the cases a
  library would refuse to produce (malformed XML, forbidden constructs, SASL by hand).
"""

import asyncio
import base64
import ctypes
import hashlib
import hmac
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / 'conf' / 'corvid.yml'
HOST = 'localhost'

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_STREAMS_ERR = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZAS_ERR = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_CLIENT = 'jabber:client'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_SASL_CB = 'urn:xmpp:sasl-cb:0'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_PING = 'urn:xmpp:ping'
NS_REGISTER = 'jabber:iq:register'
NS_REGISTER_FEATURE = 'http://jabber.org/features/iq-register'
NS_IQ_AUTH = 'jabber:iq:auth'
NS_IQ_AUTH_FEATURE = 'http://jabber.org/features/iq-auth'

# Every wait in the harness is bounded so that no test can hang.
STEP_TIMEOUT = 8.0


class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


def check(cond, msg):
    """Fails the test with msg unless cond holds."""
    if not cond:
        raise AssertionError(msg)


async def settle(cond, timeout=8.0):
    """Polls cond every 50 ms until it holds or timeout seconds passed; returns it."""
    for _ in range(int(timeout / 0.05)):
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


def q(ns, name):
    """ElementTree's {namespace}name form."""
    return '{%s}%s' % (ns, name)


def show(el):
    """An element as text, for failure messages."""
    if el is None:
        return 'None'
    if isinstance(el, ET.Element):
        return ET.tostring(el, encoding='unicode')
    return repr(el)


# --------------------------------------------------------------------------------------
# The server process


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (all held open at once so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent():
    # If the test process is killed (timeout), the server must not outlive it.
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class Server:
    """One corvid process with a private data directory.

    starttls_port is listeners.0 (STARTTLS), tls_port listeners.1 (direct TLS) and
    plain_port, when asked for, an extra listeners.2 with `tls: none`.
    """

    def __init__(self, build, sets=None, users=None, plain_listener=None, workers=2,
                 log_level='info', env=None):
        self.build = Path(build)
        self.env = dict(env or {})
        self.data_dir = tempfile.mkdtemp(prefix='corvid-it-')
        self.log_path = os.path.join(self.data_dir, 'server.log')
        nports = 3 if plain_listener is not None else 2
        ports = free_ports(nports)
        self.starttls_port, self.tls_port = ports[0], ports[1]
        self.plain_port = ports[2] if plain_listener is not None else None
        self.sets = {
            'storage.data_dir': self.data_dir,
            'listeners.0.port': str(self.starttls_port),
            'listeners.1.port': str(self.tls_port),
            'workers': str(workers),
            'log.level': log_level,
        }
        if plain_listener is not None:
            self.sets.update({
                'listeners.2.type': 'c2s',
                'listeners.2.address': '127.0.0.1',
                'listeners.2.port': str(self.plain_port),
                'listeners.2.tls': 'none',
            })
            for k, v in plain_listener.items():
                self.sets['listeners.2.' + k] = str(v)
        for k, v in (sets or {}).items():
            self.sets[k] = str(v)
        self.users = dict(users or {})
        self.proc = None
        self.log_file = None
        self.stopped_rc = None

    def conf_args(self):
        args = ['-c', str(CONF)]
        for k, v in self.sets.items():
            args += ['--set', '%s=%s' % (k, v)]
        return args

    def ctl(self, *cmd, timeout=30):
        """Runs corvidctl on this server's data; returns (rc, output)."""
        p = subprocess.run([str(self.build / 'corvidctl')] + self.conf_args() + list(cmd),
                           cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, text=True)
        return p.returncode, p.stdout

    def adduser(self, user, password):
        rc, out = self.ctl('adduser', '%s@%s' % (user, HOST), password)
        check(rc == 0, 'corvidctl adduser %s failed (%d): %s' % (user, rc, out.strip()))

    async def start(self, timeout=10.0):
        for user, password in self.users.items():
            self.adduser(user, password)
        self.log_file = open(self.log_path, 'wb')
        env = dict(os.environ)
        env.update(self.env)
        self.proc = subprocess.Popen([str(self.build / 'corvid')] + self.conf_args(),
                                     cwd=str(REPO), stdin=subprocess.DEVNULL, env=env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        ports = [self.starttls_port, self.tls_port]
        if self.plain_port:
            ports.append(self.plain_port)
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            if self.proc.poll() is not None:
                self.stopped_rc = self.proc.returncode
                raise AssertionError('server exited with status %d during start-up'
                                     % self.proc.returncode)
            if time.monotonic() > deadline:
                raise AssertionError('server ports %s not accepting after %.0f s'
                                     % (pending, timeout))
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection('127.0.0.1', pending[0]),
                                              1.0)
                w.close()
                pending.pop(0)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    async def wait_log(self, needle, timeout=5.0):
        """Waits until the server log contains needle; returns whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return True
            await asyncio.sleep(0.05)
        return needle in self.log()

    async def terminate(self, timeout=5.0, send=True):
        """SIGTERM (unless send is false: already sent), then waits; returns the exit status
        or None if it did not exit in time (it is then killed)."""
        if self.proc is None:
            return None
        if send and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        rc = self.proc.poll()
        if rc is None:
            self.proc.kill()
            self.proc.wait()
            self.stopped_rc = 'killed'
        else:
            self.stopped_rc = rc
        return rc

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Ctx:
    """What a test receives: its build directory and the servers and clients it made."""

    def __init__(self, build):
        self.build = Path(build)
        self.servers = []
        self.clients = []
        self.notes = []

    async def server(self, **kw):
        srv = Server(self.build, **kw)
        self.servers.append(srv)
        return await srv.start()

    def note(self, text):
        """A line printed with the test's result (e.g. a part that was skipped)."""
        self.notes.append(text)

    async def teardown(self):
        """Checks every server is alive, stops it with SIGTERM and demands exit status 0.
        Returns a list of problems."""
        problems = []
        for srv in self.servers:
            if srv.stopped_rc is None and srv.proc is not None and not srv.alive():
                problems.append('server died during the test (exit status %s)'
                                % srv.proc.returncode)
        # Clients leave first, so that a shutdown with clients still connected is judged
        # only by the test written for it.
        for c in self.clients:
            try:
                c.close()
            except Exception:  # a client already gone is fine at teardown
                pass
        await asyncio.sleep(0.1)
        for srv in self.servers:
            if srv.stopped_rc is not None or not srv.alive():
                continue
            rc = await srv.terminate()
            if rc is None:
                problems.append('server did not exit within 5 s of SIGTERM (no client '
                                'connected)')
            elif rc != 0:
                problems.append('server exited with status %d after SIGTERM' % rc)
        return problems

    def logs(self):
        out = []
        for i, srv in enumerate(self.servers):
            out.append('--- server %d log (%s) ---\n%s' % (i, ' '.join(
                '%s=%s' % kv for kv in srv.sets.items() if kv[0] != 'storage.data_dir'),
                srv.log()))
        return '\n'.join(out)

    def cleanup(self):
        for srv in self.servers:
            srv.cleanup()


# --------------------------------------------------------------------------------------
# TLS


def client_ssl_context():
    """A client context that accepts the server's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_end_point(der):
    """RFC 5929 tls-server-end-point data for a DER certificate: its hash with the
    certificate's signature hash, SHA-256 when that is MD5 or SHA-1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    cert = x509.load_der_x509_certificate(der)
    alg = cert.signature_hash_algorithm
    if alg is None or isinstance(alg, (hashes.MD5, hashes.SHA1)):
        alg = hashes.SHA256()
    h = hashes.Hash(alg)
    h.update(der)
    return h.finalize()


# --------------------------------------------------------------------------------------
# Raw XMPP over a socket


class Raw:
    """A hand-driven XMPP connection. recv() yields ('open', attrs), ('el', Element),
    ('close', None) for </stream:stream> and ('eof', None) when the TCP stream ends."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.items = []
        self.eof = False
        self.restart()

    @classmethod
    async def connect(cls, port, tls=False):
        ctx = client_ssl_context() if tls else None
        r, w = await asyncio.wait_for(
            asyncio.open_connection('127.0.0.1', port, ssl=ctx,
                                    server_hostname=HOST if tls else None), STEP_TIMEOUT)
        return cls(r, w)

    def restart(self):
        """A new XML document begins (after STARTTLS or SASL success)."""
        self.parser = ET.XMLPullParser(('start', 'end'))
        self.depth = 0
        self.root = None

    @property
    def ssl_object(self):
        return self.writer.get_extra_info('ssl_object')

    async def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), STEP_TIMEOUT)

    def _parse(self, data):
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == 'start':
                self.depth += 1
                if self.depth == 1:
                    self.root = el
                    self.items.append(('open', dict(el.attrib), el.tag))
            else:
                self.depth -= 1
                if self.depth == 0:
                    self.items.append(('close', None, None))
                elif self.depth == 1:
                    self.root.remove(el)
                    self.items.append(('el', el, None))

    async def recv(self, timeout=STEP_TIMEOUT):
        """The next item; raises asyncio.TimeoutError when nothing comes in time."""
        deadline = time.monotonic() + timeout
        while not self.items:
            if self.eof:
                return ('eof', None)
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except (ConnectionError, ssl.SSLError):
                data = b''
            if not data:
                self.eof = True
                continue
            self._parse(data)
        kind, val, _tag = self.items.pop(0)
        return (kind, val)

    async def element(self, timeout=STEP_TIMEOUT):
        """The next top-level element; fails on anything else."""
        kind, val = await self.recv(timeout)
        if kind != 'el':
            raise AssertionError('expected an element from the server, got %s' % kind)
        return val

    async def open(self, to=HOST, version='1.0', header=None):
        """Sends a stream header, reads the server's header and features."""
        if header is None:
            header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='%s'>"
                      % (to, version))
        await self.send(header)
        kind, attrs = await self.recv()
        check(kind == 'open', 'expected the server stream header, got %s %s' % (kind, attrs))
        self.stream_attrs = attrs
        feats = await self.element()
        check(feats.tag == q(NS_STREAM, 'features'), 'expected stream features, got %s'
              % show(feats))
        return feats

    async def starttls(self):
        await self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = await self.element()
        check(el.tag == q(NS_TLS, 'proceed'), 'expected <proceed/>, got %s' % show(el))
        await asyncio.wait_for(self.writer.start_tls(client_ssl_context(), server_hostname=HOST),
                               STEP_TIMEOUT)
        self.restart()

    async def expect_stream_error(self, timeout=STEP_TIMEOUT):
        """Reads until a stream error; skips the server's header (which RFC 6120 §4.9.1.2
        requires before an error). Returns (condition, text, rest) where rest lists the
        items after the error: it should be a close and then end of file."""
        deadline = time.monotonic() + timeout
        cond = None
        text = None
        while True:
            left = max(0.01, deadline - time.monotonic())
            try:
                kind, val = await self.recv(left)
            except asyncio.TimeoutError:
                raise AssertionError('no stream error within %.1f s' % timeout)
            if kind == 'open':
                continue
            if kind in ('close', 'eof'):
                raise AssertionError('stream ended (%s) without a stream error' % kind)
            if val.tag == q(NS_STREAM, 'error'):
                for child in val:
                    if child.tag == q(NS_STREAMS_ERR, 'text'):
                        text = child.text
                    elif child.tag.startswith('{%s}' % NS_STREAMS_ERR):
                        cond = child.tag.split('}', 1)[1]
                break
            raise AssertionError('expected a stream error, got %s' % show(val))
        rest = []
        while True:
            left = max(0.01, deadline + 2 - time.monotonic())
            try:
                kind, _ = await self.recv(left)
            except asyncio.TimeoutError:
                rest.append('timeout')
                break
            rest.append(kind)
            if kind == 'eof':
                break
        return cond, text, rest

    async def expect_closed(self, timeout=STEP_TIMEOUT):
        """Returns the list of items until end of file (fails on timeout)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                kind, val = await self.recv(max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise AssertionError('connection still open after %.1f s; saw %s'
                                     % (timeout, seen))
            seen.append(kind if kind != 'el' else show(val))
            if kind == 'eof':
                return seen

    async def iq(self, body, type_='get', to=None, id_=None):
        """Sends an iq and returns the answer with the same id."""
        self._iq_seq = getattr(self, '_iq_seq', 0) + 1
        id_ = id_ or 'r%d' % self._iq_seq
        to_attr = " to='%s'" % to if to else ''
        await self.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, id_, to_attr, body))
        while True:
            el = await self.element()
            if el.tag == q(NS_STREAM, 'error'):
                raise AssertionError('stream error instead of an iq answer: %s' % show(el))
            if el.tag == q(NS_CLIENT, 'iq') and el.get('id') == id_:
                return el

    async def ping(self, to=HOST):
        el = await self.iq("<ping xmlns='%s'/>" % NS_PING, to=to)
        check(el.get('type') == 'result', 'ping answered with %s' % show(el))
        return el

    async def auth_plain(self, user, password):
        """SASL PLAIN; returns the server's <success/> or <failure/> element."""
        blob = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()
        await self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, blob))
        return await self.element()

    async def auth_scram(self, hash_name, user, password, cb_type=None, cb_data=b'',
                         gs2_flag=None, between=None):
        """SASL SCRAM-<hash>[-PLUS] (RFC 5802). Returns the final <success/> or <failure/>
        element; checks the server signature on success. between, if given, is awaited
        after the server's challenge, before the client's final message."""
        mech = 'SCRAM-%s%s' % (hash_name.upper(), '-PLUS' if cb_type else '')
        digest = {'SHA-1': hashlib.sha1, 'SHA-256': hashlib.sha256}[hash_name.upper()]
        if gs2_flag is None:
            gs2_flag = 'p=' + cb_type if cb_type else 'n'
        gs2 = (gs2_flag + ',,').encode()
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = 'n=%s,r=%s' % (user.replace('=', '=3D').replace(',', '=2C'), cnonce)
        await self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (
            NS_SASL, mech, base64.b64encode(gs2 + first_bare.encode()).decode()))
        ch = await self.element()
        if ch.tag != q(NS_SASL, 'challenge'):
            return ch
        server_first = base64.b64decode(ch.text or '').decode()
        attrs = dict(kv.split('=', 1) for kv in server_first.split(','))
        check(attrs['r'].startswith(cnonce), 'server nonce does not extend ours')
        salted = hashlib.pbkdf2_hmac(digest().name, password.encode(),
                                     base64.b64decode(attrs['s']), int(attrs['i']))
        client_key = hmac.new(salted, b'Client Key', digest).digest()
        stored_key = digest(client_key).digest()
        cbind = base64.b64encode(gs2 + (cb_data if cb_type else b'')).decode()
        final_wo_proof = 'c=%s,r=%s' % (cbind, attrs['r'])
        auth_msg = ('%s,%s,%s' % (first_bare, server_first, final_wo_proof)).encode()
        sig = hmac.new(stored_key, auth_msg, digest).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        final = '%s,p=%s' % (final_wo_proof, base64.b64encode(proof).decode())
        if between:
            await between()
        await self.send("<response xmlns='%s'>%s</response>" % (
            NS_SASL, base64.b64encode(final.encode()).decode()))
        el = await self.element()
        if el.tag == q(NS_SASL, 'success'):
            server_key = hmac.new(salted, b'Server Key', digest).digest()
            want = base64.b64encode(hmac.new(server_key, auth_msg, digest).digest()).decode()
            got = base64.b64decode(el.text or '').decode()
            check(got == 'v=' + want, 'server signature wrong: %r' % got)
        return el

    async def bind(self, resource=None):
        """Restarts the stream after SASL success, binds, returns the bound JID."""
        self.restart()
        feats = await self.open()
        check(feats.find(q(NS_BIND, 'bind')) is not None,
              'no <bind/> in features after authentication: %s' % show(feats))
        res = '<resource>%s</resource>' % resource if resource else ''
        el = await self.iq("<bind xmlns='%s'>%s</bind>" % (NS_BIND, res), type_='set')
        check(el.get('type') == 'result', 'bind failed: %s' % show(el))
        jid = el.findtext('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid')))
        check(jid, 'bind result without a jid: %s' % show(el))
        return jid

    def close(self):
        if not self.writer.is_closing():
            self.writer.close()


def sasl_failure(el):
    """The condition of a SASL <failure/> element, or None if el is not one."""
    if el is None or el.tag != q(NS_SASL, 'failure'):
        return None
    for child in el:
        if child.tag.startswith('{%s}' % NS_SASL) and child.tag != q(NS_SASL, 'text'):
            return child.tag.split('}', 1)[1]
    return ''


def stanza_error(el):
    """(type, condition) of a stanza error reply, or None if el is not an error."""
    if el is None or el.get('type') != 'error':
        return None
    err = el.find(q(NS_CLIENT, 'error'))
    if err is None:
        return ('?', '?')
    for child in err:
        if child.tag.startswith('{%s}' % NS_STANZAS_ERR) and child.tag != q(NS_STANZAS_ERR,
                                                                            'text'):
            return (err.get('type'), child.tag.split('}', 1)[1])
    return (err.get('type'), '?')


def mechanisms(features):
    m = features.find(q(NS_SASL, 'mechanisms'))
    return [] if m is None else [x.text for x in m.findall(q(NS_SASL, 'mechanism'))]


async def raw_connect(ctx, port, tls=False):
    r = await Raw.connect(port, tls)
    ctx.clients.append(r)
    return r


# --------------------------------------------------------------------------------------
# slixmpp clients


class LoginFailed(AssertionError):
    def __init__(self, reason, client):
        super().__init__('login failed: %s (sasl failures %s, stream errors %s)'
                         % (reason, client.sasl_failures, client.stream_errors))
        self.client = client


def _client_class():
    import slixmpp

    class Client(slixmpp.ClientXMPP):
        """A slixmpp client that records what happened to it.

        With strip_cb (the default) it behaves as a client without channel-binding support
        (gs2 flag 'n'): slixmpp 1.8 would otherwise send 'y' over TLS whenever a non-PLUS
        mechanism is forced, which a server offering -PLUS must refuse (RFC 5802 §6)."""

        def __init__(self, jid, password, mech=None, strip_cb=True):
            super().__init__(jid, password, sasl_mech=mech)
            self.ssl_context = client_ssl_context()
            self.register_plugin('xep_0199')
            self.sasl_failures = []
            self.stream_errors = []
            self.outcome = asyncio.get_event_loop().create_future()
            self.gone = asyncio.get_event_loop().create_future()
            self.features_seen = []
            fm = self['feature_mechanisms']
            if strip_cb:
                orig = fm.sasl_callback

                def no_cb(required, optional):
                    res = orig(required, optional)
                    res.pop('channel_binding', None)
                    return res
                fm.sasl_callback = no_cb
            self.add_event_handler('session_start', lambda _e: self._done('ok'))
            self.add_event_handler('failed_auth', self._on_failed_auth)
            self.add_event_handler('failed_all_auth', lambda _e: self._done('failed_all_auth'))
            self.add_event_handler('stream_error', self._on_stream_error)
            self.add_event_handler('connection_failed', self._on_connection_failed)
            self.add_event_handler('disconnected', self._on_disconnected)

        def _done(self, what):
            if not self.outcome.done():
                self.outcome.set_result(what)

        def _on_failed_auth(self, st):
            self.sasl_failures.append(st['condition'])

        def _on_stream_error(self, err):
            self.stream_errors.append(err['condition'])

        def _on_connection_failed(self, err):
            self._done('connection failed: %s' % err)
            # slixmpp would retry for ever; a test wants the failure.
            self.cancel_connection_attempt()

        def _on_disconnected(self, _reason):
            self._done('disconnected')
            if not self.gone.done():
                self.gone.set_result(True)

        async def ping_server(self, timeout=5):
            """XEP-0199 ping to the server; fails unless the answer is a result."""
            iq = self.Iq()
            iq['type'] = 'get'
            iq['to'] = HOST
            iq.enable('ping')
            res = await iq.send(timeout=timeout)
            check(res['type'] == 'result', 'ping answered with %s' % res)
            return res

        def close(self):
            self.cancel_connection_attempt()
            if self.transport is not None:
                try:
                    self.abort()
                except AttributeError:
                    # asyncio's SSL transport half torn down already: nothing to close.
                    pass

    return Client


_CLIENT = None


def make_client(ctx, jid, password, mech=None, strip_cb=True):
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = _client_class()
    c = _CLIENT(jid, password, mech=mech, strip_cb=strip_cb)
    ctx.clients.append(c)
    return c


async def attempt_login(ctx, port, jid, password, mech=None, direct_tls=False, strip_cb=True,
                        timeout=STEP_TIMEOUT):
    """Connects a slixmpp client; returns (outcome, client). outcome is 'ok' once the session
    started, otherwise the reason it did not."""
    c = make_client(ctx, jid, password, mech=mech, strip_cb=strip_cb)
    c.connect(('127.0.0.1', port), use_ssl=direct_tls)
    try:
        outcome = await asyncio.wait_for(asyncio.shield(c.outcome), timeout)
    except asyncio.TimeoutError:
        outcome = 'timeout after %.0f s' % timeout
    if outcome != 'ok':
        c.close()
    return outcome, c


async def login(ctx, port, jid, password, mech=None, direct_tls=False, strip_cb=True):
    """A logged-in, bound slixmpp client (fails the test otherwise)."""
    outcome, c = await attempt_login(ctx, port, jid, password, mech=mech,
                                     direct_tls=direct_tls, strip_cb=strip_cb)
    if outcome != 'ok':
        raise LoginFailed(outcome, c)
    return c


async def im_client(ctx, port, jid, password, approve=None):
    """A logged-in slixmpp client for IM tests: c.got records the chat/normal bodies it
    receives with their XEP-0203 stamp (or None), c.pres the (full JID, type) of each
    presence; subscription requests are approved (approve=True) or left to the test
    (None), and it never subscribes back on its own. It has fetched its roster and sent
    initial presence."""
    c = await login(ctx, port, jid, password, mech='SCRAM-SHA-256')
    c.register_plugin('xep_0203')
    c.got = []
    c.pres = []
    c.add_event_handler('message', lambda m: c.got.append(
        (m['body'], m['delay']['stamp'] if m.get_plugin('delay', check=True) else None)))
    c.add_event_handler('presence', lambda p: c.pres.append((p['from'].full, p['type'])))
    c.roster.auto_authorize = approve
    c.roster.auto_subscribe = False
    await c.get_roster()
    c.send_presence()
    return c


def subscription_of(c, jid):
    """The subscription state of jid in the client's roster, or None."""
    return c.client_roster[jid]['subscription'] if jid in c.client_roster.keys() else None


async def login_fails(ctx, port, jid, password, mech=None, direct_tls=False, strip_cb=True):
    """Asserts a login is refused; returns the SASL failure conditions the client saw."""
    outcome, c = await attempt_login(ctx, port, jid, password, mech=mech, direct_tls=direct_tls,
                                     strip_cb=strip_cb)
    check(outcome != 'ok', 'login of %s with password %r unexpectedly succeeded'
          % (jid, password))
    check(c.sasl_failures, 'login of %s failed without a SASL failure (%s; stream errors %s)'
          % (jid, outcome, c.stream_errors))
    return c.sasl_failures


def client_tls_version(c):
    sock = c.socket
    return sock.version() if isinstance(sock, (ssl.SSLObject, ssl.SSLSocket)) else None
