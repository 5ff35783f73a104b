/* SPDX-License-Identifier: MIT */
/* Test shim (LD_PRELOAD): rename() fails with EIO, as a full or failing
 * disk would at the last step of an atomic write; nothing is renamed. */
#include <errno.h>
#include <stdio.h>

int rename(const char *from, const char *to)
{
	(void)from;
	(void)to;
	errno = EIO;
	return -1;
}
