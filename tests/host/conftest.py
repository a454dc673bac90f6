# SPDX-License-Identifier: GPL-2.0
"""Host-side tests: the verdicts of the bench runs that ci/check made, plus
self-tests of the build and of the bench.

ci/check boots one guest per kernel (build/vm/check-<kernel>) and runs
tests/guest/run-all there. This plugin turns every result the guest
recorded into a test item of its own, so that one pytest summary covers the
whole suite. RXE_ODP_KERNELS lists the kernels to judge (default: stock
debug).
"""
import glob
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.environ.get('RXE_ODP_BUILD', os.path.join(TOP, 'build'))


# What each bench kernel's guest must run (tests/guest/run-all): rdma-core's
# suite per module/provider pair, and the C tools (<name>.tap). The debug
# kernel, several times slower under TCG, runs the suite with ours only and
# skips the second pass at a 1024-byte MTU.
ODP_TOOLS = ('odp_invalidate', 'odp_verbs', 'odp_prefetch', 'odp_p2p', 'odp_dax', 'odp_file',
             'odp_hmm', 'rxe_hardening', 'odp_torture')
MTU1024_TOOLS = ('odp_invalidate-mtu1024', 'odp_dax-mtu1024', 'odp_torture-mtu1024')
FUZZ_RUNS = ('rxe_pkt_fuzz-known', 'rxe_pkt_fuzz', 'rxe_ring_fuzz-known', 'rxe_ring_fuzz')
RDMA_CORE_RUNS = {'stock': ('stock', 'librxe', 'ours'), 'debug': ('ours',)}
TOOL_RUNS = {'stock': ODP_TOOLS + FUZZ_RUNS + MTU1024_TOOLS + ('odp_stall',),
             'debug': ODP_TOOLS + FUZZ_RUNS}


def kernels():
    return os.environ.get('RXE_ODP_KERNELS', 'stock debug').split()


def run_dir(kernel):
    return os.path.join(BUILD, 'vm', 'check-%s' % kernel)


# ci/check's memory-hotplug run (tests/guest/run-offline), one guest per
# kernel booted with movablecore= so that it has ZONE_MOVABLE memory blocks
OFFLINE_TOOLS = ('odp_offline',)


def offline_dir(kernel):
    return os.path.join(BUILD, 'vm', 'check-offline-%s' % kernel)


def tool_tap(kernel, tool):
    """Where a C tool's TAP output of one kernel's runs is."""
    rdir = offline_dir(kernel) if tool in OFFLINE_TOOLS else run_dir(kernel)
    return os.path.join(rdir, 'out', tool + '.tap')


# ci/check's two-guest run (ci/vm/run-wire, tests/wire), on the stock kernel
WIRE_KERNEL = 'stock'
WIRE_SIDES = ('a', 'b')


def wire_runs():
    """The run folders of the wire's two guests, if ci/check ran them."""
    if WIRE_KERNEL not in kernels():
        return []
    return [os.path.join(BUILD, 'vm', 'wire-%s-%s' % (WIRE_KERNEL, side)) for side in WIRE_SIDES]


class GuestResult:
    """One test result recorded inside a guest."""

    def __init__(self, name, status, detail=''):
        self.name = name
        self.status = status
        self.detail = detail

    def replay(self, request):
        if self.status == 'passed':
            return
        if self.status == 'skipped':
            pytest.skip(self.detail)
        if self.status == 'xfail':
            pytest.xfail(self.detail)
        if self.status == 'xpass':
            request.node.add_marker(pytest.mark.xfail(reason=self.detail, strict=False))
            return
        pytest.fail('%s in the guest:\n%s' % (self.status, self.detail), pytrace=False)


def rdma_core_results(kernel, module):
    path = os.path.join(run_dir(kernel), 'out', 'rdma-core-%s.json' % module)
    with open(path) as f:
        return json.load(f)


