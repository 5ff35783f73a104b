/* SPDX-License-Identifier: MIT */
/* The socket systemd passed by socket activation, for the broker and the
 * proxy: fetched and checked here, in one place, with one error
 * convention; each caller checks only the family it needs. */
#ifndef DS_LISTEN_FDS_H
#define DS_LISTEN_FDS_H

#include "base/util.h"

/* The one listening stream socket systemd passed (LISTEN_PID and
 * LISTEN_FDS, through sd_listen_fds when libsystemd is there), made
 * close-on-exec: *fd is 3 (SD_LISTEN_FDS_START), or -1 when none was
 * passed; both are DS_OK. More than one socket, or one that is not a
 * listening stream socket, is DS_EINPUT with a sentence that ends with
 * hint (what the unit should say). The variables are removed, so a child
 * does not see them. */
int listen_fds_take(const char *hint, int *fd, struct ds_err *err);

#endif
