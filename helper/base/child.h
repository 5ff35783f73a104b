/* SPDX-License-Identifier: MIT */
/* Running CMD beside a long-running helper (proxy -- CMD, exec --key-file):
 * signals forwarded, exit status passed on (128+N after a signal). */
#ifndef DS_CHILD_H
#define DS_CHILD_H

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include "base/util.h"

/* Blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD (the wait loop takes them)
 * and ignores SIGPIPE; call before any thread starts. saved gets the
 * mask CMD must start with. */
int child_signals_block(sigset_t *saved);

/* Starts argv[0] (PATH searched, before fork) with the process's
 * environment, the saved mask, default dispositions, and the caller's
 * umask and core and descriptor limits (not the helper's hardening). A
 * command that cannot run is an error here, status 127 (not found) or
 * 126, and no child is left. Call it with no other thread changing the
 * environment. */
int child_start(char **argv, const sigset_t *saved, mode_t caller_umask,
		const struct rlimit *caller_core, const struct rlimit *caller_nofile, pid_t *pid,
		struct ds_err *err);

/* Waits up to timeout_ms (-1: no limit), forwarding SIGINT/SIGTERM/SIGHUP
 * to pid. Returns 1 with *status set when it ended, 0 on timeout. With pid
 * 0 it returns 1 (status 0) when SIGINT or SIGTERM arrives. */
int child_wait(pid_t pid, long timeout_ms, int *status);

#endif
