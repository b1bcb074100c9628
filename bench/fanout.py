"""One login fanned out to N online contacts: N raw XMPP sessions (PLAIN on a listener
without TLS) log in and send initial presence; then the hub account logs in and sends its
initial presence, and every contact waits for it. Prints when the first, median and last
contact received it (end to end, this machine's clock). Used by bench/fanout."""

import asyncio
import sys
import time

from rawxmpp import read_until, session


async def contact(port, name, password, ready, go, t0, arrived, hub):
    reader, writer, buf = await session(port, name, password)
    writer.write(b'<presence/>')
    ready.append(name)
    await go.wait()
    await read_until(reader, ("from='%s@localhost/r'" % hub).encode(), buf)
    arrived.append(time.perf_counter() - t0[0])
    return writer


async def main():
    port, n, password, hub = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ready, arrived, t0, go = [], [], [0.0], asyncio.Event()
    tasks = [asyncio.create_task(contact(port, 'user%d' % i, password, ready, go, t0, arrived,
                                         hub)) for i in range(1, n + 1)]
    while len(ready) < n:
        if any(t.done() and t.exception() for t in tasks):
            raise next(t.exception() for t in tasks if t.done() and t.exception())
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # their own presence traffic settles
    _, writer, _ = await session(port, hub, password)
    go.set()
    t0[0] = time.perf_counter()
    writer.write(b'<presence/>')
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    arrived.sort()
    print('contacts reached: %d; first %.1f ms, median %.1f ms, last %.1f ms (end to end)'
          % (len(arrived), arrived[0] * 1e3, arrived[len(arrived) // 2] * 1e3,
             arrived[-1] * 1e3))


asyncio.run(main())
