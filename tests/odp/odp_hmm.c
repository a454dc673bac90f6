// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_hmm   (ODP_ONLY=<substring> runs only the matching tests;
 *                   needs `modprobe test_hmm`, i.e. the debug bench kernel)
 *
 * RDMA on ODP MRs whose pages a "GPU" has taken: the kernel's test_hmm
 * driver (/dev/hmm_dmirror0) migrates anonymous pages into device-private
 * memory (ZONE_DEVICE pages the CPU cannot reach). rxe's access faults
 * them back with hmm_range_fault(), which calls the driver's migrate_to_ram:
 *
 * - WRITE/READ/atomics/SEND on device-private pages: data intact, the
 *   pages rxe touched are system memory again (HMM_DMIRROR_SNAPSHOT), the
 *   others still on the device, and odp_faults counts the faults;
 * - migrations to the device in the middle of streaming WRITE/READ;
 * - a storm: one thread migrates the buffer to the device and back in a
 *   loop while RDMA WRITE/READ/fetch-add run with data checks;
 * - ibv_advise_mr PREFETCH_NO_FAULT maps nothing of device-private pages
 *   and leaves them there; PREFETCH brings them back;
 * - device-coherent memory (/dev/hmm_dmirror2, when test_hmm has
 *   spm_addr_dev0/1): RDMA on pages there works in place and leaves them
 *   there, where a pinned registration migrates them back.
 *
 * Built against the kselftest harness of linux-source-6.1; run inside a
 * bench guest (rxe0 on lo) with our provider (ibv_advise_mr).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kselftest_harness.h"
#include "pattern.h"
#include "rdma_loop.h"

/*
 * test_hmm's ioctl interface (lib/test_hmm_uapi.h of the kernel tree),
 * declared here since the header is not installed.
 */
struct hmm_dmirror_cmd {
	__u64 addr;	/* first page of the range, in our address space */
	__u64 ptr;	/* our buffer the driver reads or writes */
	__u64 npages;
	__u64 cpages;	/* out: pages the command handled */
	__u64 faults;	/* out: device faults seen */
};

#define DMIRROR_IOC(nr)			_IOWR('H', nr, struct hmm_dmirror_cmd)
/* ptr gets a copy of the data now in device memory */
#define HMM_DMIRROR_MIGRATE_TO_DEV	DMIRROR_IOC(0x02)
#define HMM_DMIRROR_MIGRATE_TO_SYS	DMIRROR_IOC(0x03)
/* ptr gets one state byte per page, SNAP_* below */
#define HMM_DMIRROR_SNAPSHOT		DMIRROR_IOC(0x04)

#define SNAP_ERROR		0xff
#define SNAP_READ		0x01
#define SNAP_WRITE		0x02
#define SNAP_KIND		0xf0	/* which memory, when mapped */
#define SNAP_DEV_PRIVATE_HERE	0x20	/* device-private of this mirror */

#define DMIRROR_DEV	"/dev/hmm_dmirror0"
#define PAGE		4096UL
#define BUF_LEN		(1UL << 20)
#define NPAGES		(BUF_LEN / PAGE)
#define XFER		(64 * 1024)
#define QUARTER		(BUF_LEN / 4)
/* pause between two storm rounds: see STORM_PAUSE_US in odp_invalidate.c */
#define STORM_PAUSE_US	2000
/* rxe's bound on a fault's retries (RXE_ODP_FAULT_TIMEOUT_MS in rxe_odp.h) */
#define FAULT_GIVE_UP_MS	1000

#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(hmm) {
	struct rdma_loop lp;
	int dev;		/* the mirror: our "GPU" */
	char *buf;		/* anonymous memory of the ODP MR */
	struct ibv_mr *mr;
	char *local;		/* pinned, 2 * BUF_LEN: source, then sink */
	struct ibv_mr *lmr;
	char *bounce;		/* what MIGRATE_TO_DEV copies back */
	unsigned char perm[NPAGES];
};

