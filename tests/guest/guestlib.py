# SPDX-License-Identifier: GPL-2.0
"""Helpers for the tests that run inside bench guests: tests/guest (one
guest) and tests/wire (two guests on a wire)."""
import os
import signal
import subprocess
import time


def gid_index_of(dev, addr):
    """The index of dev's RoCE v2 GID for the IPv4 address addr (an
    IPv4-mapped one), or None while it has none."""
    want = '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' % tuple(
        int(x) for x in addr.split('.'))
    gids = '/sys/class/infiniband/%s/ports/1/gids' % dev
    for index in sorted(os.listdir(gids), key=int):
        try:
            with open(os.path.join(gids, index)) as f:
                if f.read().strip() != want:
                    continue
            with open('/sys/class/infiniband/%s/ports/1/gid_attrs/types/%s' % (dev, index)) as f:
                if f.read().strip() == 'RoCE v2':
                    return int(index)
        except OSError:
            pass
    return None


def kill_group(server):
    """Kill a server and what it forked (fio's jobs, qperf's per-client
    children): a process left behind keeps its rxe device open, and `rdma
    link del` then waits for it for ever (rxe cannot disassociate a user
    context)."""
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
