/* SPDX-License-Identifier: MIT */
/* Sockets passed by systemd socket activation, for the broker and the
 * proxy: sd_listen_fds from libsystemd, loaded only when asked (it is not
 * linked into the program), else LISTEN_PID/LISTEN_FDS read as it reads
 * them. */
#ifndef DS_LISTEN_FDS_H
#define DS_LISTEN_FDS_H

/* How many sockets were passed, from fd 3 (SD_LISTEN_FDS_START); 0 when
 * none. The variables are removed, so a child does not see them. */
int listen_fds(void);

#endif