FIXTURE_SETUP(hmm)
{
	const char *only = getenv("ODP_ONLY");

	if (only && !strstr(_metadata->name, only))
		SKIP_SETUP("not selected by ODP_ONLY=%s", only);
	self->dev = open(DMIRROR_DEV, O_RDWR);
	if (self->dev < 0)
		SKIP_SETUP("no %s (%s): test_hmm is only in the debug kernel (modprobe test_hmm)",
			   DMIRROR_DEV, strerror(errno));
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("open rxe device: %s",
						       strerror(errno));
	self->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	/* migrate_vma moves 4 KiB pages */
	ASSERT_EQ(0, madvise(self->buf, BUF_LEN, MADV_NOHUGEPAGE));
	self->mr = rdma_loop_reg(&self->lp, self->buf, BUF_LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP ibv_reg_mr: %s", strerror(errno));
	self->local = mmap(NULL, 2 * BUF_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->local);
	self->lmr = rdma_loop_reg(&self->lp, self->local, 2 * BUF_LEN, 0);
	ASSERT_NE(NULL, self->lmr);
	self->bounce = malloc(BUF_LEN);
	ASSERT_NE(NULL, self->bounce);
}

FIXTURE_TEARDOWN(hmm)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
	free(self->bounce);
	close(self->dev);
}

/* One mirror command on buf[off, off + len): 0 or -errno; *@done = cpages. */
static int dmirror(int dev, unsigned long req, char *addr, size_t len,
		   void *out, unsigned long *done)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .ptr = (uintptr_t)out,
		.npages = len / PAGE,
	};
	int ret;

	do
		ret = ioctl(dev, req, &cmd);
	while (ret && errno == EINTR);
	if (ret)
		return -errno;
	if (done)
		*done = cmd.cpages;
	return 0;
}

/* Migrate buf[off, off + len) to the device: pages moved, or -errno. */
static long to_dev(FIXTURE_DATA(hmm) *self, size_t off, size_t len)
{
	unsigned long done = 0;
	int ret = dmirror(self->dev, HMM_DMIRROR_MIGRATE_TO_DEV, self->buf + off,
			  len, self->bounce + off, &done);

	return ret ? ret : (long)done;
}

static long to_sys(FIXTURE_DATA(hmm) *self, size_t off, size_t len)
{
	unsigned long done = 0;
	int ret = dmirror(self->dev, HMM_DMIRROR_MIGRATE_TO_SYS, self->buf + off,
			  len, NULL, &done);

	return ret ? ret : (long)done;
}

static bool on_device(unsigned char perm)
{
	return perm != SNAP_ERROR && (perm & SNAP_KIND) == SNAP_DEV_PRIVATE_HERE;
}

/* Mapped to system memory (present, not device memory, not the zero page). */
static bool in_ram(unsigned char perm)
{
	return perm != SNAP_ERROR && !(perm & SNAP_KIND) &&
	       (perm & (SNAP_READ | SNAP_WRITE));
}

/*
 * Snapshot buf[off, off + len) (without faulting anything) and count the
 * pages on the device and in RAM: -errno if the snapshot failed.
 */
static int snapshot(FIXTURE_DATA(hmm) *self, size_t off, size_t len,
		    unsigned long *dev, unsigned long *ram)
{
	unsigned char *perm = self->perm + off / PAGE;
	unsigned long i;
	int ret;

	ret = dmirror(self->dev, HMM_DMIRROR_SNAPSHOT, self->buf + off, len,
		      perm, NULL);
	*dev = *ram = 0;
	for (i = 0; !ret && i < len / PAGE; i++) {
		*dev += on_device(perm[i]);
		*ram += in_ram(perm[i]);
	}
	return ret;
}

static long long counter(FIXTURE_DATA(hmm) *self, const char *name)
{
	return rdma_loop_counter(&self->lp, name);
}

