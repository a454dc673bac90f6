// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_dax   (ODP_ONLY=<substring> runs only the tests whose
 *                   "<fs>.<test>" name contains it, e.g. ODP_ONLY=xfs.punch)
 *
 * RDMA on ODP MRs over FS-DAX files: a MAP_SHARED mapping of a file on an
 * ext4 or xfs mounted with -o dax=always on the legacy pmem device
 * (memmap=512M!2G, `modprobe nd_e820 nd_pmem` gives /dev/pmem0). Each test
 * makes a new file system (it destroys what /dev/pmem0 holds).
 *
 * - WRITE/READ/SEND/atomics land in the file: read(2) sees them after
 *   munmap and after umount + mount;
 * - a pinned registration of the mapping fails with EOPNOTSUPP (FS-DAX
 *   pages cannot be pinned long term), an ODP one works;
 * - truncate, hole punch and truncate + extend while a thread streams RDMA
 *   WRITEs: the call returns promptly (nothing waits for RDMA), RDMA beyond
 *   EOF fails with IBV_WC_REM_ACCESS_ERR, a punched or truncated range
 *   reads back as zeros and later writes fault in new blocks;
 * - 2 MiB aligned mappings of 2 MiB aligned blocks take PMD faults from
 *   RDMA (seen with the fs_dax:dax_pmd_fault_done trace event).
 *
 * Faults are checked with rxe's odp_faults counter, so a pinned MR cannot
 * pass by accident. Needs root; built against the kselftest harness of
 * linux-source-6.1; run inside a bench guest (rxe0 on lo).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fsfile.h"
#include "kselftest_harness.h"
#include "pattern.h"
#include "rdma_loop.h"

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX	0x00200000
#endif

#define PMEM_DEV	"/dev/pmem0"
#define PMEM_DAX_ATTR	"/sys/block/pmem0/queue/dax"
#define FILE_LEN	(4UL << 20)
#define HUGE_LEN	(2UL << 20)
#define XFER		(64 * 1024)
/* the range punched out of the file, inside its first 2 MiB */
#define HOLE_OFF	(1UL << 20)
#define HOLE_LEN	(512UL << 10)
/*
 * Upper bound for a truncate/punch while RDMA streams. A DAX truncate waits
 * for page references to go away (dax_layout_busy_page()): with a pinned MR
 * it would never return; an ODP MR holds no reference and only has to let
 * a copy in progress finish. 10 s, far above the few ms it takes, so that
 * a loaded host or a debug kernel under QEMU TCG cannot fail it, while a
 * truncate that waits for RDMA (for ever) still does.
 */
#define TRUNC_MAX_MS	10000
#define STREAM_SEED	0x5eed

/*
 * Skip from FIXTURE_SETUP: jump back to the wrapper's setjmp() so that
 * neither the body nor the teardown runs (6.1's harness would run both).
 */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(dax) {
	struct rdma_loop lp;
	char mnt[64];
	char path[96];
	int fd;
	bool mounted;
	char *map;		/* MAP_SHARED mapping of the DAX file */
	struct ibv_mr *mr;	/* ODP MR over it */
	char *local;		/* pinned source/sink, offsets as in the file */
	struct ibv_mr *lmr;
};

FIXTURE_VARIANT(dax) {
	const char *fs;
	const char *mkfs;
};

/* stripe of 2 MiB, so that large files get 2 MiB aligned blocks */
FIXTURE_VARIANT_ADD(dax, ext4) {
	.fs = "ext4",
	.mkfs = "mkfs.ext4 -q -F -b 4096 -E stride=512,stripe_width=512 " PMEM_DEV,
};

FIXTURE_VARIANT_ADD(dax, xfs) {
	.fs = "xfs",
	.mkfs = "mkfs.xfs -q -f -m reflink=0 -d su=2m,sw=1,agcount=4 -l su=32k " PMEM_DEV,
};

