# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the tests that run inside a bench guest (ci/vm/run).

The guest has rxe0 on lo (GID index 1 = 127.0.0.1) with the rdma_rxe that
the run asked for; RXE_ODP_DEV / RXE_ODP_GID override the device and GID.
"""
import os
import subprocess
import time

import pytest


@pytest.fixture(scope='session')
def rdma_dev():
    dev = os.environ.get('RXE_ODP_DEV', 'rxe0')
    if not os.path.isdir('/sys/class/infiniband/%s' % dev):
        pytest.fail('no RDMA device %s: run inside ci/vm/run' % dev)
    return dev


@pytest.fixture(scope='session')
def gid_index():
    return int(os.environ.get('RXE_ODP_GID', '1'))


def port_counter(dev, name):
    """One of rxe's per-port hw counters (sent_pkts, odp_faults, ...)."""
    # ib_core caches hw counters for 10 ms: wait for a fresh value
    time.sleep(0.02)
    path = '/sys/class/infiniband/%s/ports/1/hw_counters/%s' % (dev, name)
    with open(path) as f:
        return int(f.read())


def run(cmd, timeout=120, check=True, env=None):
    """Run a command (in env, if given), return CompletedProcess with text
    output."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         env=env)
    if check and res.returncode:
        raise AssertionError('%s exited %d\nstdout:\n%s\nstderr:\n%s' %
                             (' '.join(cmd), res.returncode, res.stdout, res.stderr))
    return res


def wait_listening(port, timeout=30):
    """Wait until a TCP socket listens on port (a test server's control socket)."""
    needle = ':%04X' % port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ('/proc/net/tcp', '/proc/net/tcp6'):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[1].endswith(needle) and fields[3] == '0A':
                        return
        time.sleep(0.1)
    raise AssertionError('nothing listens on TCP port %d after %ds' % (port, timeout))