/* All port counters of the device, to log what moved around a failure. */
struct counters {
	int n;
	char name[48][32];
	long long val[48];
};

static void counters_read(FIXTURE_DATA(hmm) *self, struct counters *c)
{
	char dir[128], path[512];
	struct dirent *d;
	DIR *dp;
	FILE *f;

	/* ib_core caches the values for 10 ms */
	usleep(20 * 1000);
	c->n = 0;
	snprintf(dir, sizeof(dir), "/sys/class/infiniband/%s/ports/1/hw_counters",
		 self->lp.dev_name);
	dp = opendir(dir);
	while (dp && (d = readdir(dp)) && c->n < 48) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lld", &c->val[c->n]) == 1)
			snprintf(c->name[c->n++], 32, "%.31s", d->d_name);
		fclose(f);
	}
	if (dp)
		closedir(dp);
}

/* Log the counters that changed since @before. */
static void counters_log(struct __test_metadata *_metadata,
			 FIXTURE_DATA(hmm) *self, const struct counters *before)
{
	struct counters now;
	char line[1024];
	int i, j, len = 0;

	counters_read(self, &now);
	line[0] = 0;
	for (i = 0; i < now.n; i++)
		for (j = 0; j < before->n; j++)
			if (!strcmp(now.name[i], before->name[j]) &&
			    now.val[i] != before->val[j] && len < 900)
				len += snprintf(line + len, sizeof(line) - len,
						" %s+%lld", now.name[i],
						now.val[i] - before->val[j]);
	TH_LOG("counters:%s", line);
}

static int write_range(FIXTURE_DATA(hmm) *self, size_t off, size_t len,
		       uint64_t seed)
{
	return rdma_loop_write_pattern(&self->lp, self->lmr, self->local,
				       self->mr, self->buf, off, len, XFER, seed);
}

/* RDMA READ buf[off, off + len) into local[off, off + len). */
static int read_range(FIXTURE_DATA(hmm) *self, size_t off, size_t len)
{
	return rdma_loop_read_back(&self->lp, self->lmr, self->local, self->mr,
				   self->buf, off, len, XFER);
}

/* Fill the buffer with @seed and move all of it to the device, checked. */
static void all_to_device(struct __test_metadata *_metadata,
			  FIXTURE_DATA(hmm) *self, uint64_t seed)
{
	unsigned long dev, ram;
	long long inval;

	pattern_fill(self->buf, 0, BUF_LEN, seed);
	/* map every page in the MR first, so the migration has to unmap them */
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, BUF_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, seed));
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ((long)NPAGES, to_dev(self, 0, BUF_LEN));
	ASSERT_EQ(-1, pattern_bad(self->bounce, 0, BUF_LEN, seed))
		TH_LOG("device memory got other data");
	ASSERT_LT(inval, counter(self, "odp_invalidations"))
		TH_LOG("migration to the device did not invalidate the ODP MR");
	ASSERT_EQ(0, snapshot(self, 0, BUF_LEN, &dev, &ram));
	ASSERT_EQ(NPAGES, dev) TH_LOG("%lu of %lu pages device-private", dev, NPAGES);
}

enum where { IN_RAM, ON_DEVICE };

/* Snapshot [off, off + len): every page in RAM, or every page on the device. */
static void expect_pages(struct __test_metadata *_metadata,
			 FIXTURE_DATA(hmm) *self, size_t off, size_t len,
			 enum where where)
{
	unsigned long dev, ram;

	ASSERT_EQ(0, snapshot(self, off, len, &dev, &ram));
	ASSERT_EQ(len / PAGE, where == IN_RAM ? ram : dev)
		TH_LOG("[%zu, %zu): %lu pages in RAM, %lu on the device, first state %#x",
		       off, off + len, ram, dev, self->perm[off / PAGE]);
}

/*
 * RDMA on device-private pages: each access brings the pages it touches
 * back (and only those), with their data.
 */
