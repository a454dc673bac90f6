# SPDX-License-Identifier: GPL-2.0
"""Device removal and module unload while ODP prefetch work is queued.

rdma_rxe has no disassociate_ucontext, so `rdma link del` waits until the
processes that hold the device have closed it; their MRs are then destroyed
by uverbs, and each MR's destruction waits for the prefetch work that holds
it (the work stops at its next 64 MiB step). Module unload drains rxe's
workqueue. Each test ends with rdma_rxe unloaded and reloads it for the
tests that follow; a kernel report anywhere fails the whole run.
"""
import os
import subprocess
import time

import pytest

from guestlib import run

HOLD = os.path.abspath('build/tests/odp_prefetch_hold')
# 8 calls of 64 MiB: seconds of prefetch work in the bench guest
HOLD_ARGS = ['512', '8']


@pytest.fixture
def reload_rxe(rdma_dev):
    if not os.path.exists(HOLD):
        pytest.fail('%s missing: make test-tools' % HOLD)
    yield
    run(['ci/vm/rxe-load', 'ours'])


@pytest.fixture
def holder(reload_rxe):
    """odp_prefetch_hold, once it has queued its prefetch work. Killed at
    the end if a failing test left it running: it holds the device, and
    everything after it (the reload, the next tests) would wait for it."""
    proc = subprocess.Popen([HOLD] + HOLD_ARGS, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        if line.strip() != 'queued':
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail('odp_prefetch_hold did not queue its work: %r %s' % (line, err))
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def unload_rxe():
    run(['modprobe', '-r', 'rdma_rxe'], timeout=60)
    assert not os.path.isdir('/sys/module/rdma_rxe')


def test_link_del_waits_for_the_holder(rdma_dev, holder):
    link_del = subprocess.Popen(['rdma', 'link', 'del', rdma_dev],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    try:
        time.sleep(1)
        # still waiting for the process that holds the device
        assert link_del.poll() is None
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
        start = time.monotonic()
        out, _ = link_del.communicate(timeout=60)
    finally:
        if link_del.poll() is None:
            holder.kill()
            link_del.kill()
            link_del.wait(timeout=60)
    print('link del returned %.2f s after the holder exited' %
          (time.monotonic() - start))
    assert link_del.returncode == 0, out
    assert not os.path.isdir('/sys/class/infiniband/%s' % rdma_dev)
    unload_rxe()


def test_unload_after_the_holder_is_killed(rdma_dev, holder):
    holder.kill()
    holder.wait(timeout=30)
    run(['rdma', 'link', 'del', rdma_dev], timeout=60)
    unload_rxe()
