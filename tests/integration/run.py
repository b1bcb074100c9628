#!/usr/bin/python3
"""Runs Corvid's integration tests.

    tests/integration/run.py [BUILD_DIR] [-k SUBSTRING]...

BUILD_DIR (default /work/main/build) holds the corvid and corvidctl binaries. Every
`test_*` function of every tests/integration/test_*.py module runs in its own process (so a
stuck or crashing test cannot take the others with it) with its own server, under a time
limit. Prints "PASS name", "SKIP name: reason" or "FAIL name: reason" per test, the server's
log for each failure, and finally "N passed, N failed"; exits non-zero if any failed.

Needs Debian's python3-slixmpp, hence /usr/bin/python3.
"""

import asyncio
import importlib
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEST_TIMEOUT = 30.0          # what a test itself may take
HARD_TIMEOUT = TEST_TIMEOUT + 20.0   # plus start-up and teardown; then the process is killed
RESULT_TAG = '@@corvid-integration-result@@ '


def discover(filters):
    sys.path.insert(0, str(HERE))
    tests = []
    for path in sorted(HERE.glob('test_*.py')):
        mod = importlib.import_module(path.stem)
        funcs = [f for name, f in vars(mod).items()
                 if name.startswith('test_') and inspect.isfunction(f)
                 and f.__module__ == mod.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in funcs:
            name = '%s.%s' % (path.stem, f.__name__)
            if not filters or any(s in name for s in filters):
                tests.append(name)
    return tests


async def run_child(build, name):
    import harness
    mod_name, func_name = name.split('.', 1)
    func = getattr(importlib.import_module(mod_name), func_name)
    ctx = harness.Ctx(build)
    status, reason = 'PASS', ''
    try:
        await asyncio.wait_for(func(ctx), TEST_TIMEOUT)
    except harness.Skip as e:
        status, reason = 'SKIP', str(e)
    except asyncio.TimeoutError:
        status, reason = 'FAIL', 'timed out after %.0f s' % TEST_TIMEOUT
        traceback.print_exc()
    except BaseException as e:  # any failure of the test is reported, never raised
        status, reason = 'FAIL', '%s: %s' % (type(e).__name__, e)
        traceback.print_exc()
    try:
        problems = await asyncio.wait_for(ctx.teardown(), 15)
    except BaseException as e:
        problems = ['teardown failed: %s: %s' % (type(e).__name__, e)]
    if problems:
        if status != 'FAIL':
            status, reason = 'FAIL', '; '.join(problems)
        else:
            reason += ' (and: %s)' % '; '.join(problems)
    if status == 'FAIL':
        print(ctx.logs())
    ctx.cleanup()
    return status, reason, ctx.notes


def child_main(build, name):
    sys.path.insert(0, str(HERE))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        status, reason, notes = loop.run_until_complete(run_child(build, name))
        # slixmpp leaves tasks behind (its send queue); end them before the loop goes.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        loop.close()
    sys.stdout.flush()
    print(RESULT_TAG + json.dumps({'status': status, 'reason': reason, 'notes': notes}))
    return 0


def run_one(build, name):
    """Runs one test in a child process; returns (status, reason, notes, output)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), '--child', str(build), name]
    # A session of its own, so that on a hard timeout the whole group (test and server)
    # can be killed by the group's id.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=str(HERE))
    try:
        out, _ = p.communicate(timeout=HARD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return 'FAIL', 'killed after %.0f s' % HARD_TIMEOUT, [], out.decode('utf-8', 'replace')
    text = out.decode('utf-8', 'replace')
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG):])
            rest = text.replace(line, '').rstrip()
            return res['status'], res['reason'], res['notes'], rest
    return 'FAIL', 'test process exited with status %d and no result' % p.returncode, [], text


def main(argv):
    if len(argv) >= 2 and argv[1] == '--child':
        return child_main(argv[2], argv[3])
    args = argv[1:]
    filters = []
    build = None
    while args:
        a = args.pop(0)
        if a == '-k' and args:
            filters.append(args.pop(0))
        elif build is None:
            build = a
        else:
            print('usage: run.py [BUILD_DIR] [-k SUBSTRING]...', file=sys.stderr)
            return 2
    build = Path(build or '/work/main/build').resolve()
    for exe in ('corvid', 'corvidctl'):
        if not os.access(build / exe, os.X_OK):
            print('%s/%s is missing: build the server first' % (build, exe), file=sys.stderr)
            return 2
    try:
        import slixmpp  # noqa: F401  (checked here so the reason is clear)
    except ImportError:
        if sys.executable != '/usr/bin/python3' and os.access('/usr/bin/python3', os.X_OK):
            os.execv('/usr/bin/python3', ['/usr/bin/python3'] + argv)
        print('slixmpp is not importable by %s; run with /usr/bin/python3 '
              '(Debian python3-slixmpp)' % sys.executable, file=sys.stderr)
        return 2
    passed = failed = 0
    for name in discover(filters):
        t0 = time.monotonic()
        status, reason, notes, output = run_one(build, name)
        took = time.monotonic() - t0
        if status == 'PASS':
            passed += 1
            print('PASS %s (%.1f s)' % (name, took))
        elif status == 'SKIP':
            print('SKIP %s: %s' % (name, reason))
        else:
            failed += 1
            print('FAIL %s: %s' % (name, reason))
            if output:
                print('\n'.join('    ' + line for line in output.splitlines()))
        for n in notes:
            print('    note: %s' % n)
        sys.stdout.flush()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