TEST_F(hmm, rdma_brings_device_pages_back)
{
	size_t q1 = 0, q2 = QUARTER, q3 = 2 * QUARTER, q4 = 3 * QUARTER;
	uint64_t *target = (uint64_t *)(self->buf + q3 + PAGE + 8);
	uint64_t *result = (uint64_t *)(self->local + BUF_LEN);
	uint64_t old = pattern_word(1, q3 + PAGE + 8);
	long long faults;
	char *expect;

	all_to_device(_metadata, self, 1);

	/* READ from device pages */
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, q1, QUARTER));
	ASSERT_EQ(-1, pattern_bad(self->local + q1, q1, QUARTER, 1));
	ASSERT_LT(faults, counter(self, "odp_faults"));
	expect_pages(_metadata, self, q1, QUARTER, IN_RAM);
	expect_pages(_metadata, self, q2, BUF_LEN - q2, ON_DEVICE);

	/* WRITE into device pages */
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, q2, QUARTER, 2));
	ASSERT_LT(faults, counter(self, "odp_faults"));
	expect_pages(_metadata, self, q2, QUARTER, IN_RAM);
	expect_pages(_metadata, self, q3, BUF_LEN - q3, ON_DEVICE);

	/* atomics on one device page */
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_fetch_add(&self->lp, self->lmr, result,
						      self->mr, target, 3));
	ASSERT_EQ(old, *result) TH_LOG("fetch-add read another value");
	ASSERT_LT(faults, counter(self, "odp_faults"));
	expect_pages(_metadata, self, q3 + PAGE, PAGE, IN_RAM);
	expect_pages(_metadata, self, q3, PAGE, ON_DEVICE);
	expect_pages(_metadata, self, q3 + 2 * PAGE, QUARTER - 2 * PAGE, ON_DEVICE);
	ASSERT_EQ(1, to_dev(self, q3 + PAGE, PAGE))
		TH_LOG("could not move the atomic's page back to the device");
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_cmp_swap(&self->lp, self->lmr, result,
						     self->mr, target, old + 3, 7));
	ASSERT_EQ(old + 3, *result);
	expect_pages(_metadata, self, q3 + PAGE, PAGE, IN_RAM);

	/* SEND out of device pages, and into them */
	memset(self->local + BUF_LEN, 0, XFER);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_send(&self->lp, self->mr, self->buf + q4,
						 self->lmr, self->local + BUF_LEN,
						 XFER));
	ASSERT_EQ(-1, pattern_bad(self->local + BUF_LEN, q4, XFER, 1));
	pattern_fill(self->local + q4 + XFER, q4 + XFER, XFER, 4);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_send(&self->lp, self->lmr, self->local + q4 + XFER,
				 self->mr, self->buf + q4 + XFER, XFER));
	expect_pages(_metadata, self, q4, 2 * XFER, IN_RAM);
	expect_pages(_metadata, self, q4 + 2 * XFER, QUARTER - 2 * XFER, ON_DEVICE);

	/* the CPU sees it all (and brings the rest back itself) */
	expect = malloc(BUF_LEN);
	ASSERT_NE(NULL, expect);
	pattern_fill(expect, 0, BUF_LEN, 1);
	pattern_fill(expect + q2, q2, QUARTER, 2);
	pattern_fill(expect + q4 + XFER, q4 + XFER, XFER, 4);
	*(uint64_t *)(expect + q3 + PAGE + 8) = 7;
	ASSERT_EQ(0, memcmp(expect, self->buf, BUF_LEN));
	free(expect);
	expect_pages(_metadata, self, 0, BUF_LEN, IN_RAM);
}

struct traffic {
	struct rdma_loop *lp;
	struct ibv_mr *lmr, *mr;
	char *local, *buf;
	atomic_bool stop;
	atomic_long passes;
	long mismatches;
	int bad_status;
};

