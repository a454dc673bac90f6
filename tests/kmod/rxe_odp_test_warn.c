// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module for the rxe-odp VM bench: it triggers a kernel WARNING
 * when loaded, so that tests/host/test_bench.py can check that the bench notices
 * kernel reports and fails the run. Not part of the product.
 */

#include <linux/module.h>
#include <linux/bug.h>

static int __init rxe_odp_test_warn_init(void)
{
	WARN(1, "rxe_odp_test_warn: deliberate warning for the bench self-test\n");
	return 0;
}

static void __exit rxe_odp_test_warn_exit(void)
{
}

module_init(rxe_odp_test_warn_init);
module_exit(rxe_odp_test_warn_exit);
MODULE_DESCRIPTION("rxe-odp bench self-test: WARN on load");
MODULE_LICENSE("GPL");
