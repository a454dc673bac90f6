# SPDX-License-Identifier: GPL-2.0
"""The real-clients table of make check's summary: each client test of
tests/guest (test_clients, test_rdma_cm) with its outcome per kernel, and
each test of tests/wire with its outcome on either side of the wire.
tests/host/conftest.py prints it before pytest's own summary."""
import re

CLIENT_MODULES = ('test_clients', 'test_rdma_cm')
WIRE_MODULE = 'test_wire'
SHORT = {'passed': 'pass', 'failed': 'FAIL', 'error': 'ERROR', 'skipped': 'skip',
         'xfail': 'xfail', 'xpass': 'XPASS'}


def split(result_name):
    """(run, module, test) of a GuestResult name such as
    'stock/guest/tests.guest.test_clients::test_x[p]' or
    'wire-stock-a/tests.wire.test_wire::test_y[q]'; None for other tests."""
    m = re.match(r'^([^/]+)/(?:guest/)?tests\.(?:guest|wire)\.(\w+)::(.+)$', result_name)
    if not m or m.group(2) not in CLIENT_MODULES + (WIRE_MODULE,):
        return None
    return m.groups()


def table(results, runs):
    """Lines of a table: one row per test, one column per run in runs."""
    cells = {}
    order = []
    for res in results:
        parts = split(res.name)
        if not parts or parts[0] not in runs:
            continue
        run, module, test = parts
        key = '%s::%s' % (module, test)
        if key not in cells:
            cells[key] = {}
            order.append(key)
        cells[key][run] = SHORT.get(res.status, res.status)
    if not order:
        return []
    # a run that ran none of them (the debug kernel runs no client) is no column
    runs = [r for r in runs if any(r in cells[k] for k in order)]
    width = max(len(k) for k in order)
    lines = ['%-*s  %s' % (width, 'test', '  '.join('%-12s' % r for r in runs))]
    for key in order:
        lines.append('%-*s  %s' % (width, key, '  '.join(
            '%-12s' % cells[key].get(r, '-') for r in runs)))
    return lines
