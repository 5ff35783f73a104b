/* SPDX-License-Identifier: MIT */
/* Sockets passed by systemd (listen_fds.h). */
#include "config.h"
#include "base/listen_fds.h"
#include "base/util.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* LISTEN_PID and LISTEN_FDS read by hand, as sd_listen_fds(3) reads them,
 * where libsystemd is not there. */
static int listen_fds_env(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	unsigned long v = 0, p = 0;
	int n = 0;

	if (pid && fds && !ds_parse_ulong(pid, 1ul << 30, &p) && (pid_t)p == getpid() &&
	    !ds_parse_ulong(fds, 64, &v))
		n = (int)v;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n;
}

/* sd_listen_fds from libsystemd, loaded here and only here: other
 * commands never pay for libsystemd and what it links (it is not linked
 * into the program). */
int listen_fds(void)
{
#ifdef HAVE_LIBSYSTEMD
	void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	__typeof__(sd_listen_fds) *fn = NULL;

	if (h)
		*(void **)&fn = dlsym(h, "sd_listen_fds");
	if (fn)
		return fn(1); /* the handle stays: the program is a service now */
	if (h)
		dlclose(h);
#endif
	return listen_fds_env();
}
