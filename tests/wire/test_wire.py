# SPDX-License-Identifier: GPL-2.0
"""RDMA between two guests on a wire (see conftest.py): our rdma_rxe
against Debian's stock one, then against itself.

Every tool runs in both directions (server on side a, then on side b),
with ODP buffers on the side that runs our module where the tool has an
ODP mode: an ODP MR starts with nothing mapped, so our side faults
whether it is the requester or the responder, and the stock peer sees
whatever that puts on the wire. Data is checked where the tool can
(the pingpongs' --chk, rping -V) and by our own pyverbs test for RDMA
WRITE, READ and atomics; perftest counts completions. The loss tests
drop 1% of the frames on both sides (tc netem) and need retransmissions
to be seen on both.
"""
import random
import subprocess
import time

import pytest

from conftest import WIRE_NETDEV
from guestlib import kill_group, run, wait_listening

PORT = 18515
RPING_PORT = 7471
# perftest's cycle-counter calibration fails now and then under TCG
# (tests/guest/test_tools.py): only that is retried, on both sides
CALIBRATION_FAILED = 'Correlation coefficient'
ATTEMPTS = 4
# rping's server listens through rdma_cm, which /proc/net/tcp does not
# show: its client retries
CM_TRIES = 20


def run_server(link, cmd, port, timeout):
    """This side's server; (exit status, output)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        try:
            if port:
                wait_listening(port)
            ready = 'yes'
        except AssertionError:
            ready = 'no'
        link.peer.swap('listening', ready)
        # the client has finished: give the server a moment to end too
        link.peer.swap('done')
        try:
            out, _ = proc.communicate(timeout=30 if ready == 'yes' else 1)
            return proc.returncode, out
        except subprocess.TimeoutExpired:
            return -1, 'the server did not end within 30 s of its client'
    finally:
        kill_group(proc)
        proc.wait()


def run_client(link, cmd, port, timeout):
    """This side's client, once the peer's server listens; (status, output)."""
    if link.peer.swap('listening') != 'yes':
        link.peer.swap('done')
        return -1, 'the peer\'s server never listened on port %s' % port
    tries = 1 if port else CM_TRIES
    for _ in range(tries):
        try:
            res = run(cmd, timeout=timeout, check=False)
            rc, out = res.returncode, res.stdout + res.stderr
        except subprocess.TimeoutExpired:
            rc, out = -1, 'the client did not end within %d s' % timeout
            break
        if rc == 0:
            break
        time.sleep(1)
    link.peer.swap('done')
    return rc, out


def over_wire(link, server, server_cmd, client_cmd, port=PORT, timeout=180):
    """Run a tool across the wire, the server on side `server`; this
    side's (status, output) and the peer's verdict (ok, fail)."""
    for attempt in range(ATTEMPTS):
        if link.peer.side == server:
            rc, out = run_server(link, server_cmd, port, timeout)
        else:
            rc, out = run_client(link, client_cmd, port, timeout)
        mine = 'calibration' if CALIBRATION_FAILED in out else ('ok' if rc == 0 else 'fail')
        theirs = link.peer.swap('result', mine)
        if 'calibration' in (mine, theirs) and attempt + 1 < ATTEMPTS:
            print('perftest calibration failed on one side, again (%d)' % (attempt + 1))
            time.sleep(2)
            continue
        return rc, out, theirs
    raise AssertionError('unreachable')


def assert_ok(rc, out, theirs, link):
    print(out)
    assert rc == 0, 'this side (%s) exited %d:\n%s' % (link.mine, rc, out)
    assert theirs == 'ok', 'the peer (%s rdma_rxe) failed: %s' % (link.theirs, theirs)


def traffic(link, server, cmd, client_extra=()):
    """cmd on both sides, the client's aimed at the peer; the ODP faults it
    took on this side (None with the stock module)."""
    faults = link.counter('odp_faults')
    client = cmd + list(client_extra) + [link.peer.peer_addr]
    rc, out, theirs = over_wire(link, server, cmd, client)
    assert_ok(rc, out, theirs, link)
    return None if faults is None else link.counter('odp_faults') - faults


@pytest.mark.parametrize('server', ['a', 'b'], ids=['server_a', 'server_b'])
@pytest.mark.parametrize('transport', ['rc', 'uc', 'ud'])
def test_pingpong_checks_data(pair, server, transport):
    """ibv_*_pingpong --chk: every message's contents checked on receipt;
    ODP send and receive buffers (-o) on our side for RC (the UC and UD
    pingpongs have no ODP option)."""
    iters = 100
    size = 512 if transport == 'ud' else 4096
    cmd = ['ibv_%s_pingpong' % transport, '-d', pair.dev, '-g', str(pair.gid),
           '-s', str(size), '-n', str(iters), '-c', '-p', str(PORT)]
    odp = pair.odp and transport == 'rc'
    if odp:
        cmd.append('-o')
    faulted = traffic(pair, server, cmd)
    if odp:
        assert faulted > 0, 'ODP buffers that never faulted'


PERFTEST = {
    'rc_write': ['ib_write_bw', '-s', '65536'],
    'rc_read': ['ib_read_bw', '-s', '65536'],
    'rc_send': ['ib_send_bw', '-s', '65536'],
    'rc_atomic': ['ib_atomic_bw'],
    'uc_write': ['ib_write_bw', '-c', 'UC', '-s', '65536'],
}
# perftest 4.5 refuses --odp for these ("ODP does not support ATOMICS for
# now", "ODP does not support UC"): they run on pinned MRs on both sides
PERFTEST_NO_ODP = ('rc_atomic', 'uc_write')


def perftest_odp(link, verb):
    return link.odp and verb not in PERFTEST_NO_ODP


def perftest(link, verb, iters):
    cmd = PERFTEST[verb][:1] + ['-d', link.dev, '-x', str(link.gid), '-p', str(PORT),
                                '-n', str(iters)] + PERFTEST[verb][1:]
    return cmd + (['--odp'] if perftest_odp(link, verb) else [])


@pytest.mark.parametrize('server', ['a', 'b'], ids=['server_a', 'server_b'])
@pytest.mark.parametrize('verb', sorted(PERFTEST))
def test_perftest(pair, server, verb):
    """WRITE, READ, SEND and atomics from perftest, our side on ODP MRs
    (where perftest allows them) as requester (client) and as responder
    (server)."""
    faulted = traffic(pair, server, perftest(pair, verb, 200))
    if perftest_odp(pair, verb):
        assert faulted > 0, 'ODP buffers that never faulted'


@pytest.fixture
def lossy_wire(pair):
    """1% of this side's frames lost on the wire (the peer does the same)."""
    run(['modprobe', 'sch_netem'])
    run(['tc', 'qdisc', 'add', 'dev', WIRE_NETDEV, 'root', 'netem', 'loss', '1%'])
    try:
        yield pair
    finally:
        run(['tc', 'qdisc', 'del', 'dev', WIRE_NETDEV, 'root'], check=False)


