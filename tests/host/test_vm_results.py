# SPDX-License-Identifier: GPL-2.0
"""Verdicts on the bench runs of ci/check (one guest boot per kernel)."""
import os

import pytest

from conftest import (RDMA_CORE_RUNS, kernels, offline_dir, rdma_core_results, run_dir, tap_results,
                      tool_tap)

STATUS_ORDER = ('passed', 'xpass', 'skipped', 'xfail', 'failed', 'error')


def assert_run_clean(rdir, what):
    if not os.path.isdir(rdir):
        pytest.fail('%s missing: ci/check did not run %s' % (rdir, what))
    problems = []
    for name in ('error', 'kernel-reports.txt'):
        path = os.path.join(rdir, name)
        if os.path.exists(path):
            with open(path) as f:
                problems.append(f.read())
    with open(os.path.join(rdir, 'exit-code')) as f:
        code = int(f.read())
    assert not problems and code == 0, 'ci/vm/run exited %d:\n%s' % (code, '\n'.join(problems))


def test_vm_run_is_clean(check_kernel):
    """The guest booted, ran everything, shut down, and its kernel logged no
    BUG/WARNING/Oops/lockdep/atomic-sleep report."""
    assert_run_clean(run_dir(check_kernel), 'the %s kernel' % check_kernel)


def test_offline_run_is_clean(check_kernel):
    """The memory-hotplug guest (booted with movablecore=) ran odp_offline
    to the end, with a clean kernel log."""
    assert_run_clean(offline_dir(check_kernel), 'the memory-hotplug run on the %s kernel'
                     % check_kernel)


def test_wire_run_is_clean(wire_run):
    """Each of the two guests on the wire (tests/wire) ran its side of the
    suite to the end, with a clean kernel log."""
    assert_run_clean(wire_run, 'the two-guest suite')


def test_tool_run_complete(tool_run):
    """A C tool or rdma-core's runner started, finished, and printed as many
    results as its plan and totals say, with the matching exit status: a
    tool that dies part way is a failure, not fewer items."""
    kernel, name, problems = tool_run
    assert not problems, '%s on the %s kernel:\n%s' % (name, kernel, '\n'.join(problems))


# What the device-memory setup (run-all's setup.txt) may lack, per kernel:
# Debian's kernel has no DEVICE_PRIVATE (test_hmm) and no PCI_P2PDMA; the
# debug kernel has everything, so its odp_dax, odp_hmm, odp_p2p and the
# DAX torture run for real.
SETUP_MAY_LACK = {'stock': ('test_hmm:', 'p2pmem:'), 'debug': ()}


def test_device_memory_setup(check_kernel):
    """Every device-memory setup step this kernel supports worked."""
    path = os.path.join(run_dir(check_kernel), 'out', 'setup.txt')
    with open(path) as f:
        missing = [line.strip() for line in f if line.strip()]
    allowed = SETUP_MAY_LACK.get(check_kernel, ())
    unexpected = [m for m in missing if not m.startswith(allowed)]
    assert not unexpected, 'setup failed on the %s kernel: %s' % (check_kernel, unexpected)


# C tools whose every test must run, not skip, on a kernel that has what
# they need (with the setup that test_device_memory_setup checks): FS-DAX
# the pmem-backed page cache (with zram swap) and ZONE_MOVABLE memory
# blocks (the memory-hotplug run) on both; device-private (test_hmm) and
# P2PDMA memory on the debug one.
MUST_NOT_SKIP = {'stock': ('odp_dax', 'odp_file', 'odp_offline', 'odp_prefetch', 'odp_torture'),
                 'debug': ('odp_dax', 'odp_file', 'odp_hmm', 'odp_offline', 'odp_p2p',
                           'odp_prefetch', 'odp_torture')}


# Tests of tools that may skip others which must run on both kernels: the
# ways the kernel moves pages that the bench guests have (zram swap, KSM,
# THP, cgroup v2, userfaultfd), so that a setup that breaks cannot turn
# them into skips. Every one of them is in the guest's kernel (Debian's
# config, ci/kernel/debug.config).
MUST_RUN = {'odp_invalidate': ('anon.swap_pageout', 'shmem.swap_pageout', 'thp.swap_pageout',
                               'anon.memcg_limit_below_the_mr', 'anon.ksm_merge_then_write',
                               'thp.thp_collapse', 'anon.userfaultfd_needs_user_space',
                               'anon.userfaultfd_kernel_resolves')}


def test_page_movers_ran(check_kernel):
    """Each mover test of MUST_RUN ran and did not skip on this kernel."""
    problems = []
    for tool, names in MUST_RUN.items():
        results = {r.name: r for r in tap_results(tool_tap(check_kernel, tool), tool)}
        for name in names:
            res = results.get('%s/odp.%s' % (tool, name))
            if res is None:
                problems.append('%s: did not run' % name)
            elif res.status == 'skipped':
                problems.append('%s: skipped: %s' % (name, res.detail))
    assert not problems, 'on the %s kernel:\n%s' % (check_kernel, '\n'.join(problems))