/* WRITE the whole buffer from local, READ it back into local + BUF_LEN, compare. */
static void *stream_traffic(void *arg)
{
	struct traffic *t = arg;
	char *sink = t->local + BUF_LEN;
	int st;

	while (!atomic_load(&t->stop)) {
		st = rdma_loop_stream(t->lp, IBV_WR_RDMA_WRITE, t->lmr, t->local,
				      t->mr, t->buf, XFER, BUF_LEN,
				      BUF_LEN / XFER, 8);
		memset(sink, 0, BUF_LEN);
		if (!st)
			st = rdma_loop_stream(t->lp, IBV_WR_RDMA_READ, t->lmr,
					      sink, t->mr, t->buf, XFER,
					      BUF_LEN, BUF_LEN / XFER, 8);
		if (st) {
			t->bad_status = st;
			break;
		}
		t->mismatches += !!memcmp(sink, t->local, BUF_LEN);
		atomic_fetch_add(&t->passes, 1);
	}
	return NULL;
}

static bool wait_passes(struct traffic *t, long n)
{
	long target = atomic_load(&t->passes) + n;
	int i;

	for (i = 0; i < 60000 && atomic_load(&t->passes) < target &&
	     !t->bad_status; i++)
		usleep(1000);
	return atomic_load(&t->passes) >= target;
}

/* Migrations to the device in the middle of streaming WRITE + READ. */
TEST_F_TIMEOUT(hmm, migrate_mid_stream, 300)
{
	struct traffic t = {
		.lp = &self->lp, .lmr = self->lmr, .mr = self->mr,
		.local = self->local, .buf = self->buf,
	};
	long long faults = counter(self, "odp_faults");
	unsigned long dev, ram, moved = 0;
	int round, odd = 0, rounds = 8;
	bool started;
	pthread_t thread;
	long ret;

	pattern_fill(self->local, 0, BUF_LEN, 5);
	ASSERT_EQ(0, pthread_create(&thread, NULL, stream_traffic, &t));
	started = wait_passes(&t, 1);
	for (round = 0; started && round < rounds; round++) {
		ret = to_dev(self, 0, BUF_LEN);
		if (ret > 0) {
			moved += ret;
		} else if (ret == -ENOENT) {
			/* some pages were busy: count the ones that moved */
			if (!snapshot(self, 0, BUF_LEN, &dev, &ram))
				moved += dev;
		} else {
			odd++;
		}
		wait_passes(&t, 1);
	}
	atomic_store(&t.stop, true);
	pthread_join(thread, NULL);
	TH_LOG("%d migrations moved %lu pages during %ld WRITE+READ passes",
	       rounds, moved, atomic_load(&t.passes));
	ASSERT_TRUE(started) TH_LOG("the RDMA stream made no progress");
	ASSERT_EQ(0, t.bad_status) TH_LOG("stream completion: %s",
					  t.bad_status < 0 ? "verbs error" :
					  ibv_wc_status_str(t.bad_status));
	ASSERT_EQ(0, t.mismatches) TH_LOG("READ returned other data than written");
	ASSERT_EQ(0, odd) TH_LOG("MIGRATE_TO_DEV failed otherwise than ENOENT");
	ASSERT_LT(0, moved) TH_LOG("no page went to the device");
	ASSERT_LT(faults, counter(self, "odp_faults"));

	/* whatever is still on the device comes back with the data */
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, BUF_LEN));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 5));
	expect_pages(_metadata, self, 0, BUF_LEN, IN_RAM);
}

struct storm {
	FIXTURE_DATA(hmm) *self;
	atomic_bool stop;
	long rounds, to_dev_pages, to_sys_pages, partial, failures;
	int failure;
};

