# SPDX-License-Identifier: GPL-2.0
"""Self-tests of the build and of the VM bench: each one checks that a
broken input or a misbehaving kernel makes the tooling fail loudly."""
import glob
import os
import re
import subprocess

import pytest

from conftest import BUILD, TOP, kernels


def sh(script, **kwargs):
    """Run a bash snippet in the repo with ci/lib/common.sh loaded."""
    return subprocess.run(['bash', '-c', '. ci/lib/common.sh; ' + script], cwd=TOP,
                          capture_output=True, text=True, **kwargs)


def kernel_release(kernel):
    res = sh('guest_kernel %s >/dev/null && echo "$krel"' % kernel)
    if res.returncode:
        pytest.skip('%s kernel not available: %s' % (kernel, res.stderr.strip()))
    return res.stdout.strip()


def vm_run(kernel, name, *command, module='none', vm_timeout=300):
    """ci/vm/run with a guest time limit of vm_timeout seconds."""
    return subprocess.run(['ci/vm/run', '--kernel', kernel, '--module', module,
                           '--name', name, '--quiet', '--timeout', str(vm_timeout),
                           '--'] + list(command), cwd=TOP, capture_output=True,
                          text=True, timeout=vm_timeout + 300)


@pytest.mark.parametrize('kernel', kernels())
def test_bench_fails_on_kernel_warning(kernel):
    """A module that WARNs on load makes the run fail, with the splat shown."""
    krel = kernel_release(kernel)
    ko = os.path.join(BUILD, krel, 'kmod', 'rxe_odp_test_warn.ko')
    assert os.path.exists(ko), '%s missing: make test-modules' % ko
    res = vm_run(kernel, 'selftest-warn-' + kernel, 'insmod', ko)
    assert res.returncode != 0, res.stderr
    assert 'kernel report in' in res.stderr, res.stderr
    assert 'deliberate warning for the bench self-test' in res.stderr, res.stderr
    assert re.search(r'WARNING: .*rxe_odp_test_warn', res.stderr), res.stderr


def test_bench_returns_command_status():
    """The guest command's exit status comes back; a clean run has no report."""
    kernel_release('stock')
    res = vm_run('stock', 'selftest-status', 'sh', '-c', 'exit 7')
    assert res.returncode == 7, res.stderr
    assert 'kernel report' not in res.stderr


def test_bench_times_out():
    """A command that hangs is stopped at the bench's timeout, and fails."""
    kernel_release('stock')
    res = vm_run('stock', 'selftest-timeout', 'sleep', '1000', vm_timeout=45)
    assert res.returncode != 0
    assert 'timed out after 45s' in res.stderr, res.stderr


def test_assemble_rejects_version_mismatch(tmp_path):
    """Sources from linux-source 6.1.X never build against a 6.1.Y KDIR."""
    kdir = tmp_path / 'kdir'
    kdir.mkdir()
    (kdir / 'Makefile').write_text('kernelversion:\n\t@echo 6.1.9999\n')
    res = subprocess.run(['rxe-odp/assemble.sh', str(kdir), str(tmp_path / 'out')],
                         cwd=TOP, capture_output=True, text=True)
    assert res.returncode == 1
    assert re.search(r'linux-source is 6\.1\.\d+ but .* is 6\.1\.9999', res.stderr), res.stderr
    assert not (tmp_path / 'out').exists()


def patches():
    with open(os.path.join(TOP, 'rxe-odp', 'patches', 'series')) as f:
        names = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
    return [os.path.join(TOP, 'rxe-odp', 'patches', n) for n in names]


@pytest.mark.parametrize('patch', patches(), ids=os.path.basename)
def test_patch_has_commit_header(patch):
    """Each patch is one commit: a subject, a body that says why, a sign-off."""
    with open(patch) as f:
        text = f.read()
    head, _, diff = text.partition('\n---\n')
    assert re.search(r'^Subject: \[PATCH(?: \d+/\d+)?\] RDMA/rxe: \S', head, re.M), head
    body = head.split('\n\n', 1)[1] if '\n\n' in head else ''
    assert len(body.split()) >= 15, 'commit message body too short'
    assert re.search(r'^Signed-off-by: .+ <.+>$', head, re.M), head
    assert 'diff --git' in diff


def checkpatch_inputs():
    files = patches()
    for pattern in ('rxe-odp/*.[ch]', 'tests/kmod/*.[ch]'):
        files += sorted(glob.glob(os.path.join(TOP, pattern)))
    return files


