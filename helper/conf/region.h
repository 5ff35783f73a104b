/* SPDX-License-Identifier: MIT */
/* The region table of SPEC section 2, in one place: aliases, hosts, the
 * base URLs derived from a host, and the reverse mapping host -> place. */
#ifndef DS_REGION_H
#define DS_REGION_H

#include <stddef.h>
#include "base/util.h"

enum plan { PLAN_PAYG = 0, PLAN_CODING = 1 };

struct region {
	const char *id;
	const char *aliases[5]; /* NULL-terminated */
	const char *shared_host; /* NULL: a workspace id is required */
	const char *coding_host; /* NULL: no Coding Plan here */
};

#define DS_WORKSPACE_MAX 64 /* a DNS label is at most 63 bytes */
#define DS_HOST_MAX 256
#define DS_URL_MAX 600

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

size_t region_count(void);
const struct region *region_at(size_t i);

/* Looks a region up by id or alias, case-insensitively; NULL if unknown. */
const struct region *region_find(const char *name);

int plan_parse(const char *s, enum plan *out);
const char *plan_name(enum plan p);

/* 1 when s is a workspace id we accept: a DNS label, 1..63 bytes of
 * [A-Za-z0-9-], not starting or ending with '-'. */
int workspace_valid(const char *s);

/* 1 when s is a profile name: [A-Za-z0-9._-]{1,64}. */
int profile_name_valid(const char *s);

/* 1 when a profile name looks like a key (sk- or st-, any case): names
 * are kept in clear attributes, shown by list and put in environments,
 * so a key pasted as a name is refused wherever a name comes in. */
int key_like_name(const char *name);

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

/* "{ws}.<region>.maas.aliyuncs.com": the workspace host pattern, for
 * people (regions). */
void region_workspace_pattern(const struct region *r, char *out, size_t n);

#endif
