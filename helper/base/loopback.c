/* SPDX-License-Identifier: MIT */
/* Loopback names and addresses (loopback.h). */
#include "config.h"
#include "base/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static int v4_loopback(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

/* By what the name is, not how it looks: inet_pton takes strict dotted
 * quads only, so 127.0.0.999 or 127.0.0.08 (which a resolver would look
 * up as names) are no address at all. */
int loopback_name(const char *name)
{
	struct in_addr a;

	if (!strcasecmp(name, "localhost") || !strcmp(name, "[::1]"))
		return 1;
	return inet_pton(AF_INET, name, &a) == 1 && v4_loopback(&a);
}

int loopback_sockaddr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_loopback(&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		struct in_addr v4;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		if (!IN6_IS_ADDR_V4MAPPED(a))
			return 0;
		memcpy(&v4, a->s6_addr + 12, sizeof(v4));
		return v4_loopback(&v4);
	}
	return 0;
}
