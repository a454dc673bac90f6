# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the tests that run inside a bench guest (ci/vm/run).

The guest has rxe0 on lo (GID index 1 = 127.0.0.1) with the rdma_rxe that
the run asked for; RXE_ODP_DEV / RXE_ODP_GID override the device and GID.
The helpers the tests share are in guestlib.py.
"""
import os

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