/* Ping-pong the whole buffer between the device and RAM. */
static void *migration_storm(void *arg)
{
	struct storm *s = arg;
	unsigned long dev, ram;
	long ret;

	while (!atomic_load(&s->stop)) {
		ret = to_dev(s->self, 0, BUF_LEN);
		if (ret >= 0) {
			s->to_dev_pages += ret;
		} else if (ret == -ENOENT) {
			/*
			 * Some page was not on the device when the driver read
			 * the data back (RDMA had faulted it back already, or it
			 * was busy): count those that are there now.
			 */
			s->partial++;
			if (!snapshot(s->self, 0, BUF_LEN, &dev, &ram))
				s->to_dev_pages += dev;
		} else {
			s->failures++, s->failure = -ret;
		}
		usleep(STORM_PAUSE_US);
		ret = to_sys(s->self, 0, BUF_LEN);
		if (ret >= 0)
			s->to_sys_pages += ret;
		else
			s->failures++, s->failure = -ret;
		s->rounds++;
		usleep(STORM_PAUSE_US);
	}
	return NULL;
}

/*
 * One storm access: the status, with a remote access error accepted only
 * as rxe's bounded fault giving up (after at least RXE_ODP_FAULT_TIMEOUT_MS
 * of retries while invalidations kept coming): then the QPs are
 * reconnected and 1 is returned; a faster access error stays an error.
 */
static int storm_op(FIXTURE_DATA(hmm) *self, int st, long long took,
		    long *gave_up)
{
	if (st != IBV_WC_REM_ACCESS_ERR || took < FAULT_GIVE_UP_MS)
		return st;
	(*gave_up)++;
	return rdma_loop_connect(&self->lp) ? -1 : 1;
}

/*
 * RDMA WRITE/READ/fetch-add with checks while pages ping-pong. Every
 * migration invalidates the MR's whole notifier range, so under QEMU TCG a
 * fault can keep losing the race: rxe then gives up with a remote access
 * error after its bounded retries (see odp_invalidate's
 * storm_without_pause). Such accesses are counted, and skipped; all the
 * others must complete with the right data, and the fetch-add counter must
 * count exactly the adds that completed.
 */
TEST_F_TIMEOUT(hmm, migration_storm, 300)
{
	struct storm s = { .self = self };
	uint64_t *word = (uint64_t *)(self->buf + BUF_LEN - 8);
	uint64_t *result = (uint64_t *)(self->local + 2 * BUF_LEN - 8);
	long long faults = counter(self, "odp_faults");
	long long inval = counter(self, "odp_invalidations");
	long long retries = counter(self, "odp_fault_retries");
	long mismatches = 0, pairs = 0, gave_up = 0;
	int i, st = 0, adds = 0;
	const char *bad_op = NULL;
	long long start, took = 0;
	struct counters before;
	pthread_t thread;

	*word = 0;
	counters_read(self, &before);
	ASSERT_EQ(0, pthread_create(&thread, NULL, migration_storm, &s));
	for (i = 0; i < 200 && (st == 0 || st == 1); i++) {
		size_t off = (i * XFER) % (BUF_LEN - XFER);
		char *src = self->local, *sink = self->local + BUF_LEN;

		pattern_fill(src, off, XFER, 100 + i);
		bad_op = "WRITE";
		start = now_ms();
		st = rdma_loop_write(&self->lp, self->lmr, src, self->mr,
				     self->buf + off, XFER);
		took = now_ms() - start;
		if (st == IBV_WC_SUCCESS) {
			memset(sink, 0, XFER);
			bad_op = "READ";
			start = now_ms();
			st = rdma_loop_read(&self->lp, self->lmr, sink, self->mr,
					    self->buf + off, XFER);
			took = now_ms() - start;
			if (st == IBV_WC_SUCCESS) {
				pairs++;
				mismatches += pattern_bad(sink, off, XFER, 100 + i) != -1;
			}
		}
		st = storm_op(self, st, took, &gave_up);
		if (st)
			continue;	/* gave up (reconnected), or failed */
		bad_op = "FETCH_ADD";
		start = now_ms();
		st = rdma_loop_fetch_add(&self->lp, self->lmr, result,
					 self->mr, word, 1);
		took = now_ms() - start;
		if (st == IBV_WC_SUCCESS)
			mismatches += *result != (uint64_t)adds++;
		st = storm_op(self, st, took, &gave_up);
	}
	atomic_store(&s.stop, true);
	pthread_join(thread, NULL);
	TH_LOG("%ld WRITE+READ pairs and %d fetch-adds complete, %ld accesses gave up; storm: %ld rounds (%ld partial), %ld pages seen on the device, %ld moved back by the driver",
	       pairs, adds, gave_up, s.rounds, s.partial, s.to_dev_pages,
	       s.to_sys_pages);
	counters_log(_metadata, self, &before);
	ASSERT_TRUE(st == 0 || st == 1) TH_LOG("round %d: %s completed with %s after %lld ms",
				i - 1, bad_op,
				st < 0 ? "a verbs error" : ibv_wc_status_str(st),
				took);
	ASSERT_EQ(0, mismatches);
	ASSERT_EQ(0, s.failures) TH_LOG("a migration failed: %s", strerror(s.failure));
	ASSERT_EQ((uint64_t)adds, *word) TH_LOG("the counter missed or repeated adds");
	ASSERT_LT(0, pairs) TH_LOG("no WRITE+READ pair completed under the storm");
	ASSERT_LT(0, adds) TH_LOG("no fetch-add completed under the storm");
	ASSERT_LT(0, s.to_dev_pages) TH_LOG("no page went to the device");
	ASSERT_LT(0, s.to_sys_pages) TH_LOG("no page was on the device to come back");
	ASSERT_LT(faults, counter(self, "odp_faults"));
	ASSERT_LT(inval, counter(self, "odp_invalidations"));
	if (gave_up)
		ASSERT_LT(retries, counter(self, "odp_fault_retries"))
			TH_LOG("accesses gave up without fault retries");
}

