// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_stall   (ODP_ONLY=<substring>[,<substring>...] runs only the tests
 *                     whose name contains one of them, e.g.
 *                     ODP_ONLY=stall_then,destroy_qp)
 *
 * A data-path fault on an ODP MR that blocks for a long time: the MR maps
 * a file of a FUSE file system served by this tool (raw /dev/fuse
 * protocol, in a forked child), whose READ handler holds the requests
 * until the test answers them. An RDMA READ from the MR makes rxe's
 * responder queue the page's fault, whose work waits for the FUSE READ
 * holding a reference to the MR (and mmap_lock of this process for
 * reading), while the responder holds the request.
 *
 * - stall_then_answer: the READ is answered after a short delay and the
 *   RDMA READ completes with the file's data.
 * - dereg_while_fault_stalls: ibv_dereg_mr() while the fault is held for
 *   STALL_S seconds, longer than the 50 s rxe's pool waits for the
 *   references of an object (__rxe_cleanup() in rxe_pool.c) before it
 *   warns and frees the object anyway. The deregistration must not return
 *   while the fault can still use the MR; once the READ is answered it
 *   returns 0, the RDMA READ completes (success or a remote access
 *   error) and the device still works.
 * - post_send_does_not_wait_for_a_fault: ibv_post_send() of an RDMA WRITE
 *   whose source is the file. The requester needs the fault, which must
 *   not be taken in the system call: the post returns while the FUSE READ
 *   is held, and the WRITE completes with the file's data after it.
 * - destroy_qp_while_fault_stalls: ibv_destroy_qp() of both QPs while the
 *   responder's fault is held: the kernel must destroy both at once (the
 *   fault holds the MR, not the QP), and the device must work after. The
 *   provider then munmap()s the QP's rings, which waits for the answer:
 *   the fault holds mmap_lock for reading, as hmm_range_fault() does for
 *   every driver. So the verdict is that 5 s into the hold each call has
 *   returned or is in munmap().
 *
 * The QPs of these tests retransmit for ever (retry_cnt 7), so that the
 * completion of the stalled RDMA READ comes from the responder's answer,
 * not from the requester giving up. While the fault is held, anything
 * that needs mmap_lock of this process for writing (munmap, mmap) waits
 * for it, and so, once such a writer waits, does every page fault of the
 * process: the test mlockall()s what it maps before the FUSE file, and
 * its threads touch their stack and malloc() beforehand.
 *
 * Needs root (mount, unshare, mlockall) and the fuse module (modprobe'd
 * if /dev/fuse is missing; skipped without it). Each test mounts in a
 * mount namespace of its own, on a tmpfs /tmp of its own, so that nothing
 * outlives the test process; the server child dies with it (the
 * connection then aborts, and a fault still held fails).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kselftest_harness.h"
#include "pattern.h"
#include "rdma_loop.h"

/* How long the FUSE READ is held in the dereg and destroy tests: longer
 * than rxe's pool wait (50 s, __rxe_cleanup()), shorter than the hung
 * task detector's 120 s.
 */
#define STALL_S		60
/* ... and in stall_then_answer */
#define SHORT_STALL_MS	2000
/* how long an operation may take once the READ is answered */
#define AFTER_S		60

#define FILE_LEN	(1U << 20)
#define FILE_NAME	"data"
#define FILE_INO	2
#define SEED		0x5ea11ULL
/* the stalled RDMA READ: 64 KiB from the middle of the file */
#define XFER		(64 * 1024)
#define XFER_OFF	(256 * 1024)
#define READ_WR_ID	0x57a11

#define FS_MAX_WRITE	(128 * 1024)
#define FS_BUF		(FS_MAX_WRITE + 64 * 1024)
#define FS_MAX_PENDING	256

/*
 * Skip from FIXTURE_SETUP: the 6.1 harness runs the body after a setup
 * that called SKIP(); jump back to the wrapper's setjmp() instead.
 */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

/* ------------------------------------------------------------------ */
/* The FUSE server: one regular file FILE_NAME of FILE_LEN bytes of the
 * SEED pattern; READs are held while ctl->stall is set.
 */

/* Shared (MAP_SHARED) between the test and the server child. */
struct fs_ctl {
	atomic_int stall;	/* hold READ requests */
	atomic_int quit;
	atomic_int inited;	/* FUSE_INIT answered */
	atomic_int reads;	/* READ requests received */
	atomic_int held;	/* READ requests held so far */
	atomic_int pending;	/* READ requests held now */
	atomic_int answered;	/* READ requests answered */
	atomic_int refused;	/* replies the kernel refused */
	atomic_ullong first_held_off;
	atomic_uint first_held_size;
};

struct fs {
	char dir[64];
	char path[96];
	pid_t pid;
	int efd;		/* wakes the server: stall changed, or quit */
	struct fs_ctl *ctl;
	dev_t dev;
	bool mounted;
};

struct fs_req {
	uint64_t unique;
	uint64_t off;
	uint32_t size;
};

static char fs_data[FILE_LEN];	/* the server's copy of the file */

static void fs_reply(int fd, struct fs_ctl *ctl, uint64_t unique, int error,
		     const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = error, .unique = unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { (void *)data, len },
	};

	/* ENOENT: the request was interrupted or aborted meanwhile */
	if (writev(fd, iov, len ? 2 : 1) != (ssize_t)oh.len && errno != ENOENT)
		atomic_fetch_add(&ctl->refused, 1);
}