static int dax_mount(const char *fs, const char *mnt)
{
	return mount(PMEM_DEV, mnt, fs, 0, "dax=always");
}

/* Whether @fd is a file the kernel accesses with DAX (statx attribute). */
static bool file_is_dax(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx))
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_DAX) &&
	       (stx.stx_attributes & STATX_ATTR_DAX);
}

FIXTURE_SETUP(dax)
{
	const char *only = getenv("ODP_ONLY");
	char name[128], attr[16];
	int i, ret;

	snprintf(name, sizeof(name), "%s.%s", variant->fs, _metadata->name);
	if (only && !strstr(name, only))
		SKIP_SETUP("not selected by ODP_ONLY=%s", only);
	self->fd = -1;
	/* nd_pmem may still be probing right after modprobe */
	for (i = 0; i < 20 && access(PMEM_DEV, F_OK); i++)
		usleep(100 * 1000);
	if (access(PMEM_DEV, F_OK))
		SKIP_SETUP("no %s: needs memmap=512M!2G and modprobe nd_e820 nd_pmem",
			   PMEM_DEV);
	read_line(PMEM_DAX_ATTR, attr, sizeof(attr));
	if (strcmp(attr, "1"))
		SKIP_SETUP("%s has no struct pages (%s is '%s'): no FS-DAX",
			   PMEM_DEV, PMEM_DAX_ATTR, attr);
	umount_stale(PMEM_DEV);

	ret = system(variant->mkfs);
	if (ret == -1 || (WIFEXITED(ret) && WEXITSTATUS(ret) == 127))
		SKIP_SETUP("cannot run '%s'", variant->mkfs);
	ASSERT_EQ(0, ret) TH_LOG("'%s' failed", variant->mkfs);
	snprintf(self->mnt, sizeof(self->mnt), "/tmp/odp_dax.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	if (dax_mount(variant->fs, self->mnt)) {
		int err = errno;

		rmdir(self->mnt);
		SKIP_SETUP("mount -t %s -o dax=always %s refused: %s",
			   variant->fs, PMEM_DEV, strerror(err));
	}
	self->mounted = true;
	snprintf(self->path, sizeof(self->path), "%s/data", self->mnt);
	self->fd = open(self->path, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, self->fd) TH_LOG("create %s: %s", self->path, strerror(errno));
	ASSERT_TRUE(file_is_dax(self->fd))
		TH_LOG("%s mounted with dax=always but the file is not DAX (statx)",
		       variant->fs);
	/* sparse: blocks are allocated by the first write to each range */
	ASSERT_EQ(0, ftruncate(self->fd, FILE_LEN));

	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("open rxe device: %s",
						       strerror(errno));
	self->map = map_aligned(self->fd, FILE_LEN);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	self->mr = rdma_loop_reg(&self->lp, self->map, FILE_LEN,
				 IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP ibv_reg_mr of the DAX mapping: %s",
					 strerror(errno));
	self->local = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->local);
	self->lmr = rdma_loop_reg(&self->lp, self->local, FILE_LEN, 0);
	ASSERT_NE(NULL, self->lmr) TH_LOG("pinned ibv_reg_mr: %s", strerror(errno));
}

FIXTURE_TEARDOWN(dax)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, FILE_LEN);
	if (self->fd >= 0)
		close(self->fd);
	if (self->mounted && umount(self->mnt))
		TH_LOG("umount %s: %s", self->mnt, strerror(errno));
	rmdir(self->mnt);
}

static long long counter(FIXTURE_DATA(dax) *self, const char *name)
{
	return rdma_loop_counter(&self->lp, name);
}

/* RDMA WRITE @seed's pattern over file bytes [off, off + len) of the mapping. */
static int write_range(FIXTURE_DATA(dax) *self, size_t off, size_t len,
		       uint64_t seed)
{
	return rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
				       self->mr, self->map, off, len, XFER, seed);
}

