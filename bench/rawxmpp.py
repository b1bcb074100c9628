"""Raw XMPP client sessions for the Python load helpers (bench/fanout.py,
bench/roster_writes.py): SASL PLAIN on a listener without TLS, then bind. No XML parser:
the helpers wait for known byte strings, which is all they need and costs them nothing."""

import asyncio
import base64

HDR = (b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
       b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")


async def read_until(reader, token, buf):
    """Reads until token arrived; returns the bytes up to and including it, keeping the rest
    in buf[0]."""
    while token not in buf[0]:
        data = await reader.read(65536)
        if not data:
            raise EOFError('server closed the stream')
        buf[0] += data
    i = buf[0].index(token) + len(token)
    out, buf[0] = buf[0][:i], buf[0][i:]
    return out


async def session(port, user, password, resource='r'):
    """Logs user in on 127.0.0.1:port and binds resource; returns (reader, writer, buf)."""
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    buf = [b'']
    writer.write(HDR)
    await read_until(reader, b'</stream:features>', buf)
    cred = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode())
    writer.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + cred +
                 b"</auth>")
    await read_until(reader, b'success', buf)
    writer.write(HDR)
    await read_until(reader, b'</stream:features>', buf)
    writer.write(("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>%s</resource></bind></iq>" % resource).encode())
    await read_until(reader, b'</iq>', buf)
    return reader, writer, buf