static void fs_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0444;
		a->nlink = 1;
		a->size = FILE_LEN;
		a->blocks = FILE_LEN / 512;
	}
}

static void fs_answer_read(int fd, struct fs_ctl *ctl, const struct fs_req *r)
{
	size_t len = 0;

	if (r->off < FILE_LEN)
		len = FILE_LEN - r->off < r->size ? FILE_LEN - r->off : r->size;
	fs_reply(fd, ctl, r->unique, 0, fs_data + r->off, len);
	atomic_fetch_add(&ctl->answered, 1);
}

static void fs_handle(int fd, struct fs_ctl *ctl, char *buf, size_t n,
		      struct fs_req *held, int *nheld)
{
	struct fuse_in_header *in = (void *)buf;
	void *arg = in + 1;

	if (n < sizeof(*in))
		return;
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = arg;
		struct fuse_init_out out = {
			.major = FUSE_KERNEL_VERSION,
			.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
				 ii->minor : FUSE_KERNEL_MINOR_VERSION,
			.max_readahead = ii->max_readahead,
			/* no FUSE_ASYNC_READ: a fault waits in the request */
			.flags = 0,
			.max_background = 16,
			.congestion_threshold = 12,
			.max_write = FS_MAX_WRITE,
			.time_gran = 1,
		};

		fs_reply(fd, ctl, in->unique, 0, &out, sizeof(out));
		atomic_store(&ctl->inited, 1);
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out out = {
			.nodeid = FILE_INO, .generation = 1,
			.entry_valid = 3600, .attr_valid = 3600,
		};

		if (in->nodeid != FUSE_ROOT_ID || strcmp(arg, FILE_NAME)) {
			fs_reply(fd, ctl, in->unique, -ENOENT, NULL, 0);
			break;
		}
		fs_attr(&out.attr, FILE_INO);
		fs_reply(fd, ctl, in->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out out = { .attr_valid = 3600 };

		if (in->nodeid != FUSE_ROOT_ID && in->nodeid != FILE_INO) {
			fs_reply(fd, ctl, in->unique, -ENOENT, NULL, 0);
			break;
		}
		fs_attr(&out.attr, in->nodeid);
		fs_reply(fd, ctl, in->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_OPEN: {
		const struct fuse_open_in *oi = arg;
		struct fuse_open_out out = { .fh = 1 };

		if (in->nodeid != FILE_INO)
			fs_reply(fd, ctl, in->unique, -EISDIR, NULL, 0);
		else if ((oi->flags & O_ACCMODE) != O_RDONLY)
			fs_reply(fd, ctl, in->unique, -EACCES, NULL, 0);
		else
			fs_reply(fd, ctl, in->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_READ: {
		const struct fuse_read_in *ri = arg;
		struct fs_req r = {
			.unique = in->unique, .off = ri->offset, .size = ri->size,
		};

		atomic_fetch_add(&ctl->reads, 1);
		if (atomic_load(&ctl->stall) && *nheld < FS_MAX_PENDING) {
			if (!atomic_fetch_add(&ctl->held, 1)) {
				atomic_store(&ctl->first_held_off, r.off);
				atomic_store(&ctl->first_held_size, r.size);
			}
			held[(*nheld)++] = r;
			atomic_store(&ctl->pending, *nheld);
		} else {
			fs_answer_read(fd, ctl, &r);
		}
		break;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		fs_reply(fd, ctl, in->unique, 0, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		break;		/* no reply */
	case FUSE_STATFS: {
		struct fuse_statfs_out out = {
			.st = {
				.blocks = FILE_LEN / 4096, .files = 2,
				.bsize = 4096, .namelen = 255, .frsize = 4096,
			},
		};

		fs_reply(fd, ctl, in->unique, 0, &out, sizeof(out));
		break;
	}
	default:
		/* INTERRUPT too: -ENOSYS makes the kernel stop sending them */
		fs_reply(fd, ctl, in->unique, -ENOSYS, NULL, 0);
		break;
	}
}

/* The server child's loop: /dev/fuse requests, and wake-ups on @efd. */
static void __attribute__((noreturn))
fs_serve(int fd, int efd, struct fs_ctl *ctl)
{
	static struct fs_req held[FS_MAX_PENDING];
	static char buf[FS_BUF];
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN }, { .fd = efd, .events = POLLIN },
	};
	int nheld = 0, i;
	uint64_t v;
	ssize_t n;

	pattern_fill(fs_data, 0, FILE_LEN, SEED);
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents & POLLIN) {
			if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
			if (atomic_load(&ctl->quit))
				break;
			if (!atomic_load(&ctl->stall)) {
				for (i = 0; i < nheld; i++)
					fs_answer_read(fd, ctl, &held[i]);
				nheld = 0;
				atomic_store(&ctl->pending, 0);
			}
		}
		if (pfd[0].revents & POLLIN) {
			n = read(fd, buf, sizeof(buf));
			if (n < 0) {
				/* ENOENT: a request interrupted before we got it */
				if (errno == EINTR || errno == EAGAIN ||
				    errno == ENOENT)
					continue;
				break;	/* ENODEV: unmounted or aborted */
			}
			fs_handle(fd, ctl, buf, n, held, &nheld);
		} else if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			break;
		}
	}
	_exit(0);
}

