// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_invalidate   (ODP_ONLY=<substring> runs only the matching tests,
 *                          ODP_DEBUG=1 reports pages move_pages() left behind)
 *
 * RDMA on On-Demand Paging MRs while the kernel takes the pages away:
 * munmap + mmap, MADV_DONTNEED, mremap, mprotect, fork + COW, NUMA
 * migration with move_pages(), THP split and collapse, swap-out
 * (MADV_PAGEOUT) and a memory cgroup's limit, KSM merging, userfaultfd,
 * and a storm of invalidations racing with RDMA WRITE/READ/atomics; and
 * teardown while faults are in flight (MR dereg, QP destroy, process
 * exit). Every case checks the data, or the exact completion status, and that faults/invalidations really happened
 * (rxe's odp_faults / odp_invalidations port counters), so a pinned MR
 * cannot pass by accident.
 *
 * Built against tools/testing/selftests/kselftest_harness.h from the
 * linux-source-6.1 tree; run inside a bench guest (rxe0 on lo).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "clock.h"
#include "fsfile.h"
#include "kselftest_harness.h"
#include "meminfo.h"
#include "pattern.h"
#include "rdma_loop.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define BUF_LEN		(4UL << 20)
#define HUGE_LEN	(2UL << 20)
#define XFER		(64 * 1024)
/*
 * Pause between two invalidation rounds of invalidation_storm, which
 * checks that every access succeeds. Without one, a whole-buffer
 * MADV_DONTNEED in a tight loop under QEMU TCG invalidates the range again
 * before a fault on it completes, and rxe gives up after its bounded
 * retries: storm_without_pause checks that case.
 */
#define STORM_PAUSE_US	2000

enum mem_kind { MEM_ANON, MEM_SHMEM, MEM_THP, MEM_HUGETLB };

/*
 * Skip from FIXTURE_SETUP. The 6.1 harness runs the test body after a
 * setup that called SKIP(); jump back to the wrapper's setjmp() instead, so
 * that neither the body nor the teardown of a skipped test runs.
 */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(odp) {
	struct rdma_loop lp;
	char *buf;		/* memory of the ODP MR, moved around by tests */
	struct ibv_mr *mr;
	char *local;		/* pinned source/sink of the transfers */
	struct ibv_mr *lmr;
	int memfd;
	long page;
};

FIXTURE_VARIANT(odp) {
	enum mem_kind kind;
};

FIXTURE_VARIANT_ADD(odp, anon) { .kind = MEM_ANON };
FIXTURE_VARIANT_ADD(odp, shmem) { .kind = MEM_SHMEM };
FIXTURE_VARIANT_ADD(odp, thp) { .kind = MEM_THP };
FIXTURE_VARIANT_ADD(odp, hugetlb) { .kind = MEM_HUGETLB };

/* Map the buffer of @kind at @at (MAP_FIXED) or anywhere (NULL). */
static char *map_kind(enum mem_kind kind, int memfd, void *at)
{
	int fixed = at ? MAP_FIXED : 0;
	char *p;

	switch (kind) {
	case MEM_SHMEM:
		return mmap(at, BUF_LEN, PROT_READ | PROT_WRITE,
			    MAP_SHARED | fixed, memfd, 0);
	case MEM_HUGETLB:
		return mmap(at, BUF_LEN, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | fixed,
			    -1, 0);
	case MEM_THP:
		if (!at) {
			/* reserve extra to place the buffer on a 2 MiB boundary */
			p = mmap(NULL, BUF_LEN + HUGE_LEN, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				return p;
			at = (void *)(((uintptr_t)p + HUGE_LEN - 1) & ~(HUGE_LEN - 1));
		}
		p = mmap(at, BUF_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != MAP_FAILED)
			madvise(p, BUF_LEN, MADV_HUGEPAGE);
		return p;
	default:
		/* 4 KiB pages only: THP has a variant of its own */
		p = mmap(at, BUF_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | fixed, -1, 0);
		if (p != MAP_FAILED)
			madvise(p, BUF_LEN, MADV_NOHUGEPAGE);
		return p;
	}
}

FIXTURE_SETUP(odp)
{
	int access = variant->kind == MEM_HUGETLB ? IBV_ACCESS_HUGETLB : 0;

	static const char * const kinds[] = { "anon", "shmem", "thp", "hugetlb" };
	const char *only = getenv("ODP_ONLY");
	char name[128];

	snprintf(name, sizeof(name), "%s.%s", kinds[variant->kind], _metadata->name);
	if (only && !strstr(name, only))
		SKIP_SETUP("not selected by ODP_ONLY=%s", only);
	self->page = sysconf(_SC_PAGESIZE);
	self->memfd = -1;
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("open rxe device: %s", strerror(errno));
	if (variant->kind == MEM_SHMEM) {
		self->memfd = memfd_create("odp", 0);
		ASSERT_EQ(0, ftruncate(self->memfd, BUF_LEN));
	}
	self->buf = map_kind(variant->kind, self->memfd, NULL);
	if (self->buf == MAP_FAILED && variant->kind == MEM_HUGETLB)
		SKIP_SETUP("no 2 MiB hugepages reserved");
	ASSERT_NE(MAP_FAILED, self->buf);
	self->mr = rdma_loop_reg(&self->lp, self->buf, BUF_LEN,
				 IBV_ACCESS_ON_DEMAND | access);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP ibv_reg_mr: %s", strerror(errno));

	self->local = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->local);
	self->lmr = rdma_loop_reg(&self->lp, self->local, BUF_LEN, 0);
	ASSERT_NE(NULL, self->lmr);
}

FIXTURE_TEARDOWN(odp)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
}

static long long counter(struct _test_data_odp *self, const char *name)
{
	return rdma_loop_counter(&self->lp, name);
}

/* RDMA WRITE pattern @seed over the whole ODP buffer from the pinned one. */
static int write_all(struct _test_data_odp *self, uint64_t seed)
{
	return rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
				       self->mr, self->buf, 0, BUF_LEN, XFER, seed);
}