/* RDMA READ file bytes [off, off + len) into the same offsets of local. */
static int read_range(FIXTURE_DATA(dax) *self, size_t off, size_t len)
{
	return rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				   self->map, off, len, XFER);
}

/*
 * WRITE, READ, SEND both ways, fetch-add and cmp-swap on the DAX file; the
 * data is in the file for read(2) after munmap, and after a remount.
 */
TEST_F_TIMEOUT(dax, rdma_ops_reach_the_file, 180)
{
	size_t send_off = 2 * XFER, atom_off = 3 * XFER + 64;
	uint64_t *target = (uint64_t *)(self->map + atom_off);
	uint64_t *result = (uint64_t *)self->local;
	long long faults = counter(self, "odp_faults");
	uint64_t old = pattern_word(1, atom_off), final = 0x0123456789abcdefULL;
	char *expect, *got;

	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 1));
	ASSERT_LT(faults, counter(self, "odp_faults"))
		TH_LOG("RDMA WRITE into a fresh DAX mapping took no ODP fault");
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, FILE_LEN, 1));

	/* SEND out of the file, then into it */
	memset(self->local, 0, XFER);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_send(&self->lp, self->mr, self->map + XFER,
						 self->lmr, self->local, XFER));
	ASSERT_EQ(-1, pattern_bad(self->local, XFER, XFER, 1));
	pattern_fill(self->local + send_off, send_off, XFER, 2);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_send(&self->lp, self->lmr, self->local + send_off,
				 self->mr, self->map + send_off, XFER));

	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_fetch_add(&self->lp, self->lmr, result,
						      self->mr, target, 5));
	ASSERT_EQ(old, *result);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_cmp_swap(&self->lp, self->lmr, result,
						     self->mr, target, 1, 2));
	ASSERT_EQ(old + 5, *result) TH_LOG("failed cmp-swap returned another value");
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_cmp_swap(&self->lp, self->lmr, result,
						     self->mr, target, old + 5, final));
	ASSERT_EQ(old + 5, *result);

	expect = malloc(FILE_LEN);
	ASSERT_NE(NULL, expect);
	pattern_fill(expect, 0, FILE_LEN, 1);
	pattern_fill(expect + send_off, send_off, XFER, 2);
	memcpy(expect + atom_off, &final, 8);

	ASSERT_EQ(0, ibv_dereg_mr(self->mr));
	self->mr = NULL;
	ASSERT_EQ(0, munmap(self->map, FILE_LEN));
	self->map = NULL;
	got = slurp(self->fd, FILE_LEN);
	ASSERT_NE(NULL, got);
	ASSERT_EQ(0, memcmp(expect, got, FILE_LEN))
		TH_LOG("read(2) after munmap differs from what RDMA wrote");
	free(got);

	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
	self->mounted = false;
	ASSERT_EQ(0, dax_mount(variant->fs, self->mnt)) TH_LOG("remount: %s",
							    strerror(errno));
	self->mounted = true;
	self->fd = open(self->path, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_TRUE(file_is_dax(self->fd));
	got = slurp(self->fd, FILE_LEN);
	ASSERT_NE(NULL, got);
	ASSERT_EQ(0, memcmp(expect, got, FILE_LEN))
		TH_LOG("read(2) after umount + mount differs from what RDMA wrote");
	free(got);
	free(expect);
}

/* FS-DAX pages cannot be pinned long term: only the ODP MR works. */
TEST_F(dax, pinned_registration_refused)
{
	struct ibv_mr *pinned;

	/* with the pages mapped by the ODP MR already, and untouched */
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, HUGE_LEN, 3));
	errno = 0;
	pinned = rdma_loop_reg(&self->lp, self->map, FILE_LEN, 0);
	ASSERT_EQ(NULL, pinned) TH_LOG("a DAX mapping was pinned");
	ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("pinned reg of DAX: %s", strerror(errno));
	errno = 0;
	pinned = rdma_loop_reg(&self->lp, self->map + HUGE_LEN, HUGE_LEN, 0);
	ASSERT_EQ(NULL, pinned);
	ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("pinned reg of DAX: %s", strerror(errno));

	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, HUGE_LEN, HUGE_LEN, 4));
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, HUGE_LEN, 3));
	ASSERT_EQ(-1, pattern_bad(self->local + HUGE_LEN, HUGE_LEN, HUGE_LEN, 4));
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, HUGE_LEN, 3));
	ASSERT_EQ(-1, file_bad_at(self->fd, HUGE_LEN, HUGE_LEN, 4));
}