RETRANSMISSION_COUNTERS = ('completer_retry_err', 'duplicate_request',
                           'out_of_seq_request', 'rcvd_seq_err')


@pytest.mark.parametrize('server', ['a', 'b'], ids=['server_a', 'server_b'])
@pytest.mark.parametrize('verb', ['rc_write', 'rc_read'])
def test_perftest_under_loss(lossy_wire, server, verb):
    """RC WRITE and READ (ODP on our side) on a wire that loses frames:
    both sides must have recovered from losses (retransmitted, or seen
    duplicates or sequence gaps), and the traffic completes."""
    link = lossy_wire
    before = {c: link.counter(c) for c in RETRANSMISSION_COUNTERS}
    traffic(link, server, perftest(link, verb, 200))
    seen = {c: link.counter(c) - before[c] for c in RETRANSMISSION_COUNTERS}
    print('retransmission counters on this side:', seen)
    assert sum(seen.values()) > 0, 'no loss seen: %s' % seen


@pytest.mark.parametrize('server', ['a', 'b'], ids=['server_a', 'server_b'])
def test_rping_validates_its_data(pair, server):
    """rdma_cm connection setup across the wire, then rping's RDMA READ and
    WRITE ping-pong with every buffer validated (-V)."""
    common = ['-v', '-V', '-C', '20', '-S', '1024', '-p', str(RPING_PORT)]
    server_cmd = ['rping', '-s', '-a', pair.peer.self_addr] + common
    client_cmd = ['rping', '-c', '-a', pair.peer.peer_addr] + common
    rc, out, theirs = over_wire(pair, server, server_cmd, client_cmd, port=None)
    assert_ok(rc, out, theirs, pair)
    # -v prints each ping as it arrives, on both sides
    assert out.count('ping data') >= 20, out


def pattern(n, seed):
    return bytes((i * 131 + seed) % 251 for i in range(n))


def rc_connect(qp, link, theirs, psn):
    """Take qp to RTS, connected to the peer's QP described by theirs."""
    import pyverbs.enums as e
    from pyverbs.addr import AHAttr, GID, GlobalRoute
    from pyverbs.qp import QPAttr

    qpn, their_psn, gid = int(theirs[0]), int(theirs[1]), theirs[2]
    attr = QPAttr(port_num=1)
    attr.qp_access_flags = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
                            e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
    attr.path_mtu = e.IBV_MTU_1024
    attr.max_dest_rd_atomic = attr.max_rd_atomic = 1
    attr.min_rnr_timer, attr.timeout, attr.retry_cnt, attr.rnr_retry = 12, 14, 7, 7
    attr.dest_qp_num, attr.rq_psn, attr.sq_psn = qpn, their_psn, psn
    route = GlobalRoute(dgid=GID(gid), sgid_index=link.gid, hop_limit=64)
    attr.ah_attr = AHAttr(port_num=1, is_global=1, gr=route)
    qp.to_rts(attr)