/* RDMA READ the whole ODP buffer into the pinned one. */
static int read_all(struct _test_data_odp *self)
{
	return rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				   self->buf, 0, BUF_LEN, XFER);
}

/*
 * What the CPU and RDMA see at [off, off + len) of the ODP buffer is the
 * same memory, both ways: the CPU writes @seed's pattern and an RDMA READ
 * returns it, then an RDMA WRITE of the next seed's pattern is what the
 * CPU reads. An MR that kept a page the process no longer has (freed,
 * and zeroed with init_on_free=1) fails it; comparing RDMA with RDMA
 * cannot see that. Returns the offset of the first wrong word or -1 (-2
 * if an RDMA operation failed).
 */
static long cpu_rdma_mismatch(struct _test_data_odp *self, size_t off,
			      size_t len, uint64_t seed)
{
	uint32_t msg = len < XFER ? len : XFER;
	long bad;

	pattern_fill(self->buf + off, off, len, seed);
	if (rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				self->buf, off, len, msg) != IBV_WC_SUCCESS)
		return -2;
	bad = pattern_bad(self->local + off, off, len, seed);
	if (bad != -1)
		return bad;
	if (rdma_loop_write_pattern(&self->lp, self->lmr, self->local, self->mr,
				    self->buf, off, len, msg,
				    seed + 1) != IBV_WC_SUCCESS)
		return -2;
	return pattern_bad(self->buf + off, off, len, seed + 1);
}

/* First touch of every page is an RDMA WRITE; data lands and reads back. */
TEST_F(odp, first_touch_write_read)
{
	long long faults = counter(self, "odp_faults");

	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 1));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 1));
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 1));
	ASSERT_LT(faults, counter(self, "odp_faults"));
}

/* SEND gathered from the ODP MR, and received into it. */
TEST_F(odp, send_recv)
{
	pattern_fill(self->buf, 0, XFER, 2);
	memset(self->local, 0, XFER);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_send(&self->lp, self->mr, self->buf,
						 self->lmr, self->local, XFER));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, XFER, 2));

	pattern_fill(self->local, 0, XFER, 3);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_send(&self->lp, self->lmr, self->local, self->mr,
				 self->buf + BUF_LEN - XFER, XFER));
	ASSERT_EQ(-1, pattern_bad(self->buf + BUF_LEN - XFER, 0, XFER, 3));
}

/* The kernel drops the pages; RDMA sees what the CPU sees afterwards. */
TEST_F(odp, madv_dontneed)
{
	long long inval;

	if (variant->kind == MEM_HUGETLB)
		SKIP(return, "MADV_DONTNEED of private hugetlb is covered by anon");
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 4));
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(0, madvise(self->buf, BUF_LEN, MADV_DONTNEED));
	ASSERT_LT(inval, counter(self, "odp_invalidations"));

	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	if (variant->kind == MEM_SHMEM) {
		/* the page cache kept the data */
		ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 4));
	} else {
		/* private memory: fresh zero pages */
		ASSERT_EQ(-1, pattern_nonzero(self->local, 0, BUF_LEN));
	}

	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 5));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 5));
}

/* munmap and a new mapping at the same address: RDMA follows the new pages. */
TEST_F(odp, munmap_then_mmap_same_address)
{
	char *again;

	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 6));
	ASSERT_EQ(0, munmap(self->buf, BUF_LEN));
	if (self->memfd >= 0) {
		close(self->memfd);
		self->memfd = memfd_create("odp2", 0);
		ASSERT_EQ(0, ftruncate(self->memfd, BUF_LEN));
	}
	again = map_kind(variant->kind, self->memfd, self->buf);
	ASSERT_EQ(self->buf, again);
	ASSERT_EQ(-1, pattern_nonzero(self->buf, 0, BUF_LEN));

	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 7));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 7));
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 7));
}

/* No VMA behind the MR: exact error statuses, and nothing else breaks. */
TEST_F(odp, unmapped_range_errors)
{
	ASSERT_EQ(0, munmap(self->buf, BUF_LEN));

	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
				  self->buf, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_read(&self->lp, self->lmr, self->local, self->mr,
				 self->buf, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	/* the ODP MR as the local source of a WRITE */
	ASSERT_EQ(IBV_WC_LOC_PROT_ERR,
		  rdma_loop_write(&self->lp, self->mr, self->buf, self->lmr,
				  self->local, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	/* the device still works on mapped memory */
	pattern_fill(self->local, 0, XFER, 8);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->lmr,
				  self->local + XFER, XFER));
	ASSERT_EQ(-1, pattern_bad(self->local + XFER, 0, XFER, 8));
	self->buf = NULL;
}

/*
 * One READ over the whole buffer whose second half has no VMA: the reply
 * fails part way, after many response packets were sent. The requester
 * must get the remote access error (not a retry-exceeded error after the
 * transport retries), and the first half of the data.
 */
TEST_F(odp, read_reply_fails_part_way)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->local, .length = BUF_LEN,
		.lkey = self->lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_READ,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)self->buf,
			     .rkey = self->mr->rkey },
	};

	/*
	 * Splitting a hugetlb VMA warns in this 6.1 kernel's own
	 * hugetlb_split() (i_mmap_assert_write_locked), whoever maps it.
	 */
	if (variant->kind == MEM_HUGETLB)
		SKIP(return, "munmap of half a hugetlb VMA warns in 6.1 hugetlb_split()");
	pattern_fill(self->buf, 0, BUF_LEN / 2, 9);
	ASSERT_EQ(0, munmap(self->buf + BUF_LEN / 2, BUF_LEN / 2));
	memset(self->local, 0, BUF_LEN);
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, rdma_loop_post_wait(&self->lp, &wr));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	/* the reply reached the requester up to the missing half */
	ASSERT_EQ(-1, pattern_bad(self->local, 0, XFER, 9));
	ASSERT_EQ(0, munmap(self->buf, BUF_LEN / 2));
	self->buf = NULL;
}

