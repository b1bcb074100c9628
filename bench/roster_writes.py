"""Store writes as background load: COUNT accounts (userFIRST.. on a listener without TLS,
SASL PLAIN) each send roster sets back to back, one at a time, for SECONDS, cycling over 50
contacts; prints how many were answered per second. Run it next to `corvid-bench chat` to
see what a stream of writes costs everyone else (docs/benchmarks.md).

usage: roster_writes.py PORT FIRST COUNT SECONDS PASSWORD"""

import asyncio
import sys
import time

from rawxmpp import read_until, session


async def writer_session(port, user, password, seconds, answered):
    reader, writer, buf = await session(port, user, password)
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        writer.write(("<iq type='set' id='s%d'><query xmlns='jabber:iq:roster'>"
                      "<item jid='c%d@localhost'/></query></iq>" % (i, i % 50)).encode())
        await read_until(reader, ("id='s%d'" % i).encode(), buf)
        answered[0] += 1
    writer.close()


async def main():
    port, first, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    seconds, password = float(sys.argv[4]), sys.argv[5]
    answered = [0]
    t0 = time.monotonic()
    await asyncio.gather(*[writer_session(port, 'user%d' % (first + k), password, seconds,
                                          answered) for k in range(count)])
    took = time.monotonic() - t0
    print('roster sets: %d answered in %.1f s = %.0f/s' % (answered[0], took, answered[0] / took))


if __name__ == '__main__':
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    asyncio.run(main())