static void fs_wake(struct fs *fs)
{
	uint64_t one = 1;

	if (write(fs->efd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "# eventfd write: %s\n", strerror(errno));
}

static void fs_stall(struct fs *fs)
{
	atomic_store(&fs->ctl->stall, 1);
}

/* Answer the held READs (and all later ones at once). */
static void fs_release(struct fs *fs)
{
	if (!fs->ctl)
		return;
	atomic_store(&fs->ctl->stall, 0);
	fs_wake(fs);
}

static int fs_wait(atomic_int *v, int want, long long ms)
{
	long long deadline = now_ms() + ms;

	while (atomic_load(v) != want) {
		if (now_ms() > deadline)
			return -1;
		usleep(5000);
	}
	return 0;
}

/* Wait until at least one READ is held: the fault is waiting for it. */
static int fs_wait_held(struct fs *fs, long long ms)
{
	long long deadline = now_ms() + ms;

	while (atomic_load(&fs->ctl->pending) < 1) {
		if (now_ms() > deadline)
			return -1;
		usleep(5000);
	}
	return 0;
}

/* Abort the connection (/sys/fs/fuse/connections/<minor>/abort). */
static int fs_abort(struct fs *fs)
{
	const char *conns = "/sys/fs/fuse/connections";
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%u/abort", conns, minor(fs->dev));
	fd = open(path, O_WRONLY);
	if (fd < 0 && errno == ENOENT) {
		/* fusectl not mounted (in this private mount namespace) */
		mount("fusectl", conns, "fusectl", 0, NULL);
		fd = open(path, O_WRONLY);
	}
	if (fd < 0)
		return -1;
	ret = write(fd, "1", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * Mount the file system on a folder of a new tmpfs /tmp, in a mount
 * namespace of this test process (all of it goes away with the process,
 * however it ends), and start the server child (killed when this process
 * dies: the connection then aborts and a held fault fails). Returns 0, 1
 * to skip, or -1 (with @why).
 */
static int fs_start(struct fs *fs, char *why, size_t whylen)
{
	char opts[128];
	struct stat st;
	pid_t parent = getpid();
	int fd;

	memset(fs, 0, sizeof(*fs));
	fs->efd = -1;
	/* /dev/fuse is checked below, whatever modprobe said */
	if (access("/dev/fuse", F_OK) && system("modprobe fuse >/dev/null 2>&1"))
		fprintf(stderr, "# modprobe fuse failed\n");
	if (access("/dev/fuse", F_OK)) {
		snprintf(why, whylen, "no /dev/fuse (modprobe fuse failed)");
		return 1;
	}
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		snprintf(why, whylen, "private mount namespace: %s",
			 strerror(errno));
		return errno == EPERM ? 1 : -1;
	}
	/* a /tmp of this namespace's own: the folder goes away with it too */
	if (mount("odp_stall", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=1m,mode=1777")) {
		snprintf(why, whylen, "tmpfs on /tmp: %s", strerror(errno));
		return -1;
	}
	snprintf(fs->dir, sizeof(fs->dir), "/tmp/odp_stall.XXXXXX");
	if (!mkdtemp(fs->dir)) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		fs->dir[0] = 0;
		return -1;
	}
	snprintf(fs->path, sizeof(fs->path), "%s/%s", fs->dir, FILE_NAME);
	fs->ctl = mmap(NULL, sizeof(*fs->ctl), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fs->ctl == MAP_FAILED) {
		fs->ctl = NULL;
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		return -1;
	}
	memset(fs->ctl, 0, sizeof(*fs->ctl));
	fs->efd = eventfd(0, EFD_CLOEXEC);
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fs->efd < 0 || fd < 0) {
		snprintf(why, whylen, "eventfd or /dev/fuse: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd);
	if (mount("odp_stall", fs->dir, "fuse", MS_NOSUID | MS_NODEV, opts)) {
		snprintf(why, whylen, "mount -t fuse: %s", strerror(errno));
		close(fd);
		return errno == EPERM ? 1 : -1;
	}
	fs->mounted = true;
	fflush(stdout);
	fflush(stderr);
	fs->pid = fork();
	if (fs->pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		fs->pid = 0;
		close(fd);
		return -1;
	}
	if (!fs->pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		fs_serve(fd, fs->efd, fs->ctl);
	}
	/* the server's copy is the only one: the connection ends with it */
	close(fd);
	if (fs_wait(&fs->ctl->inited, 1, 20000)) {
		snprintf(why, whylen, "the FUSE server did not answer FUSE_INIT");
		return -1;
	}
	if (stat(fs->dir, &st) || stat(fs->path, &st)) {
		snprintf(why, whylen, "stat %s: %s", fs->path, strerror(errno));
		return -1;
	}
	fs->dev = st.st_dev;
	if (st.st_size != FILE_LEN) {
		snprintf(why, whylen, "%s has %lld bytes", fs->path,
			 (long long)st.st_size);
		return -1;
	}
	return 0;
}

/* Tear down whatever fs_start() set up; fine to call on a partial start. */
static void fs_stop(struct fs *fs)
{
	long long deadline;
	int status;

	if (fs->ctl && fs->pid > 0) {
		fs_release(fs);
		if (fs_wait(&fs->ctl->pending, 0, 5000)) {
			fprintf(stderr, "# FUSE READs still held: aborting the connection\n");
			if (fs_abort(fs))
				fprintf(stderr, "# abort through fusectl: %s\n",
					strerror(errno));
		}
	}
	if (fs->mounted && umount2(fs->dir, MNT_DETACH))
		fprintf(stderr, "# umount -l %s: %s\n", fs->dir, strerror(errno));
	fs->mounted = false;
	if (fs->pid > 0) {
		atomic_store(&fs->ctl->quit, 1);
		fs_wake(fs);
		deadline = now_ms() + 5000;
		while (waitpid(fs->pid, &status, WNOHANG) == 0) {
			if (now_ms() > deadline) {
				kill(fs->pid, SIGKILL);
				waitpid(fs->pid, &status, 0);
				break;
			}
			usleep(10000);
		}
		fs->pid = 0;
	}
	if (fs->dir[0])
		rmdir(fs->dir);
	fs->dir[0] = 0;
	if (fs->efd >= 0)
		close(fs->efd);
	fs->efd = -1;
	if (fs->ctl)
		munmap(fs->ctl, sizeof(*fs->ctl));
	fs->ctl = NULL;
}

/* ------------------------------------------------------------------ */
/* QPs that retransmit for ever */

static enum ibv_mtu env_mtu(void)
{
	const char *v = getenv("RXE_ODP_MTU");

	switch (v ? atoi(v) : 4096) {
	case 256: return IBV_MTU_256;
	case 512: return IBV_MTU_512;
	case 1024: return IBV_MTU_1024;
	case 2048: return IBV_MTU_2048;
	}
	return IBV_MTU_4096;
}

/*
 * Take @qp of rdma_loop through RESET again to RTS as rdma_loop_connect()
 * does, but with retry_cnt 7, which rxe takes as "retry for ever": the
 * requester of a READ whose responder is held in a fault keeps
 * retransmitting (every ~1 s) instead of failing after 6 retries.
 */
static int qp_patient(struct rdma_loop *lp, struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = env_mtu();
	a.dest_qp_num = dest;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = lp->gid;
	a.ah_attr.grh.sgid_index = lp->gid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 18;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 16;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			     IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
}

/* ------------------------------------------------------------------ */
/* A verb run from a thread of its own, started once the fault is held */

struct op {
	const char *name;
	struct ibv_mr *mr;	/* ibv_dereg_mr() of this, */
	struct ibv_qp *qp;	/* or ibv_destroy_qp() of this, */
	struct ibv_send_wr *wr;	/* or ibv_post_send() of this on qp */
	pthread_t thread;
	bool created, sent;
	int go;			/* eventfd: start (or cancel) */
	pid_t tid;
	atomic_int started, done, cancel;
	double t_start, t_end;	/* now_s() */
	int ret, err;
	/* 5 s into the hold, still in the call but in munmap() */
	bool in_munmap;
};

#define NR_OPS	2

/*
 * Touch @kb KiB of stack now: a fault of this thread later would need
 * mmap_lock, which a writer queued behind the held fault would block
 * (see FIXTURE_SETUP).
 */
static void __attribute__((noinline)) prefault_stack(int kb)
{
	volatile char buf[128 * 1024];
	int i;

	for (i = 0; i < kb * 1024 && i < (int)sizeof(buf); i += 4096)
		buf[i] = 0;
}

static void *op_main(void *arg)
{
	struct op *op = arg;
	void *volatile warm;	/* volatile: the compiler drops malloc + free */
	uint64_t v;

	op->tid = syscall(SYS_gettid);
	prefault_stack(64);
	/*
	 * glibc sets up a thread's malloc cache (and arena: mmap) on its
	 * first malloc() or free(): the provider's free() after the verb
	 * would otherwise wait for mmap_lock behind the held fault.
	 */
	warm = malloc(64);
	free(warm);
	atomic_store(&op->started, 1);
	if (read(op->go, &v, sizeof(v)) != sizeof(v) ||
	    atomic_load(&op->cancel))
		return NULL;
	op->t_start = now_s();
	if (op->mr) {
		op->ret = ibv_dereg_mr(op->mr);
	} else if (op->wr) {
		struct ibv_send_wr *bad;

		op->ret = ibv_post_send(op->qp, op->wr, &bad);
	} else {
		op->ret = ibv_destroy_qp(op->qp);
	}
	op->err = errno;
	op->t_end = now_s();
	atomic_store(&op->done, 1);
	return NULL;
}

static int op_create(struct op *op, const char *name, struct ibv_mr *mr,
		     struct ibv_qp *qp)
{
	op->name = name;
	op->mr = mr;
	op->qp = qp;
	op->go = eventfd(0, EFD_CLOEXEC);
	if (op->go < 0)
		return -1;
	if (pthread_create(&op->thread, NULL, op_main, op))
		return -1;
	op->created = true;
	while (!atomic_load(&op->started))
		usleep(1000);
	return 0;
}

static void op_go(struct op *op)
{
	uint64_t one = 1;

	if (!op->created)
		return;
	op->sent = true;
	if (write(op->go, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "# eventfd write: %s\n", strerror(errno));
}

/* Join the thread if it has finished (or does within @ms): 0, or -1. */
static int op_join(struct op *op, long long ms)
{
	struct timespec ts;

	if (!op->created)
		return 0;
	if (!op->sent) {
		/* not told to start (a test that failed before): cancel */
		atomic_store(&op->cancel, 1);
		op_go(op);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(op->thread, NULL, &ts))
		return -1;
	op->created = false;
	close(op->go);
	return 0;
}

/*
 * The kernel stack of thread @tid, on one line ("a <- b <- c"), from
 * /proc (root, CONFIG_STACKTRACE). No stdio: malloc() could need brk(),
 * that is mmap_lock for writing, which the held fault delays.
 */
static void kstack(pid_t tid, char *out, size_t len)
{
	char path[64], buf[2048], *p, *q, *end;
	size_t o = 0;
	ssize_t n;
	int fd, lines = 0;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(out, len, "(%s: %s)", path, strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(out, len, "(empty)");
		return;
	}
	buf[n] = 0;
	/* lines "[<0>] func+0x1/0x2": keep the names of the first 8 */
	for (p = buf; *p && lines < 8 && o + 1 < len; p = end + 1, lines++) {
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		q = strchr(p, ' ');
		if (q && q < end) {
			char *plus = memchr(q, '+', end - q);
			int w = (plus ? plus : end) - (q + 1);

			o += snprintf(out + o, len - o, "%s%.*s",
				      lines ? " <- " : "", w, q + 1);
		}
		if (!*end)
			break;
	}
}

/* ------------------------------------------------------------------ */

FIXTURE(stall) {
	struct fs fs;
	struct rdma_loop lp;
	int file_fd;
	char *map;		/* the FUSE file, MAP_SHARED, PROT_READ */
	struct ibv_mr *odp_mr;	/* ODP, remote read, over map */
	char *lbuf;		/* pinned destination of the READs */
	struct ibv_mr *lmr;
	struct op op[NR_OPS];
};

/* Whether ODP_ONLY selects test @name (or is unset). */
static bool selected(const char *name)
{
	const char *only = getenv("ODP_ONLY"), *p;
	size_t n;

	if (!only)
		return true;
	for (p = only; *p; p += n + (p[n] == ',')) {
		char want[128];

		n = strcspn(p, ",");
		snprintf(want, sizeof(want), "%.*s", (int)n, p);
		if (n && strstr(name, want))
			return true;
	}
	return false;
}

FIXTURE_SETUP(stall)
{
	char why[256];
	int ret;

	if (!selected(_metadata->name))
		SKIP_SETUP("not selected by ODP_ONLY=%s", getenv("ODP_ONLY"));

	self->file_fd = -1;
	self->map = MAP_FAILED;
	self->lbuf = MAP_FAILED;
	/* the server child is forked before any verbs object exists */
	ret = fs_start(&self->fs, why, sizeof(why));
	if (ret > 0) {
		fs_stop(&self->fs);
		SKIP_SETUP("%s", why);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", why);

	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, qp_patient(&self->lp, self->lp.qp[0], self->lp.qp[1]->qp_num));
	ASSERT_EQ(0, qp_patient(&self->lp, self->lp.qp[1], self->lp.qp[0]->qp_num));
	/*
	 * While the fault is held, rxe's kworker holds mmap_lock of this
	 * process for reading; a verb that unmaps (the provider's
	 * ibv_destroy_qp() unmaps the QP's rings) then waits for it for
	 * writing, and from then on every page fault of this process waits
	 * too, including the test's own (code, PLT, stack) while it is the
	 * one to answer the READ. Map all this process uses now: the FUSE
	 * file, mapped below, stays out.
	 */
	prefault_stack(128);
	ASSERT_EQ(0, mlockall(MCL_CURRENT)) TH_LOG("mlockall: %s", strerror(errno));

	self->file_fd = open(self->fs.path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->file_fd) TH_LOG("open %s: %s", self->fs.path,
					   strerror(errno));
	self->map = mmap(NULL, FILE_LEN, PROT_READ, MAP_SHARED, self->file_fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->odp_mr = ibv_reg_mr(self->lp.pd, self->map, FILE_LEN,
				  IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, self->odp_mr) TH_LOG("ODP MR over the FUSE file: %s",
					     strerror(errno));

	self->lbuf = mmap(NULL, XFER, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->lbuf);
	memset(self->lbuf, 0xa5, XFER);
	self->lmr = rdma_loop_reg(&self->lp, self->lbuf, XFER, 0);
	ASSERT_NE(NULL, self->lmr);
	/* nothing may have read the file yet: the READ must fault */
	ASSERT_EQ(0, atomic_load(&self->fs.ctl->reads));
}

FIXTURE_TEARDOWN(stall)
{
	int i;

	/* a held fault ends first: the verbs below may wait for it */
	fs_release(&self->fs);
	for (i = 0; i < NR_OPS; i++)
		if (op_join(&self->op[i], 1000 * AFTER_S))
			fprintf(stderr, "# %s did not return\n", self->op[i].name);
	if (self->odp_mr)
		ibv_dereg_mr(self->odp_mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
	if (self->lbuf != MAP_FAILED)
		munmap(self->lbuf, XFER);
	if (self->map != MAP_FAILED)
		munmap(self->map, FILE_LEN);
	if (self->file_fd >= 0)
		close(self->file_fd);
	fs_stop(&self->fs);
}

/* Post the RDMA READ of [XFER_OFF, + XFER) of the file into lbuf. */
static int post_file_read(struct rdma_loop *lp, struct ibv_qp *qp,
			  struct ibv_mr *lmr, char *lbuf, struct ibv_mr *rmr,
			  char *map)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)lbuf, .length = XFER, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = READ_WR_ID, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = {
			.remote_addr = (uintptr_t)(map + XFER_OFF),
			.rkey = rmr->rkey,
		},
	}, *bad;

	memset(lbuf, 0xa5, XFER);
	return ibv_post_send(qp, &wr, &bad);
}

/* A completion on @cq if there is one: 1 (*@wc set), 0, or -1. */
static int poll_one(struct ibv_cq *cq, struct ibv_wc *wc)
{
	return ibv_poll_cq(cq, 1, wc);
}

static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, long long ms)
{
	long long deadline = now_ms() + ms;
	int n;

	do {
		n = poll_one(cq, wc);
		if (n)
			return n;
		usleep(1000);
	} while (now_ms() < deadline);
	return 0;
}

/*
 * After the stall: new QPs, RDMA WRITE and READ between pinned MRs with
 * the data checked, then an RDMA READ of the file through an ODP MR
 * (@odp_mr, or a new one over the mapping if NULL). 0, or -1 with @why.
 */
static int device_check(struct rdma_loop *lp, struct ibv_mr *odp_mr,
			char *map, char *why, size_t whylen)
{
	const size_t len = 64 * 1024;
	struct ibv_mr *a_mr = NULL, *b_mr = NULL, *f_mr = odp_mr;
	char *a, *b;
	long bad;
	int st, ret = -1;

	if (rdma_loop_connect(lp)) {
		snprintf(why, whylen, "rdma_loop_connect: %s", strerror(errno));
		return -1;
	}
	a = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		return -1;
	}
	b = a + len;
	memset(a, 0, 2 * len);
	a_mr = rdma_loop_reg(lp, a, len, 0);
	b_mr = rdma_loop_reg(lp, b, len, 0);
	if (!a_mr || !b_mr) {
		snprintf(why, whylen, "pinned MRs: %s", strerror(errno));
		goto out;
	}
	st = rdma_loop_write_pattern(lp, a_mr, a, b_mr, b, 0, len, 4096, 77);
	bad = pattern_bad(b, 0, len, 77);
	if (st || bad != -1) {
		snprintf(why, whylen, "pinned RDMA WRITE: status %d, bad word at %ld",
			 st, bad);
		goto out;
	}
	pattern_fill(b, 0, len, 78);
	st = rdma_loop_read_back(lp, a_mr, a, b_mr, b, 0, len, 4096);
	bad = pattern_bad(a, 0, len, 78);
	if (st || bad != -1) {
		snprintf(why, whylen, "pinned RDMA READ: status %d, bad word at %ld",
			 st, bad);
		goto out;
	}
	if (!f_mr)
		f_mr = ibv_reg_mr(lp->pd, map, FILE_LEN,
				  IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ);
	if (!f_mr) {
		snprintf(why, whylen, "new ODP MR over the file: %s",
			 strerror(errno));
		goto out;
	}
	memset(a, 0xa5, len);
	st = rdma_loop_read(lp, a_mr, a, f_mr, map, len);
	bad = pattern_bad(a, 0, len, SEED);
	if (st || bad != -1) {
		snprintf(why, whylen, "RDMA READ of the file through an ODP MR: status %d, bad word at %ld",
			 st, bad);
		goto out;
	}
	ret = 0;
out:
	if (f_mr && f_mr != odp_mr)
		ibv_dereg_mr(f_mr);
	if (a_mr)
		ibv_dereg_mr(a_mr);
	if (b_mr)
		ibv_dereg_mr(b_mr);
	munmap(a, 2 * len);
	return ret;
}

/*
 * The responder's fault waits for a FUSE READ answered after
 * SHORT_STALL_MS: the RDMA READ completes then, with the file's data.
 */
TEST_F_TIMEOUT(stall, stall_then_answer, 90)
{
	struct ibv_wc wc = {};
	double t0, t1;

	fs_stall(&self->fs);
	ASSERT_EQ(0, post_file_read(&self->lp, self->lp.qp[0], self->lmr,
				    self->lbuf, self->odp_mr, self->map));
	t0 = now_s();
	ASSERT_EQ(0, fs_wait_held(&self->fs, 30000))
		TH_LOG("no FUSE READ reached the server: the responder did not fault through FUSE");
	TH_LOG("FUSE READ held %.2f s after the post (offset %llu, %u bytes)",
	       now_s() - t0, atomic_load(&self->fs.ctl->first_held_off),
	       atomic_load(&self->fs.ctl->first_held_size));
	usleep(SHORT_STALL_MS * 1000);
	/* no data exists yet: no completion either */
	ASSERT_EQ(0, poll_one(self->lp.cq[0], &wc))
		TH_LOG("a completion (status %s) before the FUSE READ was answered",
		       ibv_wc_status_str(wc.status));
	t1 = now_s();
	fs_release(&self->fs);
	ASSERT_EQ(1, wait_wc(self->lp.cq[0], &wc, 30000))
		TH_LOG("no completion within 30 s of the answer");
	TH_LOG("completion %.2f s after the answer: %s", now_s() - t1,
	       ibv_wc_status_str(wc.status));
	ASSERT_EQ(READ_WR_ID, wc.wr_id);
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status);
	ASSERT_EQ(-1, pattern_bad(self->lbuf, XFER_OFF, XFER, SEED));
	ASSERT_EQ(0, atomic_load(&self->fs.ctl->refused));
}

