/* SPDX-License-Identifier: MIT */
/* code.c - executable ranges of loaded objects, from dl_iterate_phdr. */
#include "code.h"

#include <link.h>
#include <stdint.h>

struct code_query {
	uintptr_t address;
	bool found;
	uintptr_t start, end; /* the executable range found */
};

static int visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct code_query *q = arg;
	(void)size;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (q->address >= start && q->address - start < ph->p_memsz) {
			q->found = true;
			q->start = start;
			q->end = start + ph->p_memsz;
			return 1; /* stop iterating */
		}
	}
	return 0;
}

bool trindle__code_contains(const void *address)
{
	struct code_query q = { (uintptr_t)address, false };

	if (!address)
		return false;
	dl_iterate_phdr(visit, &q);
	return q.found;
}

bool trindle__code_range(const void *address, uintptr_t *start,
		uintptr_t *end)
{
	struct code_query q = { (uintptr_t)address, false, 0, 0 };

	if (!address)
		return false;
	dl_iterate_phdr(visit, &q);
	*start = q.start;
	*end = q.end;
	return q.found;
}
