# SPDX-License-Identifier: GPL-2.0
"""Fixtures for tests/wire: the same pytest session in two bench guests on
one virtual wire (ci/vm/run-wire), a and b, in lockstep.

Each test runs on both sides at once: one side runs the server of a tool,
the other its client, on the rxe link rxew over eth0 (the wire). Before
each test the two sides meet over a TCP control connection on the wire
(a listens, b connects) and compare the test's name, so that they cannot
drift apart; a test can also swap a word with the peer through it.

The pair fixture loads each side's rdma_rxe for a phase: our module
against Debian's stock one, then ours on both sides. Tests take ODP
buffers on the sides that run ours (stock has no ODP).
"""
import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'guest'))
from guestlib import gid_index_of, port_counter, run  # noqa: E402

WIRE_DEV = 'rxew'
WIRE_NETDEV = 'eth0'
CTRL_PORT = 7300
# how long a side waits for the other at a meeting point: the slower
# guest may still be finishing the previous test's timeout
MEET_TIMEOUT = 300
# the rdma_rxe of side a and of side b in each phase
PAIRS = [('ours', 'stock'), ('ours', 'ours')]


class Peer:
    """This side of the wire and the control connection to the other."""

    def __init__(self, side, self_addr, peer_addr):
        self.side = side
        self.self_addr = self_addr
        self.peer_addr = peer_addr
        self.listener = None
        if side == 'a':
            self.listener = socket.create_server((self_addr, CTRL_PORT))
            self.listener.settimeout(MEET_TIMEOUT)

    def _connect(self):
        if self.listener:
            conn, _ = self.listener.accept()
            return conn
        deadline = time.monotonic() + MEET_TIMEOUT
        while True:
            try:
                return socket.create_connection((self.peer_addr, CTRL_PORT), timeout=5)
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError('no control connection to %s:%d in %d s (%s): '
                                         'is the wire up?' % (self.peer_addr, CTRL_PORT,
                                                              MEET_TIMEOUT, exc))
                time.sleep(0.2)

    def swap(self, tag, word='-'):
        """Meet the peer at tag; send word, return the peer's."""
        with self._connect() as conn:
            conn.settimeout(MEET_TIMEOUT)
            conn.sendall(('%s %s\n' % (tag, word)).encode())
            line = b''
            while not line.endswith(b'\n'):
                chunk = conn.recv(4096)
                if not chunk:
                    raise AssertionError('the peer closed the control connection at %s' % tag)
                line += chunk
        their_tag, their_word = line.decode().split()
        if their_tag != tag:
            raise AssertionError('out of step: here %s, the peer at %s' % (tag, their_tag))
        return their_word


@pytest.fixture(scope='session')
def peer():
    try:
        side, me, other = (os.environ[v] for v in ('WIRE_SIDE', 'WIRE_SELF', 'WIRE_PEER'))
    except KeyError:
        pytest.fail('no WIRE_SIDE/WIRE_SELF/WIRE_PEER: run through tests/wire/run-side')
    p = Peer(side, me, other)
    yield p
    if p.listener:
        p.listener.close()


class Link:
    """rxew with this phase's modules: mine on this side, theirs there."""

    def __init__(self, peer, mine, theirs):
        self.peer = peer
        self.mine = mine
        self.theirs = theirs
        self.dev = WIRE_DEV
        self.gid = None

    @property
    def odp(self):
        return self.mine == 'ours'

    def counter(self, name):
        """One of our module's port counters; None with the stock module
        for the ODP ones it lacks."""
        try:
            return port_counter(self.dev, name)
        except FileNotFoundError:
            return None

    def qps(self):
        """The QPs on rxew other than the GSI QP, as `rdma res` lists them."""
        out = run(['rdma', 'res', 'show', 'qp', 'link', '%s/1' % self.dev]).stdout
        return [line for line in out.splitlines() if line.strip() and 'type GSI' not in line]


RXE_LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'ci', 'vm', 'rxe-load')


def link_up(link):
    run(['rdma', 'link', 'del', WIRE_DEV], check=False)
    run([RXE_LOAD, link.mine])
    run(['rdma', 'link', 'add', WIRE_DEV, 'type', 'rxe', 'netdev', WIRE_NETDEV])
    deadline = time.monotonic() + 30
    while link.gid is None:
        link.gid = gid_index_of(WIRE_DEV, link.peer.self_addr)
        assert link.gid is not None or time.monotonic() < deadline, \
            'no RoCE v2 GID for %s on %s' % (link.peer.self_addr, WIRE_DEV)
        time.sleep(0.2)


def pytest_generate_tests(metafunc):
    if 'pair' in metafunc.fixturenames:
        metafunc.parametrize('pair', PAIRS, ids=['%s-%s' % p for p in PAIRS],
                             indirect=True, scope='session')


@pytest.fixture(scope='session')
def pair(request, peer):
    mods = dict(zip('ab', request.param))
    link = Link(peer, mods[peer.side], mods['b' if peer.side == 'a' else 'a'])
    # the previous phase's last test has ended on both sides
    peer.swap('phase-%s-%s' % request.param)
    link_up(link)
    print('side %s: %s rdma_rxe, the peer %s; GID index %d' %
          (peer.side, link.mine, link.theirs, link.gid))
    peer.swap('phase-%s-%s-up' % request.param)
    return link


@pytest.fixture(autouse=True)
def in_step(request, peer):
    """Both sides start each test together, and end it with no QP left."""
    tag = request.node.name.replace(' ', '_')
    peer.swap(tag)
    yield
    link = request.node.funcargs.get('pair')
    if link is not None:
        deadline = time.monotonic() + 10
        while link.qps() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not link.qps(), 'QPs left after the test:\n' + '\n'.join(link.qps())