/*
 * Start the op threads, hold the FUSE READ for STALL_S seconds, logging
 * the calls that return meanwhile, a completion of the RDMA READ, and the
 * kernel stacks of the threads still in their call now and then; then
 * answer it. Returns the time of the answer; op[i].done before it is
 * early[i].
 */
static double hold_and_answer(struct __test_metadata *_metadata,
			      FIXTURE_DATA(stall) *self, bool *early,
			      int *early_wc, struct ibv_wc *wc)
{
	bool logged[NR_OPS] = {};
	struct op *op;
	char stack[512];
	double t_go, t;
	int i, s;

	TH_LOG("FUSE READ held (offset %llu, %u bytes): starting %s%s%s",
	       atomic_load(&self->fs.ctl->first_held_off),
	       atomic_load(&self->fs.ctl->first_held_size), self->op[0].name,
	       self->op[1].created ? " and " : "",
	       self->op[1].created ? self->op[1].name : "");
	t_go = now_s();
	for (i = 0; i < NR_OPS; i++)
		op_go(&self->op[i]);
	TH_LOG("holding the FUSE READ for %d s (rxe's pool waits 50 s)", STALL_S);
	for (s = 1; s <= STALL_S * 10; s++) {
		usleep(100 * 1000);
		for (i = 0; i < NR_OPS; i++) {
			op = &self->op[i];
			if (!op->created || logged[i] || !atomic_load(&op->done))
				continue;
			logged[i] = true;
			TH_LOG("+%.1f s: %s returned %d (%s), before the FUSE READ was answered",
			       op->t_end - t_go, op->name, op->ret,
			       op->ret ? strerror(op->err) : "ok");
		}
		if (!*early_wc && poll_one(self->lp.cq[0], wc) == 1) {
			*early_wc = 1;
			TH_LOG("+%.1f s: completion %s (wr_id %#llx) before the FUSE READ was answered",
			       now_s() - t_go, ibv_wc_status_str(wc->status),
			       (unsigned long long)wc->wr_id);
		}
		if (s != 50 && s != 10 * (STALL_S - 15) && s != 10 * (STALL_S - 5))
			continue;
		for (i = 0; i < NR_OPS; i++) {
			op = &self->op[i];
			if (!op->created || atomic_load(&op->done))
				continue;
			kstack(op->tid, stack, sizeof(stack));
			TH_LOG("+%.1f s: %s still in the kernel: %s",
			       now_s() - t_go, op->name, stack);
			if (s == 50)
				op->in_munmap = strstr(stack, "munmap");
		}
	}
	for (i = 0; i < NR_OPS; i++)
		early[i] = atomic_load(&self->op[i].done);
	t = now_s();
	fs_release(&self->fs);
	TH_LOG("+%.1f s: answered the FUSE READ (%d READs held, %d received)",
	       t - t_go, atomic_load(&self->fs.ctl->held),
	       atomic_load(&self->fs.ctl->reads));
	return t;
}

