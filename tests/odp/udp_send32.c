// SPDX-License-Identifier: GPL-2.0
/*
 * A 32-bit (i386) process that sends UDP datagrams to 127.0.0.1:4791, for
 * rxe_hardening: rdma_rxe processes a packet sent over lo in the sender's
 * softirq, so with this sender `current` is a compat task, whose
 * TASK_SIZE is 4 GiB, while rxe writes into a 64-bit process's MR.
 *
 * Freestanding (no 32-bit libc needed to build it): gcc -m32 -nostdlib
 * -static. Protocol on stdin/stdout: it binds 127.0.0.1 with an ephemeral
 * port and writes that port (2 bytes, host order); then, for each packet
 * it reads (2 bytes of length, host order, then the bytes), it sends it
 * with DF set (so its IP ID is 0) and answers one byte: 0 sent, 1 not.
 * It exits at end of input.
 */

#define NR_EXIT		1
#define NR_READ		3
#define NR_WRITE	4
#define NR_SOCKETCALL	102

/* socketcall(2) calls */
#define SYS_SOCKET	1
#define SYS_BIND	2
#define SYS_GETSOCKNAME	6
#define SYS_SENDTO	11
#define SYS_SETSOCKOPT	14

#define AF_INET		2
#define SOCK_DGRAM	2
#define IPPROTO_IP	0
#define IP_MTU_DISCOVER	10
#define IP_PMTUDISC_DO	2
#define ROCE_PORT	4791
#define LOOPBACK	0x7f000001u
#define MAX_PKT		9000

struct sockaddr_in4 {
	unsigned short family;
	unsigned short port;	/* network order */
	unsigned int addr;	/* network order */
	unsigned char zero[8];
};

static long sys3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile ("int $0x80"
			  : "=a" (ret)
			  : "a" (nr), "b" (a), "c" (b), "d" (c)
			  : "memory");
	return ret;
}

static long sockcall(long call, unsigned long *args)
{
	return sys3(NR_SOCKETCALL, call, (long)args, 0);
}

static unsigned short be16(unsigned short v)
{
	return (unsigned short)((v >> 8) | (v << 8));
}

static unsigned int be32(unsigned int v)
{
	return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) |
	       (v << 24);
}

/* all of @len bytes from stdin, or not */
static int read_all(void *buf, long len)
{
	char *p = buf;

	while (len > 0) {
		long n = sys3(NR_READ, 0, (long)p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static void __attribute__((noreturn)) quit(int code)
{
	for (;;)
		sys3(NR_EXIT, code, 0, 0);
}

static int run(void)
{
	static unsigned char pkt[MAX_PKT];
	struct sockaddr_in4 me = {
		.family = AF_INET, .addr = be32(LOOPBACK),
	};
	struct sockaddr_in4 to = {
		.family = AF_INET, .port = be16(ROCE_PORT),
		.addr = be32(LOOPBACK),
	};
	int pmtu = IP_PMTUDISC_DO, melen = sizeof(me);
	unsigned long args[6];
	unsigned short port, len;
	long fd;

	args[0] = AF_INET;
	args[1] = SOCK_DGRAM;
	args[2] = 0;
	fd = sockcall(SYS_SOCKET, args);
	if (fd < 0)
		return 1;
	args[0] = fd;
	args[1] = IPPROTO_IP;
	args[2] = IP_MTU_DISCOVER;
	args[3] = (unsigned long)&pmtu;
	args[4] = sizeof(pmtu);
	if (sockcall(SYS_SETSOCKOPT, args))
		return 1;
	args[1] = (unsigned long)&me;
	args[2] = sizeof(me);
	if (sockcall(SYS_BIND, args))
		return 1;
	args[2] = (unsigned long)&melen;
	if (sockcall(SYS_GETSOCKNAME, args))
		return 1;
	port = be16(me.port);
	if (sys3(NR_WRITE, 1, (long)&port, sizeof(port)) != sizeof(port))
		return 1;

	while (!read_all(&len, sizeof(len))) {
		unsigned char status;

		if (len > MAX_PKT || read_all(pkt, len))
			return 1;
		args[0] = fd;
		args[1] = (unsigned long)pkt;
		args[2] = len;
		args[3] = 0;
		args[4] = (unsigned long)&to;
		args[5] = sizeof(to);
		status = sockcall(SYS_SENDTO, args) != len;
		if (sys3(NR_WRITE, 1, (long)&status, 1) != 1)
			return 1;
	}
	return 0;
}

/* entered with the stack 16-byte aligned, not as a called function */
void __attribute__((noreturn, force_align_arg_pointer)) _start(void)
{
	quit(run());
}
