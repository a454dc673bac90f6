// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_torture [-h] [-b] [-d SECONDS] [-q QP_PAIRS] [-t THREADS]
 *                    [-s BUF_SIZE] [-B BLOCK_BYTES] [-m MIGRATORS]
 *                    [-p PAUSE_US] [-r RATES] [-S SEED] [--dax-file PATH]
 *
 * "Migration during RDMA": THREADS worker threads, each driving QP_PAIRS
 * RC QP pairs on rxe0 (one operation in flight per pair), issue RDMA
 * WRITE, READ, SEND (into and out of the ODP MR), FETCH_ADD and CMP_SWAP
 * on the blocks of a buffer registered with IBV_ACCESS_ON_DEMAND, while
 * migrator threads move the very same pages:
 *   numa      move_pages() between node 0 and node 1
 *   dontneed  madvise(MADV_DONTNEED)
 *   mprotect  read-only and back; RDMA WRITE and atomics on a read-only
 *             block must complete with IBV_WC_REM_ACCESS_ERR, READ works
 *   fork      a child that reads and writes the buffer (COW), then exits
 *   hmm       device-private migration with test_hmm (/dev/hmm_dmirror0)
 *   dax       fallocate(PUNCH_HOLE) and truncate + re-extend of the file
 *             given with --dax-file (MAP_SHARED, FS-DAX when MAP_SYNC works)
 *   swap      madvise(MADV_PAGEOUT): the pages go out to swap (zram in the
 *             bench guest) and RDMA faults them back in
 *   collapse  madvise(MADV_COLLAPSE) of a 2 MiB aligned run of 4 KiB pages
 *             into a new THP (khugepaged's path), after splitting a THP
 *             there by paging one page out
 * Default: every migrator that applies; the others are named with the
 * reason they are skipped.
 *
 * Every block holds a pattern derived from (block, generation), and its
 * last word is the target of the atomics, whose value is tracked exactly.
 * A worker locks a block for one operation; after it, the block (CPU
 * view) or the data the RDMA returned is compared word for word with
 * what it must hold, so stale, torn or lost data is a mismatch. Migrators
 * that destroy data (dontneed on private memory, dax) or forbid writes
 * (mprotect) lock the blocks they change, check what the kernel left
 * there (zeroes, or the old data), and re-initialise the blocks before
 * unlocking them; numa, hmm, fork, swap and collapse never lock: RDMA
 * races with them.
 *
 * Configurations: "anon" (private anonymous buffer), and "dax" (or "file"
 * when the file is not on a DAX mount) with --dax-file. Output is TAP,
 * one test per configuration; exit status 1 on any mismatch, unexpected
 * completion status, migrator error or hang, else 0.
 *
 * -b (--bench): traffic with 0, 10, 100, 1000 migrations/s (-r RATES) of
 * one page (or block) each by the first migrator of -m that applies
 * (default numa), -d seconds per rate, and a table of the retained
 * bandwidth.
 *
 * Run inside a bench guest (rxe0 on lo), e.g. under the debug kernel:
 *   modprobe test_hmm; odp_torture -d 20
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#include "clock.h"
#include "meminfo.h"
#include "rdma_loop.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE	0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC		0x80000
#endif

/* test_hmm's ioctl ABI, as lib/test_hmm.c reads it */
struct hmm_cmd {
	__u64 addr;	/* start of the range, page aligned */
	__u64 ptr;	/* TO_DEV: a buffer of npages pages for a copy */
	__u64 npages;
	__u64 cpages;	/* out: pages migrated (copied) */
	__u64 faults;
};

#define HMM_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_cmd)
#define HMM_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_cmd)
#define HMM_DEVICE		"/dev/hmm_dmirror0"

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define WC_TIMEOUT_MS		30000	/* a completion later than this: hang */
#define JOIN_GRACE_S		120	/* a thread that does not stop: hang */
#define MAX_REPORTS		20	/* detailed messages per configuration */
#define PROGRESS_S		10
#define MAX_RUN_PAGES		16	/* numa/hmm: pages per migration */
#define MAX_RUN_BLOCKS		4	/* dontneed/dax: blocks */
#define MAX_RO_BLOCKS		32	/* mprotect: blocks */
#define RO_HOLD_US		10000	/* how long mprotect keeps a range RO */
#define FORK_TOUCH_BLOCKS	8
#define SLOT_CQE		32

enum op { OP_WRITE, OP_READ, OP_SEND_IN, OP_SEND_OUT, OP_FADD, OP_CSWAP,
	  OP_NR };

static const char *const op_name[OP_NR] = {
	"write", "read", "send_in", "send_out", "fetch_add", "cmp_swap",
};

enum mig_id { MIG_NUMA, MIG_DONTNEED, MIG_MPROTECT, MIG_FORK, MIG_HMM,
	      MIG_DAX, MIG_SWAP, MIG_COLLAPSE, MIG_NR };

enum kind { KIND_ANON, KIND_DAX };

struct opts {
	unsigned int qps;	/* QP pairs per worker thread */
	unsigned int threads;
	unsigned int seconds;
	size_t len;
	size_t block;
	unsigned int mask;	/* migrators asked for (1 << enum mig_id) */
	unsigned int pause_us;
	const char *dax_file;
	bool bench;
	char *rates;
	uint64_t seed;
};

struct block {
	pthread_mutex_t lock;
	uint32_t gen;		/* all words but the last: pattern(block, gen) */
	uint64_t atom;		/* the last word, target of the atomics */
	bool unknown;		/* lost to a failed operation: rewrite first */
	atomic_bool ro;		/* read-only (mprotect migrator) */
};

struct stats {
	atomic_ulong ops[OP_NR];
	atomic_ulong bytes;
	atomic_ulong mismatches;
	atomic_ulong unexpected;
	atomic_ulong access_errs;	/* expected, on read-only blocks */
	atomic_ulong ro_reads;		/* READ / SEND out of read-only blocks */
	atomic_ulong reconnects;
	atomic_ulong reports;
};

struct torture;

struct mig {
	enum mig_id id;
	struct torture *t;
	pthread_t th;
	bool on;
	bool started;
	double rate;			/* bench: migrations per second */
	uint64_t seed;
	atomic_ulong rounds;		/* migrations done */
	atomic_ulong pages;		/* pages they moved or dropped */
	atomic_ulong busy;		/* attempts that moved nothing */
	atomic_ulong errors;
	atomic_ulong extra;		/* dax: truncations among rounds */
	const char *volatile phase;
	int fd;				/* hmm device */
	char *bounce;			/* hmm: copy of migrated pages */
	char *dev_addr;			/* hmm: range now on the device */
	size_t dev_pages;
};

struct slot {
	struct rdma_loop lp;		/* its own QPs and CQs, shared PD */
	char *src, *dst;		/* pinned, one block each */
	int b;				/* block locked, or -1 */
	enum op op;
	bool ro;
	int expect;			/* expected status */
	uint32_t new_gen;
	uint64_t new_atom, add, compare, swap;
};

struct worker {
	struct torture *t;
	pthread_t th;
	bool started;
	int id;
	uint64_t seed;
	char *local;
	size_t local_len;
	struct ibv_mr *lmr;
	struct slot *slot;
	const char *volatile phase;
	volatile int phase_block;
};

struct torture {
	const struct opts *o;
	enum kind kind;
	const char *name;		/* anon, dax, bench@RATE */
	char label[32];
	bool shared;			/* MAP_SHARED: no COW, DONTNEED keeps data */
	char *buf;
	size_t len, block, page;
	unsigned int nblocks, words;
	int fd;
	bool created;
	bool not_dax;			/* --dax-file is on a non-DAX mount */
	unsigned int run_pages;		/* 0: random sizes; bench: 1 */
	bool small_pages;		/* anon without THP (bench) */
	struct block *blk;
	struct rdma_loop lp;
	struct ibv_mr *mr;
	atomic_bool stop;
	struct stats st;
	struct mig mig[MIG_NR];
	struct worker *w;
};

struct migrator {
	const char *name;
	const char *pages;		/* what its page count means */
	/* NULL when it can run, else why not (may set the migrator up) */
	const char *(*unsupported)(struct torture *t, struct mig *m);
	/* one migration: 0 done, 1 nothing moved this time, -1 error */
	int (*round)(struct torture *t, struct mig *m);
	unsigned int min_pause_us;
};

static const struct migrator migrators[MIG_NR];

/* ---- small helpers ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void inc(atomic_ulong *v, unsigned long n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static unsigned long get(atomic_ulong *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* A detailed message ("# ..."): the first MAX_REPORTS of a configuration. */
static void report(struct torture *t, const char *fmt, ...)
{
	va_list ap;

	if (get(&t->st.reports) >= MAX_REPORTS) {
		inc(&t->st.reports, 1);
		return;
	}
	inc(&t->st.reports, 1);
	flockfile(stdout);
	printf("# %s: ", t->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	funlockfile(stdout);
}

/* ---- block contents ---- */

static uint64_t block_key(unsigned int b, uint32_t gen)
{
	return mix((uint64_t)b << 32 | gen);
}

static uint64_t word(uint64_t key, size_t i)
{
	return mix(key + i);
}

static char *block_addr(struct torture *t, unsigned int b)
{
	return t->buf + (size_t)b * t->block;
}

static uint64_t *atom_addr(struct torture *t, unsigned int b)
{
	return (uint64_t *)(block_addr(t, b) + t->block) - 1;
}

/* Write generation @gen of block @b to @p; returns its last word. */
static uint64_t fill_block(struct torture *t, void *p, unsigned int b,
			   uint32_t gen)
{
	uint64_t key = block_key(b, gen), *w = p;
	size_t i;

	for (i = 0; i < t->words; i++)
		w[i] = word(key, i);
	return w[t->words - 1];
}

/* Rewrite block @b by the CPU with a new generation (lock held). */
static void reinit_block(struct torture *t, unsigned int b)
{
	struct block *bk = &t->blk[b];

	bk->gen++;
	bk->atom = fill_block(t, block_addr(t, b), b, bk->gen);
	bk->unknown = false;
}

static uint64_t expected(struct torture *t, unsigned int b, size_t i)
{
	const struct block *bk = &t->blk[b];

	if (i == t->words - 1)
		return bk->atom;
	return word(block_key(b, bk->gen), i);
}

static const char *classify(struct torture *t, unsigned int b, size_t i,
			    uint64_t got)
{
	const struct block *bk = &t->blk[b];

	if (!got)
		return "zero";
	if (i < t->words - 1 && bk->gen > 1 &&
	    got == word(block_key(b, bk->gen - 1), i))
		return "the previous generation of this block (stale)";
	if (got == 0x5a5a5a5a5a5a5a5aULL)
		return "the poison of the local buffer (not written)";
	return "unknown data";
}

static void mismatch(struct torture *t, unsigned int b, const uint64_t *p,
		     bool zero, const char *what)
{
	size_t i, first = 0, bad = 0, pages = 0, words_pp = t->page / 8;
	bool page_bad = false;
	uint64_t want;

	for (i = 0; i < t->words; i++) {
		if (i % words_pp == 0)
			page_bad = false;
		want = zero ? 0 : expected(t, b, i);
		if (p[i] == want)
			continue;
		if (!bad++)
			first = i;
		if (!page_bad)
			pages++;
		page_bad = true;
	}
	inc(&t->st.mismatches, 1);
	report(t, "MISMATCH %s, block %u (%p, gen %u): %zu of %u words differ in %zu of %zu pages; word %zu (byte %zu) is %#llx = %s, expected %#llx",
	       what, b, block_addr(t, b), t->blk[b].gen, bad, t->words, pages,
	       t->block / t->page, first, first * 8,
	       (unsigned long long)p[first], classify(t, b, first, p[first]),
	       (unsigned long long)(zero ? 0 : expected(t, b, first)));
}

/* @p (block @b or a copy of it) holds what the block must hold? */
static bool check_block(struct torture *t, unsigned int b, const void *p,
			const char *what)
{
	const uint64_t *w = p;
	size_t i;

	if (t->blk[b].unknown)
		return true;
	for (i = 0; i < t->words; i++)
		if (w[i] != expected(t, b, i))
			break;
	if (i == t->words)
		return true;
	mismatch(t, b, w, false, what);
	return false;
}

static bool check_zero(struct torture *t, unsigned int b, const char *what)
{
	const uint64_t *w = (const uint64_t *)block_addr(t, b);
	size_t i;

	for (i = 0; i < t->words; i++)
		if (w[i])
			break;
	if (i == t->words)
		return true;
	mismatch(t, b, w, true, what);
	return false;
}

static void lock_blocks(struct torture *t, unsigned int first, unsigned int n)
{
	unsigned int b;

	for (b = first; b < first + n; b++)
		pthread_mutex_lock(&t->blk[b].lock);
}

static void unlock_blocks(struct torture *t, unsigned int first,
			  unsigned int n)
{
	unsigned int b;

	for (b = first; b < first + n; b++)
		pthread_mutex_unlock(&t->blk[b].lock);
}

static bool any_ro(struct torture *t, unsigned int first, unsigned int n)
{
	unsigned int b;

	for (b = first; b < first + n; b++)
		if (atomic_load(&t->blk[b].ro))
			return true;
	return false;
}

/* ---- completions on the QP pairs (rdma_loop_open_pair) ---- */

/* Next completion on @cq: 0, or -1 after WC_TIMEOUT_MS or a poll error. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	double deadline = now_s() + WC_TIMEOUT_MS / 1000.0;
	unsigned int spins = 0;
	int n;

	while (now_s() < deadline) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n < 0)
			return -1;
		if (n)
			return 0;
		/* leave the CPUs to rxe's work items */
		if (++spins > 64)
			usleep(50);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* ---- worker: one operation per slot, checked ---- */

static bool writes_mr(enum op op)
{
	return op == OP_WRITE || op == OP_SEND_IN || op == OP_FADD ||
	       op == OP_CSWAP;
}

static bool is_atomic(enum op op)
{
	return op == OP_FADD || op == OP_CSWAP;
}

static int pick_block(struct worker *w)
{
	struct torture *t = w->t;
	int i, b;

	for (i = 0; i < 4; i++) {
		b = rnd(&w->seed) % t->nblocks;
		if (!pthread_mutex_trylock(&t->blk[b].lock))
			return b;
	}
	return -1;
}

static enum op pick_op(struct worker *w, const struct block *bk, bool ro)
{
	static const enum op ops[] = {
		OP_WRITE, OP_WRITE, OP_WRITE, OP_READ, OP_READ, OP_READ,
		OP_SEND_IN, OP_SEND_OUT, OP_FADD, OP_CSWAP,
	};
	enum op op = ops[rnd(&w->seed) % ARRAY_SIZE(ops)];

	/* a block whose contents were lost is rewritten first */
	if (bk->unknown)
		return OP_WRITE;
	/* we do not define the status of a SEND into a read-only page */
	if (ro && op == OP_SEND_IN)
		return OP_WRITE;
	return op;
}

static int post_wr(struct slot *s, enum ibv_wr_opcode opcode,
		   struct ibv_sge *sge, char *raddr, uint32_t rkey)
{
	struct ibv_send_wr wr = {
		.wr_id = 1, .sg_list = sge, .num_sge = 1, .opcode = opcode,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (opcode == IBV_WR_ATOMIC_FETCH_AND_ADD ||
	    opcode == IBV_WR_ATOMIC_CMP_AND_SWP) {
		wr.wr.atomic.remote_addr = (uintptr_t)raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = opcode == IBV_WR_ATOMIC_CMP_AND_SWP ?
					   s->compare : s->add;
		wr.wr.atomic.swap = s->swap;
	} else {
		wr.wr.rdma.remote_addr = (uintptr_t)raddr;
		wr.wr.rdma.rkey = rkey;
	}
	return ibv_post_send(s->lp.qp[0], &wr, &bad);
}

static int post_recv(struct slot *s, void *addr, uint32_t len, uint32_t lkey)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = 2, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(s->lp.qp[1], &wr, &bad);
}

/* Prepare the local side of @s->op and post it. */
static int slot_post(struct worker *w, struct slot *s)
{
	struct torture *t = w->t;
	struct block *bk = &t->blk[s->b];
	char *baddr = block_addr(t, s->b);
	uint32_t len = t->block, lkey = w->lmr->lkey, okey = t->mr->lkey;
	struct ibv_sge lsrc = { (uintptr_t)s->src, len, lkey };
	struct ibv_sge ldst = { (uintptr_t)s->dst, len, lkey };
	struct ibv_sge osrc = { (uintptr_t)baddr, len, okey };
	struct ibv_sge res = { (uintptr_t)s->dst, 8, lkey };

	memset(s->dst, 0x5a, len);
	switch (s->op) {
	case OP_WRITE:
	case OP_SEND_IN:
		s->new_gen = bk->gen + 1;
		s->new_atom = fill_block(t, s->src, s->b, s->new_gen);
		if (s->op == OP_WRITE)
			return post_wr(s, IBV_WR_RDMA_WRITE, &lsrc, baddr,
				       t->mr->rkey);
		if (post_recv(s, baddr, len, okey))
			return -1;
		return post_wr(s, IBV_WR_SEND, &lsrc, NULL, 0);
	case OP_READ:
		return post_wr(s, IBV_WR_RDMA_READ, &ldst, baddr, t->mr->rkey);
	case OP_SEND_OUT:
		if (post_recv(s, s->dst, len, lkey))
			return -1;
		return post_wr(s, IBV_WR_SEND, &osrc, NULL, 0);
	case OP_FADD:
		s->add = rnd(&w->seed) | 1;
		return post_wr(s, IBV_WR_ATOMIC_FETCH_AND_ADD, &res,
			       (char *)atom_addr(t, s->b), t->mr->rkey);
	default:
		s->compare = rnd(&w->seed) & 1 ? bk->atom : ~bk->atom;
		s->swap = rnd(&w->seed);
		return post_wr(s, IBV_WR_ATOMIC_CMP_AND_SWP, &res,
			       (char *)atom_addr(t, s->b), t->mr->rkey);
	}
}

static void slot_release(struct torture *t, struct slot *s)
{
	pthread_mutex_unlock(&t->blk[s->b].lock);
	s->b = -1;
}

/* New QPs for a slot after an error; false when that fails too. */
static bool slot_reconnect(struct worker *w, struct slot *s)
{
	struct torture *t = w->t;

	inc(&t->st.reconnects, 1);
	if (!rdma_loop_connect(&s->lp))
		return true;
	inc(&t->st.unexpected, 1);
	report(t, "worker %d: rdma_loop_connect after an error: %s", w->id,
	       strerror(errno));
	return false;
}

static void slot_start(struct worker *w, struct slot *s)
{
	struct torture *t = w->t;
	struct block *bk;

	s->b = pick_block(w);
	if (s->b < 0)
		return;
	bk = &t->blk[s->b];
	s->ro = atomic_load(&bk->ro);
	s->op = pick_op(w, bk, s->ro);
	s->expect = s->ro && writes_mr(s->op) ? IBV_WC_REM_ACCESS_ERR :
						IBV_WC_SUCCESS;
	w->phase = "posting";
	w->phase_block = s->b;
	if (!slot_post(w, s))
		return;
	inc(&t->st.unexpected, 1);
	report(t, "worker %d: posting %s on block %d: %s", w->id,
	       op_name[s->op], s->b, strerror(errno));
	slot_reconnect(w, s);
	slot_release(t, s);
}

/* The block after a failed write is not known any more. */
static void block_lost(struct torture *t, struct slot *s)
{
	struct block *bk = &t->blk[s->b];

	if (!writes_mr(s->op))
		return;
	if (s->ro)
		bk->unknown = true;
	else
		reinit_block(t, s->b);
}

static void check_atomic(struct torture *t, struct slot *s)
{
	struct block *bk = &t->blk[s->b];
	uint64_t got = *(uint64_t *)s->dst;

	if (got != bk->atom) {
		inc(&t->st.mismatches, 1);
		report(t, "MISMATCH %s on block %u returned %#llx, the word held %#llx",
		       op_name[s->op], s->b, (unsigned long long)got,
		       (unsigned long long)bk->atom);
		/* the word is what the responder saw: follow it */
		bk->atom = got;
	}
	if (s->op == OP_FADD)
		bk->atom += s->add;
	else if (s->compare == got)
		bk->atom = s->swap;
	check_block(t, s->b, block_addr(t, s->b), s->op == OP_FADD ?
		    "ODP block after FETCH_ADD" : "ODP block after CMP_SWAP");
}

/* A successful operation: update what the block holds, check the data. */
static void slot_success(struct torture *t, struct slot *s)
{
	struct block *bk = &t->blk[s->b];

	inc(&t->st.bytes, is_atomic(s->op) ? 8 : t->block);
	switch (s->op) {
	case OP_WRITE:
	case OP_SEND_IN:
		bk->gen = s->new_gen;
		bk->atom = s->new_atom;
		bk->unknown = false;
		check_block(t, s->b, block_addr(t, s->b), s->op == OP_WRITE ?
			    "ODP block after RDMA WRITE" :
			    "ODP block after a SEND into it");
		break;
	case OP_READ:
		check_block(t, s->b, s->dst, "data returned by RDMA READ");
		break;
	case OP_SEND_OUT:
		check_block(t, s->b, s->dst, "data SENT from the ODP block");
		break;
	default:
		check_atomic(t, s);
	}
}

/* A receive completion for the SEND of @s: success and the full length. */
static bool recv_ok(struct worker *w, struct slot *s)
{
	struct torture *t = w->t;
	struct ibv_wc wc;

	w->phase = "waiting for a receive completion";
	if (wait_wc(s->lp.cq[1], &wc)) {
		report(t, "worker %d: %s on block %d: no receive completion in %d s",
		       w->id, op_name[s->op], s->b, WC_TIMEOUT_MS / 1000);
	} else if (wc.status != IBV_WC_SUCCESS || wc.byte_len != t->block) {
		report(t, "worker %d: %s on block %d: receive status %s (%d), %u bytes",
		       w->id, op_name[s->op], s->b,
		       ibv_wc_status_str(wc.status), wc.status, wc.byte_len);
	} else {
		return true;
	}
	inc(&t->st.unexpected, 1);
	return false;
}

/* Wait for the operation of @s and judge it; false: stop this worker. */
static bool slot_finish(struct worker *w, struct slot *s)
{
	struct torture *t = w->t;
	bool recv = s->op == OP_SEND_IN || s->op == OP_SEND_OUT;
	bool ok = true;
	struct ibv_wc wc;

	if (s->b < 0)
		return true;
	w->phase = "waiting for a send completion";
	w->phase_block = s->b;
	if (wait_wc(s->lp.cq[0], &wc)) {
		inc(&t->st.unexpected, 1);
		report(t, "worker %d: %s on block %d: no completion in %d s",
		       w->id, op_name[s->op], s->b, WC_TIMEOUT_MS / 1000);
		block_lost(t, s);
		ok = slot_reconnect(w, s);
	} else if (wc.status != s->expect) {
		inc(&t->st.unexpected, 1);
		report(t, "worker %d: %s on %s block %d (%p+%zu): status %s (%d), expected %s",
		       w->id, op_name[s->op], s->ro ? "read-only" : "writable",
		       s->b, block_addr(t, s->b), t->block,
		       ibv_wc_status_str(wc.status), wc.status,
		       ibv_wc_status_str(s->expect));
		block_lost(t, s);
		ok = slot_reconnect(w, s);
	} else if (s->expect != IBV_WC_SUCCESS) {
		/* refused write into a read-only block: nothing changed */
		inc(&t->st.access_errs, 1);
		check_block(t, s->b, block_addr(t, s->b),
			    "read-only ODP block after a refused write");
		ok = slot_reconnect(w, s);
	} else if (recv && !recv_ok(w, s)) {
		block_lost(t, s);
		ok = slot_reconnect(w, s);
	} else {
		inc(&t->st.ops[s->op], 1);
		inc(&t->st.ro_reads, s->ro);
		slot_success(t, s);
	}
	slot_release(t, s);
	return ok;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;
	unsigned int i;
	bool ok = true;

	while (ok && !atomic_load(&t->stop)) {
		for (i = 0; i < t->o->qps; i++)
			slot_start(w, &w->slot[i]);
		for (i = 0; i < t->o->qps; i++)
			ok &= slot_finish(w, &w->slot[i]);
	}
	w->phase = "done";
	return NULL;
}

static int worker_setup(struct torture *t, struct worker *w)
{
	unsigned int i;

	w->local_len = t->o->qps * 2 * t->block;
	w->local = mmap(NULL, w->local_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w->local == MAP_FAILED)
		return -1;
	w->lmr = rdma_loop_reg(&t->lp, w->local, w->local_len, 0);
	w->slot = calloc(t->o->qps, sizeof(*w->slot));
	if (!w->lmr || !w->slot)
		return -1;
	for (i = 0; i < t->o->qps; i++) {
		w->slot[i].src = w->local + 2 * i * t->block;
		w->slot[i].dst = w->slot[i].src + t->block;
		w->slot[i].b = -1;
		if (rdma_loop_open_pair(&w->slot[i].lp, &t->lp, SLOT_CQE))
			return -1;
	}
	return 0;
}

static void worker_teardown(struct torture *t, struct worker *w)
{
	unsigned int i;

	for (i = 0; w->slot && i < t->o->qps; i++)
		rdma_loop_close_pair(&w->slot[i].lp);
	free(w->slot);
	if (w->lmr)
		ibv_dereg_mr(w->lmr);
	if (w->local && w->local != MAP_FAILED)
		munmap(w->local, w->local_len);
	memset(w, 0, sizeof(*w));
}

/* ---- migrators ---- */

/* A run of pages (numa, hmm): first page index, count in *n. */
static size_t pick_pages(struct torture *t, struct mig *m, size_t *n)
{
	size_t pages = t->len / t->page;

	*n = t->run_pages ?: 1 + rnd(&m->seed) % MAX_RUN_PAGES;
	return rnd(&m->seed) % (pages - *n + 1);
}

/* A run of up to @max blocks: first block, count in *n. */
static unsigned int pick_blocks(struct torture *t, struct mig *m,
				unsigned int max, unsigned int *n)
{
	*n = t->run_pages ? 1 : 1 + rnd(&m->seed) % max;
	if (*n > t->nblocks / 4)
		*n = t->nblocks / 4;
	/* the last MAX_RUN_BLOCKS blocks are dax's to truncate */
	return rnd(&m->seed) % (t->nblocks - MAX_RUN_BLOCKS - *n + 1);
}

static const char *numa_unsupported(struct torture *t, struct mig *m)
{
	if (t->kind == KIND_DAX)
		return "DAX pages do not migrate between NUMA nodes";
	if (numa_available() < 0)
		return "libnuma: NUMA is not available";
	if (numa_num_configured_nodes() < 2 || numa_node_size(1, NULL) <= 0)
		return "needs NUMA nodes 0 and 1 with memory";
	return NULL;
}

static int numa_round(struct torture *t, struct mig *m)
{
	int nodes[MAX_RUN_PAGES], status[MAX_RUN_PAGES], target;
	void *pages[MAX_RUN_PAGES];
	size_t first, n, i, moved = 0;

	first = pick_pages(t, m, &n);
	for (i = 0; i < n; i++)
		pages[i] = t->buf + (first + i) * t->page;
	/* where the first page is now decides where the run goes */
	m->phase = "move_pages (query)";
	if (move_pages(0, 1, pages, NULL, status, 0))
		status[0] = -1;
	target = status[0] == 0 ? 1 : status[0] == 1 ? 0 : rnd(&m->seed) & 1;
	for (i = 0; i < n; i++)
		nodes[i] = target;
	m->phase = "move_pages";
	if (move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE) < 0) {
		report(t, "numa: move_pages of %zu pages at %p to node %d: %s",
		       n, pages[0], target, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++)
		moved += status[i] == target;
	inc(&m->pages, moved);
	return moved ? 0 : 1;
}

static const char *always(struct torture *t, struct mig *m)
{
	return NULL;
}

/*
 * Check blocks the kernel just dropped, and re-initialise them: private
 * memory must read zero, a shared mapping must keep its data.
 */
static void check_dropped(struct torture *t, unsigned int first,
			  unsigned int n, bool zero, const char *what)
{
	unsigned int b;

	for (b = first; b < first + n; b++) {
		if (t->blk[b].unknown)
			;
		else if (zero)
			check_zero(t, b, what);
		else
			check_block(t, b, block_addr(t, b), what);
		if (zero || t->blk[b].unknown)
			reinit_block(t, b);
	}
}

static int dontneed_round(struct torture *t, struct mig *m)
{
	unsigned int n, first = pick_blocks(t, m, MAX_RUN_BLOCKS, &n);
	size_t len = (size_t)n * t->block;
	int ret = 0;

	lock_blocks(t, first, n);
	if (any_ro(t, first, n)) {
		ret = 1;	/* the CPU could not re-initialise them */
	} else {
		m->phase = "madvise(MADV_DONTNEED)";
		if (madvise(block_addr(t, first), len, MADV_DONTNEED)) {
			report(t, "dontneed: madvise %p+%zu: %s",
			       block_addr(t, first), len, strerror(errno));
			ret = -1;
		} else {
			check_dropped(t, first, n, !t->shared, t->shared ?
				      "shared block after MADV_DONTNEED (data must stay)" :
				      "private block after MADV_DONTNEED (must read zero)");
			inc(&m->pages, len / t->page);
		}
	}
	unlock_blocks(t, first, n);
	return ret;
}

static int protect(struct torture *t, struct mig *m, unsigned int first,
		   unsigned int n, int prot)
{
	size_t len = (size_t)n * t->block;

	m->phase = prot & PROT_WRITE ? "mprotect(RW)" : "mprotect(RO)";
	if (!mprotect(block_addr(t, first), len, prot))
		return 0;
	report(t, "mprotect: %s %p+%zu: %s", m->phase, block_addr(t, first),
	       len, strerror(errno));
	return -1;
}

static void set_ro(struct torture *t, unsigned int first, unsigned int n,
		   bool ro)
{
	unsigned int b;

	for (b = first; b < first + n; b++)
		atomic_store(&t->blk[b].ro, ro);
}

/* Read-only for RO_HOLD_US, then writable again. */
static int mprotect_round(struct torture *t, struct mig *m)
{
	unsigned int n, first = pick_blocks(t, m, MAX_RO_BLOCKS, &n);
	int ret;

	/* flags set before and cleared after the change: fork relies on it */
	lock_blocks(t, first, n);
	set_ro(t, first, n, true);
	ret = protect(t, m, first, n, PROT_READ);
	if (ret)
		set_ro(t, first, n, false);
	unlock_blocks(t, first, n);
	if (ret)
		return ret;
	m->phase = "holding a range read-only";
	usleep(RO_HOLD_US);
	lock_blocks(t, first, n);
	ret = protect(t, m, first, n, PROT_READ | PROT_WRITE);
	if (!ret)
		set_ro(t, first, n, false);
	unlock_blocks(t, first, n);
	if (!ret)
		inc(&m->pages, (size_t)n * t->block / t->page);
	return ret;
}

/* The child: read blocks, and write private ones (its COW copies). */
static void fork_child(struct torture *t, uint64_t seed)
{
	unsigned int i, b, span = t->nblocks - MAX_RUN_BLOCKS;
	volatile uint64_t sum = 0;
	uint64_t *w;
	size_t j;

	for (i = 0; i < FORK_TOUCH_BLOCKS; i++) {
		b = rnd(&seed) % span;
		w = (uint64_t *)block_addr(t, b);
		for (j = 0; j < t->words; j++)
			sum += w[j];
		if (t->shared || atomic_load(&t->blk[b].ro))
			continue;
		for (j = 0; j < t->words; j += t->page / 8)
			w[j] = ~w[j];
	}
	_exit(0);
}

static int fork_round(struct torture *t, struct mig *m)
{
	int status;
	pid_t pid;

	m->phase = "fork";
	pid = fork();
	if (pid < 0) {
		report(t, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		fork_child(t, rnd(&m->seed));
	m->phase = "waitpid";
	if (waitpid(pid, &status, 0) != pid) {
		report(t, "fork: waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && !WEXITSTATUS(status)) {
		inc(&m->pages, t->len / t->page);	/* all made COW */
		return 0;
	}
	report(t, "fork: the child %s %d", WIFSIGNALED(status) ?
	       "was killed by signal" : "exited with",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return -1;
}

static const char *hmm_unsupported(struct torture *t, struct mig *m)
{
	static char why[160];

	if (t->kind != KIND_ANON)
		return "test_hmm migrates private anonymous memory only";
	m->fd = open(HMM_DEVICE, O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		snprintf(why, sizeof(why),
			 "%s: %s (modprobe test_hmm; debug kernel only)",
			 HMM_DEVICE, strerror(errno));
		return why;
	}
	m->bounce = malloc(MAX_RUN_PAGES * t->page);
	return m->bounce ? NULL : "out of memory";
}

/* Errors that say a page was busy or went back meanwhile: a lost race. */
static bool hmm_race(int err)
{
	return err == ENOENT || err == EBUSY || err == EAGAIN || err == ENOMEM;
}

/* A run of pages to device memory, and back to RAM the round after. */
static int hmm_round(struct torture *t, struct mig *m)
{
	struct hmm_cmd cmd = { .ptr = (uintptr_t)m->bounce };
	bool to_dev = !m->dev_addr;
	size_t first;

	if (to_dev) {
		first = pick_pages(t, m, &m->dev_pages);
		m->dev_addr = t->buf + first * t->page;
	}
	cmd.addr = (uintptr_t)m->dev_addr;
	cmd.npages = m->dev_pages;
	m->phase = to_dev ? "HMM_DMIRROR_MIGRATE_TO_DEV" :
			    "HMM_DMIRROR_MIGRATE_TO_SYS";
	if (!to_dev)
		m->dev_addr = NULL;
	if (ioctl(m->fd, to_dev ? HMM_MIGRATE_TO_DEV : HMM_MIGRATE_TO_SYS,
		  &cmd)) {
		if (hmm_race(errno))
			return 1;
		report(t, "hmm: %s %p+%llu pages: %s", m->phase,
		       (void *)(uintptr_t)cmd.addr, cmd.npages,
		       strerror(errno));
		return -1;
	}
	inc(&m->pages, cmd.cpages);
	return cmd.cpages ? 0 : 1;
}

static const char *dax_unsupported(struct torture *t, struct mig *m)
{
	if (t->kind != KIND_DAX)
		return "runs in the dax configuration (--dax-file PATH)";
	return NULL;
}

/* Punch a hole over a run of blocks, or truncate the tail and re-extend. */
static int dax_round(struct torture *t, struct mig *m)
{
	unsigned int n, first = pick_blocks(t, m, MAX_RUN_BLOCKS, &n);
	bool trunc = rnd(&m->seed) % 4 == 0;
	size_t off, len;
	int ret = 0, err;

	if (trunc)
		first = t->nblocks - n;
	off = (size_t)first * t->block;
	len = (size_t)n * t->block;
	lock_blocks(t, first, n);
	if (any_ro(t, first, n)) {
		unlock_blocks(t, first, n);
		return 1;
	}
	if (trunc) {
		m->phase = "ftruncate (shrink, then re-extend)";
		err = ftruncate(t->fd, off) || ftruncate(t->fd, t->len);
	} else {
		m->phase = "fallocate(PUNCH_HOLE | KEEP_SIZE)";
		err = fallocate(t->fd, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, off, len);
	}
	if (err) {
		report(t, "dax: %s at %zu+%zu: %s", m->phase, off, len,
		       strerror(errno));
		ret = -1;
	} else {
		check_dropped(t, first, n, true, trunc ?
			      "file block after truncate + re-extend (must read zero)" :
			      "file block after PUNCH_HOLE (must read zero)");
		inc(&m->pages, len / t->page);
		inc(&m->extra, trunc);
	}
	unlock_blocks(t, first, n);
	return ret;
}

static const char *swap_unsupported(struct torture *t, struct mig *m)
{
	if (t->kind == KIND_DAX)
		return "DAX pages are not reclaimed";
	if (!have_swap())
		return "no swap (tests/guest/run-all sets up zram)";
	return NULL;
}

/*
 * Page blocks out: never locked, RDMA races with it and their data must
 * stay. Counts the pages that left memory (mincore(), so a page that RDMA
 * faulted back at once is not counted).
 */
static int swap_round(struct torture *t, struct mig *m)
{
	unsigned int n, first = pick_blocks(t, m, MAX_RUN_BLOCKS, &n);
	size_t len = (size_t)n * t->block, before, after;
	char *addr = block_addr(t, first);

	before = resident(addr, len);
	m->phase = "madvise(MADV_PAGEOUT)";
	if (madvise(addr, len, MADV_PAGEOUT)) {
		report(t, "swap: madvise %p+%zu: %s", addr, len, strerror(errno));
		return -1;
	}
	after = resident(addr, len);
	if (before == (size_t)-1 || after == (size_t)-1 || after >= before)
		return 1;
	inc(&m->pages, before - after);
	return 0;
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif
#define THP_LEN			(2UL << 20)
/* Whether the page at @addr is part of a THP (pagemap + kpageflags). */
static bool in_thp(const char *addr)
{
	uint64_t pfn, flags;

	if (pfns_of(addr, 1, &pfn) || !pfn || kpageflags_of(pfn, 1, &flags))
		return false;
	return flags & (1ULL << KPF_THP_BIT);
}

static const char *collapse_unsupported(struct torture *t, struct mig *m)
{
	uintptr_t first = ((uintptr_t)t->buf + THP_LEN - 1) & ~(THP_LEN - 1);

	if (t->kind != KIND_ANON)
		return "collapses private anonymous memory (anon configuration)";
	if (t->small_pages)
		return "the bench keeps 4 KiB pages";
	if (first + THP_LEN > (uintptr_t)t->buf + t->len)
		return "no 2 MiB aligned run in the buffer";
	if (access("/proc/kpageflags", R_OK))
		return "no /proc/kpageflags (root, CONFIG_PROC_PAGE_MONITOR)";
	if (!have_swap())
		return "splits THPs with MADV_PAGEOUT: no swap (tests/guest/run-all sets up zram)";
	return NULL;
}

/*
 * Collapse a 2 MiB aligned run into a THP: never locked, RDMA races with
 * it and the data must stay. A run that is a THP already is split first,
 * by paging its first page out (MADV_PAGEOUT splits the huge page); then
 * MADV_COLLAPSE copies the small pages (and the one swapped out) into a
 * new huge page and frees them; the MR follows.
 */
static int collapse_round(struct torture *t, struct mig *m)
{
	uintptr_t first = ((uintptr_t)t->buf + THP_LEN - 1) & ~(THP_LEN - 1);
	size_t runs = ((uintptr_t)t->buf + t->len - first) / THP_LEN;
	char *addr = (char *)first + rnd(&m->seed) % runs * THP_LEN;

	m->phase = "madvise(MADV_PAGEOUT) of a THP's first page";
	if (in_thp(addr)) {
		if (madvise(addr, t->page, MADV_PAGEOUT)) {
			report(t, "collapse: split %p: %s", addr, strerror(errno));
			return -1;
		}
		/* not split (mapped by a fork child too, or busy): no collapse */
		if (in_thp(addr))
			return 1;
	}
	m->phase = "madvise(MADV_COLLAPSE)";
	if (madvise(addr, THP_LEN, MADV_COLLAPSE)) {
		/*
		 * A page busy or locked meanwhile, no huge page free, or a run
		 * the other migrators made uncollapsible for now (EINVAL: split
		 * across VMAs by mprotect, emptied by dontneed); a collapse
		 * that never works fails the run ("no migration at all").
		 */
		if (errno == EAGAIN || errno == EBUSY || errno == ENOMEM ||
		    errno == EINVAL)
			return 1;
		report(t, "collapse: madvise %p+%lu: %s", addr, THP_LEN,
		       strerror(errno));
		return -1;
	}
	if (!in_thp(addr))
		return 1;
	inc(&m->pages, THP_LEN / t->page);
	return 0;
}

static const struct migrator migrators[MIG_NR] = {
	[MIG_NUMA] = { "numa", "pages moved to the other node",
		       numa_unsupported, numa_round, 0 },
	[MIG_DONTNEED] = { "dontneed", "pages dropped",
			   always, dontneed_round, 0 },
	[MIG_MPROTECT] = { "mprotect", "pages made read-only and back",
			   always, mprotect_round, 0 },
	[MIG_FORK] = { "fork", "pages made COW",
		       always, fork_round, 10000 },
	[MIG_HMM] = { "hmm", "pages migrated to or from the device",
		      hmm_unsupported, hmm_round, 0 },
	[MIG_DAX] = { "dax", "file pages punched or truncated",
		      dax_unsupported, dax_round, 0 },
	[MIG_SWAP] = { "swap", "pages paged out to swap",
		       swap_unsupported, swap_round, 0 },
	[MIG_COLLAPSE] = { "collapse", "pages collapsed into THPs",
			   collapse_unsupported, collapse_round, 10000 },
};

static void sleep_until(double when)
{
	double d = when - now_s();

	if (d > 0)
		usleep(d * 1e6);
}

static void *mig_main(void *arg)
{
	struct mig *m = arg;
	struct torture *t = m->t;
	unsigned int pause = t->o->pause_us;
	double start = now_s();
	unsigned long tries = 0;
	int ret;

	if (pause < migrators[m->id].min_pause_us)
		pause = migrators[m->id].min_pause_us;
	while (!atomic_load(&t->stop)) {
		ret = migrators[m->id].round(t, m);
		tries++;
		if (ret < 0)
			inc(&m->errors, 1);
		else
			inc(ret ? &m->busy : &m->rounds, 1);
		m->phase = "pausing";
		if (m->rate > 0)
			sleep_until(start + tries / m->rate);
		else if (pause)
			usleep(pause);
	}
	m->phase = "done";
	return NULL;
}

/* ---- one configuration ---- */

static void init_blocks(struct torture *t)
{
	unsigned int b;

	for (b = 0; b < t->nblocks; b++) {
		pthread_mutex_init(&t->blk[b].lock, NULL);
		reinit_block(t, b);
	}
}

static int map_dax(struct torture *t, char *why, size_t n)
{
	const char *path = t->o->dax_file;
	int prot = PROT_READ | PROT_WRITE;

	t->created = access(path, F_OK) != 0;
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->fd < 0 || ftruncate(t->fd, t->len)) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	t->buf = mmap(NULL, t->len, prot, MAP_SHARED_VALIDATE | MAP_SYNC,
		      t->fd, 0);
	if (t->buf != MAP_FAILED)
		return 0;
	/* MAP_SYNC works on DAX only: a plain shared file otherwise */
	printf("# %s is not on a DAX mount (MAP_SYNC: %s): testing a shared file mapping\n",
	       path, strerror(errno));
	t->not_dax = true;
	t->buf = mmap(NULL, t->len, prot, MAP_SHARED, t->fd, 0);
	if (t->buf != MAP_FAILED)
		return 0;
	snprintf(why, n, "mmap %s: %s", path, strerror(errno));
	return -1;
}

/* Buffer, blocks, device and ODP MR: 0, or -1 with the reason in @why. */
static int setup(struct torture *t, char *why, size_t n)
{
	t->fd = -1;
	t->page = sysconf(_SC_PAGESIZE);
	t->len = t->o->len;
	t->block = t->o->block;
	t->nblocks = t->len / t->block;
	t->words = t->block / 8;
	if (t->kind == KIND_DAX) {
		if (map_dax(t, why, n))
			return -1;
	} else {
		t->buf = mmap(NULL, t->len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t->buf == MAP_FAILED) {
			snprintf(why, n, "mmap: %s", strerror(errno));
			return -1;
		}
		/* the system's THP policy applies, except in the bench */
		if (t->small_pages)
			madvise(t->buf, t->len, MADV_NOHUGEPAGE);
	}
	t->blk = calloc(t->nblocks, sizeof(*t->blk));
	t->w = calloc(t->o->threads, sizeof(*t->w));
	if (!t->blk || !t->w) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	init_blocks(t);
	if (rdma_loop_open(&t->lp)) {
		snprintf(why, n, "opening %s: %s",
			 getenv("RXE_ODP_DEV") ?: "rxe0", strerror(errno));
		return -1;
	}
	t->mr = rdma_loop_reg(&t->lp, t->buf, t->len, IBV_ACCESS_ON_DEMAND);
	if (!t->mr) {
		snprintf(why, n, "ODP ibv_reg_mr: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void teardown(struct torture *t)
{
	int i;

	for (i = 0; i < MIG_NR; i++) {
		if (t->mig[i].fd > 0)
			close(t->mig[i].fd);
		free(t->mig[i].bounce);
	}
	if (t->mr)
		ibv_dereg_mr(t->mr);
	if (t->lp.ctx)
		rdma_loop_close(&t->lp);
	if (t->buf && t->buf != MAP_FAILED)
		munmap(t->buf, t->len);
	if (t->fd >= 0)
		close(t->fd);
	if (t->created)
		unlink(t->o->dax_file);
	free(t->blk);
	free(t->w);
}

/* Whether THP may back the anonymous buffer (the system's policy). */
static void print_thp(struct torture *t)
{
	char line[128] = "";
	FILE *f;

	if (t->kind != KIND_ANON)
		return;
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	line[strcspn(line, "\n")] = 0;
	printf("# %s: transparent_hugepage/enabled: %s\n", t->name,
	       line[0] ? line : "n/a");
}

/* Which migrators run: prints the others with the reason; returns count. */
static int pick_migrators(struct torture *t, unsigned int mask)
{
	const char *why;
	int i, on = 0;

	for (i = 0; i < MIG_NR; i++) {
		struct mig *m = &t->mig[i];

		m->id = i;
		m->t = t;
		m->fd = -1;
		m->seed = mix(t->o->seed + 1000 + i);
		if (!(mask & 1u << i))
			continue;
		why = migrators[i].unsupported(t, m);
		if (why) {
			printf("# SKIP %s: %s\n", migrators[i].name, why);
			continue;
		}
		m->on = true;
		on++;
	}
	return on;
}

static int start_threads(struct torture *t)
{
	unsigned int i;

	atomic_store(&t->stop, false);
	for (i = 0; i < t->o->threads; i++) {
		struct worker *w = &t->w[i];

		w->t = t;
		w->id = i;
		w->seed = mix(t->o->seed + i);
		w->phase = "starting";
		if (worker_setup(t, w)) {
			printf("# %s: worker %u setup: %s\n", t->name, i,
			       strerror(errno));
			return -1;
		}
	}
	for (i = 0; i < t->o->threads; i++) {
		if (pthread_create(&t->w[i].th, NULL, worker_main, &t->w[i]))
			return -1;
		t->w[i].started = true;
	}
	for (i = 0; i < MIG_NR; i++) {
		if (!t->mig[i].on)
			continue;
		if (pthread_create(&t->mig[i].th, NULL, mig_main, &t->mig[i]))
			return -1;
		t->mig[i].started = true;
	}
	return 0;
}

static bool join(pthread_t th, const struct timespec *deadline)
{
	return !pthread_timedjoin_np(th, NULL, deadline);
}

/* Stop and join every thread; a thread that does not return is a hang. */
static bool stop_threads(struct torture *t)
{
	struct timespec deadline;
	bool ok = true;
	unsigned int i;

	atomic_store(&t->stop, true);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += JOIN_GRACE_S;
	for (i = 0; i < t->o->threads; i++) {
		if (!t->w[i].started || join(t->w[i].th, &deadline))
			continue;
		printf("# %s: HANG: worker %u still %s (block %d) %d s after the end\n",
		       t->name, i, t->w[i].phase, t->w[i].phase_block,
		       JOIN_GRACE_S);
		ok = false;
	}
	for (i = 0; i < MIG_NR; i++) {
		if (!t->mig[i].started || join(t->mig[i].th, &deadline))
			continue;
		printf("# %s: HANG: migrator %s still in %s %d s after the end\n",
		       t->name, migrators[i].name, t->mig[i].phase,
		       JOIN_GRACE_S);
		ok = false;
	}
	for (i = 0; ok && i < MIG_NR; i++)
		t->mig[i].started = false;
	return ok;
}

static void stop_workers_resources(struct torture *t)
{
	unsigned int i;

	for (i = 0; i < t->o->threads; i++)
		worker_teardown(t, &t->w[i]);
}

/* Every block, by the CPU, once all threads stopped. */
static void final_sweep(struct torture *t)
{
	unsigned int b;

	for (b = 0; b < t->nblocks; b++)
		check_block(t, b, block_addr(t, b), "final sweep of the ODP buffer");
}

static unsigned long total_ops(struct torture *t)
{
	unsigned long n = 0;
	int i;

	for (i = 0; i < OP_NR; i++)
		n += get(&t->st.ops[i]);
	return n;
}

struct counters {
	long long faults, invals, prefetches, retries;
};

static void read_counters(struct torture *t, struct counters *c)
{
	c->faults = rdma_loop_counter(&t->lp, "odp_faults");
	c->invals = rdma_loop_counter(&t->lp, "odp_invalidations");
	c->prefetches = rdma_loop_counter(&t->lp, "odp_prefetches");
	c->retries = rdma_loop_counter(&t->lp, "odp_fault_retries");
}

static const char *delta(char *s, size_t n, long long before, long long after)
{
	if (before < 0 || after < 0)
		return "n/a";
	snprintf(s, n, "%lld", after - before);
	return s;
}

static void progress(struct torture *t, double elapsed)
{
	int i;

	printf("# %s: %3.0f s: %lu ops, %lu mismatches, %lu unexpected;",
	       t->name, elapsed, total_ops(t), get(&t->st.mismatches),
	       get(&t->st.unexpected));
	for (i = 0; i < MIG_NR; i++)
		if (t->mig[i].on)
			printf(" %s %lu", migrators[i].name,
			       get(&t->mig[i].rounds));
	printf("\n");
}

/* Traffic and migrators for @seconds; false on a hang (threads left). */
static bool run_for(struct torture *t, unsigned int seconds, bool verbose)
{
	double start = now_s(), next = start + PROGRESS_S;

	if (start_threads(t)) {
		inc(&t->st.unexpected, 1);
		printf("# %s: could not start the threads\n", t->name);
		seconds = 0;
	}
	while (now_s() < start + seconds) {
		usleep(200 * 1000);
		if (verbose && now_s() >= next) {
			progress(t, now_s() - start);
			next += PROGRESS_S;
		}
	}
	if (!stop_threads(t))
		return false;
	stop_workers_resources(t);
	return true;
}

static void print_ops(struct torture *t, double seconds)
{
	unsigned long ops = total_ops(t);
	double mib = get(&t->st.bytes) / 1048576.0;
	int i;

	printf("# ops %lu:", ops);
	for (i = 0; i < OP_NR; i++)
		printf(" %s %lu", op_name[i], get(&t->st.ops[i]));
	printf("\n# %.1f MiB in %.0f s: %.2f MiB/s, %.1f ops/s\n", mib,
	       seconds, mib / seconds, ops / seconds);
	printf("# read-only blocks: %lu reads, %lu writes refused as expected, %lu QP reconnects\n",
	       get(&t->st.ro_reads), get(&t->st.access_errs),
	       get(&t->st.reconnects));
}

static void print_counters(const struct counters *a, const struct counters *b)
{
	char s[4][32];

	printf("# faults %s, invalidations %s, prefetches %s, fault retries %s\n",
	       delta(s[0], 32, a->faults, b->faults),
	       delta(s[1], 32, a->invals, b->invals),
	       delta(s[2], 32, a->prefetches, b->prefetches),
	       delta(s[3], 32, a->retries, b->retries));
}

static unsigned long print_migrations(struct torture *t)
{
	unsigned long errors = 0;
	struct mig *m;
	int i;

	for (i = 0; i < MIG_NR; i++) {
		m = &t->mig[i];
		if (!m->on)
			continue;
		printf("# %s: %lu migrations (%lu %s), %lu attempts moved nothing, %lu errors\n",
		       migrators[i].name, get(&m->rounds), get(&m->pages),
		       migrators[i].pages, get(&m->busy), get(&m->errors));
		if (i == MIG_DAX)
			printf("# dax: %lu truncations, the rest hole punches\n",
			       get(&m->extra));
		errors += get(&m->errors);
		if (!get(&m->rounds)) {
			printf("# %s: FAILED: no migration at all: nothing was tested\n",
			       migrators[i].name);
			errors++;
		}
	}
	return errors;
}

static void mig_list(struct torture *t, char *s, size_t n)
{
	size_t used = 0;
	int i;

	s[0] = 0;
	for (i = 0; i < MIG_NR; i++)
		if (t->mig[i].on && used < n)
			used += snprintf(s + used, n - used, "%s%s",
					 used ? "," : "", migrators[i].name);
}

static int tap_num;
static int tap_pass, tap_fail, tap_skip;

static void tap_run(const char *name)
{
	printf("#  RUN           torture.%s ...\n", name);
}

static void tap_skip_line(const char *name, const char *why)
{
	printf("ok %d torture.%s # SKIP %s\n", ++tap_num, name, why);
	tap_skip++;
}

static void tap_result(bool ok, const char *name, const char *detail)
{
	printf("%sok %d torture.%s %s\n", ok ? "" : "not ", ++tap_num, name,
	       detail);
	ok ? tap_pass++ : tap_fail++;
}

/*
 * The run tested something: operations completed, and (when rxe has the
 * counters) the ODP MR faulted and was invalidated, so that a pinned MR
 * could not pass.
 */
static bool exercised(struct torture *t, const struct counters *a,
		      const struct counters *b)
{
	if (!total_ops(t)) {
		printf("# FAILED: no operation completed\n");
		return false;
	}
	if (a->faults >= 0 && b->faults <= a->faults) {
		printf("# FAILED: odp_faults did not move: the MR never faulted\n");
		return false;
	}
	if (a->invals >= 0 && b->invals <= a->invals) {
		printf("# FAILED: odp_invalidations did not move: no migration reached rxe\n");
		return false;
	}
	return true;
}

/* Summary of a torture configuration; true when it passed. */
static bool summarize(struct torture *t, const struct counters *a,
		      const struct counters *b)
{
	unsigned long errors;

	print_ops(t, t->o->seconds);
	print_counters(a, b);
	errors = print_migrations(t);
	if (get(&t->st.reports) > MAX_REPORTS)
		printf("# (%lu more problems not shown)\n",
		       get(&t->st.reports) - MAX_REPORTS);
	printf("# mismatches %lu, unexpected statuses %lu, migrator errors %lu\n",
	       get(&t->st.mismatches), get(&t->st.unexpected), errors);
	return !get(&t->st.mismatches) && !get(&t->st.unexpected) && !errors &&
	       exercised(t, a, b);
}

static void torture_config(const struct opts *o, enum kind kind)
{
	struct torture *t = calloc(1, sizeof(*t));
	const char *label = kind == KIND_DAX ? "dax" : "anon";
	struct counters a, b;
	char why[256], list[96];
	bool ok;

	tap_run(label);
	t->o = o;
	t->kind = kind;
	t->name = label;
	t->shared = kind == KIND_DAX;
	if (kind == KIND_DAX && !o->dax_file) {
		tap_skip_line(label, "no --dax-file PATH (a file on a -o dax mount)");
		free(t);
		return;
	}
	if (setup(t, why, sizeof(why))) {
		printf("# %s: %s\n", t->name, why);
		tap_result(false, t->name, "setup failed");
		teardown(t);
		free(t);
		return;
	}
	if (!pick_migrators(t, o->mask)) {
		tap_skip_line(t->name, "none of the migrators asked for applies");
		teardown(t);
		free(t);
		return;
	}
	mig_list(t, list, sizeof(list));
	print_thp(t);
	printf("# %s: migrators %s, %u threads x %u QP pairs, %zu KiB buffer, %zu-byte blocks, %u s\n",
	       t->name, list, o->threads, o->qps, t->len >> 10, t->block,
	       o->seconds);
	read_counters(t, &a);
	if (!run_for(t, o->seconds, true)) {
		tap_result(false, t->name, "hang");
		fflush(stdout);
		_exit(1);
	}
	final_sweep(t);
	read_counters(t, &b);
	ok = summarize(t, &a, &b);
	if (t->not_dax && strlen(list) + 24 < sizeof(list))
		strcat(list, " (shared file, not DAX)");
	tap_result(ok, t->name, list);
	teardown(t);
	free(t);
}

/* ---- bench ---- */

struct bench_row {
	double rate, achieved, mibs, opss;
	long long faults, invals;
};

/* The first migrator of the mask that applies to anonymous memory. */
static int bench_migrator(struct torture *t, unsigned int mask)
{
	int i, pick = -1;

	/* enum order: numa first */
	for (i = 0; i < MIG_NR && pick < 0; i++)
		if (mask & 1u << i && pick_migrators(t, 1u << i))
			pick = i;
	return pick;
}

static void reset_stats(struct torture *t, struct mig *m)
{
	memset(&t->st, 0, sizeof(t->st));
	atomic_store(&m->rounds, 0);
	atomic_store(&m->pages, 0);
	atomic_store(&m->busy, 0);
	atomic_store(&m->errors, 0);
}

/*
 * Fault the whole buffer in with RDMA READs (checked), so that the rate 0
 * row does not pay for the first touch.
 */
static int warm_up(struct torture *t)
{
	char *local = malloc(t->block);
	struct ibv_mr *lmr = local ?
		rdma_loop_reg(&t->lp, local, t->block, 0) : NULL;
	unsigned int b;
	int st = -1;

	for (b = 0; lmr && b < t->nblocks; b++) {
		st = rdma_loop_read(&t->lp, lmr, local, t->mr,
				    block_addr(t, b), t->block);
		if (st)
			break;
		check_block(t, b, local, "warm-up RDMA READ");
	}
	if (st)
		printf("# bench: warm-up READ of block %u: status %d\n", b, st);
	if (lmr)
		ibv_dereg_mr(lmr);
	free(local);
	return st;
}

static bool bench_rate(struct torture *t, struct mig *m, double rate,
		       struct bench_row *row)
{
	unsigned int s = t->o->seconds;
	struct counters a, b;

	reset_stats(t, m);
	snprintf(t->label, sizeof(t->label), "bench@%g/s", rate);
	t->name = t->label;
	m->rate = rate;
	m->on = rate > 0;
	read_counters(t, &a);
	if (!run_for(t, s, false))
		return false;
	read_counters(t, &b);
	row->rate = rate;
	row->achieved = get(&m->rounds) / (double)s;
	row->mibs = get(&t->st.bytes) / 1048576.0 / s;
	row->opss = total_ops(t) / (double)s;
	row->faults = a.faults < 0 ? -1 : b.faults - a.faults;
	row->invals = a.invals < 0 ? -1 : b.invals - a.invals;
	return true;
}

static void bench_print(const struct bench_row *r, int n)
{
	double base = 0;
	int i;

	for (i = 0; i < n; i++)
		if (r[i].rate == 0)
			base = r[i].mibs;
	printf("#  %8s %11s %9s %9s %6s %9s %13s\n", "rate/s", "achieved/s",
	       "MiB/s", "ops/s", "ratio", "faults", "invalidations");
	for (i = 0; i < n; i++) {
		printf("#  %8.0f %11.1f %9.2f %9.1f ", r[i].rate,
		       r[i].achieved, r[i].mibs, r[i].opss);
		if (base > 0)
			printf("%6.3f", r[i].mibs / base);
		else
			printf("%6s", "n/a");
		printf(" %9lld %13lld\n", r[i].faults, r[i].invals);
	}
}

static int parse_rates(const char *list, struct bench_row *rows, int max)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save))
		rows[n++].rate = strtod(tok, NULL);
	free(copy);
	return n;
}

static void bench(const struct opts *o)
{
	struct torture *t = calloc(1, sizeof(*t));
	struct bench_row rows[16];
	unsigned long bad;
	char why[256];
	int id, i, n = parse_rates(o->rates, rows, 16);

	tap_run("bench");
	t->o = o;
	t->kind = KIND_ANON;
	t->name = "bench";
	t->run_pages = 1;
	t->small_pages = true;
	if (setup(t, why, sizeof(why))) {
		printf("# bench: %s\n", why);
		tap_result(false, "bench", "setup failed");
		goto out;
	}
	id = bench_migrator(t, o->mask);
	if (id < 0) {
		tap_skip_line("bench", "no migrator of -m applies here");
		goto out;
	}
	printf("# bench: migrator %s, one %s per migration, %u threads x %u QP pairs, %u s per rate\n",
	       migrators[id].name, id == MIG_NUMA || id == MIG_HMM ?
	       "page" : "block", o->threads, o->qps, o->seconds);
	if (warm_up(t)) {
		tap_result(false, "bench", "warm-up failed");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!bench_rate(t, &t->mig[id], rows[i].rate, &rows[i])) {
			tap_result(false, "bench", "hang");
			fflush(stdout);
			_exit(1);
		}
		bad = get(&t->st.mismatches) + get(&t->st.unexpected) +
		      get(&t->mig[id].errors);
		if (bad)
			break;
	}
	final_sweep(t);
	bench_print(rows, i < n ? i + 1 : n);
	bad = get(&t->st.mismatches) + get(&t->st.unexpected) +
	      get(&t->mig[id].errors);
	if (bad)
		printf("# mismatches %lu, unexpected statuses %lu, migrator errors %lu\n",
		       get(&t->st.mismatches), get(&t->st.unexpected),
		       get(&t->mig[id].errors));
	tap_result(!bad, "bench", migrators[id].name);
out:
	teardown(t);
	free(t);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: odp_torture [-h] [-b] [-d SECONDS] [-q QP_PAIRS] [-t THREADS]\n"
		"                   [-s BUF_SIZE] [-B BLOCK_BYTES] [-m MIGRATORS] [-p PAUSE_US]\n"
		"                   [-r RATES] [-S SEED] [--dax-file PATH]\n"
		"  -d SECONDS       run time per configuration, or per rate with -b (default 20)\n"
		"  -q QP_PAIRS      QP pairs per worker thread, one operation in flight each (2)\n"
		"  -t THREADS       worker threads (2)\n"
		"  -s BUF_SIZE      ODP buffer size, bytes or with K/M/G (8M)\n"
		"  -B BLOCK_BYTES   checked block, a multiple of the page size (16384)\n"
		"  -m MIGRATORS     comma list of numa,dontneed,mprotect,fork,hmm,dax,swap,\n"
		"                   collapse or all\n"
		"                   (default all: each one that does not apply is skipped)\n"
		"  -p PAUSE_US      pause between two migrations of a migrator (1000)\n"
		"  -b, --bench      bandwidth under 0,10,100,1000 migrations/s of one page\n"
		"                   by the first migrator of -m that applies (default numa)\n"
		"  -r RATES         comma list of migration rates for -b\n"
		"  -S SEED          random seed (default: from the time)\n"
		"  --dax-file PATH  a file on a -o dax mount: runs the dax configuration\n"
		"  -h, --help       this text\n");
}

static int parse_migrators(const char *list, unsigned int *mask)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int i, ret = 0;

	*mask = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			*mask = (1u << MIG_NR) - 1;
			continue;
		}
		for (i = 0; i < MIG_NR; i++)
			if (!strcmp(tok, migrators[i].name))
				break;
		if (i == MIG_NR) {
			fprintf(stderr, "odp_torture: unknown migrator '%s'\n",
				tok);
			ret = -1;
		}
		*mask |= 1u << i;
	}
	free(copy);
	return ret || !*mask ? -1 : 0;
}

static size_t parse_size(const char *s)
{
	char *end;
	size_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g':
		v <<= 10;
		/* fall through */
	case 'M': case 'm':
		v <<= 10;
		/* fall through */
	case 'K': case 'k':
		v <<= 10;
	}
	return v;
}