/* Join op @i after the answer at @t_ans and log its outcome. */
static int op_finish(struct __test_metadata *_metadata,
		     FIXTURE_DATA(stall) *self, int i, double t_ans, bool early)
{
	struct op *op = &self->op[i];

	if (op_join(op, 1000 * AFTER_S)) {
		TH_LOG("%s did not return within %d s of the answer", op->name,
		       AFTER_S);
		return -1;
	}
	TH_LOG("%s returned %d after %.1f s, %.1f s %s the answer", op->name,
	       op->ret, op->t_end - op->t_start,
	       early ? t_ans - op->t_end : op->t_end - t_ans,
	       early ? "before" : "after");
	return 0;
}

/*
 * The bug: ibv_dereg_mr() while the responder's fault on the MR is held
 * in FUSE for longer than rxe's pool waits. The MR's memory must not be
 * freed (and the deregistration not return) while the fault can still
 * return into it.
 */
TEST_F_TIMEOUT(stall, dereg_while_fault_stalls, 200)
{
	struct op *op = &self->op[0];
	bool early[NR_OPS] = {};
	struct ibv_wc wc = {};
	int early_wc = 0, got;
	char why[256];
	double t_ans;

	ASSERT_EQ(0, op_create(op, "ibv_dereg_mr(ODP MR)", self->odp_mr, NULL));
	fs_stall(&self->fs);
	ASSERT_EQ(0, post_file_read(&self->lp, self->lp.qp[0], self->lmr,
				    self->lbuf, self->odp_mr, self->map));
	ASSERT_EQ(0, fs_wait_held(&self->fs, 30000))
		TH_LOG("no FUSE READ reached the server: the responder did not fault through FUSE");

	t_ans = hold_and_answer(_metadata, self, early, &early_wc, &wc);

	ASSERT_EQ(0, op_finish(_metadata, self, 0, t_ans, early[0]));
	if (!op->ret)
		self->odp_mr = NULL;
	EXPECT_EQ(0, op->ret) TH_LOG("%s", strerror(op->err));
	EXPECT_FALSE(early[0])
		TH_LOG("ibv_dereg_mr() returned while the fault on the MR was still held");

	got = early_wc ? 1 : wait_wc(self->lp.cq[0], &wc, 1000 * AFTER_S);
	ASSERT_EQ(1, got) TH_LOG("the RDMA READ never completed");
	TH_LOG("RDMA READ completion: %s (%s the answer)",
	       ibv_wc_status_str(wc.status), early_wc ? "before" : "after");
	ASSERT_EQ(READ_WR_ID, wc.wr_id);
	if (wc.status != IBV_WC_REM_ACCESS_ERR) {
		ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
			TH_LOG("status %s: neither success nor a remote access error",
			       ibv_wc_status_str(wc.status));
		ASSERT_EQ(-1, pattern_bad(self->lbuf, XFER_OFF, XFER, SEED));
	}
	ASSERT_EQ(0, device_check(&self->lp, NULL, self->map, why, sizeof(why)))
		TH_LOG("the device after the stall: %s", why);
}

