// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_offline   (inside a bench guest booted with movablecore=, as
 *                       ci/check does: tests/guest/run-offline)
 *
 * Memory hot-unplug under ODP MRs. A memory block of ZONE_MOVABLE (the
 * memory a cloud host can take away from a guest) holds pages of an ODP
 * MR; it goes offline while a thread streams RDMA WRITEs and READs
 * through the MR. The kernel migrates every page out of the block; an
 * ODP MR holds no reference on them, so the offline completes, RDMA
 * follows the pages to their new frames, and the data are intact (also as
 * the CPU reads them).
 *
 * The contrast, measured: a pinned MR over pages of the same zone makes
 * the registration migrate them out of ZONE_MOVABLE first (FOLL_LONGTERM
 * pins are refused movable memory), so pinned memory is never
 * hot-removable: it takes ordinary memory instead, where it is stuck.
 *
 * Page frames come from /proc/self/pagemap; needs root. Built against the
 * kselftest harness of linux-source-6.1; rxe0 on lo.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "fsfile.h"
#include "kselftest_harness.h"
#include "meminfo.h"
#include "pattern.h"
#include "rdma_loop.h"

#define MEM_DIR		"/sys/devices/system/memory"
#define BUF_LEN		(16UL << 20)
#define XFER		(64 * 1024)
/* an offline that migrates a few thousand pages: generous for TCG + KASAN */
#define OFFLINE_MAX_S	120

/*
 * Skip from FIXTURE_SETUP: jump back to the wrapper's setjmp() so that
 * neither the body nor the teardown runs (6.1's harness would run both).
 */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(offline) {
	struct rdma_loop lp;
	char *buf;		/* the ODP MR's memory, on the movable node */
	struct ibv_mr *mr;
	char *local;		/* pinned source/sink */
	struct ibv_mr *lmr;
	size_t pages;
	uint64_t block_pages;	/* pages per memory block */
	int node;		/* the node with ZONE_MOVABLE blocks */
	long offlined;		/* block to online again, or -1 */
};

/* A memory block's sysfs attribute @attr into @buf ("" if unreadable). */
static void block_attr(long block, const char *attr, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), MEM_DIR "/memory%ld/%s", block, attr);
	read_line(path, buf, len);
}

/* The node of memory block @block (its nodeN link), or -1. */
static int block_node(long block)
{
	char path[128];
	struct dirent *de;
	int node = -1;
	DIR *d;

	snprintf(path, sizeof(path), MEM_DIR "/memory%ld", block);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (sscanf(de->d_name, "node%d", &node) == 1)
			break;
	closedir(d);
	return node;
}

/* Whether block @block is online and in ZONE_MOVABLE. */
static bool block_movable(long block)
{
	char state[32], zones[64];

	block_attr(block, "state", state, sizeof(state));
	block_attr(block, "valid_zones", zones, sizeof(zones));
	return !strcmp(state, "online") && !strncmp(zones, "Movable", 7);
}

/* A ZONE_MOVABLE block's node, or -1 if there is no such block. */
static int movable_node(void)
{
	struct dirent *de;
	int node = -1;
	long block;
	DIR *d = opendir(MEM_DIR);

	if (!d)
		return -1;
	while (node < 0 && (de = readdir(d)))
		if (sscanf(de->d_name, "memory%ld", &block) == 1 &&
		    block_movable(block))
			node = block_node(block);
	closedir(d);
	return node;
}

/* Write @state ("offline", "online_movable") to block @block's state. */
static int block_set(long block, const char *state)
{
	char path[128];

	snprintf(path, sizeof(path), MEM_DIR "/memory%ld/state", block);
	return file_write(path, state);
}

/*
 * Whether block @block has reserved pages (/proc/kpageflags): memory the
 * boot allocator gave away, which ZONE_MOVABLE can hold (movablecore=
 * does not keep it out) and which makes the block's offline fail at once
 * (EBUSY). The debug kernel has such blocks at the top of the zone.
 */
static bool block_reserved(long block, uint64_t block_pages)
{
	uint64_t *flags = malloc(block_pages * sizeof(*flags));
	bool reserved = true;
	uint64_t i;

	if (flags && !kpageflags_of(block * block_pages, block_pages, flags)) {
		reserved = false;
		for (i = 0; i < block_pages && !reserved; i++)
			reserved = flags[i] & (1ULL << KPF_RESERVED_BIT);
	}
	free(flags);
	return reserved;
}

/* How many of the @n frames in @pfn lie in a ZONE_MOVABLE block. */
static size_t in_movable(const uint64_t *pfn, size_t n, uint64_t block_pages)
{
	size_t i, count = 0;
	long block, last = -1;
	bool movable = false;

	for (i = 0; i < n; i++) {
		if (!pfn[i])
			continue;
		/* sysfs once per run of frames in one block, not per page */
		block = pfn[i] / block_pages;
		if (block != last)
			movable = block_movable(block);
		last = block;
		count += movable;
	}
	return count;
}

