/* SPDX-License-Identifier: MIT */
/* Addresses: where a request or a profile points (region, workspace,
 * plan), the host and URLs of such a place, the reverse mapping host ->
 * place, and the endpoint override's rules (SPEC sections 2 and 7). */
#ifndef DS_PLACE_H
#define DS_PLACE_H

#include <stddef.h>
#include "conf/region.h"
#include "base/util.h"

/* Where a request or a profile points: region, optional workspace, plan. */
struct place {
	const struct region *region;
	char workspace[DS_WORKSPACE_MAX]; /* "" when none */
	enum plan plan;
};

struct endpoints {
	char host[DS_HOST_MAX]; /* host the URLs are built from */
	char base_url[DS_URL_MAX]; /* OpenAI-compatible */
	char anthropic_base_url[DS_URL_MAX];
	char native_base_url[DS_URL_MAX]; /* "" for plan coding */
	char token_url[DS_URL_MAX]; /* "" for plan coding; no query */
};

/* The host of a place: workspace host, shared host, or Coding Plan host. */
int place_host(const struct place *pl, char *host, size_t n, struct ds_err *err);

/* Derives every URL of a place. endpoint, when not NULL or empty, replaces
 * "https://HOST" (it must already have passed endpoint_check). */
int place_endpoints(const struct place *pl, const char *endpoint, struct endpoints *out,
		    struct ds_err *err);

/* Maps a host ("name" or "name:443", any case) back to its place.
 * Returns 1 on a match, 0 when the host is not a DashScope host. */
int place_from_host(const char *host, struct place *out);

/* Checks an endpoint override: scheme://host[:port] with no path, https
 * unless the host is loopback. On success copies "host[:port]" (lower
 * case) into hostport when not NULL. */
int endpoint_check(const char *endpoint, char *hostport, size_t n, struct ds_err *err);

/* Splits "host[:port]"; port 443 is dropped. Returns 0 and fills name
 * (lower case) and *port (0 when absent or 443), or -1 when the port is not
 * a number in 1..65535 or the name is empty or too long. */
int host_split(const char *host, char *name, size_t n, unsigned *port);

#endif