static int check_opts(const struct opts *o)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!o->qps || !o->threads || !o->seconds) {
		fprintf(stderr, "odp_torture: -q, -t and -d must be positive\n");
		return -1;
	}
	if (!o->block || o->block % page || o->len % o->block ||
	    o->len / o->block < 4 * MAX_RUN_BLOCKS ||
	    o->len / page < MAX_RUN_PAGES) {
		fprintf(stderr, "odp_torture: -B must be a multiple of %ld dividing -s, with at least %d blocks\n",
			page, 4 * MAX_RUN_BLOCKS);
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "bench", no_argument, NULL, 'b' },
		{ "dax-file", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "bd:q:t:s:B:m:p:r:S:h", longs,
				NULL)) != -1) {
		switch (c) {
		case 'b': o->bench = true; break;
		case 'd': o->seconds = strtoul(optarg, NULL, 0); break;
		case 'q': o->qps = strtoul(optarg, NULL, 0); break;
		case 't': o->threads = strtoul(optarg, NULL, 0); break;
		case 's': o->len = parse_size(optarg); break;
		case 'B': o->block = parse_size(optarg); break;
		case 'm':
			if (parse_migrators(optarg, &o->mask))
				return -1;
			break;
		case 'p': o->pause_us = strtoul(optarg, NULL, 0); break;
		case 'r': o->rates = optarg; break;
		case 'S': o->seed = strtoull(optarg, NULL, 0); break;
		case 'D': o->dax_file = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc)
		return -1;
	return check_opts(o);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.qps = 2, .threads = 2, .seconds = 20, .len = 8 << 20,
		.block = 16384, .mask = (1u << MIG_NR) - 1, .pause_us = 1000,
		.rates = "0,10,100,1000", .seed = time(NULL),
	};

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%d\n", o.bench ? 1 : 2);
	printf("# odp_torture: seed %llu (-S to repeat)\n",
	       (unsigned long long)o.seed);
	if (o.bench) {
		bench(&o);
	} else {
		torture_config(&o, KIND_ANON);
		torture_config(&o, KIND_DAX);
	}
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       tap_pass, tap_fail, tap_skip);
	return tap_fail ? 1 : 0;
}