static int advise(FIXTURE_DATA(hmm) *self, enum ibv_advise_mr_advice advice,
		  size_t off, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->buf + off, .length = len,
		.lkey = self->mr->lkey,
	};

	return ibv_advise_mr(self->lp.pd, advice, IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
}

/*
 * PREFETCH_NO_FAULT over device-private pages maps none of them and
 * leaves them on the device; PREFETCH migrates them back.
 */
TEST_F(hmm, prefetch_no_fault_leaves_device_pages)
{
	size_t half = BUF_LEN / 2;
	long long faults, prefetches;

	if (advise(self, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, PAGE) == EOPNOTSUPP)
		SKIP(return, "the provider has no advise_mr (stock librxe?)");
	all_to_device(_metadata, self, 6);

	prefetches = counter(self, "odp_prefetches");
	ASSERT_EQ(0, advise(self, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT, 0, BUF_LEN));
	ASSERT_LT(prefetches, counter(self, "odp_prefetches"));
	expect_pages(_metadata, self, 0, BUF_LEN, ON_DEVICE);

	/* nothing was mapped: RDMA on the first half has to fault */
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, half));
	ASSERT_LT(faults, counter(self, "odp_faults"))
		TH_LOG("NO_FAULT prefetch mapped device-private pages");
	ASSERT_EQ(-1, pattern_bad(self->local, 0, half, 6));
	expect_pages(_metadata, self, 0, half, IN_RAM);

	/* a faulting prefetch brings the second half back: no fault after it */
	expect_pages(_metadata, self, half, half, ON_DEVICE);
	ASSERT_EQ(0, advise(self, IBV_ADVISE_MR_ADVICE_PREFETCH, half, half));
	expect_pages(_metadata, self, half, half, IN_RAM);
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, half, half));
	ASSERT_EQ(faults, counter(self, "odp_faults"))
		TH_LOG("READ after PREFETCH still faulted");
	ASSERT_EQ(-1, pattern_bad(self->local + half, half, half, 6));
}

/* test_hmm's mirrors over device-coherent memory (spm_addr_dev0/1 given) */
#define DMIRROR_COHERENT_DEV	"/dev/hmm_dmirror2"
#define SNAP_DEV_COHERENT_HERE	0x40	/* device-coherent of this mirror */

