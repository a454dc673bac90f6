#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Run rdma-core's own test suite (python3-pyverbs) and record every test.

The suite is unittest-based and its pyverbs objects rely on unittest's
teardown order (under pytest's garbage collection timing it can crash), so it
runs here under unittest, as rdma-core's run_tests.py does, with a result
class that writes one JSON record per test. Tests listed in known-issues.txt
fail on the stock Debian rxe too: they still run, and are reported as xfail
(or xpass) with their reason instead of as errors.

usage: run_suite.py --suite DIR --json OUT [--dev rxe0] [--port 1] [--gid 1]
                    [-k SUBSTRING] [TEST_ID_PREFIX...]
"""
import argparse
import json
import os
import sys
import time
import unittest
from importlib.machinery import SourceFileLoader

HERE = os.path.dirname(os.path.abspath(__file__))


def known_issues():
    issues = {}
    with open(os.path.join(HERE, 'known-issues.txt')) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#'):
                test_id, reason = line.split(None, 1)
                issues[test_id] = reason
    return issues


class RecordingResult(unittest.TextTestResult):
    """A TextTestResult that also keeps {test id: (status, detail)}."""

    known = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = {}
        self._start = 0.0

    @staticmethod
    def short_id(test):
        # 'tests.test_odp.OdpTestCase.test_x' -> 'test_odp.OdpTestCase.test_x'
        return test.id().split('.', 1)[-1]

    def _record(self, test, status, detail=''):
        tid = self.short_id(test)
        reason = self.known.get(tid)
        if reason and status in ('failed', 'error'):
            status, detail = 'xfail', '%s (%s)' % (reason, detail.strip().splitlines()[-1])
        elif reason and status == 'passed':
            status, detail = 'xpass', reason
        self.records[tid] = {'status': status, 'detail': detail,
                             'seconds': round(time.monotonic() - self._start, 3)}

    def startTest(self, test):
        self._start = time.monotonic()
        super().startTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, 'passed')

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, 'failed', self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, 'error', self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, 'skipped', reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, 'xfail', self._exc_info_to_string(err, test))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, 'xpass')


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def load_suite(suite_dir, dev, port, gid):
    sys.path.insert(0, suite_dir)
    from args_parser import parser  # rdma-core's, from suite_dir

    saved, sys.argv = sys.argv, ['run_tests.py', '--dev', dev, '--port', str(port),
                                 '--gid', str(gid)]
    try:
        parser.parse_args()
    finally:
        sys.argv = saved
    tests = SourceFileLoader('tests', os.path.join(suite_dir, '__init__.py')).load_module()
    return unittest.defaultTestLoader.loadTestsFromModule(tests)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--suite', required=True, help='folder made by tests/rdma-core/prepare')
    ap.add_argument('--json', required=True, help='where to write the per-test results')
    ap.add_argument('--dev', default='rxe0')
    ap.add_argument('--port', type=int, default=1)
    ap.add_argument('--gid', type=int, default=1)
    ap.add_argument('-k', dest='substring', help='only tests whose id contains this')
    ap.add_argument('prefixes', nargs='*', help='only tests whose id starts with one of these')
    args = ap.parse_args()

    full = load_suite(os.path.abspath(args.suite), args.dev, args.port, args.gid)
    selected = unittest.TestSuite()
    for test in iter_tests(full):
        tid = RecordingResult.short_id(test)
        if args.substring and args.substring not in tid:
            continue
        if args.prefixes and not any(tid.startswith(p) for p in args.prefixes):
            continue
        selected.addTest(test)

    RecordingResult.known = known_issues()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=RecordingResult)
    result = runner.run(selected)
    with open(args.json, 'w') as f:
        json.dump(result.records, f, indent=1, sort_keys=True)
    counts = {}
    for rec in result.records.values():
        counts[rec['status']] = counts.get(rec['status'], 0) + 1
    print('rdma-core suite: ' + ', '.join('%d %s' % (n, s) for s, n in sorted(counts.items())))
    return 1 if counts.get('failed') or counts.get('error') else 0


if __name__ == '__main__':
    sys.exit(main())
