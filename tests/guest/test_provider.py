# SPDX-License-Identifier: GPL-2.0
"""Our rdma-core provider (userspace-provider/) in real tools: it is the one
libibverbs loads with RDMAV_DRIVERS, and a traffic run under valgrind
memcheck shows no invalid access and no definite leak."""
import os

import pytest

from guestlib import run
from test_tools import client_server

PROVIDER = os.path.abspath('build/provider/librxe_odp')


@pytest.fixture
def our_provider(monkeypatch):
    if not os.path.exists(PROVIDER + '-rdmav34.so'):
        pytest.fail('%s-rdmav34.so missing: make provider' % PROVIDER)
    monkeypatch.setenv('RDMAV_DRIVERS', PROVIDER)


def test_provider_is_ours(rdma_dev, our_provider, tmp_path):
    log = tmp_path / 'verbs.log'
    env = dict(os.environ, VERBS_LOG_LEVEL='4', VERBS_LOG_FILE=str(log))
    res = run(['env'] + ['%s=%s' % kv for kv in env.items()
                         if kv[0].startswith(('VERBS_', 'RDMAV_'))] +
              ['ibv_devinfo', '-d', rdma_dev])
    assert 'PORT_ACTIVE' in res.stdout
    assert 'rxe_odp: provider context on %s' % rdma_dev in log.read_text()


def test_pingpong_under_valgrind(rdma_dev, gid_index, our_provider, tmp_path):
    log = tmp_path / 'memcheck.log'
    server = ['ibv_rc_pingpong', '-d', rdma_dev, '-g', str(gid_index),
              '-n', '20', '-c', '-p', '18515']
    client = ['valgrind', '--log-file=%s' % log, '--error-exitcode=9',
              '--leak-check=full', '--errors-for-leak-kinds=definite'] + server
    srv, cli, _ = client_server(server, client, timeout=600)
    assert '20 iters in' in cli and '20 iters in' in srv, cli
    report = log.read_text()
    assert 'ERROR SUMMARY: 0 errors' in report, report
    assert 'definitely lost: 0 bytes' in report or 'no leaks are possible' in report, report
