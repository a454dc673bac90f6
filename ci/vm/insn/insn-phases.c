// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin (QEMU 7.2, plugin API version 1): guest kernel
 * instructions executed, per phase of a bench run. A deterministic cost
 * where the emulator's timing varies by tens of percent from run to run.
 *
 *   qemu-system-x86_64 ... -plugin build/qemu/libinsn-phases.so,out=FILE
 *
 * The guest switches phase by executing code at MARK_BASE + N * 4096 (see
 * insn-mark.c): from then on, kernel instructions (those at addresses in
 * the upper half) on every vCPU count in phase N, until the next mark.
 * At exit, FILE gets one line per phase that counted anything:
 *   "phase N kernel_insns K module_insns M user_insns U"
 * where M is the part of K in the module area (x86-64: rdma_rxe, ib_core,
 * ib_uverbs and the other modules), a part that idle CPUs, timer ticks and
 * process creation hardly touch.
 *
 * Only the ABI this plugin uses is declared here: QEMU's qemu-plugin.h
 * is not in any Debian package.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_info;	/* qemu_info_t: not looked at */

enum { CB_NO_REGS = 0 };	/* enum qemu_plugin_cb_flags */

size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
	void (*cb)(unsigned int vcpu, void *udata), int flags, void *udata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *udata), void *udata);

EXPORT int qemu_plugin_version = 1;

#define MARK_BASE	0x7e0000000000ULL	/* insn-mark.c's too */
#define MAX_PHASES	256
#define MAX_VCPUS	16
#define KERNEL_START	0xffff800000000000ULL
#define MODULES_START	0xffffffffc0000000ULL	/* x86-64 MODULES_VADDR */

/* per vCPU, so that vCPU threads (MTTCG) do not share cache lines */
static struct {
	uint64_t kernel[MAX_PHASES];
	uint64_t module[MAX_PHASES];
	uint64_t user[MAX_PHASES];
} counts[MAX_VCPUS] __attribute__((aligned(64)));
static unsigned int phase;
static char out[4096];

/* udata: the block's instruction count, and where the block is */
#define USER_BIT	(1ULL << 63)
#define MODULE_BIT	(1ULL << 62)
#define COUNT_MASK	(MODULE_BIT - 1)

static void tb_exec(unsigned int vcpu, void *udata)
{
	uint64_t v = (uintptr_t)udata;
	unsigned int p = __atomic_load_n(&phase, __ATOMIC_RELAXED);

	if (vcpu >= MAX_VCPUS)
		return;
	if (v & USER_BIT) {
		counts[vcpu].user[p] += v & COUNT_MASK;
		return;
	}
	counts[vcpu].kernel[p] += v & COUNT_MASK;
	if (v & MODULE_BIT)
		counts[vcpu].module[p] += v & COUNT_MASK;
}

static void mark_exec(unsigned int vcpu, void *udata)
{
	__atomic_store_n(&phase, (unsigned int)(uintptr_t)udata,
			 __ATOMIC_RELAXED);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t va = qemu_plugin_tb_vaddr(tb);
	uint64_t n = qemu_plugin_tb_n_insns(tb);

	if (va >= MARK_BASE && va < MARK_BASE + MAX_PHASES * 4096ULL) {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, mark_exec, CB_NO_REGS,
			(void *)(uintptr_t)((va - MARK_BASE) / 4096));
		return;
	}
	if (va < KERNEL_START)
		n |= USER_BIT;
	else if (va >= MODULES_START)
		n |= MODULE_BIT;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, CB_NO_REGS,
					     (void *)(uintptr_t)n);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	FILE *f = fopen(out, "w");
	unsigned int p, c;

	if (!f) {
		perror(out);
		return;
	}
	for (p = 0; p < MAX_PHASES; p++) {
		uint64_t k = 0, m = 0, u = 0;

		for (c = 0; c < MAX_VCPUS; c++) {
			k += counts[c].kernel[p];
			m += counts[c].module[p];
			u += counts[c].user[p];
		}
		if (k || u)
			fprintf(f, "phase %u kernel_insns %" PRIu64
				" module_insns %" PRIu64 " user_insns %" PRIu64
				"\n", p, k, m, u);
	}
	fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
			       const struct qemu_info *info, int argc,
			       char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			snprintf(out, sizeof(out), "%s", argv[i] + 4);
	if (!out[0]) {
		fprintf(stderr, "insn-phases: usage: -plugin libinsn-phases.so,out=FILE\n");
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