/* Read-only VMA: remote writes fail, reads work; writable again: writes work. */
TEST_F(odp, mprotect_read_only)
{
	uint64_t *target = (uint64_t *)self->buf;
	uint64_t *result = (uint64_t *)self->local;

	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 9));
	ASSERT_EQ(0, mprotect(self->buf, BUF_LEN, PROT_READ));

	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
				  self->buf, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_fetch_add(&self->lp, self->lmr, result, self->mr,
				      target, 1));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 9));
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 9));

	ASSERT_EQ(0, mprotect(self->buf, BUF_LEN, PROT_READ | PROT_WRITE));
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 10));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 10));
}

/* mremap moves the pages away: the old range errors, the data moved. */
TEST_F(odp, mremap_away)
{
	char *moved;

	if (variant->kind == MEM_HUGETLB)
		SKIP(return, "covered by the other kinds");
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 11));
	/* a destination that is free and 2 MiB aligned, for THP too */
	moved = map_kind(MEM_THP, -1, NULL);
	ASSERT_NE(MAP_FAILED, moved);
	moved = mremap(self->buf, BUF_LEN, BUF_LEN,
		       MREMAP_MAYMOVE | MREMAP_FIXED, moved);
	ASSERT_NE(MAP_FAILED, moved);
	ASSERT_EQ(-1, pattern_bad(moved, 0, BUF_LEN, 11));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
				  self->buf, XFER));
	ASSERT_EQ(-1, pattern_bad(moved, 0, BUF_LEN, 11));
	munmap(moved, BUF_LEN);
	self->buf = NULL;
}

/* fork + COW: an RDMA WRITE into the parent breaks COW in the parent only. */
TEST_F(odp, fork_cow)
{
	int go[2], done[2];
	char verdict = 0;
	pid_t child;
	int status;

	if (variant->kind == MEM_SHMEM)
		SKIP(return, "shared memory has no COW");
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 12));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		char c;

		if (read(go[0], &c, 1) != 1)
			_exit(2);
		c = pattern_bad(self->buf, 0, BUF_LEN, 12) == -1 ? 'y' : 'n';
		_exit(write(done[1], &c, 1) == 1 ? 0 : 3);
	}
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 13));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 13));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(1, read(done[0], &verdict, 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ('y', verdict) TH_LOG("the child saw the parent's RDMA WRITE");
}

/* How many pages of the buffer are on @node now. */
static unsigned long on_node(char *buf, long page, int node)
{
	unsigned long n = BUF_LEN / page, i, count = 0;
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));

	for (i = 0; i < n; i++)
		pages[i] = buf + i * page;
	if (!move_pages(0, n, pages, NULL, status, 0))
		for (i = 0; i < n; i++)
			count += status[i] == node;
	free(pages);
	free(status);
	return count;
}

/* Move every page of the buffer to @node; returns how many are there. */
static unsigned long move_all(char *buf, long page, int node)
{
	unsigned long n = BUF_LEN / page, i;
	void **pages = calloc(n, sizeof(*pages));
	int *nodes = calloc(n, sizeof(*nodes));
	int *status = calloc(n, sizeof(*status));
	unsigned long moved = 0;
	int attempt;

	for (i = 0; i < n; i++) {
		pages[i] = buf + i * page;
		nodes[i] = node;
	}
	/*
	 * A positive return counts pages that could not move this time (a
	 * page briefly busy elsewhere); try again a few times. Pinned pages
	 * never move.
	 */
	for (attempt = 0; attempt < 5 && moved < n; attempt++) {
		moved = 0;
		if (move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE) < 0)
			break;
		for (i = 0; i < n; i++)
			moved += status[i] == node;
	}
	if (getenv("ODP_DEBUG") && moved < n) {
		for (i = 0; i < n && status[i] == node; i++)
			;
		fprintf(stderr, "# move_pages to %d: %lu of %lu, status[%lu] = %d\n",
			node, moved, n, i, status[i]);
	}
	free(pages);
	free(nodes);
	free(status);
	return moved;
}

/* AnonHugePages of the mapping that holds @addr, in KiB, or -1. */
static long anon_huge_kb(const void *addr)
{
	unsigned long start, end;
	bool in_vma = false;
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in_vma = (uintptr_t)addr >= start && (uintptr_t)addr < end;
		else if (in_vma && !strncmp(line, "AnonHugePages:", 14))
			kb = atol(line + 14);
	}
	fclose(f);
	return kb;
}

/*
 * NUMA migration: the pages of the ODP MR move (ODP does not pin) and the
 * data follows them, while those of the pinned MR stay where they are.
 * Huge pages move whole: a THP stays a THP (the MR maps it with 4 KiB
 * entries, all invalidated at once), hugetlb pages come from the other
 * node's pool.
 */
/* migrating THPs takes a while on the KASAN kernel under TCG */
TEST_F_TIMEOUT(odp, numa_move_pages, 120)
{
	unsigned long pages = BUF_LEN / self->page, before;
	long long inval;
	int other;

	if (numa_available() < 0 || numa_num_configured_nodes() < 2)
		SKIP(return, "needs 2 NUMA nodes");
	/* the pinned buffer: nothing moves to the other node */
	other = !on_node(self->local, self->page, 0);
	before = on_node(self->local, self->page, other);
	move_all(self->local, self->page, other);
	ASSERT_EQ(before, on_node(self->local, self->page, other));

	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 14));
	if (variant->kind == MEM_THP)
		ASSERT_EQ(BUF_LEN >> 10, anon_huge_kb(self->buf))
			TH_LOG("the buffer is not backed by THPs");
	ASSERT_EQ(pages, move_all(self->buf, self->page, 0));
	/* map every page in the MR again, so that the next move unmaps them */
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 14));
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(pages, move_all(self->buf, self->page, 1));
	ASSERT_LT(inval, counter(self, "odp_invalidations"));
	if (variant->kind == MEM_THP)
		ASSERT_EQ(BUF_LEN >> 10, anon_huge_kb(self->buf))
			TH_LOG("a THP was split on the way");

	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 14));
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 15));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 15));
}

