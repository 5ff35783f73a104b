/* SPDX-License-Identifier: MIT */
/* The loopback rule, in one place: what counts as this machine for an
 * endpoint that may use plain http (SPEC section 2), for the proxy's
 * --listen and for a socket systemd passed it (SPEC section 10). */
#ifndef DS_LOOPBACK_H
#define DS_LOOPBACK_H

#include <sys/socket.h>

/* A host as a URL writes it, without the port: "localhost" (any case),
 * "[::1]", or a strict dotted quad in 127.0.0.0/8. */
int loopback_name(const char *name);

/* An address in 127.0.0.0/8 or ::1 (also as a v4-mapped 127.0.0.0/8). */
int loopback_sockaddr(const struct sockaddr *sa);

#endif