/*
 * The ZONE_MOVABLE block without reserved pages that holds most of the
 * @n frames in @pfn, and how many (@most); -1 if none holds any.
 */
static long offlinable_block(const uint64_t *pfn, size_t n,
			     uint64_t block_pages, size_t *most)
{
	long best = -1, block, last = -1;
	size_t i, j, count;

	*most = 0;
	for (i = 0; i < n; i++) {
		if (!pfn[i] || (long)(pfn[i] / block_pages) == last)
			continue;
		block = last = pfn[i] / block_pages;
		if (!block_movable(block) || block_reserved(block, block_pages))
			continue;
		for (count = 0, j = 0; j < n; j++)
			count += pfn[j] && pfn[j] / block_pages == (uint64_t)block;
		if (count > *most) {
			*most = count;
			best = block;
		}
	}
	return best;
}

FIXTURE_SETUP(offline)
{
	unsigned long mask;
	char line[32];

	self->offlined = -1;
	self->pages = BUF_LEN / sysconf(_SC_PAGESIZE);
	read_line(MEM_DIR "/block_size_bytes", line, sizeof(line));
	self->block_pages = strtoull(line, NULL, 16) / sysconf(_SC_PAGESIZE);
	if (!self->block_pages)
		SKIP_SETUP("no memory hotplug in this kernel (%s)", MEM_DIR);
	self->node = movable_node();
	if (self->node < 0)
		SKIP_SETUP("no online ZONE_MOVABLE memory block: boot with movablecore=");
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("open rxe device: %s",
						       strerror(errno));
	self->local = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->local);
	self->lmr = rdma_loop_reg(&self->lp, self->local, BUF_LEN, 0);
	ASSERT_NE(NULL, self->lmr);

	/* the ODP MR's pages come from the node with the movable blocks */
	self->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	ASSERT_EQ(0, madvise(self->buf, BUF_LEN, MADV_NOHUGEPAGE));
	mask = 1UL << self->node;
	ASSERT_EQ(0, mbind(self->buf, BUF_LEN, MPOL_BIND, &mask,
			   sizeof(mask) * 8, 0)) TH_LOG("mbind: %s", strerror(errno));
	self->mr = rdma_loop_reg(&self->lp, self->buf, BUF_LEN,
				 IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP ibv_reg_mr: %s", strerror(errno));
}

FIXTURE_TEARDOWN(offline)
{
	if (self->offlined >= 0 && block_set(self->offlined, "online_movable"))
		TH_LOG("online memory%ld again: %s", self->offlined, strerror(errno));
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
}

struct streamer {
	FIXTURE_DATA(offline) *self;
	atomic_bool stop;
	atomic_uint rounds;	/* WRITE + READ rounds complete */
	uint64_t last;		/* the seed the buffer holds */
	int status;
	long bad;
	atomic_bool failed;	/* the stream stopped on an error */
};

/* Wait up to @secs until @s has done @n rounds, or has stopped on an error. */
static void wait_rounds(struct streamer *s, unsigned int n, double secs)
{
	double end = now_s() + secs;

	while (atomic_load(&s->rounds) < n && !atomic_load(&s->failed) &&
	       now_s() < end)
		usleep(10 * 1000);
}

/* RDMA WRITE rounds into the ODP MR, each read back and checked. */
static void *stream(void *arg)
{
	struct streamer *s = arg;
	FIXTURE_DATA(offline) *self = s->self;
	uint64_t seed = s->last + 1;

	while (!atomic_load(&s->stop)) {
		s->status = rdma_loop_write_pattern(&self->lp, self->lmr,
						    self->local, self->mr,
						    self->buf, 0, BUF_LEN,
						    XFER, seed);
		if (s->status != IBV_WC_SUCCESS)
			break;
		s->last = seed++;
		s->status = rdma_loop_read_back(&self->lp, self->lmr,
						self->local, self->mr,
						self->buf, 0, BUF_LEN, XFER);
		if (s->status != IBV_WC_SUCCESS)
			break;
		s->bad = pattern_bad(self->local, 0, BUF_LEN, s->last);
		if (s->bad != -1)
			break;
		atomic_fetch_add(&s->rounds, 1);
	}
	atomic_store(&s->failed, !atomic_load(&s->stop));
	return NULL;
}

/*
 * The block holding most of the ODP MR's pages goes offline while RDMA
 * streams through the MR: it completes, none of the MR's pages is left
 * in it, and every round of RDMA read back what it wrote.
 */