/* Splitting a THP under the MR keeps the data and the MR working. */
TEST_F(odp, thp_split)
{
	char *mid;

	if (variant->kind != MEM_THP)
		SKIP(return, "THP only");
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 16));
	/* changing the protection of one 4 KiB page splits its PMD */
	mid = self->buf + HUGE_LEN / 2;
	ASSERT_EQ(0, mprotect(mid, self->page, PROT_READ));
	ASSERT_EQ(0, mprotect(mid, self->page, PROT_READ | PROT_WRITE));
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 16));
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 17));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 17));
}

/*
 * THP collapse: 4 KiB pages that RDMA faulted in (and the MR maps) are
 * copied into one new huge page and the old ones freed, which is what
 * khugepaged does in the background and MADV_COLLAPSE does at once (same
 * path, collapse_huge_page()). The MR follows the data to the huge page.
 */
TEST_F(odp, thp_collapse)
{
	long long inval;
	int ret;

	if (variant->kind != MEM_THP)
		SKIP(return, "THP only: a 2 MiB aligned buffer");
	ASSERT_EQ(0, madvise(self->buf, BUF_LEN, MADV_NOHUGEPAGE));
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 42));
	ASSERT_EQ(0, anon_huge_kb(self->buf)) TH_LOG("small pages expected first");
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(0, madvise(self->buf, BUF_LEN, MADV_HUGEPAGE));
	/* 6.1 has MADV_COLLAPSE: EINVAL is a range it found uncollapsible */
	ret = madvise(self->buf, BUF_LEN, MADV_COLLAPSE);
	ASSERT_EQ(0, ret) TH_LOG("MADV_COLLAPSE: %s", strerror(errno));
	ASSERT_EQ(BUF_LEN >> 10, anon_huge_kb(self->buf))
		TH_LOG("the buffer was not collapsed into THPs");
	ASSERT_LT(inval, counter(self, "odp_invalidations"));

	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 42));
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 43));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 43));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, 0, BUF_LEN, 44));
}

/* Post @n RDMA WRITEs into the ODP buffer without waiting for them. */
static int post_writes(struct _test_data_odp *self, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)self->local + i * XFER,
			.length = XFER, .lkey = self->lmr->lkey,
		};
		struct ibv_send_wr wr = {
			.wr_id = i, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.wr.rdma = {
				.remote_addr = (uintptr_t)self->buf + i * XFER,
				.rkey = self->mr->rkey,
			},
		}, *bad;

		if (ibv_post_send(self->lp.qp[0], &wr, &bad))
			return -1;
	}
	return 0;
}

/* The device keeps working: a WRITE into the ODP buffer lands. */
static int still_works(struct _test_data_odp *self)
{
	pattern_fill(self->local, 0, XFER, 99);
	if (rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
			    self->buf, XFER))
		return 0;
	return pattern_bad(self->buf, 0, XFER, 99) == -1;
}

/* Deregistering the MR while its first faults are in flight. */
TEST_F(odp, dereg_with_faults_in_flight)
{
	int n = 12, done = 0, bad = 0;
	/* every WRITE completes, with an error at the latest when retries run out */
	double deadline = now_s() + 20;
	struct ibv_wc wc;

	if (variant->kind != MEM_ANON)
		SKIP(return, "anon only");
	ASSERT_EQ(0, post_writes(self, n));
	ASSERT_EQ(0, ibv_dereg_mr(self->mr));
	self->mr = NULL;
	while (done < n && now_s() < deadline) {
		if (ibv_poll_cq(self->lp.cq[0], 1, &wc) != 1)
			continue;
		done++;
		bad += wc.status != IBV_WC_SUCCESS &&
		       wc.status != IBV_WC_REM_ACCESS_ERR &&
		       wc.status != IBV_WC_WR_FLUSH_ERR;
	}
	ASSERT_EQ(n, done);
	ASSERT_EQ(0, bad);
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	self->mr = rdma_loop_reg(&self->lp, self->buf, BUF_LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr);
	ASSERT_TRUE(still_works(self));
}

/* Destroying the QPs while faults are in flight. */
TEST_F(odp, destroy_qp_with_faults_in_flight)
{
	if (variant->kind != MEM_ANON)
		SKIP(return, "anon only");
	ASSERT_EQ(0, post_writes(self, 12));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_TRUE(still_works(self));
}

/* A process that exits in the middle of ODP traffic: the kernel cleans up. */
TEST_F(odp, exit_mid_traffic)
{
	pid_t child;
	int status;

	if (variant->kind != MEM_ANON)
		SKIP(return, "anon only");
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		struct _test_data_odp mine = { 0 };

		if (rdma_loop_open(&mine.lp))
			_exit(2);
		mine.buf = map_kind(MEM_ANON, -1, NULL);
		mine.local = self->local;
		mine.mr = rdma_loop_reg(&mine.lp, mine.buf, BUF_LEN,
					IBV_ACCESS_ON_DEMAND);
		mine.lmr = rdma_loop_reg(&mine.lp, mine.local, BUF_LEN, 0);
		if (!mine.mr || !mine.lmr || post_writes(&mine, 12))
			_exit(3);
		_exit(0);	/* no cleanup: the kernel does it */
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(still_works(self));
}

struct storm {
	char *buf;
	long page;
	enum mem_kind kind;
	useconds_t pause;	/* between two rounds */
	atomic_bool stop;
	atomic_long rounds;
};

/* Invalidate the buffer over and over without losing its contents. */
static void *storm_thread(void *arg)
{
	struct storm *s = arg;
	int node = 0;

	while (!atomic_load(&s->stop)) {
		if (s->kind == MEM_SHMEM)
			madvise(s->buf, BUF_LEN, MADV_DONTNEED);
		else
			move_all(s->buf, s->page, node ^= 1);
		atomic_fetch_add(&s->rounds, 1);
		if (s->pause)
			usleep(s->pause);
	}
	return NULL;
}

