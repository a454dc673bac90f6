// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_file   (ODP_ONLY=<substring> runs only the tests whose
 *                    "<fs>.<test>" name contains it, e.g. ODP_ONLY=xfs.evict)
 *
 * RDMA on ODP MRs over MAP_SHARED regular files in the page cache: tmpfs,
 * and ext4 and xfs mounted with dax=never on the legacy pmem block device
 * (memmap=512M!2G, `modprobe nd_e820 nd_pmem`), so that evicted pages are
 * read back from the device. Each block-device test makes a new file
 * system (it destroys what /dev/pmem0 holds).
 *
 * - RDMA WRITE dirties the page cache: after msync and umount + mount,
 *   read(2) gives exactly what RDMA wrote; what write(2) puts in the page
 *   cache is what RDMA READ returns;
 * - eviction (msync, MADV_PAGEOUT, POSIX_FADV_DONTNEED) takes the pages
 *   out of the page cache under the MR: RDMA faults them back from the
 *   device, where a pinned MR keeps them resident;
 * - writeback and eviction race a stream of RDMA WRITEs: writeback
 *   write-protects each page it cleans, so a later RDMA WRITE must fault
 *   it writable again, which dirties it again. A WRITE that went to a
 *   cleaned page without that is lost at the next eviction: the CPU's
 *   read after each round and the file after a remount would show it;
 * - truncate under the MR: RDMA beyond EOF fails with
 *   IBV_WC_REM_ACCESS_ERR, the file extended again reads as zeros and
 *   takes new writes.
 *
 * Faults and invalidations are checked with rxe's port counters. Needs
 * root; built against the kselftest harness of linux-source-6.1; run
 * inside a bench guest (rxe0 on lo).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fsfile.h"
#include "kselftest_harness.h"
#include "meminfo.h"
#include "pattern.h"
#include "rdma_loop.h"

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX	0x00200000
#endif

#define PMEM_DEV	"/dev/pmem0"
#define FILE_LEN	(4UL << 20)
#define XFER		(64 * 1024)
/* how long writeback_races_rdma_writes streams, and its least rounds */
#define RACE_SECONDS	4
#define RACE_ROUNDS	3

/*
 * Skip from FIXTURE_SETUP: jump back to the wrapper's setjmp() so that
 * neither the body nor the teardown runs (6.1's harness would run both).
 */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(file) {
	struct rdma_loop lp;
	char mnt[64];
	char path[96];
	int fd;
	bool mounted;
	char *map;		/* MAP_SHARED mapping of the file */
	struct ibv_mr *mr;	/* ODP MR over it */
	char *local;		/* pinned source/sink, offsets as in the file */
	struct ibv_mr *lmr;
	long page;
};

FIXTURE_VARIANT(file) {
	const char *fs;
	const char *mkfs;	/* NULL: tmpfs, no device */
};

FIXTURE_VARIANT_ADD(file, tmpfs) {
	.fs = "tmpfs",
};

FIXTURE_VARIANT_ADD(file, ext4) {
	.fs = "ext4",
	.mkfs = "mkfs.ext4 -q -F -b 4096 " PMEM_DEV,
};

FIXTURE_VARIANT_ADD(file, xfs) {
	.fs = "xfs",
	.mkfs = "mkfs.xfs -q -f -m reflink=0 " PMEM_DEV,
};

static int fs_mount(const char *fs, const char *mnt)
{
	if (!strcmp(fs, "tmpfs"))
		return mount("tmpfs", mnt, "tmpfs", 0, "size=64m");
	return mount(PMEM_DEV, mnt, fs, 0, "dax=never");
}

/* Whether the kernel accesses @fd with DAX (then it has no page cache). */
static bool file_is_dax(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx))
		return false;
	return stx.stx_attributes & stx.stx_attributes_mask & STATX_ATTR_DAX;
}