@pytest.mark.parametrize('path', checkpatch_inputs(), ids=lambda p: os.path.relpath(p, TOP))
def test_checkpatch_strict(path):
    """checkpatch.pl --strict (from linux-source-6.1) is clean."""
    res = sh('linux_source_tree')
    assert res.returncode == 0, res.stderr
    tree = res.stdout.strip()
    # linux-source is a tarball without git history: the commit ids of
    # Fixes: tags cannot be looked up in it (UNKNOWN_COMMIT_ID)
    args = [os.path.join(tree, 'scripts', 'checkpatch.pl'), '--strict', '--quiet', '--no-summary',
            '--show-types', '--ignore', 'UNKNOWN_COMMIT_ID']
    if not path.endswith('.patch'):
        args += ['--file']
    res = subprocess.run(args + [path], cwd=tree, capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_module_reports_rxe_odp_version():
    krel = kernel_release('stock')
    res = subprocess.run(['modinfo', '-F', 'version', os.path.join(BUILD, krel, 'rdma_rxe.ko')],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith('rxe-odp-'), res.stdout


def test_insn_report_takes_the_difference_per_message(tmp_path):
    """ci/bench-insn's report: (count at high - count at low) / (messages
    at high - at low) per round, the median over rounds, ratios to stock;
    a failed client's phase (no insn-phase line) is left out."""
    (tmp_path / 'insn-phases.txt').write_text(
        'phase 1 kernel_insns 1000 module_insns 500 user_insns 9\n'
        'phase 2 kernel_insns 3000 module_insns 900 user_insns 9\n'
        'phase 3 kernel_insns 999999 module_insns 99999 user_insns 9\n'
        'phase 4 kernel_insns 1100 module_insns 500 user_insns 9\n'
        'phase 5 kernel_insns 5100 module_insns 1300 user_insns 9\n')
    (tmp_path / 'command.log').write_text(
        'insn-phase 1 stock write_bw_64B 10\n'
        'insn-phase 2 stock write_bw_64B 30\n'
        'insn-phase 4 ours write_bw_64B 10\n'
        'insn-phase 5 ours write_bw_64B 30\n')
    res = subprocess.run(['ci/bench-insn', '--report', str(tmp_path)], cwd=TOP,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert 'bench insn_write_bw_64B_stock 100 insns/msg (rounds: 100)' in lines
    assert 'bench insn_write_bw_64B_ours 200 insns/msg (rounds: 200)' in lines
    assert 'bench insn_write_bw_64B_ours_ratio 2.000 ours/stock' in lines
    assert 'bench insn_modules_write_bw_64B_ours_ratio 2.000 ours/stock' in lines


def test_insn_profile_names_blocks_by_the_symbols_of_their_phase(tmp_path):
    """ci/bench-insn --profile: a block counts for the text symbol at or
    below its address in the symbol table that held in its phase (a module
    reload moves a module's symbols), per message as in the report, and
    the symbols are ordered by how far ODP is from stock."""
    (tmp_path / 'insn-phases.txt').write_text(''.join(
        'phase %d kernel_insns 1 module_insns 1 user_insns 1\n' % p for p in range(1, 7)))
    (tmp_path / 'command.log').write_text(
        'insn-phase 1 stock write_bw_64B 10\n'
        'insn-phase 2 stock write_bw_64B 30\n'
        'insn-phase 3 ours write_bw_64B 10\n'
        'insn-phase 4 ours write_bw_64B 30\n'
        'insn-phase 5 ours_odp write_bw_64B 10\n'
        'insn-phase 6 ours_odp write_bw_64B 30\n')
    out = tmp_path / 'out'
    out.mkdir()
    # stock rdma_rxe at 0x2000 in phases 1-2, ours at 0x3000 from phase 3
    (out / 'ksyms-1.txt').write_text(
        'ffffffff00001000 T memcpy\n'
        'ffffffff00001800 D some_data\n'
        'ffffffff00002000 t rxe_mr_copy\t[rdma_rxe]\n')
    (out / 'ksyms-3.txt').write_text(
        'ffffffff00001000 T memcpy\n'
        'ffffffff00003000 t rxe_mr_copy\t[rdma_rxe]\n'
        'ffffffff00003100 t rxe_odp_mr_copy\t[rdma_rxe]\n')
    tb = [('1000', 1, 100), ('1000', 2, 300),      # memcpy: 10/msg everywhere
          ('2010', 1, 200), ('2010', 2, 600),      # stock rxe_mr_copy: 20/msg
          ('1000', 3, 100), ('1000', 4, 300),
          ('3010', 3, 200), ('3010', 4, 640),      # ours: 22/msg
          ('1000', 5, 100), ('1000', 6, 300),
          ('3010', 5, 50), ('3010', 6, 150),       # ours_odp: 5/msg
          ('3120', 5, 100), ('3180', 6, 900)]      # and rxe_odp_mr_copy: 40/msg
    (tmp_path / 'insn-profile.txt').write_text(''.join(
        'tb ffffffff0000%s %d %d\n' % t for t in tb))
    res = subprocess.run(['ci/bench-insn', '--profile', '--report', str(tmp_path)],
                         cwd=TOP, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    prof = [line for line in res.stdout.splitlines() if line.startswith('profile ')]
    assert prof == [
        'profile write_bw_64B symbol stock ours ours_odp (insns/msg)',
        'profile write_bw_64B rxe_odp_mr_copy[rdma_rxe] 0.0 0.0 40.0',
        'profile write_bw_64B rxe_mr_copy[rdma_rxe] 20.0 22.0 5.0',
    ], res.stdout


def test_insn_report_fails_without_counts(tmp_path):
    """No plugin output (QEMU killed, plugin not loaded): an error, not an
    empty table."""
    (tmp_path / 'command.log').write_text('insn-phase 1 stock write_bw_64B 10\n')
    res = subprocess.run(['ci/bench-insn', '--report', str(tmp_path)], cwd=TOP,
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert 'no counts' in res.stderr
