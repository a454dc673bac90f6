# SPDX-License-Identifier: GPL-2.0
#
# rxe-odp: Soft-RoCE with On-Demand Paging, built as a drop-in rdma_rxe.ko.
#
#   make                 build rdma_rxe.ko for KDIR (default: this host's 6.1 headers)
#                        and the rdma-core provider (userspace-provider/)
#   make KDIR=debug      build it against the project's debug kernel (ci/kernel/build)
#   make test-modules   build the test-only modules of tests/kmod for KDIR
#   make test-tools     build the userspace test tools of tests/odp
#   make install         module into /lib/modules/<release>/updates (+depmod), and
#                        the provider, preferred over the distribution's librxe
#   make uninstall       remove what install put there, restore the stock provider
#   make run             the main job: build, boot a VM, load ours, ODP traffic on rxe0
#   make check           build everything and run the whole test suite in VMs
#   make bench           ODP vs pinned benchmarks in a VM (figures, not pass/fail)
#   make fuzz            the packet and mapped-ring fuzzers in guests (FUZZ_SECONDS)
#   make kernel          build (once, cached) the debug guest kernel
#   make insn-tools      the QEMU plugin that counts guest kernel instructions
#                        per bench phase, and its guest-side marker (ci/vm/insn)

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD ?= $(TOP)/build

# Default target kernel: the running kernel's build tree when it is a
# 6.1 kernel with headers, else the newest installed Debian 6.1 headers.
HOST_KDIR := /lib/modules/$(shell uname -r)/build
DEB_KDIR := $(lastword $(sort $(wildcard /usr/src/linux-headers-6.1.*-amd64)))
ifeq ($(KDIR),debug)
override KDIR := $(shell $(TOP)/ci/kernel/build --print-dir)
endif
ifeq ($(KDIR),)
ifneq ($(wildcard $(HOST_KDIR)/Makefile),)
ifeq ($(findstring 6.1.,$(shell uname -r)),6.1.)
KDIR := $(HOST_KDIR)
endif
endif
endif
KDIR ?= $(DEB_KDIR)

KRELEASE = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
		 $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
OUT = $(BUILD)/$(KRELEASE)
RXE_TREE_ABS = $(OUT)/rxe/drivers/infiniband/sw/rxe
RXE_TREE = $(patsubst $(TOP)/%,%,$(RXE_TREE_ABS))
RXE_ODP_VERSION := $(shell git -C $(TOP) describe --always --dirty 2>/dev/null || echo unknown)
MODDIR = /lib/modules/$(KRELEASE)/updates/rxe-odp

.PHONY: all kdir-check modules tree provider test-modules test-tools install uninstall clean \
	kernel check run bench fuzz fuzz-tools insn-tools

all: modules provider

# The rdma-core provider (userspace-provider/), into build/provider/
provider:
	$(MAKE) -C $(TOP)/userspace-provider

kdir-check:
	@test -n "$(KDIR)" || { echo "no kernel headers: apt-get install linux-headers-amd64, or set KDIR" >&2; exit 1; }
	@test -n "$(KRELEASE)" || { echo "KDIR=$(KDIR) has no include/generated/utsrelease.h (not a prepared kernel tree)" >&2; exit 1; }