/* WRITE/READ/FETCH_ADD in a loop while another thread invalidates. */
TEST_F_TIMEOUT(odp, invalidation_storm, 300)
{
	struct storm s = { .buf = self->buf, .page = self->page,
			   .kind = variant->kind, .pause = STORM_PAUSE_US };
	uint64_t *counter_word = (uint64_t *)(self->buf + BUF_LEN - 8);
	uint64_t *result = (uint64_t *)(self->local + BUF_LEN - 8);
	long long inval = counter(self, "odp_invalidations");
	long mismatches = 0;
	pthread_t thread;
	int i, adds = 0;

	if (variant->kind != MEM_SHMEM &&
	    (variant->kind != MEM_ANON || numa_available() < 0 ||
	     numa_num_configured_nodes() < 2))
		SKIP(return, "storm runs on shmem (DONTNEED) and anon (2 NUMA nodes)");
	*counter_word = 0;
	ASSERT_EQ(0, pthread_create(&thread, NULL, storm_thread, &s));
	for (i = 0; i < 200; i++) {
		size_t off = (i * XFER) % (BUF_LEN - XFER);

		pattern_fill(self->local, 0, XFER, 100 + i);
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_write(&self->lp, self->lmr, self->local,
					  self->mr, self->buf + off, XFER));
		memset(self->local + XFER, 0, XFER);
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_read(&self->lp, self->lmr, self->local + XFER,
					 self->mr, self->buf + off, XFER));
		mismatches += pattern_bad(self->local + XFER, 0, XFER, 100 + i) != -1;
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_fetch_add(&self->lp, self->lmr, result,
					      self->mr, counter_word, 1));
		mismatches += *result != (uint64_t)adds++;
	}
	atomic_store(&s.stop, true);
	pthread_join(thread, NULL);
	TH_LOG("%ld invalidation rounds, %lld invalidations", atomic_load(&s.rounds),
	       counter(self, "odp_invalidations") - inval);
	ASSERT_EQ(0, mismatches);
	ASSERT_EQ((uint64_t)adds, *counter_word);
	ASSERT_LT(inval, counter(self, "odp_invalidations"));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, 0, BUF_LEN, 400));
}

/*
 * The bounded outcome of an access whose faults invalidations keep
 * overtaking. The responder holds the packet while it faults: a fault
 * that gives up (its 10 s budget) answers with a remote access error, but
 * rdma_loop's requester retransmits only 6 times at ~1 s, so it usually
 * reports retry exceeded first.
 */
static bool gave_up(int st)
{
	return st == IBV_WC_REM_ACCESS_ERR || st == IBV_WC_RETRY_EXC_ERR;
}

/*
 * Invalidations with no pause at all can overtake every fault of a range.
 * rxe retries a fault for a bounded time only: each access then either
 * completes with the right data or fails (a remote access error, or the
 * requester's retries exceeded), and the QP never stalls (the harness
 * timeout would catch a hang).
 */
TEST_F_TIMEOUT(odp, storm_without_pause, 300)
{
	struct storm s = { .buf = self->buf, .page = self->page,
			   .kind = variant->kind };
	long long retries = counter(self, "odp_fault_retries");
	int i, st, errors = 0, ok = 0;
	long mismatches = 0;
	pthread_t thread;

	if (variant->kind != MEM_SHMEM)
		SKIP(return, "runs on shmem: DONTNEED keeps its contents");
	ASSERT_EQ(0, pthread_create(&thread, NULL, storm_thread, &s));
	for (i = 0; i < 40; i++) {
		size_t off = (i * XFER) % (BUF_LEN - XFER);

		pattern_fill(self->local, 0, XFER, 300 + i);
		st = rdma_loop_write(&self->lp, self->lmr, self->local,
				     self->mr, self->buf + off, XFER);
		if (st == IBV_WC_SUCCESS) {
			memset(self->local + XFER, 0, XFER);
			st = rdma_loop_read(&self->lp, self->lmr,
					    self->local + XFER, self->mr,
					    self->buf + off, XFER);
		}
		if (gave_up(st)) {
			errors++;
			ASSERT_EQ(0, rdma_loop_connect(&self->lp));
			continue;
		}
		ASSERT_EQ(IBV_WC_SUCCESS, st) TH_LOG("status %s", ibv_wc_status_str(st));
		ok++;
		mismatches += pattern_bad(self->local + XFER, 0, XFER, 300 + i) != -1;
	}
	atomic_store(&s.stop, true);
	pthread_join(thread, NULL);
	TH_LOG("%d WRITE+READ pairs complete, %d gave up, %lld fault retries, %ld rounds",
	       ok, errors, counter(self, "odp_fault_retries") - retries,
	       atomic_load(&s.rounds));
	ASSERT_EQ(0, mismatches);
	/* bounded retries must not mean no progress */
	ASSERT_LT(0, ok);
	ASSERT_LT(retries, counter(self, "odp_fault_retries"));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, 0, BUF_LEN, 500));
}

struct dropper {
	char *page;
	atomic_bool stop;
	atomic_bool pause;
	atomic_bool paused;
	atomic_long drops;
};

/* MADV_DONTNEED one page over and over; hold still while asked to. */
static void *drop_thread(void *arg)
{
	struct dropper *d = arg;

	while (!atomic_load(&d->stop)) {
		if (atomic_load(&d->pause)) {
			atomic_store(&d->paused, true);
			usleep(100);
			continue;
		}
		atomic_store(&d->paused, false);
		madvise(d->page, 4096, MADV_DONTNEED);
		atomic_fetch_add(&d->drops, 1);
	}
	return NULL;
}

static void drop_pause(struct dropper *d, bool pause)
{
	/*
	 * Clear the acknowledgement before letting the thread go, so that
	 * the next pause waits for a fresh one (a stale "paused" let a
	 * MADV_DONTNEED run during the check once).
	 */
	if (!pause)
		atomic_store(&d->paused, false);
	atomic_store(&d->pause, pause);
	while (pause && !atomic_load(&d->paused))
		;
}