def complete_one(cq, what):
    """The next work completion of cq, which must be a success."""
    import pyverbs.enums as e

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n, wcs = cq.poll()
        if n:
            assert wcs[0].status == e.IBV_WC_SUCCESS, '%s: completion status %d' % (
                what, wcs[0].status)
            return
        time.sleep(0.001)
    raise AssertionError('%s: no completion in 60 s' % what)


@pytest.mark.parametrize('responder', ['a', 'b'], ids=['responder_a', 'responder_b'])
def test_verbs_rdma_and_atomics_checked(pair, responder):
    """RDMA WRITE, READ, FETCH_ADD and CMP_SWAP between pyverbs RC QPs on
    the two sides, every result checked: the responder's CPU sees what was
    written, READ returns it, the atomics return the old values and leave
    the new one. On our side the MRs are ODP and untouched before the
    first access (pinned on stock), so ours faults as requester and as
    responder, for atomics too (which perftest cannot do on ODP)."""
    import pyverbs.enums as e
    from pyverbs.cq import CQ
    from pyverbs.device import Context
    from pyverbs.mr import MR
    from pyverbs.pd import PD
    from pyverbs.qp import QP, QPCap, QPInitAttr
    from pyverbs.wr import SGE, SendWR

    chunk = 65536
    data = pattern(chunk, 17)
    access = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
              e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
    if pair.odp:
        access |= e.IBV_ACCESS_ON_DEMAND
    faults = pair.counter('odp_faults')
    with Context(name=pair.dev) as ctx, PD(ctx) as pd, CQ(ctx, 16) as cq:
        mr = MR(pd, 4 * chunk, access)
        cap = QPCap(max_send_wr=16, max_recv_wr=1, max_send_sge=1, max_recv_sge=1)
        qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
        psn = random.getrandbits(24)
        mine = '%d,%d,%s,%d,%d' % (qp.qp_num, psn, ctx.query_gid(1, pair.gid), mr.rkey, mr.buf)
        theirs = pair.peer.swap('qp', mine).split(',')
        rc_connect(qp, pair, theirs, psn)
        pair.peer.swap('connected')
        if pair.peer.side == responder:
            # the peer WRITEs chunk 1, READs it back, then works on the
            # 8 bytes at chunk 3 with atomics
            assert pair.peer.swap('written') == 'ok', 'the peer\'s WRITE failed'
            seen = mr.read(chunk, chunk) == data
            pair.peer.swap('seen', 'ok' if seen else 'mismatch')
            assert seen, 'the CPU does not see what RDMA WRITE put in the MR'
            assert pair.peer.swap('atomics') == 'ok', 'the peer\'s atomics failed'
            value = int.from_bytes(mr.read(8, 3 * chunk), 'little')
            assert value == 0x1122334455667788, 'after the atomics: %#x' % value
        else:
            rkey, raddr = int(theirs[3]), int(theirs[4])
            ok = 'fail'
            try:
                mr.write(data, chunk, 0)
                wr = SendWR(opcode=e.IBV_WR_RDMA_WRITE, num_sge=1,
                            sg=[SGE(mr.buf, chunk, mr.lkey)])
                wr.set_wr_rdma(rkey, raddr + chunk)
                qp.post_send(wr)
                complete_one(cq, 'RDMA WRITE')
                ok = 'ok'
            finally:
                pair.peer.swap('written', ok)
            assert pair.peer.swap('seen') == 'ok', 'the responder\'s CPU saw other data'
            ok = 'fail'
            try:
                wr = SendWR(opcode=e.IBV_WR_RDMA_READ, num_sge=1,
                            sg=[SGE(mr.buf + chunk, chunk, mr.lkey)])
                wr.set_wr_rdma(rkey, raddr + chunk)
                qp.post_send(wr)
                complete_one(cq, 'RDMA READ')
                assert mr.read(chunk, chunk) == data, 'RDMA READ returned other data'
                olds = []
                for i, (opcode, cmp_add, swap) in enumerate([
                        (e.IBV_WR_ATOMIC_FETCH_AND_ADD, 5, 0),
                        (e.IBV_WR_ATOMIC_CMP_AND_SWP, 5, 0x1122334455667788)]):
                    local = 2 * chunk + 8 * i
                    wr = SendWR(opcode=opcode, num_sge=1,
                                sg=[SGE(mr.buf + local, 8, mr.lkey)])
                    wr.set_wr_atomic(rkey=rkey, addr=raddr + 3 * chunk,
                                     compare_add=cmp_add, swap=swap)
                    qp.post_send(wr)
                    complete_one(cq, 'atomic %d' % opcode)
                    olds.append(int.from_bytes(mr.read(8, local), 'little'))
                assert olds == [0, 5], 'atomics returned %s, not [0, 5]' % olds
                ok = 'ok'
            finally:
                pair.peer.swap('atomics', ok)
    if pair.odp:
        assert pair.counter('odp_faults') > faults, 'ODP MRs that never faulted'