/* Pages of buf[0, BUF_LEN) in @dev's device-coherent memory, or -errno. */
static long coherent_pages(FIXTURE_DATA(hmm) *self, int dev)
{
	unsigned long i, n = 0;
	int ret;

	ret = dmirror(dev, HMM_DMIRROR_SNAPSHOT, self->buf, BUF_LEN, self->perm,
		      NULL);
	if (ret)
		return ret;
	for (i = 0; i < NPAGES; i++)
		n += self->perm[i] != SNAP_ERROR &&
		     (self->perm[i] & SNAP_KIND) == SNAP_DEV_COHERENT_HERE;
	return n;
}

/*
 * Device-coherent memory (MEMORY_DEVICE_COHERENT: device memory the CPU
 * can address, as on some GPUs; test_hmm's mirrors 2 and 3 over RAM the
 * boot left out with memmap=): pages migrated there stay there under
 * RDMA. rxe reads, writes and does atomics on them in place, through the
 * kernel's mapping of that memory, and nothing migrates them back, where a
 * pinned registration of the same pages moves every one back to system
 * RAM first (FOLL_LONGTERM pins refuse device memory).
 */
TEST_F(hmm, coherent_pages_stay_in_place)
{
	uint64_t *target = (uint64_t *)(self->buf + QUARTER + 8);
	uint64_t *result = (uint64_t *)(self->local + BUF_LEN);
	unsigned long done = 0;
	long long inval, faults;
	struct ibv_mr *pin;
	uint64_t old;
	int dev;

	dev = open(DMIRROR_COHERENT_DEV, O_RDWR);
	if (dev < 0)
		SKIP(return, "no %s (%s): modprobe test_hmm spm_addr_dev0= spm_addr_dev1= over RAM left out with memmap= (ci/check does for the debug kernel)",
		     DMIRROR_COHERENT_DEV, strerror(errno));
	pattern_fill(self->buf, 0, BUF_LEN, 40);
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, BUF_LEN));
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(0, dmirror(dev, HMM_DMIRROR_MIGRATE_TO_DEV, self->buf, BUF_LEN,
			     self->bounce, &done));
	ASSERT_EQ(NPAGES, done);
	ASSERT_LT(inval, counter(self, "odp_invalidations"))
		TH_LOG("migration to coherent memory did not invalidate the ODP MR");
	ASSERT_EQ((long)NPAGES, coherent_pages(self, dev));

	/* READ, WRITE and an atomic, in place */
	faults = counter(self, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, read_range(self, 0, BUF_LEN));
	ASSERT_LT(faults, counter(self, "odp_faults"));
	ASSERT_EQ(-1, pattern_bad(self->local, 0, BUF_LEN, 40));
	ASSERT_EQ(IBV_WC_SUCCESS, write_range(self, 0, BUF_LEN, 41));
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 41));
	old = *target;
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_fetch_add(&self->lp, self->lmr, result,
						      self->mr, target, 5));
	ASSERT_EQ(old, *result);
	ASSERT_EQ(old + 5, *target);
	ASSERT_EQ((long)NPAGES, coherent_pages(self, dev))
		TH_LOG("RDMA migrated device-coherent pages back to system RAM");

	/* the contrast: a pinned MR takes them back to system RAM */
	pin = rdma_loop_reg(&self->lp, self->buf, BUF_LEN, 0);
	ASSERT_NE(NULL, pin) TH_LOG("pinned ibv_reg_mr: %s", strerror(errno));
	ASSERT_EQ(0, coherent_pages(self, dev));
	ASSERT_EQ(0, ibv_dereg_mr(pin));
	*target = pattern_word(41, QUARTER + 8);
	ASSERT_EQ(-1, pattern_bad(self->buf, 0, BUF_LEN, 41));
	close(dev);
}

TEST_HARNESS_MAIN