/*
 * Faults racing with MADV_DONTNEED of the same private page, which frees
 * the page: after each race, with the dropper held still, the CPU and RDMA
 * must see the same page (cpu_rdma_mismatch()). A fault that walked the
 * old page table while the invalidation was between logging its range and
 * changing the notifier sequence once kept the freed page for good.
 */
TEST_F_TIMEOUT(odp, dontneed_race_cpu_sees_rdma, 120)
{
	struct dropper d = { .page = self->buf + BUF_LEN / 2 };
	long long inval = counter(self, "odp_invalidations");
	double deadline = now_s() + 10;
	size_t off = BUF_LEN / 2;
	int i, ok = 0, errors = 0;
	pthread_t thread;
	long bad = -1;

	if (variant->kind != MEM_ANON)
		SKIP(return, "anon: MADV_DONTNEED frees its pages");
	ASSERT_EQ(0, pthread_create(&thread, NULL, drop_thread, &d));
	for (i = 0; i < 3000 && bad == -1 && now_s() < deadline; i++) {
		int st;

		pattern_fill(self->local + off, off, 64, 600 + i);
		st = rdma_loop_write(&self->lp, self->lmr, self->local + off,
				     self->mr, self->buf + off, 64);
		drop_pause(&d, true);
		if (gave_up(st)) {
			/* overtaken for too long: a fresh QP pair goes on */
			errors++;
			ASSERT_EQ(0, rdma_loop_connect(&self->lp));
		} else {
			ASSERT_EQ(IBV_WC_SUCCESS, st)
				TH_LOG("status %s", ibv_wc_status_str(st));
			ok++;
		}
		bad = cpu_rdma_mismatch(self, off, 64, 10000 + 2 * i);
		drop_pause(&d, false);
	}
	atomic_store(&d.stop, true);
	pthread_join(thread, NULL);
	TH_LOG("%d races (%d complete, %d gave up), %ld drops, %lld invalidations",
	       i, ok, errors, atomic_load(&d.drops),
	       counter(self, "odp_invalidations") - inval);
	ASSERT_EQ(-1, bad) TH_LOG("race %d: CPU and RDMA differ at offset %ld",
				  i - 1, bad);
	ASSERT_LT(100, atomic_load(&d.drops));
	/* giving up must not mean no progress */
	ASSERT_LT(0, ok);
}

/* MADV_PAGEOUT of the whole buffer; how many pages stayed resident. */
static size_t page_out(struct _test_data_odp *self)
{
	if (madvise(self->buf, BUF_LEN, MADV_PAGEOUT))
		return (size_t)-1;
	return resident(self->buf, BUF_LEN);
}

/*
 * Swap: MADV_PAGEOUT writes the pages to swap and frees them while the MR
 * maps them (ODP holds no reference, so reclaim may take them). RDMA READ
 * faults back exactly what the CPU wrote; RDMA WRITE into pages swapped
 * back in for reading (still in the swap cache, clean) and into pages out
 * in swap is what the CPU reads, after another trip through swap too; a
 * pinned MR over the same pages keeps them in memory.
 */
TEST_F_TIMEOUT(odp, swap_pageout, 120)
{
	size_t pages = BUF_LEN / self->page, left;
	long long inval, faults;
	struct ibv_mr *pin;

	if (variant->kind == MEM_HUGETLB)
		SKIP(return, "hugetlb pages are not swapped");
	if (!have_swap())
		SKIP(return, "no swap (tests/guest/run-all sets up zram)");
	pattern_fill(self->buf, 0, BUF_LEN, 30);
	/* every page mapped into the MR */
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	inval = counter(self, "odp_invalidations");
	left = page_out(self);
	TH_LOG("%zu of %zu pages still resident after MADV_PAGEOUT", left, pages);
	ASSERT_GT(pages / 2, left);
	ASSERT_LT(inval, counter(self, "odp_invalidations"));

	faults = counter(self, "odp_faults");
	memset(self->local, 0, BUF_LEN);
	ASSERT_EQ(IBV_WC_SUCCESS, read_all(self));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 30));
	ASSERT_LT(faults, counter(self, "odp_faults"));
	/* the pages were read back in: now written, then out again */
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 31));
	ASSERT_GT(pages / 2, page_out(self));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 31));
	/* written while out in swap, then out again */
	ASSERT_GT(pages / 2, page_out(self));
	ASSERT_EQ(IBV_WC_SUCCESS, write_all(self, 32));
	ASSERT_GT(pages / 2, page_out(self));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 32));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, 0, BUF_LEN, 33));

	if (variant->kind != MEM_ANON)
		return;
	/* the contrast: pinned anonymous pages are not paged out */
	pin = rdma_loop_reg(&self->lp, self->buf, BUF_LEN, 0);
	ASSERT_NE(NULL, pin);
	left = page_out(self);
	ASSERT_EQ(0, ibv_dereg_mr(pin));
	ASSERT_EQ(pages, left);
}

#define CGROUP_ROOT	"/sys/fs/cgroup"

/* Write @val to @file of the cgroup directory @dir. */
static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return file_write(path, val);
}

/* The value of key @key in the flat-keyed file @file of @dir, or -1. */
static long long cg_key(const char *dir, const char *file, const char *key)
{
	char path[256], name[64];
	long long val, found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", name, &val) == 2)
		if (!strcmp(name, key))
			found = val;
	fclose(f);
	return found;
}

/*
 * The cgroup v2 hierarchy with the memory controller for child groups,
 * mounted here if the guest has not (*@mounted then says so, for
 * cg_memory_root_put()): 0, or -1 with errno set.
 */
static int cg_memory_root(bool *mounted)
{
	*mounted = false;
	if (access(CGROUP_ROOT "/cgroup.subtree_control", F_OK)) {
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
			return -1;
		*mounted = true;
	}
	return cg_write(CGROUP_ROOT, "cgroup.subtree_control", "+memory");
}

static void cg_memory_root_put(bool mounted)
{
	if (mounted)
		umount(CGROUP_ROOT);
}