def junit_results(path):
    for case in ET.parse(path).getroot().iter('testcase'):
        name = '%s::%s' % (case.get('classname'), case.get('name'))
        status, detail = 'passed', ''
        for child in case:
            if child.tag in ('failure', 'error'):
                status = 'failed' if child.tag == 'failure' else 'error'
                detail = (child.get('message') or '') + '\n' + (child.text or '')
            elif child.tag == 'skipped':
                kind = child.get('type', '')
                status = 'xfail' if kind == 'pytest.xfail' else 'skipped'
                detail = child.get('message') or ''
        yield GuestResult(name, status, detail)


TAP_RESULT = re.compile(r'^(not )?ok \d+\b(?:.*# (SKIP)\s*(.*))?')
TAP_RUN = re.compile(r'^#\s+RUN\s+(\S+) \.\.\.$')


def tap_results(path, prefix):
    """kselftest harness output: '#  RUN name ...', its log, then 'ok N',
    'not ok N' or 'ok N # SKIP reason' (6.1's harness omits the name on
    SKIP lines, so the name comes from the RUN line)."""
    name, detail = None, []
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            run = TAP_RUN.match(line)
            if run:
                name, detail = run.group(1), []
                continue
            result = TAP_RESULT.match(line)
            if not result or not name:
                detail.append(line)
                continue
            failed, skip, reason = result.groups()
            if skip:
                status, text = 'skipped', reason
            elif failed:
                status, text = 'failed', '\n'.join(detail[-20:])
            else:
                status, text = 'passed', ''
            yield GuestResult('%s/%s' % (prefix, name), status, text)
            name = None


TAP_PLAN = re.compile(r'^1\.\.(\d+)$')
TAP_TOTALS = re.compile(r'^# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) '
                        r'xpass:(\d+) skip:(\d+) error:(\d+)$')


def read_rc(base, name):
    """The exit status run-all recorded for NAME, or None."""
    try:
        with open(os.path.join(base, name + '.rc')) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def tap_problems(path, rc):
    """Why a C tool's run does not count as complete: it did not start, died
    part way, or printed a plan or totals that its results do not match.
    An empty list if its results can be trusted."""
    with open(path) as f:
        lines = [line.rstrip('\n') for line in f]
    plan = [int(m.group(1)) for m in map(TAP_PLAN.match, lines) if m]
    totals = [m for m in map(TAP_TOTALS.match, lines) if m]
    results = [m for m in map(TAP_RESULT.match, lines) if m]
    failed = sum(1 for m in results if m.group(1))
    skipped = sum(1 for m in results if m.group(2))
    problems = []
    if rc is None:
        problems.append('no exit status recorded')
    if len(plan) != 1:
        problems.append('%d TAP plans (1..N) instead of one' % len(plan))
    elif plan[0] != len(results):
        problems.append('plan 1..%d but %d results' % (plan[0], len(results)))
    if len(totals) != 1:
        problems.append('no "# Totals:" line: the tool did not finish')
    else:
        want = [int(g) for g in totals[0].groups()]
        got = [len(results) - failed - skipped, failed, 0, 0, skipped, 0]
        if want != got:
            problems.append('Totals %s do not match the results %s (pass fail xfail '
                            'xpass skip error)' % (want, got))
    if rc is not None:
        # the 6.1 harness and odp_torture exit 1 if a test failed, else 0
        expect = 1 if failed else 0
        if rc != expect:
            problems.append('exit status %d, expected %d for %d failed of %d'
                            % (rc, expect, failed, len(results)))
    if problems:
        problems.append('last lines:\n' + '\n'.join(lines[-15:]))
    return problems


def tap_runs(base, required):
    """(name, problems) for every C tool run recorded in @base, and one
    failing stand-in for each of @required that did not run."""
    runs = []
    found = set()
    for path in sorted(glob.glob(os.path.join(base, '*.tap'))):
        name = os.path.basename(path)[:-4]
        found.add(name)
        runs.append((name, tap_problems(path, read_rc(base, name))))
    for name in required:
        if name not in found:
            runs.append((name, ['did not run: no %s.tap' % name]))
    return runs


