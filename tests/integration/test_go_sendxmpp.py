"""An independent client implementation: go-sendxmpp (Debian package, Go's go-xmpp library)
logs in over STARTTLS and over direct TLS and sends a message.

Message routing between users is not implemented yet, so the message itself may be answered
with an error; what is asserted is that the client authenticated and bound (from the server's
log) and that the client did not report an authentication or TLS problem.
"""

import asyncio
import os
import shutil
import tempfile

from harness import HOST, Skip, check

GO_SENDXMPP = '/usr/bin/go-sendxmpp'
USERS = {'alice': 'wonderland1', 'bob': 'builder-bob1'}


async def run_sendxmpp(args, timeout=20):
    home = tempfile.mkdtemp(prefix='corvid-it-home-')
    try:
        # A private HOME: no configuration file of the machine's user is read.
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home)
        p = await asyncio.create_subprocess_exec(
            GO_SENDXMPP, *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        try:
            out, _ = await asyncio.wait_for(p.communicate(b'hello from go-sendxmpp\n'),
                                            timeout)
        except asyncio.TimeoutError:
            p.kill()
            await p.wait()
            raise AssertionError('go-sendxmpp %s did not finish within %d s' % (args, timeout))
        return p.returncode, out.decode('utf-8', 'replace')
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def test_go_sendxmpp_starttls_and_direct_tls(ctx):
    if not os.access(GO_SENDXMPP, os.X_OK):
        raise Skip('%s is not installed' % GO_SENDXMPP)
    srv = await ctx.server(users=USERS)
    for label, port, extra in (('STARTTLS', srv.starttls_port, []),
                               ('direct TLS', srv.tls_port, ['-t'])):
        authed = srv.log().count('authenticated as alice@%s' % HOST)
        before = srv.log().count('bound alice@%s/' % HOST)
        rc, out = await run_sendxmpp(['-u', 'alice@' + HOST, '-p', USERS['alice'],
                                      '-j', '127.0.0.1:%d' % port, '-n'] + extra +
                                     ['bob@' + HOST])
        lowered = out.lower()
        check('auth' not in lowered or 'fail' not in lowered,
              '%s: go-sendxmpp reports an authentication problem (exit %d): %s'
              % (label, rc, out.strip()))
        check(srv.log().count('authenticated as alice@%s' % HOST) == authed + 1,
              '%s: no authentication in the server log (go-sendxmpp exit %d: %s)'
              % (label, rc, out.strip()))
        after = srv.log().count('bound alice@%s/' % HOST)
        check(after == before + 1, '%s: go-sendxmpp did not bind a resource (exit %d: %s)'
              % (label, rc, out.strip()))
        check(rc == 0, '%s: go-sendxmpp exited %d: %s' % (label, rc, out.strip()))

    # A wrong password makes it fail visibly.
    rc, out = await run_sendxmpp(['-u', 'alice@' + HOST, '-p', 'not-the-password',
                                  '-j', '127.0.0.1:%d' % srv.tls_port, '-n', '-t',
                                  'bob@' + HOST])
    check(rc != 0, 'go-sendxmpp with a wrong password exited 0: %s' % out.strip())