struct streamer {
	struct rdma_loop *lp;
	struct ibv_mr *lmr, *mr;
	char *local, *map;
	atomic_bool stop;
	atomic_long rounds;	/* whole-file WRITE passes that completed */
	atomic_long access_errors;
	int bad_status;		/* another status, or -1: the thread stopped */
};

/* WRITE the file over and over; a remote access error reconnects and goes on. */
static void *stream_writes(void *arg)
{
	struct streamer *s = arg;
	int st;

	while (!atomic_load(&s->stop)) {
		st = rdma_loop_stream(s->lp, IBV_WR_RDMA_WRITE, s->lmr, s->local,
				      s->mr, s->map, XFER, FILE_LEN,
				      FILE_LEN / XFER, 8);
		if (st == IBV_WC_SUCCESS) {
			atomic_fetch_add(&s->rounds, 1);
		} else if (st == IBV_WC_REM_ACCESS_ERR) {
			atomic_fetch_add(&s->access_errors, 1);
			if (rdma_loop_connect(s->lp)) {
				s->bad_status = -1;
				break;
			}
		} else {
			s->bad_status = st;
			break;
		}
	}
	return NULL;
}

static long passes(struct streamer *s)
{
	return atomic_load(&s->rounds) + atomic_load(&s->access_errors);
}

/* Wait for @n more passes of the streamer (or its end): false on timeout. */
static bool wait_passes(struct streamer *s, long n)
{
	long target = passes(s) + n;
	long long deadline = now_ms() + 60000;

	while (passes(s) < target && !s->bad_status && now_ms() < deadline)
		usleep(1000);
	return passes(s) >= target || s->bad_status;
}

enum shrink_op { OP_TRUNCATE, OP_PUNCH, OP_TRUNCATE_EXTEND };

static const char * const op_names[] = {
	"truncate to half", "punch hole", "ftruncate(0) + extend",
};

static int do_op(FIXTURE_DATA(dax) *self, enum shrink_op op)
{
	switch (op) {
	case OP_TRUNCATE:
		return truncate(self->path, FILE_LEN / 2);
	case OP_PUNCH:
		return fallocate(self->fd, FALLOC_FL_PUNCH_HOLE |
				 FALLOC_FL_KEEP_SIZE, HOLE_OFF, HOLE_LEN);
	default:
		if (ftruncate(self->fd, 0))
			return -1;
		return ftruncate(self->fd, FILE_LEN);
	}
}

/*
 * Run @op while a thread streams RDMA WRITEs over the whole file: the op
 * must return promptly and the stream see only successes and remote
 * access errors. Afterwards, the file holds the stream's data or zeros.
 */
static void race_op(struct __test_metadata *_metadata, FIXTURE_DATA(dax) *self,
		    enum shrink_op op)
{
	struct streamer s = {
		.lp = &self->lp, .lmr = self->lmr, .mr = self->mr,
		.local = self->local, .map = self->map,
	};
	long long start, took = 0, inval;
	bool started;
	int ret = -1, err = 0;
	pthread_t thread;
	size_t off;
	char *got;