/*
 * memory.max below the MR's working set: RDMA over the whole MR makes
 * the cgroup reclaim (to swap) pages that faults of the same transfer
 * brought in, so each page is faulted in, invalidated and faulted back
 * while RDMA runs. Nothing is lost and the cgroup sees no OOM: an ODP MR
 * holds no page, so everything it maps can be reclaimed.
 */
TEST_F_TIMEOUT(odp, memcg_limit_below_the_mr, 180)
{
	char dir[64], pid[32];
	long long inval = counter(self, "odp_invalidations");
	long long at_max = -1, ooms = -1;
	int st_write = -1, st_read = -1, entered;
	long bad_rdma = -2, bad_cpu = -2;
	bool mounted;

	if (variant->kind != MEM_ANON)
		SKIP(return, "anon: pages the cgroup is charged for and swaps out");
	if (!have_swap())
		SKIP(return, "no swap (tests/guest/run-all sets up zram)");
	ASSERT_EQ(0, cg_memory_root(&mounted))
		TH_LOG("cgroup v2 memory controller: %s", strerror(errno));
	snprintf(dir, sizeof(dir), CGROUP_ROOT "/odp_invalidate.%d", getpid());
	snprintf(pid, sizeof(pid), "%d", getpid());
	/* half of the MR; the test itself needs little more than its stack */
	entered = mkdir(dir, 0755) ?: cg_write(dir, "memory.max", "2M") ?:
		  cg_write(dir, "cgroup.procs", pid);
	if (!entered) {
		st_write = write_all(self, 47);
		st_read = read_all(self);
		bad_rdma = pattern_bad(self->local, 0, BUF_LEN, 47);
		bad_cpu = pattern_bad(self->buf, 0, BUF_LEN, 47);
		at_max = cg_key(dir, "memory.events", "max");
		ooms = cg_key(dir, "memory.events", "oom");
	}
	/* back to the root group, as it was, before the asserts can return */
	cg_write(CGROUP_ROOT, "cgroup.procs", pid);
	rmdir(dir);
	cg_memory_root_put(mounted);

	ASSERT_EQ(0, entered) TH_LOG("a cgroup with memory.max 2M: %s", strerror(errno));
	TH_LOG("the cgroup hit memory.max %lld times, %lld OOMs, %lld invalidations",
	       at_max, ooms, counter(self, "odp_invalidations") - inval);
	ASSERT_EQ(IBV_WC_SUCCESS, st_write);
	ASSERT_EQ(IBV_WC_SUCCESS, st_read);
	ASSERT_EQ(-1, bad_rdma);
	ASSERT_EQ(-1, bad_cpu);
	ASSERT_LT(0, at_max) TH_LOG("the cgroup never reached memory.max");
	ASSERT_EQ(0, ooms);
	ASSERT_LT(inval, counter(self, "odp_invalidations"));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, 0, BUF_LEN, 48));
}

#define KSM_DIR	"/sys/kernel/mm/ksm/"

/* A KSM knob's value, or -1 if the kernel has no KSM. */
static long ksm_get(const char *knob)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_DIR "%s", knob);
	return file_long(path);
}

static int ksm_set(const char *knob, long val)
{
	char path[128], num[32];

	snprintf(path, sizeof(path), KSM_DIR "%s", knob);
	snprintf(num, sizeof(num), "%ld", val);
	return file_write(path, num);
}

/* Pages of this process that KSM has merged. */
static long ksm_merging_pages(void)
{
	return file_long("/proc/self/ksm_merging_pages");
}

/* Offset of the first byte of [p, p + len) that is not @c, or -1. */
static long not_byte(const char *p, size_t len, char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != c)
			return i;
	return -1;
}

/*
 * KSM: ksmd merges pages of equal contents into one write-protected page
 * while the MR maps them. RDMA READ sees the merged pages; an RDMA WRITE
 * into one of them must break the sharing for that page only: written
 * through the shared page, it would change every page merged with it.
 */
TEST_F_TIMEOUT(odp, ksm_merge_then_write, 120)
{
	size_t len = BUF_LEN / 4, pages = len / self->page;
	size_t at = pages / 2 * self->page;
	long run, scan, sleep_ms, merged = 0, bad_read, bad_other;
	int st_read, st_write;
	long long inval;
	double deadline;

	if (variant->kind != MEM_ANON)
		SKIP(return, "KSM merges private anonymous pages: anon");
	run = ksm_get("run");
	if (run < 0)
		SKIP(return, "no KSM in this kernel");
	memset(self->buf, 0x5a, len);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				      self->buf, 0, len, XFER));
	inval = counter(self, "odp_invalidations");
	scan = ksm_get("pages_to_scan");
	sleep_ms = ksm_get("sleep_millisecs");
	ASSERT_EQ(0, madvise(self->buf, len, MADV_MERGEABLE));
	ASSERT_EQ(0, ksm_set("pages_to_scan", 1000));
	ASSERT_EQ(0, ksm_set("sleep_millisecs", 10));
	ASSERT_EQ(0, ksm_set("run", 1));
	deadline = now_s() + 60;
	while (now_s() < deadline && (merged = ksm_merging_pages()) < (long)pages / 2)
		usleep(100 * 1000);

	memset(self->local, 0, len);
	st_read = rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				      self->buf, 0, len, XFER);
	bad_read = not_byte(self->local, len, 0x5a);
	st_write = rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
					   self->mr, self->buf, at, self->page,
					   self->page, 33);
	bad_other = not_byte(self->buf, at, 0x5a);
	if (bad_other == -1) {
		bad_other = not_byte(self->buf + at + self->page,
				     len - at - self->page, 0x5a);
		if (bad_other != -1)
			bad_other += at + self->page;
	}

	/* KSM back as it was before the asserts can return */
	madvise(self->buf, len, MADV_UNMERGEABLE);
	ksm_set("run", run);
	ksm_set("pages_to_scan", scan);
	ksm_set("sleep_millisecs", sleep_ms);

	TH_LOG("%ld of %zu pages merged", merged, pages);
	ASSERT_LE((long)pages / 2, merged);
	ASSERT_LT(inval, counter(self, "odp_invalidations"));
	ASSERT_EQ(IBV_WC_SUCCESS, st_read);
	ASSERT_EQ(-1, bad_read);
	ASSERT_EQ(IBV_WC_SUCCESS, st_write);
	ASSERT_EQ(-1, pattern_bad(self->buf + at, at, self->page, 33));
	ASSERT_EQ(-1, bad_other) TH_LOG("the WRITE changed a page merged with its target");
}