TEST_F_TIMEOUT(offline, offline_block_under_rdma, 300)
{
	struct streamer s = { .self = self, .last = 1, .bad = -1 };
	uint64_t *pfn = calloc(self->pages, sizeof(*pfn));
	uint64_t *now = calloc(self->pages, sizeof(*now));
	size_t before, movable, moved, i;
	long long inval, faults;
	unsigned int during;
	double start, took;
	pthread_t thr;
	int ret, err;
	long block;

	ASSERT_NE(NULL, pfn);
	ASSERT_NE(NULL, now);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
					  self->mr, self->buf, 0, BUF_LEN, XFER, 1));
	ASSERT_EQ(0, pfns_of(self->buf, self->pages, pfn));
	movable = in_movable(pfn, self->pages, self->block_pages);
	block = offlinable_block(pfn, self->pages, self->block_pages, &before);
	TH_LOG("%zu of %zu pages in ZONE_MOVABLE, %zu in memory%ld", movable,
	       self->pages, before, block);
	ASSERT_LT(0, movable) TH_LOG("no page of the ODP MR in ZONE_MOVABLE");
	ASSERT_LE(0, block)
		TH_LOG("no page of the ODP MR in a block without reserved pages");

	inval = rdma_loop_counter(&self->lp, "odp_invalidations");
	faults = rdma_loop_counter(&self->lp, "odp_faults");
	ASSERT_EQ(0, pthread_create(&thr, NULL, stream, &s));
	/*
	 * The stream is under way (a round done) when the offline starts,
	 * and goes on over the new frames after it (another round): the
	 * rounds follow each other with only a check in between.
	 */
	wait_rounds(&s, 1, 60);
	start = now_s();
	ret = block_set(block, "offline");
	err = errno;
	took = now_s() - start;
	if (!ret)
		self->offlined = block;
	during = atomic_load(&s.rounds);
	wait_rounds(&s, during + 1, 60);
	atomic_store(&s.stop, true);
	pthread_join(thr, NULL);
	TH_LOG("memory%ld offline in %.2f s: %s; RDMA rounds: %u before it ended, %u in all; %lld invalidations, %lld faults",
	       block, took, ret ? strerror(err) : "done", during,
	       atomic_load(&s.rounds),
	       rdma_loop_counter(&self->lp, "odp_invalidations") - inval,
	       rdma_loop_counter(&self->lp, "odp_faults") - faults);
	ASSERT_EQ(0, ret) TH_LOG("offlining memory%ld: %s", block, strerror(err));
	ASSERT_GT(OFFLINE_MAX_S, took);
	ASSERT_EQ(IBV_WC_SUCCESS, s.status);
	ASSERT_EQ(-1, s.bad) TH_LOG("RDMA READ returned other data than the round wrote");
	ASSERT_LT(0, during) TH_LOG("no RDMA round completed before the offline ended");
	ASSERT_LT(during, atomic_load(&s.rounds))
		TH_LOG("no RDMA round completed over the new frames");
	ASSERT_LT(inval, rdma_loop_counter(&self->lp, "odp_invalidations"));

	/* the MR's pages that were in the block are elsewhere now */
	ASSERT_EQ(0, pfns_of(self->buf, self->pages, now));
	for (i = 0, moved = 0; i < self->pages; i++)
		moved += pfn[i] / self->block_pages == (uint64_t)block &&
			 now[i] != pfn[i];
	ASSERT_EQ(before, moved);
	/* what RDMA wrote last is what the CPU reads, and back */
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, s.last));
	pattern_fill(self->buf, 0, BUF_LEN, s.last + 1);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_read_back(&self->lp, self->lmr, self->local,
				      self->mr, self->buf, 0, BUF_LEN, XFER));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, s.last + 1));
	free(pfn);
	free(now);
}

/*
 * The contrast: pages in ZONE_MOVABLE that a pinned MR registers are
 * migrated out of it by the registration (FOLL_LONGTERM), so none of a
 * pinned MR's pages can be in memory that may be unplugged.
 */
/* migrating 4096 pages at registration takes a while on KASAN under TCG */
TEST_F_TIMEOUT(offline, pinned_mr_leaves_the_movable_zone, 180)
{
	uint64_t *pfn = calloc(self->pages, sizeof(*pfn));
	size_t before, after;
	struct ibv_mr *pin;

	ASSERT_NE(NULL, pfn);
	/* the same memory, touched by the CPU: ZONE_MOVABLE first */
	memset(self->buf, 0x3c, BUF_LEN);
	ASSERT_EQ(0, pfns_of(self->buf, self->pages, pfn));
	before = in_movable(pfn, self->pages, self->block_pages);
	pin = rdma_loop_reg(&self->lp, self->buf, BUF_LEN, 0);
	ASSERT_NE(NULL, pin) TH_LOG("pinned ibv_reg_mr: %s", strerror(errno));
	ASSERT_EQ(0, pfns_of(self->buf, self->pages, pfn));
	after = in_movable(pfn, self->pages, self->block_pages);
	ASSERT_EQ(0, ibv_dereg_mr(pin));
	TH_LOG("pinned registration: %zu of %zu pages in ZONE_MOVABLE before, %zu after",
	       before, self->pages, after);
	ASSERT_LT(0, before);
	ASSERT_EQ(0, after);
	free(pfn);
}

TEST_HARNESS_MAIN