def tool_runs(kernel):
    """(name, problems) for every command run-all and run-offline recorded
    for one kernel."""
    base = os.path.join(run_dir(kernel), 'out')
    runs = tap_runs(base, TOOL_RUNS.get(kernel, ODP_TOOLS))
    runs += tap_runs(os.path.join(offline_dir(kernel), 'out'), OFFLINE_TOOLS)
    for module in RDMA_CORE_RUNS.get(kernel, ('ours',)):
        name = 'rdma-core-' + module
        rc = read_rc(base, name)
        problems = []
        try:
            records = rdma_core_results(kernel, module)
        except (OSError, ValueError) as exc:
            records, problems = {}, ['no results: %s' % exc]
        bad = [r for r in records.values() if r['status'] in ('failed', 'error')]
        if rc is None:
            problems.append('no exit status recorded')
        elif rc != (1 if bad else 0):
            problems.append('exit status %d with %d failed tests' % (rc, len(bad)))
        runs.append((name, problems))
    return runs


def guest_results(kernel):
    """Every result of one kernel's run, or one failing stand-in per missing file."""
    results = []
    base = os.path.join(run_dir(kernel), 'out')
    try:
        for tid, rec in sorted(rdma_core_results(kernel, 'ours').items()):
            results.append(GuestResult('rdma-core/' + tid, rec['status'], rec['detail']))
    except (OSError, ValueError) as exc:
        results.append(GuestResult('rdma-core', 'error', 'no results: %s' % exc))
    try:
        for res in junit_results(os.path.join(base, 'guest.xml')):
            res.name = 'guest/' + res.name
            results.append(res)
    except (OSError, ET.ParseError) as exc:
        results.append(GuestResult('guest', 'error', 'no results: %s' % exc))
    taps = glob.glob(os.path.join(base, '*.tap'))
    taps += glob.glob(os.path.join(offline_dir(kernel), 'out', '*.tap'))
    for path in sorted(taps):
        try:
            results.extend(tap_results(path, os.path.basename(path)[:-4]))
        except OSError as exc:
            results.append(GuestResult(os.path.basename(path), 'error', str(exc)))
    for res in results:
        res.name = '%s/%s' % (kernel, res.name)
    return results


def wire_results():
    """Every result of both sides of the wire run."""
    results = []
    for rdir in wire_runs():
        name = os.path.basename(rdir)
        try:
            for res in junit_results(os.path.join(rdir, 'out', 'wire.xml')):
                res.name = '%s/%s' % (name, res.name)
                results.append(res)
        except (OSError, ET.ParseError) as exc:
            results.append(GuestResult(name, 'error', 'no results: %s' % exc))
    return results


def pytest_generate_tests(metafunc):
    if 'guest_result' in metafunc.fixturenames:
        results = [r for k in kernels() for r in guest_results(k)] + wire_results()
        metafunc.parametrize('guest_result', results, ids=[r.name for r in results])
    if 'check_kernel' in metafunc.fixturenames and 'base' not in metafunc.fixturenames:
        metafunc.parametrize('check_kernel', kernels())
    if 'wire_run' in metafunc.fixturenames:
        metafunc.parametrize('wire_run', wire_runs(), ids=[os.path.basename(r) for r in wire_runs()])
    if 'tool_run' in metafunc.fixturenames:
        runs = [(k, name, problems) for k in kernels() for name, problems in tool_runs(k)]
        metafunc.parametrize('tool_run', runs, ids=['%s/%s' % r[:2] for r in runs])


def pytest_terminal_summary(terminalreporter):
    """The real-clients table (client_table.py), before pytest's summary."""
    from client_table import table

    results = [r for k in kernels() for r in guest_results(k)]
    for title, rows in (
            ('real clients in one guest (tests/guest), by kernel', table(results, kernels())),
            ('two guests on a wire (tests/wire): side a runs ours, side b stock, then ours',
             table(wire_results(), [os.path.basename(r) for r in wire_runs()]))):
        if rows:
            terminalreporter.write_sep('=', title)
            for line in rows:
                terminalreporter.write_line(line)
