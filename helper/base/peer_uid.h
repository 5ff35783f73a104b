/* SPDX-License-Identifier: MIT */
/* Who owns a local TCP socket, in the kernel's word (sock_diag, the lookup
 * `ss -e` makes; no privilege needed): the proxy's first check on every
 * connection, and the name of whoever holds a port we wanted. */
#ifndef DS_PEER_UID_H
#define DS_PEER_UID_H

#include <sys/socket.h>
#include <sys/types.h>

/* The uid that owns the TCP socket whose own address is local and whose
 * peer is remote (a listener: remote NULL). Both are AF_INET or AF_INET6
 * (a v4-mapped address is looked up as IPv4). Returns 0 with *uid set, or
 * -1 with errno set (ENOENT: no such socket); a caller that decides on
 * the answer must treat -1 as "not yours". */
int peer_uid_of_socket(const struct sockaddr *local, const struct sockaddr *remote, uid_t *uid);

#endif
