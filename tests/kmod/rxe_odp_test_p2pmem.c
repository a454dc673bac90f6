// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper, not part of rxe-odp: map PCI P2PDMA memory into a process.
 *
 * Linux 6.1 has no way for userspace to get peer-to-peer DMA memory (the
 * p2pmem "allocate" sysfs file came in 6.2). The ODP tests need such a
 * mapping to register an MR over a BAR, so this module offers one:
 *
 *   fd = open("/dev/rxe_odp_p2pmem", O_RDWR);
 *   p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
 *
 * gives len bytes of p2pmem from the first PCI device that publishes some
 * (an NVMe controller memory buffer in the bench guest), or from the device
 * named by the "pci" parameter (e.g. pci=0000:00:04.0). Pages are inserted
 * on fault as devmap PTEs (like DAX), not with VM_MIXEDMAP or VM_PFNMAP,
 * so that hmm_range_fault() can look them up. Each mapping owns its
 * allocation; split pieces share it and the last one frees it, after
 * munmap() has invalidated every PTE (and so every ODP MR mapping it).
 *
 * Test use only: 6.1's get_user_pages() pins these pages, and a pin that
 * outlives the mapping (O_DIRECT, io_uring fixed buffers) would see the
 * memory handed to the next mmap(). rxe refuses to pin them.
 */
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/pfn_t.h>
#include <linux/slab.h>

#define P2PMEM_MAX_MAP	(32UL << 20)

static char *pci;
module_param(pci, charp, 0444);
MODULE_PARM_DESC(pci, "PCI device (domain:bus:dev.fn) to take p2pmem from");

struct p2pmem_map {
	struct kref ref;
	struct pci_dev *pdev;
	void *kaddr;
	size_t size;
};

static struct pci_dev *p2pmem_provider(void)
{
	struct pci_dev *pdev = NULL;
	unsigned int domain, bus, dev, fn;

	if (pci) {
		if (sscanf(pci, "%x:%x:%x.%x", &domain, &bus, &dev, &fn) != 4)
			return NULL;
		pdev = pci_get_domain_bus_and_slot(domain, bus,
						   PCI_DEVFN(dev, fn));
		if (pdev && !pci_has_p2pmem(pdev)) {
			pci_dev_put(pdev);
			pdev = NULL;
		}
		return pdev;
	}
	for_each_pci_dev(pdev)
		if (pci_has_p2pmem(pdev))
			return pdev;
	return NULL;
}

static void p2pmem_map_release(struct kref *ref)
{
	struct p2pmem_map *map = container_of(ref, struct p2pmem_map, ref);

	pci_free_p2pmem(map->pdev, map->kaddr, map->size);
	pci_dev_put(map->pdev);
	kfree(map);
}

static void p2pmem_vma_open(struct vm_area_struct *vma)
{
	struct p2pmem_map *map = vma->vm_private_data;

	kref_get(&map->ref);
}

static void p2pmem_vma_close(struct vm_area_struct *vma)
{
	struct p2pmem_map *map = vma->vm_private_data;

	kref_put(&map->ref, p2pmem_map_release);
}

static vm_fault_t p2pmem_vma_fault(struct vm_fault *vmf)
{
	struct p2pmem_map *map = vmf->vma->vm_private_data;
	unsigned long offset = vmf->pgoff << PAGE_SHIFT;
	unsigned long pfn;

	if (offset >= map->size)
		return VM_FAULT_SIGBUS;
	pfn = page_to_pfn(virt_to_page(map->kaddr + offset));
	return vmf_insert_mixed(vmf->vma, vmf->address,
				__pfn_to_pfn_t(pfn, PFN_DEV | PFN_MAP));
}

static const struct vm_operations_struct p2pmem_vm_ops = {
	.open = p2pmem_vma_open,
	.close = p2pmem_vma_close,
	.fault = p2pmem_vma_fault,
};

static int p2pmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	size_t size = vma->vm_end - vma->vm_start;
	struct p2pmem_map *map;

	if (vma->vm_pgoff || !(vma->vm_flags & VM_SHARED) ||
	    size > P2PMEM_MAX_MAP)
		return -EINVAL;

	map = kzalloc(sizeof(*map), GFP_KERNEL);
	if (!map)
		return -ENOMEM;
	map->pdev = p2pmem_provider();
	if (!map->pdev) {
		kfree(map);
		return -ENODEV;
	}
	map->kaddr = pci_alloc_p2pmem(map->pdev, size);
	if (!map->kaddr) {
		pci_dev_put(map->pdev);
		kfree(map);
		return -ENOMEM;
	}
	map->size = size;
	kref_init(&map->ref);

	/* device memory: uncached where the architecture does not track it */
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_private_data = map;
	vma->vm_ops = &p2pmem_vm_ops;
	return 0;
}

static const struct file_operations p2pmem_fops = {
	.owner = THIS_MODULE,
	.mmap = p2pmem_mmap,
};

static struct miscdevice p2pmem_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rxe_odp_p2pmem",
	.fops = &p2pmem_fops,
	.mode = 0600,
};

static int __init p2pmem_init(void)
{
	struct pci_dev *pdev = p2pmem_provider();

	if (!pdev) {
		pr_info("rxe_odp_test_p2pmem: no PCI device publishes p2pmem\n");
		return -ENODEV;
	}
	pr_info("rxe_odp_test_p2pmem: p2pmem from %s\n", pci_name(pdev));
	pci_dev_put(pdev);
	return misc_register(&p2pmem_dev);
}

static void __exit p2pmem_exit(void)
{
	misc_deregister(&p2pmem_dev);
}

module_init(p2pmem_init);
module_exit(p2pmem_exit);
MODULE_DESCRIPTION("rxe-odp test helper: map PCI P2PDMA memory into a process");
MODULE_LICENSE("GPL");