#define WRITE_WR_ID	0x3417e

/*
 * The requester's fault: an RDMA WRITE from the file (through the ODP MR,
 * local read access) into lbuf. ibv_post_send() runs the requester in its
 * system call; it must return without waiting for the held FUSE READ,
 * and the WRITE complete with the file's data once the READ is answered.
 */
TEST_F_TIMEOUT(stall, post_send_does_not_wait_for_a_fault, 120)
{
	struct op *op = &self->op[0];
	struct ibv_sge sge = {
		.addr = (uintptr_t)(self->map + XFER_OFF), .length = XFER,
		.lkey = self->odp_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = WRITE_WR_ID, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = {
			.remote_addr = (uintptr_t)self->lbuf,
			.rkey = self->lmr->rkey,
		},
	};
	struct ibv_wc wc = {};
	bool early;
	double t_ans;

	op->wr = &wr;
	ASSERT_EQ(0, op_create(op, "ibv_post_send(RDMA WRITE from the file)",
			       NULL, self->lp.qp[0]));
	fs_stall(&self->fs);
	op_go(op);
	ASSERT_EQ(0, fs_wait_held(&self->fs, 30000))
		TH_LOG("no FUSE READ reached the server: the requester did not fault through FUSE");
	/* ample time for a post that does not wait to have returned */
	usleep(SHORT_STALL_MS * 1000);
	early = atomic_load(&op->done);
	ASSERT_EQ(0, poll_one(self->lp.cq[0], &wc))
		TH_LOG("a completion (status %s) before the FUSE READ was answered",
		       ibv_wc_status_str(wc.status));
	t_ans = now_s();
	fs_release(&self->fs);
	ASSERT_EQ(0, op_finish(_metadata, self, 0, t_ans, early));
	ASSERT_EQ(0, op->ret) TH_LOG("ibv_post_send: %s", strerror(op->err));
	EXPECT_TRUE(early)
		TH_LOG("ibv_post_send() waited for the page fault: it returned %.1f s after the FUSE READ was answered, %.1f s after the call",
		       op->t_end - t_ans, op->t_end - op->t_start);
	ASSERT_EQ(1, wait_wc(self->lp.cq[0], &wc, 30000))
		TH_LOG("no completion within 30 s of the answer");
	ASSERT_EQ(WRITE_WR_ID, wc.wr_id);
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("status %s", ibv_wc_status_str(wc.status));
	ASSERT_EQ(-1, pattern_bad(self->lbuf, XFER_OFF, XFER, SEED));
	ASSERT_EQ(0, atomic_load(&self->fs.ctl->refused));
}