	pattern_fill(self->local, 0, FILE_LEN, STREAM_SEED);
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(0, pthread_create(&thread, NULL, stream_writes, &s));
	/* no ASSERT while the thread runs: a failure must not leave it behind */
	started = wait_passes(&s, 2);
	if (started) {
		start = now_ms();
		ret = do_op(self, op);
		err = errno;
		took = now_ms() - start;
		wait_passes(&s, 3);
	}
	atomic_store(&s.stop, true);
	pthread_join(thread, NULL);
	ASSERT_TRUE(started) TH_LOG("the RDMA stream made no progress");
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", op_names[op], strerror(err));
	TH_LOG("%s took %lld ms amid %ld WRITE passes (%ld ended in an access error)",
	       op_names[op], took, atomic_load(&s.rounds),
	       atomic_load(&s.access_errors));
	ASSERT_EQ(0, s.bad_status)
		TH_LOG("streamed WRITE completed with %s",
		       s.bad_status < 0 ? "a verbs error" :
		       ibv_wc_status_str(s.bad_status));
	ASSERT_GT(TRUNC_MAX_MS, took) TH_LOG("the truncation waited for RDMA");
	ASSERT_LT(inval, counter(self, "odp_invalidations"))
		TH_LOG("the truncation did not invalidate the ODP MR");
	if (op == OP_TRUNCATE)
		ASSERT_LT(0, atomic_load(&s.access_errors))
			TH_LOG("WRITEs beyond the new EOF never failed");
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));

	/* each page: the stream's data, or zeros where the op removed it */
	got = slurp(self->fd, op == OP_TRUNCATE ? FILE_LEN / 2 : FILE_LEN);
	ASSERT_NE(NULL, got);
	for (off = 0; off < (op == OP_TRUNCATE ? FILE_LEN / 2 : FILE_LEN);
	     off += 4096) {
		if (pattern_bad(got + off, off, 4096, STREAM_SEED) == -1)
			continue;
		ASSERT_NE(OP_TRUNCATE, op) TH_LOG("page at %zu lost its data", off);
		if (op == OP_PUNCH)
			ASSERT_TRUE(off >= HOLE_OFF && off < HOLE_OFF + HOLE_LEN)
				TH_LOG("page at %zu outside the hole changed", off);
		ASSERT_EQ(-1, pattern_nonzero(got + off, off, 4096))
			TH_LOG("page at %zu is neither the data nor zeros", off);
	}
	free(got);
}

/* RDMA on [off, off + len) after it lost its blocks: zeros, then new blocks. */
static void refill(struct __test_metadata *_metadata, FIXTURE_DATA(dax) *self,
		   size_t off, size_t len, long long blocks_before, uint64_t seed)
{
	long long faults = counter(self, "odp_faults");

	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, off, len));
	ASSERT_EQ(-1, pattern_nonzero(self->local + off, off, len))
		TH_LOG("RDMA READ of a removed range returned old data");
	ASSERT_LT(faults, counter(self, "odp_faults"))
		TH_LOG("READ of the removed range took no fault");
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, off, len, seed));
	ASSERT_LT(faults, counter(self, "odp_faults"))
		TH_LOG("WRITE into the removed range took no fault");
	ASSERT_LT(blocks_before, blocks_of(self->fd))
		TH_LOG("no blocks were allocated for the RDMA WRITE");
	ASSERT_EQ(-1, file_bad_at(self->fd, off, len, seed));
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, off, len));
	ASSERT_EQ(-1, pattern_bad(self->local + off, off, len, seed));
}

/* Beyond EOF: WRITE, READ and atomics fail with a remote access error. */
static void beyond_eof(struct __test_metadata *_metadata,
		       FIXTURE_DATA(dax) *self, size_t off)
{
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->lmr, self->local + off,
				  self->mr, self->map + off, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_read(&self->lp, self->lmr, self->local + off,
				 self->mr, self->map + off, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_fetch_add(&self->lp, self->lmr,
				      (uint64_t *)self->local, self->mr,
				      (uint64_t *)(self->map + off), 1));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
}