/* Open the file, map it, register the ODP MR over the mapping. */
static int file_open_reg(FIXTURE_DATA(file) *self)
{
	self->fd = open(self->path, O_RDWR | O_CREAT, 0600);
	if (self->fd < 0)
		return -1;
	if (ftruncate(self->fd, FILE_LEN))
		return -1;
	self->map = map_aligned(self->fd, FILE_LEN);
	if (self->map == MAP_FAILED)
		return -1;
	self->mr = rdma_loop_reg(&self->lp, self->map, FILE_LEN,
				 IBV_ACCESS_ON_DEMAND);
	return self->mr ? 0 : -1;
}

static void file_close_dereg(FIXTURE_DATA(file) *self)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	self->mr = NULL;
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, FILE_LEN);
	self->map = NULL;
	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
}

FIXTURE_SETUP(file)
{
	const char *only = getenv("ODP_ONLY");
	char name[128];
	int i, ret;

	snprintf(name, sizeof(name), "%s.%s", variant->fs, _metadata->name);
	if (only && !strstr(name, only))
		SKIP_SETUP("not selected by ODP_ONLY=%s", only);
	self->fd = -1;
	self->page = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("open rxe device: %s",
						       strerror(errno));
	self->local = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->local);
	self->lmr = rdma_loop_reg(&self->lp, self->local, FILE_LEN, 0);
	ASSERT_NE(NULL, self->lmr) TH_LOG("pinned ibv_reg_mr: %s", strerror(errno));
	if (variant->mkfs) {
		/* nd_pmem may still be probing right after modprobe */
		for (i = 0; i < 20 && access(PMEM_DEV, F_OK); i++)
			usleep(100 * 1000);
		if (access(PMEM_DEV, F_OK))
			SKIP_SETUP("no %s: needs memmap=512M!2G and modprobe nd_e820 nd_pmem",
				   PMEM_DEV);
		umount_stale(PMEM_DEV);
		ret = system(variant->mkfs);
		if (ret == -1 || (WIFEXITED(ret) && WEXITSTATUS(ret) == 127))
			SKIP_SETUP("cannot run '%s'", variant->mkfs);
		ASSERT_EQ(0, ret) TH_LOG("'%s' failed", variant->mkfs);
	}
	snprintf(self->mnt, sizeof(self->mnt), "/tmp/odp_file.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	ASSERT_EQ(0, fs_mount(variant->fs, self->mnt))
		TH_LOG("mount -t %s: %s", variant->fs, strerror(errno));
	self->mounted = true;
	snprintf(self->path, sizeof(self->path), "%s/data", self->mnt);

	/*
	 * A failed setup skips the teardown: unmount here, or the pmem device
	 * stays mounted for the tools that run after this one.
	 */
	ret = file_open_reg(self) ? -errno : file_is_dax(self->fd) ? 1 : 0;
	if (ret) {
		file_close_dereg(self);
		umount(self->mnt);
		rmdir(self->mnt);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", ret > 0 ? "the file is DAX: no page cache" :
				 strerror(-ret));
}

FIXTURE_TEARDOWN(file)
{
	file_close_dereg(self);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
	if (self->mounted && umount(self->mnt))
		TH_LOG("umount %s: %s", self->mnt, strerror(errno));
	rmdir(self->mnt);
}

static long long counter(FIXTURE_DATA(file) *self, const char *name)
{
	return rdma_loop_counter(&self->lp, name);
}

/* RDMA WRITE @seed's pattern over file bytes [off, off + len) of the mapping. */
static int write_range(FIXTURE_DATA(file) *self, size_t off, size_t len,
		       uint64_t seed)
{
	return rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
				       self->mr, self->map, off, len, XFER, seed);
}

/* RDMA READ file bytes [off, off + len) into the same offsets of local. */
static int read_range(FIXTURE_DATA(file) *self, size_t off, size_t len)
{
	return rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				   self->map, off, len, XFER);
}

/*
 * Everything closed, the file system unmounted and mounted again (tmpfs
 * keeps its contents only while mounted: there the file is only closed),
 * then the file opened, mapped and registered again.
 */