def test_device_memory_tools_ran(check_kernel):
    """The device-memory tools and the torture tool (with its DAX
    configuration) ran every test on a kernel that has the memory."""
    skipped = []
    for tool in MUST_NOT_SKIP.get(check_kernel, ()):
        for res in tap_results(tool_tap(check_kernel, tool), tool):
            if res.status == 'skipped':
                skipped.append('%s: %s' % (res.name, res.detail))
    assert not skipped, 'skipped on the %s kernel:\n%s' % (check_kernel, '\n'.join(skipped))


def test_guest(guest_result, request):
    """One test that ran inside a guest, replayed with its own outcome."""
    guest_result.replay(request)


COMPARISONS = [('stock', 'librxe'), ('stock', 'ours'), ('librxe', 'ours')]
COMPARISON_IDS = {('stock', 'librxe'): 'stock-vs-our-module', ('stock', 'ours'): 'stock-vs-ours',
                  ('librxe', 'ours'): 'librxe-vs-our-provider'}


def comparisons():
    """(kernel, base, new) for every pair of rdma-core runs a kernel has."""
    return [(k, b, n) for k in kernels() for b, n in COMPARISONS
            if b in RDMA_CORE_RUNS.get(k, ()) and n in RDMA_CORE_RUNS.get(k, ())]


@pytest.mark.parametrize('check_kernel,base,new', comparisons(),
                         ids=['%s-%s' % (k, COMPARISON_IDS[(b, n)]) for k, b, n in comparisons()])
def test_rdma_core_no_regression(check_kernel, base, new):
    """rdma-core's suite, same boot: every test that passes on the base
    passes on the new setup. stock = the kernel's rdma_rxe + distro librxe;
    librxe = our rdma_rxe + distro librxe; ours = our rdma_rxe + our
    provider. So the first pair compares the modules alone (a module
    regression cannot hide behind our provider), the last the providers."""
    stock = rdma_core_results(check_kernel, base)
    ours = rdma_core_results(check_kernel, new)
    rows, regressions = [], []
    for tid in sorted(set(stock) | set(ours)):
        s = stock.get(tid, {}).get('status', 'missing')
        o = ours.get(tid, {}).get('status', 'missing')
        if s != o:
            rows.append('  %-70s %s %-8s %s %s' % (tid, base, s, new, o))
        if s == 'passed' and o != 'passed':
            regressions.append(tid)
    print('\nrdma-core suite on the %s kernel: %d tests' % (check_kernel, len(ours)))
    for name, res in ((base, stock), (new, ours)):
        counts = {}
        for rec in res.values():
            counts[rec['status']] = counts.get(rec['status'], 0) + 1
        print('  %-6s %s' % (name, ', '.join('%d %s' % (counts[k], k)
                                              for k in STATUS_ORDER if k in counts)))
    print('  tests whose outcome differs: %d' % len(rows))
    print('\n'.join(rows))
    assert len(ours) == len(stock), '%s ran %d tests, %s %d' % (new, len(ours), base, len(stock))
    assert not regressions, 'pass with %s, not with %s: %s' % (base, new, regressions)


# rdma-core 44 test_odp.py cases that must run and pass on our rdma_rxe +
# provider (a skip is a failure here: a missing capability would otherwise
# hide it): 16 of 17, XRC is not in 6.1 rxe.
ODP_MUST_PASS = ['test_odp.OdpTestCase.test_odp_%s' % name for name in (
    'rc_traffic', 'rc_atomic_cmp_and_swp', 'rc_atomic_fetch_and_add',
    'rc_rdma_read', 'rc_rdma_write', 'implicit_rc_traffic', 'ud_traffic',
    'rc_srq_traffic', 'rc_huge_traffic', 'rc_huge_user_addr_traffic',
    'sync_prefetch_rc_traffic', 'async_prefetch_rc_traffic',
    'implicit_sync_prefetch_rc_traffic', 'implicit_async_prefetch_rc_traffic',
    'prefetch_sync_no_page_fault_rc_traffic',
    'prefetch_async_no_page_fault_rc_traffic')]


@pytest.mark.parametrize('test_id', ODP_MUST_PASS)
def test_rdma_core_odp_case_passes(check_kernel, test_id):
    """rdma-core's ODP tests pass on our module, and skip on the stock one."""
    ours = rdma_core_results(check_kernel, 'ours').get(test_id)
    assert ours and ours['status'] == 'passed', ours
    if 'stock' in RDMA_CORE_RUNS.get(check_kernel, ()):
        stock = rdma_core_results(check_kernel, 'stock').get(test_id)
        assert stock and stock['status'] == 'skipped', stock
