/* SPDX-License-Identifier: MIT */
/* Test shim (LD_PRELOAD): rename() kills the process with SIGKILL before
 * renaming, as a crash or power cut between write and rename would. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int rename(const char *from, const char *to)
{
	(void)from;
	(void)to;
	kill(getpid(), SIGKILL);
	return -1;
}