static int remount(FIXTURE_DATA(file) *self, const char *fs)
{
	file_close_dereg(self);
	if (strcmp(fs, "tmpfs")) {
		if (umount(self->mnt))
			return -1;
		self->mounted = false;
		if (fs_mount(fs, self->mnt))
			return -1;
		self->mounted = true;
	}
	return file_open_reg(self);
}

/*
 * Take the mapping's pages out of the page cache: write them back, unmap
 * and reclaim them (MADV_PAGEOUT; on tmpfs that is swap-out), and drop
 * what is left unmapped. Returns how many pages are still resident.
 */
static size_t evict(char *map, int fd)
{
	if (msync(map, FILE_LEN, MS_SYNC) ||
	    madvise(map, FILE_LEN, MADV_PAGEOUT) ||
	    posix_fadvise(fd, 0, FILE_LEN, POSIX_FADV_DONTNEED))
		return (size_t)-1;
	return resident(map, FILE_LEN);
}

/* Whether evict() can take pages of @fs away: tmpfs needs swap. */
static bool can_evict(const char *fs)
{
	return strcmp(fs, "tmpfs") || have_swap();
}

/*
 * RDMA WRITE lands in the page cache and, after msync, on the device:
 * read(2) after umount + mount gives what RDMA wrote. What write(2) puts
 * in the page cache, RDMA READ returns.
 */
TEST_F_TIMEOUT(file, rdma_write_reaches_the_file, 120)
{
	long long faults = counter(self, "odp_faults");

	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 1));
	ASSERT_LT(faults, counter(self, "odp_faults"));
	ASSERT_EQ(-1, pattern_bad(self->map, 0, FILE_LEN, 1));
	ASSERT_EQ(0, msync(self->map, FILE_LEN, MS_SYNC));
	ASSERT_EQ(0, remount(self, variant->fs)) TH_LOG("remount: %s", strerror(errno));
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, FILE_LEN, 1))
		TH_LOG("read(2) after a remount differs from what RDMA wrote");

	/* write(2) into the page cache of a mapped file, then RDMA READ */
	pattern_fill(self->local, 0, FILE_LEN, 2);
	ASSERT_EQ((ssize_t)FILE_LEN, pwrite(self->fd, self->local, FILE_LEN, 0));
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, FILE_LEN, 2));
}

/*
 * Pages evicted from the page cache while the MR maps them: RDMA READ
 * faults them back from the device, RDMA WRITE into evicted pages is on
 * the device after the next eviction. A pinned MR over the same mapping
 * keeps every page resident.
 */
TEST_F_TIMEOUT(file, evicted_pages_fault_back, 120)
{
	size_t pages = FILE_LEN / self->page, left;
	long long inval, faults;
	struct ibv_mr *pin;

	if (!can_evict(variant->fs))
		SKIP(return, "tmpfs pages leave memory only to swap: no swap here");
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 3));
	inval = counter(self, "odp_invalidations");
	left = evict(self->map, self->fd);
	TH_LOG("%zu of %zu pages resident after eviction", left, pages);
	ASSERT_GT(pages / 2, left);
	ASSERT_LT(inval, counter(self, "odp_invalidations"));

	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, FILE_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, FILE_LEN, 3));
	ASSERT_LT(faults, counter(self, "odp_faults"));

	/* written while out of the page cache, then out again */
	ASSERT_GT(pages / 2, evict(self->map, self->fd));
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 4));
	ASSERT_GT(pages / 2, evict(self->map, self->fd));
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, FILE_LEN, 4));
	ASSERT_EQ(-1, pattern_bad(self->map, 0, FILE_LEN, 4));

	/* the contrast: a pinned MR holds the page cache */
	pin = rdma_loop_reg(&self->lp, self->map, FILE_LEN, 0);
	ASSERT_NE(NULL, pin) TH_LOG("pinned ibv_reg_mr of the file: %s",
				    strerror(errno));
	left = evict(self->map, self->fd);
	ASSERT_EQ(0, ibv_dereg_mr(pin));
	ASSERT_EQ(pages, left);
}

struct flusher {
	char *map;
	int fd;
	atomic_bool stop;
	unsigned long syncs, evictions;
	int err;
};