/* truncate(2) to half while RDMA streams; the upper half is beyond EOF. */
TEST_F_TIMEOUT(dax, truncate_while_streaming, 300)
{
	long long blocks;

	race_op(_metadata, self, OP_TRUNCATE);
	beyond_eof(_metadata, self, FILE_LEN / 2);
	beyond_eof(_metadata, self, FILE_LEN - XFER);
	/* the lower half still works and holds the stream's data */
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN / 2));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, FILE_LEN / 2, STREAM_SEED));

	/* extended again: zeros, then RDMA faults in new blocks */
	ASSERT_EQ(0, ftruncate(self->fd, FILE_LEN));
	blocks = blocks_of(self->fd);
	refill(_metadata, self, FILE_LEN / 2, FILE_LEN / 2, blocks, 5);
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, FILE_LEN / 2, STREAM_SEED));
}

/* A hole punched while RDMA streams; then one in known data, read by RDMA. */
TEST_F_TIMEOUT(dax, punch_hole_while_streaming, 300)
{
	long long blocks, inval;

	race_op(_metadata, self, OP_PUNCH);

	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 6));
	blocks = blocks_of(self->fd);
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(0, fallocate(self->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       HOLE_OFF, HOLE_LEN));
	ASSERT_LT(inval, counter(self, "odp_invalidations"));
	ASSERT_GT(blocks, blocks_of(self->fd)) TH_LOG("the punch freed no blocks");
	ASSERT_EQ(-1, file_nonzero_at(self->fd, HOLE_OFF, HOLE_LEN));
	refill(_metadata, self, HOLE_OFF, HOLE_LEN, blocks_of(self->fd), 7);
	/* around the hole: untouched */
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, HOLE_OFF, 6));
	ASSERT_EQ(-1, file_bad_at(self->fd, HOLE_OFF + HOLE_LEN,
				  FILE_LEN - HOLE_OFF - HOLE_LEN, 6));
}

/* ftruncate(0) + ftruncate(size) while RDMA streams: all zeros, new blocks. */
TEST_F_TIMEOUT(dax, truncate_extend_while_streaming, 300)
{
	race_op(_metadata, self, OP_TRUNCATE_EXTEND);

	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 8));
	ASSERT_EQ(0, ftruncate(self->fd, 0));
	ASSERT_EQ(0, ftruncate(self->fd, FILE_LEN));
	ASSERT_EQ(0, blocks_of(self->fd));
	ASSERT_EQ(-1, file_nonzero_at(self->fd, 0, FILE_LEN));
	refill(_metadata, self, 0, FILE_LEN, 0, 9);
}

/* How many 2 MiB pieces of the file's first @len bytes sit on 2 MiB aligned blocks. */
static int aligned_pieces(int fd, size_t len)
{
	unsigned int n = 64;
	struct fiemap *fm = calloc(1, sizeof(*fm) + n * sizeof(fm->fm_extents[0]));
	size_t piece;
	unsigned int i;
	int good = 0;

	if (!fm)
		return -1;
	fm->fm_length = len;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = n;
	if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
		free(fm);
		return -1;
	}
	for (piece = 0; piece < len; piece += HUGE_LEN) {
		for (i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];

			if (e->fe_logical <= piece &&
			    e->fe_logical + e->fe_length >= piece + HUGE_LEN &&
			    !((e->fe_physical + piece - e->fe_logical) % HUGE_LEN)) {
				good++;
				break;
			}
		}
	}
	free(fm);
	return good;
}

/* The tracefs folder (mounted if need be), or NULL without tracing. */
static const char *tracefs(void)
{
	static const char * const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char probe[128];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(probe, sizeof(probe), "%s/events/fs_dax", dirs[i]);
		if (!access(probe, F_OK))
			return dirs[i];
	}
	if (mount("tracefs", dirs[0], "tracefs", 0, NULL))
		return NULL;
	snprintf(probe, sizeof(probe), "%s/events/fs_dax", dirs[0]);
	return access(probe, F_OK) ? NULL : dirs[0];
}