/* A userfaultfd over [addr, addr + len) in @mode (UFFDIO_REGISTER_MODE_*). */
static int uffd_register(void *addr, size_t len, __u64 mode)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = mode,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * userfaultfd: a page whose fault needs the process's handler (missing
 * mode, or write-protect mode for a write) cannot be faulted from the
 * kernel's side: the access gets a remote access error at once, nothing
 * waits for a handler that is never asked, and once the range is
 * unregistered RDMA works there again. rxe looks such ranges up without
 * faulting: before, it asked the mm to fault them, which only failed, and
 * a CONFIG_DEBUG_VM kernel logged a stack dump ("FAULT_FLAG_ALLOW_RETRY
 * missing") for every such access.
 */
TEST_F(odp, userfaultfd_needs_user_space)
{
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	char *at = self->buf + BUF_LEN / 2;
	struct uffd_msg msg;
	int fd;

	if (variant->kind != MEM_ANON)
		SKIP(return, "anon: userfaultfd's missing and write-protect modes");
	/* missing mode: the pages are not there, only the handler could fill them */
	ASSERT_EQ(0, madvise(at, XFER, MADV_DONTNEED));
	fd = uffd_register(at, XFER, UFFDIO_REGISTER_MODE_MISSING);
	if (fd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
				  at, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_read(&self->lp, self->lmr, self->local, self->mr,
				 at, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	/* the handler was never asked */
	ASSERT_EQ(-1, read(fd, &msg, sizeof(msg)));
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, at - self->buf, XFER, 34));

	/*
	 * write-protect mode: READ works, WRITE needs the handler. The range
	 * holds seed 35's pattern, which cpu_rdma_mismatch() wrote last.
	 */
	fd = uffd_register(at, XFER, UFFDIO_REGISTER_MODE_WP);
	if (fd < 0)
		SKIP(return, "userfaultfd write-protect: %s", strerror(errno));
	wp.range.start = (uintptr_t)at;
	wp.range.len = XFER;
	ASSERT_EQ(0, ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
	memset(self->local, 0, XFER);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_read(&self->lp, self->lmr, self->local, self->mr,
				 at, XFER));
	ASSERT_EQ(-1, pattern_bad(self->local, at - self->buf, XFER, 35));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
				  at, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	/* what the CPU wrote last is still there */
	ASSERT_EQ(-1, pattern_bad(at, at - self->buf, XFER, 35));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, at - self->buf, XFER, 36));
}

/*
 * A VMA registered with userfaultfd still has faults the kernel resolves
 * by itself, and those work as anywhere else: a page swapped out is read
 * back, a page made COW by fork is copied for the WRITE (the child keeps
 * what it had), a page write-protected and released again is written.
 * Only the faults that need the handler fail (userfaultfd_needs_user_space).
 */
TEST_F_TIMEOUT(odp, userfaultfd_kernel_resolves, 120)
{
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	char *at = self->buf + BUF_LEN / 2;
	size_t off = at - self->buf;
	int fd, pipefd[2], status;
	struct uffd_msg msg;
	char go = 0;
	pid_t pid;

	if (variant->kind != MEM_ANON)
		SKIP(return, "anon: userfaultfd's missing and write-protect modes");
	pattern_fill(at, off, XFER, 37);
	fd = uffd_register(at, XFER, UFFDIO_REGISTER_MODE_MISSING |
			   UFFDIO_REGISTER_MODE_WP);
	if (fd < 0)
		SKIP(return, "userfaultfd missing + write-protect: %s", strerror(errno));

	/* swapped out: the fault is a swap-in */
	if (have_swap()) {
		ASSERT_EQ(0, madvise(at, XFER, MADV_PAGEOUT));
		ASSERT_GT(XFER / self->page, resident(at, XFER));
		memset(self->local + off, 0, XFER);
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_read(&self->lp, self->lmr, self->local + off,
					 self->mr, at, XFER));
		ASSERT_EQ(-1, pattern_bad(self->local + off, off, XFER, 37));
	}

	/*
	 * COW after fork: the WRITE gets a copy, the child keeps the old data.
	 * The MR maps the pages first, so fork's write-protection has to
	 * invalidate them.
	 */
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_read(&self->lp, self->lmr, self->local + off,
				 self->mr, at, XFER));
	ASSERT_EQ(-1, pattern_bad(self->local + off, off, XFER, 37));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &go, 1) != 1)
			_exit(2);
		_exit(pattern_bad(at, off, XFER, 37) == -1 ? 0 : 1);
	}
	close(pipefd[0]);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
					  self->mr, self->buf, off, XFER, XFER, 38));
	ASSERT_EQ(1, write(pipefd[1], &go, 1));
	close(pipefd[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child saw the parent's RDMA WRITE (status %#x)", status);
	ASSERT_EQ(-1, pattern_bad(at, off, XFER, 38));

	/* write-protected, then released: writable again */
	wp.range.start = (uintptr_t)at;
	wp.range.len = XFER;
	ASSERT_EQ(0, ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
	wp.mode = 0;
	ASSERT_EQ(0, ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
					  self->mr, self->buf, off, XFER, XFER, 39));
	ASSERT_EQ(-1, pattern_bad(at, off, XFER, 39));

	/* none of it was the handler's business */
	ASSERT_EQ(-1, read(fd, &msg, sizeof(msg)));
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(-1, cpu_rdma_mismatch(self, off, XFER, 40));
}

TEST_HARNESS_MAIN