/* Write the mapping back over and over; every other time evict it too. */
static void *flusher_run(void *arg)
{
	struct flusher *fl = arg;

	while (!atomic_load(&fl->stop)) {
		if (msync(fl->map, FILE_LEN, MS_SYNC)) {
			fl->err = errno;
			break;
		}
		fl->syncs++;
		if (fl->syncs % 2 == 0) {
			if (evict(fl->map, fl->fd) == (size_t)-1) {
				fl->err = errno;
				break;
			}
			fl->evictions++;
		}
		usleep(1000);
	}
	return NULL;
}

/*
 * Writeback (and eviction) while RDMA WRITEs stream into the file: after
 * every round the CPU reads what RDMA wrote, also from pages evicted
 * meanwhile, and after a remount the file holds the last round.
 */
TEST_F_TIMEOUT(file, writeback_races_rdma_writes, 180)
{
	struct flusher fl = { .map = self->map, .fd = self->fd };
	long long inval = counter(self, "odp_invalidations");
	uint64_t seed = 10, last = 0;
	double end = now_s() + RACE_SECONDS;
	long bad = -1;
	int st = IBV_WC_SUCCESS;
	unsigned int rounds = 0;
	pthread_t thr;

	if (!can_evict(variant->fs))
		SKIP(return, "tmpfs is written back only to swap: no swap here");
	ASSERT_EQ(0, pthread_create(&thr, NULL, flusher_run, &fl));
	while (now_s() < end || rounds < RACE_ROUNDS) {
		st = write_range(self, 0, FILE_LEN, seed);
		if (st != IBV_WC_SUCCESS)
			break;
		bad = pattern_bad(self->map, 0, FILE_LEN, seed);
		if (bad != -1)
			break;
		last = seed++;
		rounds++;
	}
	atomic_store(&fl.stop, true);
	pthread_join(thr, NULL);
	TH_LOG("%u rounds of RDMA WRITE, %lu msyncs, %lu evictions, %lld invalidations",
	       rounds, fl.syncs, fl.evictions,
	       counter(self, "odp_invalidations") - inval);
	ASSERT_EQ(0, fl.err) TH_LOG("msync/evict: %s", strerror(fl.err));
	ASSERT_EQ(IBV_WC_SUCCESS, st);
	ASSERT_EQ(-1, bad) TH_LOG("the CPU reads other data than RDMA wrote in round %u",
				  rounds);
	ASSERT_LE(RACE_ROUNDS, rounds);
	ASSERT_LT(0, fl.evictions);
	ASSERT_LT(inval, counter(self, "odp_invalidations"));

	ASSERT_EQ(0, msync(self->map, FILE_LEN, MS_SYNC));
	ASSERT_EQ(0, remount(self, variant->fs)) TH_LOG("remount: %s", strerror(errno));
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, FILE_LEN, last))
		TH_LOG("after a remount the file is not what RDMA wrote last");
}

/*
 * Truncate under the MR: RDMA beyond the new EOF fails (the fault would
 * be a SIGBUS for the CPU), data before it stays; extended again, the
 * range reads as zeros and takes new writes, which reach the file.
 */
TEST_F_TIMEOUT(file, truncate_and_extend, 120)
{
	size_t half = FILE_LEN / 2;

	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, FILE_LEN, 5));
	ASSERT_EQ(0, ftruncate(self->fd, half));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, write_range(self, half, XFER, 6));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, read_range(self, half, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, half));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, half, 5));

	ASSERT_EQ(0, ftruncate(self->fd, FILE_LEN));
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, half, half));
	ASSERT_EQ(-1, pattern_nonzero(self->local + half, half, half));
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, half, half, 6));
	ASSERT_EQ(0, msync(self->map, FILE_LEN, MS_SYNC));
	ASSERT_EQ(0, remount(self, variant->fs)) TH_LOG("remount: %s", strerror(errno));
	ASSERT_EQ(-1, file_bad_at(self->fd, 0, half, 5));
	ASSERT_EQ(-1, file_bad_at(self->fd, half, half, 6));
}

TEST_HARNESS_MAIN
