/* SPDX-License-Identifier: MIT */
/* The --debug trace: one line per event on stderr, with the milliseconds
 * since tracing began, so a slow step stands out. */
#include "config.h"
#include "base/debug.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int enabled;
static struct timespec start;

void ds_debug_enable(void)
{
	enabled = 1;
	clock_gettime(CLOCK_MONOTONIC, &start);
}

int ds_debug_enabled(void)
{
	return enabled;
}

void ds_debug(const char *fmt, ...)
{
	char line[900];
	struct timespec now;
	long long ms;
	va_list ap;

	if (!enabled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* paths and names come from the environment: nothing in them may
	 * drive the terminal (C0, C1, bytes that are not UTF-8) */
	ds_sanitize(line);
	fprintf(stderr, "dashscope-credential: debug: +%lldms %s\n", ms, line);
}