static int trace_set(const char *dir, const char *file, const char *val)
{
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

#define PMD_EVENT	"events/fs_dax/dax_pmd_fault_done/enable"

/*
 * Count the dax_pmd_fault_done events of inode @ino at addresses in
 * [lo, hi): *@mapped the ones that installed a PMD (NOPAGE), *@fallback
 * those that fell back to 4 KiB pages.
 */
static int count_pmd_faults(const char *dir, unsigned long ino, uintptr_t lo,
			    uintptr_t hi, int *mapped, int *fallback)
{
	char path[256], line[512];
	unsigned long e_ino, addr;
	const char *p, *q;
	FILE *f;

	*mapped = *fallback = 0;
	snprintf(path, sizeof(path), "%s/trace", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "dax_pmd_fault_done:"))
			continue;
		p = strstr(line, " ino ");
		q = strstr(line, " address ");
		if (!p || !q || sscanf(p, " ino %lx", &e_ino) != 1 ||
		    sscanf(q, " address %lx", &addr) != 1)
			continue;
		if (e_ino != ino || addr < lo || addr >= hi)
			continue;
		if (strstr(line, "FALLBACK"))
			(*fallback)++;
		else if (strstr(line, "NOPAGE"))
			(*mapped)++;
	}
	fclose(f);
	return 0;
}

/*
 * A 2 MiB aligned mapping of a file on 2 MiB aligned blocks: the faults
 * RDMA triggers map PMDs (fs_dax:dax_pmd_fault_done with NOPAGE for our
 * inode and addresses), and the data is right.
 */
TEST_F_TIMEOUT(dax, huge_pmd_faults, 180)
{
	long long faults = counter(self, "odp_faults");
	int pieces = FILE_LEN / HUGE_LEN, mapped, fallback;
	const char *trace;
	struct stat st;
	char *data;

	ASSERT_EQ(0, (uintptr_t)self->map % HUGE_LEN);
	/* real blocks, written through read(2)/write(2) (no mapping yet) */
	ASSERT_EQ(0, fallocate(self->fd, 0, 0, FILE_LEN)) TH_LOG("%s", strerror(errno));
	data = malloc(FILE_LEN);
	ASSERT_NE(NULL, data);
	pattern_fill(data, 0, FILE_LEN, 10);
	ASSERT_EQ(FILE_LEN, pwrite(self->fd, data, FILE_LEN, 0));
	free(data);
	ASSERT_EQ(0, fsync(self->fd));
	ASSERT_EQ(0, fstat(self->fd, &st));
	if (aligned_pieces(self->fd, FILE_LEN) != pieces)
		SKIP(return, "%s gave the file blocks that are not 2 MiB aligned (%d of %d pieces)",
		     variant->fs, aligned_pieces(self->fd, FILE_LEN), pieces);

	trace = tracefs();
	if (trace && (trace_set(trace, PMD_EVENT, "1") || trace_set(trace, "trace", "")))
		trace = NULL;

	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, FILE_LEN, 10));
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 11));
	ASSERT_LT(faults, counter(self, "odp_faults"));
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, FILE_LEN, 11));
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, FILE_LEN, 11));

	if (!trace)
		SKIP(return, "no tracefs with fs_dax events: PMD faults not verified (data was right)");
	ASSERT_EQ(0, count_pmd_faults(trace, st.st_ino, (uintptr_t)self->map,
				      (uintptr_t)self->map + FILE_LEN, &mapped,
				      &fallback));
	trace_set(trace, PMD_EVENT, "0");
	TH_LOG("%d PMD faults mapped, %d fell back to 4 KiB", mapped, fallback);
	/* a read fault and a write (upgrade) fault per 2 MiB piece at least */
	ASSERT_LE(pieces, mapped) TH_LOG("RDMA did not map the DAX file with PMDs");
	ASSERT_EQ(0, fallback);
}

TEST_HARNESS_MAIN
