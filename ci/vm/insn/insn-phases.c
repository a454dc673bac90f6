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
 * With profile=PFILE as well, PFILE gets where in the kernel the
 * instructions of phases 1 to PROF_PHASES - 1 ran, one line per block
 * start address and phase:
 *   "tb ADDRESS PHASE INSNS"
 * (ADDRESS in 16 hex digits, as /proc/kallsyms prints them), for
 * ci/bench-insn --profile to add up per kernel symbol.
 *
 * Only the ABI this plugin uses is declared here: QEMU's qemu-plugin.h
 * is not in any Debian package.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * Profile: one record per kernel block address, shared by the blocks
 * translated there (QEMU translates a block again after a flush of its
 * code cache). Blocks at one address may differ in length, so each
 * translation has its own small part with its length.
 */
#define PROF_PHASES	64
#define PROF_BUCKETS	(1U << 20)

struct prof_addr {
	uint64_t va;
	uint64_t insns[PROF_PHASES];
	struct prof_addr *next;
};

struct prof_tb {
	struct prof_addr *addr;
	uint64_t n;
};

static char prof_out[4096];
static struct prof_addr **prof_table;
static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;

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

static void prof_exec(unsigned int vcpu, void *udata)
{
	struct prof_tb *t = udata;
	unsigned int p = __atomic_load_n(&phase, __ATOMIC_RELAXED);

	tb_exec(vcpu, (void *)(uintptr_t)t->n);
	if (p < PROF_PHASES)
		__atomic_fetch_add(&t->addr->insns[p], t->n & COUNT_MASK,
				   __ATOMIC_RELAXED);
}

/* the record of @va, created if new; NULL when out of memory */
static struct prof_addr *prof_addr_of(uint64_t va)
{
	struct prof_addr **b, *a;

	pthread_mutex_lock(&prof_lock);
	b = &prof_table[(va ^ (va >> 20)) & (PROF_BUCKETS - 1)];
	for (a = *b; a && a->va != va; a = a->next)
		;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (a) {
			a->va = va;
			a->next = *b;
			*b = a;
		}
	}
	pthread_mutex_unlock(&prof_lock);
	return a;
}

/* a kernel block: counted, and profiled if asked; false if it cannot be */
static bool prof_trans(struct qemu_plugin_tb *tb, uint64_t va, uint64_t n)
{
	struct prof_tb *t;

	if (!prof_table)
		return false;
	t = malloc(sizeof(*t));
	if (!t)
		return false;
	t->addr = prof_addr_of(va);
	if (!t->addr) {
		free(t);
		return false;
	}
	t->n = n;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, prof_exec, CB_NO_REGS, t);
	return true;
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
	if (!(n & USER_BIT) && prof_trans(tb, va, n))
		return;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, CB_NO_REGS,
					     (void *)(uintptr_t)n);
}

static void prof_write(void)
{
	struct prof_addr *a;
	unsigned int b, p;
	FILE *f;

	if (!prof_table)
		return;
	f = fopen(prof_out, "w");
	if (!f) {
		perror(prof_out);
		return;
	}
	for (b = 0; b < PROF_BUCKETS; b++)
		for (a = prof_table[b]; a; a = a->next)
			for (p = 1; p < PROF_PHASES; p++)
				if (a->insns[p])
					fprintf(f, "tb %016" PRIx64 " %u %" PRIu64 "\n",
						a->va, p, a->insns[p]);
	fclose(f);
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
	prof_write();
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
			       const struct qemu_info *info, int argc,
			       char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			snprintf(out, sizeof(out), "%s", argv[i] + 4);
		else if (!strncmp(argv[i], "profile=", 8))
			snprintf(prof_out, sizeof(prof_out), "%s", argv[i] + 8);
	if (!out[0]) {
		fprintf(stderr, "insn-phases: usage: -plugin libinsn-phases.so,out=FILE[,profile=PFILE]\n");
		return -1;
	}
	if (prof_out[0]) {
		prof_table = calloc(PROF_BUCKETS, sizeof(*prof_table));
		if (!prof_table) {
			fprintf(stderr, "insn-phases: no memory for the profile\n");
			return -1;
		}
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