tree: kdir-check
	@case "$(RXE_TREE)" in /*) echo "BUILD=$(BUILD) must be inside $(TOP)" >&2; exit 1;; esac
	@echo "  ASSEMBLE $(RXE_TREE)"
	@$(TOP)/rxe-odp/assemble.sh $(KDIR) $(OUT)/rxe

modules: tree
	$(MAKE) -C $(KDIR) M=$(TOP) RXE_TREE=$(RXE_TREE) CONFIG_RDMA_RXE=m \
		RXE_ODP_VERSION=$(RXE_ODP_VERSION) modules
	@cp $(RXE_TREE_ABS)/rdma_rxe.ko $(OUT)/rdma_rxe.ko
	@echo "  MODULE  $(patsubst $(TOP)/%,%,$(OUT))/rdma_rxe.ko ($(KRELEASE), $(RXE_ODP_VERSION))"

# Test-only modules (tests/kmod), built in a copy so that the source folder
# stays clean.
test-modules: kdir-check
	@mkdir -p $(OUT)/kmod
	@cp $(TOP)/tests/kmod/Kbuild $(TOP)/tests/kmod/*.c $(OUT)/kmod/
	$(MAKE) -C $(KDIR) M=$(OUT)/kmod modules

# Userspace test tools (tests/odp), kselftest harness from linux-source
TEST_BIN := $(BUILD)/tests
TEST_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
KSFT_DIR = $(shell bash -c ". $(TOP)/ci/lib/common.sh && linux_source_tree")/tools/testing/selftests

test-tools: $(TEST_BIN)/odp_invalidate $(TEST_BIN)/odp_verbs $(TEST_BIN)/odp_prefetch \
	$(TEST_BIN)/odp_bench $(TEST_BIN)/odp_p2p $(TEST_BIN)/odp_dax $(TEST_BIN)/odp_file \
	$(TEST_BIN)/odp_hmm $(TEST_BIN)/odp_offline \
	$(TEST_BIN)/odp_torture $(TEST_BIN)/odp_prefetch_hold $(TEST_BIN)/odp_stall \
	$(TEST_BIN)/rxe_hardening $(TEST_BIN)/udp_send32 $(TEST_BIN)/mpi_check fuzz-tools

# tests/clients: programs the real-clients suite (tests/guest/test_clients.py)
# runs through the middleware they are written for
$(TEST_BIN)/mpi_check: $(TOP)/tests/clients/mpi_check.c
	@mkdir -p $(TEST_BIN)
	mpicc $(TEST_CFLAGS) -o $@ $<

# The fuzzers of tests/fuzz (make check runs a minute of each, make fuzz longer)
FUZZ_SRC := $(TOP)/tests/fuzz/fuzz_common.c $(TOP)/tests/fuzz/fuzz_common.h \
	$(TOP)/tests/odp/rdma_loop.c $(TOP)/tests/odp/rdma_loop.h

fuzz-tools: $(TEST_BIN)/rxe_pkt_fuzz $(TEST_BIN)/rxe_ring_fuzz

$(TEST_BIN)/rxe_pkt_fuzz $(TEST_BIN)/rxe_ring_fuzz: $(TEST_BIN)/%: $(TOP)/tests/fuzz/%.c $(FUZZ_SRC)
	@mkdir -p $(TEST_BIN)
	$(CC) $(TEST_CFLAGS) -I$(TOP)/userspace-provider -o $@ $(filter %.c,$^) \
		-libverbs -lnuma -lpthread

$(TEST_BIN)/%: $(TOP)/tests/odp/%.c $(TOP)/tests/odp/rdma_loop.c $(TOP)/tests/odp/rdma_loop.h \
	$(TOP)/tests/odp/pattern.h $(TOP)/tests/odp/clock.h $(TOP)/tests/odp/meminfo.h \
	$(TOP)/tests/odp/fsfile.h
	@mkdir -p $(TEST_BIN)
	$(CC) $(TEST_CFLAGS) -I$(KSFT_DIR) -o $@ $(filter %.c,$^) -libverbs -lnuma -lpthread -lm

# writes into our provider's rings through its structs
$(TEST_BIN)/rxe_hardening: $(TOP)/userspace-provider/rxe_odp.h \
	$(TOP)/userspace-provider/rxe_odp_abi.h

# rxe_hardening's 32-bit packet sender: freestanding, so that no i386
# libc is needed to build it
$(TEST_BIN)/udp_send32: $(TOP)/tests/odp/udp_send32.c
	@mkdir -p $(TEST_BIN)
	$(CC) -m32 -O2 -Wall -Wextra -nostdlib -static -ffreestanding -fno-pic \
		-fno-stack-protector -o $@ $<

# ci/vm/insn: a QEMU plugin (loaded by ci/vm/run --insn-phases) and the
# guest's phase marker, into build/qemu/
INSN_DIR := $(BUILD)/qemu
insn-tools: $(INSN_DIR)/libinsn-phases.so $(INSN_DIR)/insn-mark

$(INSN_DIR)/libinsn-phases.so: $(TOP)/ci/vm/insn/insn-phases.c
	@mkdir -p $(INSN_DIR)
	$(CC) $(TEST_CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $<

$(INSN_DIR)/insn-mark: $(TOP)/ci/vm/insn/insn-mark.c
	@mkdir -p $(INSN_DIR)
	$(CC) $(TEST_CFLAGS) -o $@ $<

install: modules provider
	install -D -m 0644 $(OUT)/rdma_rxe.ko $(MODDIR)/rdma_rxe.ko
	depmod -a $(KRELEASE)
	$(MAKE) -C $(TOP)/userspace-provider install

uninstall:
	rm -f $(MODDIR)/rdma_rxe.ko
	-rmdir $(MODDIR) 2>/dev/null
	depmod -a $(KRELEASE)
	$(MAKE) -C $(TOP)/userspace-provider uninstall

kernel:
	$(TOP)/ci/kernel/build

check:
	@$(TOP)/ci/check

run:
	@$(TOP)/ci/run-main

bench:
	@$(TOP)/ci/bench

fuzz:
	@$(TOP)/ci/fuzz

clean:
	rm -rf $(BUILD)
