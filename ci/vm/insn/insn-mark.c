// SPDX-License-Identifier: GPL-2.0
/*
 * usage: insn-mark PHASE
 *
 * Inside a guest run with ci/vm/insn/insn-phases.c's QEMU plugin: start
 * phase PHASE (0-255) of its instruction counts, by executing one
 * instruction at the address the plugin watches for it. Without the
 * plugin it does nothing visible.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define MARK_BASE	0x7e0000000000ULL	/* insn-phases.c's too */

int main(int argc, char **argv)
{
	unsigned long phase;
	unsigned char *code;
	char *end;

	if (argc != 2 || (phase = strtoul(argv[1], &end, 0)) > 255 || *end) {
		fprintf(stderr, "usage: insn-mark PHASE (0-255)\n");
		return 2;
	}
	code = mmap((void *)(MARK_BASE + phase * 4096), 4096,
		    PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code == MAP_FAILED) {
		perror("insn-mark: mmap");
		return 1;
	}
	code[0] = 0xc3;	/* ret */
	((void (*)(void))code)();
	return 0;
}