/*
 * ibv_destroy_qp() of the responder, whose task is held in the fault, and
 * of the requester, from two threads at once: documents how long each
 * takes and whether it returns before the FUSE READ is answered (TH_LOG);
 * checks that both complete once it is and that the device works after.
 */
TEST_F_TIMEOUT(stall, destroy_qp_while_fault_stalls, 200)
{
	bool early[NR_OPS] = {};
	struct ibv_wc wc = {};
	int early_wc = 0, i;
	char why[256];
	double t_ans;

	ASSERT_EQ(0, op_create(&self->op[0], "ibv_destroy_qp(responder qp[1])",
			       NULL, self->lp.qp[1]));
	ASSERT_EQ(0, op_create(&self->op[1], "ibv_destroy_qp(requester qp[0])",
			       NULL, self->lp.qp[0]));
	fs_stall(&self->fs);
	ASSERT_EQ(0, post_file_read(&self->lp, self->lp.qp[0], self->lmr,
				    self->lbuf, self->odp_mr, self->map));
	ASSERT_EQ(0, fs_wait_held(&self->fs, 30000))
		TH_LOG("no FUSE READ reached the server: the responder did not fault through FUSE");

	t_ans = hold_and_answer(_metadata, self, early, &early_wc, &wc);

	for (i = 0; i < NR_OPS; i++)
		ASSERT_EQ(0, op_finish(_metadata, self, i, t_ans, early[i]));
	/* destroyed, or not: either way not for rdma_loop to destroy */
	self->lp.qp[0] = self->lp.qp[1] = NULL;
	for (i = 0; i < NR_OPS; i++) {
		struct op *op = &self->op[i];

		EXPECT_EQ(0, op->ret) TH_LOG("%s: %s", op->name,
					     strerror(op->err));
		EXPECT_TRUE(early[i] || op->in_munmap)
			TH_LOG("%s: the kernel waited for the fault held in FUSE",
			       op->name);
	}
	if (!early_wc && poll_one(self->lp.cq[0], &wc) == 1)
		early_wc = 2;
	if (early_wc)
		TH_LOG("the RDMA READ completed %s the answer: %s",
		       early_wc == 1 ? "before" : "after",
		       ibv_wc_status_str(wc.status));
	else
		TH_LOG("no completion of the RDMA READ (its QP was destroyed)");
	ASSERT_EQ(0, device_check(&self->lp, self->odp_mr, self->map, why,
				  sizeof(why)))
		TH_LOG("the device after the stall: %s", why);
}

TEST_HARNESS_MAIN
