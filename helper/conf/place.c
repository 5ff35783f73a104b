/* SPDX-License-Identifier: MIT */
/* Addresses (conf/place.h): a place's host and URLs, a host back to its
 * place, the endpoint override's rules. */
#include "config.h"
#include "conf/place.h"
#include "base/loopback.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int place_host(const struct place *pl, char *host, size_t n, struct ds_err *err)
{
	const struct region *r = pl->region;
	int len;

	if (pl->plan == PLAN_CODING) {
		if (!r->coding_host)
			return ds_err_set(err, DS_EINPUT,
					  "Region %s has no Coding Plan endpoint; Coding Plan keys belong to cn-beijing or ap-southeast-1.",
					  r->id);
		len = snprintf(host, n, "%s", r->coding_host);
	} else if (pl->workspace[0]) {
		len = snprintf(host, n, "%s.%s" DS_WS_SUFFIX, pl->workspace, r->id);
	} else if (r->shared_host) {
		len = snprintf(host, n, "%s", r->shared_host);
	} else {
		return ds_err_set(err, DS_EINPUT,
				  "Region %s needs a workspace id; give one with --workspace.",
				  r->id);
	}
	if (len < 0 || (size_t)len >= n)
		return ds_err_set(err, DS_EINPUT, "The host name for region %s is too long.",
				  r->id);
	return DS_OK;
}

static int url_join(char *out, size_t n, const char *origin, const char *path)
{
	int len = snprintf(out, n, "%s%s", origin, path);

	return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

int place_endpoints(const struct place *pl, const char *endpoint, struct endpoints *out,
		    struct ds_err *err)
{
	char origin[DS_URL_MAX];
	int rc, bad = 0;

	memset(out, 0, sizeof(*out));
	rc = place_host(pl, out->host, sizeof(out->host), err);
	if (rc)
		return rc;
	if (endpoint && *endpoint) {
		bad |= ds_strcpy(origin, sizeof(origin), endpoint);
		/* schemes compare case-insensitively: HTTPS:// is https:// */
		for (char *c = origin; *c && *c != ':'; c++)
			*c = (char)tolower((unsigned char)*c);
	} else
		bad |= snprintf(origin, sizeof(origin), "https://%s", out->host) >=
		       (int)sizeof(origin);
	if (pl->plan == PLAN_CODING) {
		bad |= url_join(out->base_url, sizeof(out->base_url), origin, "/v1");
	} else {
		bad |= url_join(out->base_url, sizeof(out->base_url), origin,
				"/compatible-mode/v1");
		bad |= url_join(out->native_base_url, sizeof(out->native_base_url), origin,
				"/api/v1");
		bad |= url_join(out->token_url, sizeof(out->token_url), origin, "/api/v1/tokens");
	}
	bad |= url_join(out->anthropic_base_url, sizeof(out->anthropic_base_url), origin,
			"/apps/anthropic");
	if (bad)
		return ds_err_set(err, DS_EINPUT, "The endpoint URL is too long.");
	return DS_OK;
}

int host_split(const char *host, char *name, size_t n, unsigned *port)
{
	const char *colon = strrchr(host, ':');
	size_t len = colon ? (size_t)(colon - host) : strlen(host);
	unsigned long p = 0;

	if (colon && ds_parse_ulong(colon + 1, 65535, &p) != 0)
		return -1;
	if (colon && p == 0)
		return -1;
	if (len == 0 || len >= n)
		return -1;
	memcpy(name, host, len);
	name[len] = '\0';
	ds_ascii_lower(name);
	*port = p == 443 ? 0 : (unsigned)p;
	return 0;
}

static int place_from_ws_host(const char *name, struct place *out)
{
	size_t len = strlen(name), slen = strlen(DS_WS_SUFFIX);
	const char *dot;
	char region_id[32];
	size_t rlen;

	if (len <= slen || strcmp(name + len - slen, DS_WS_SUFFIX) != 0)
		return 0;
	dot = strchr(name, '.');
	if (!dot || (size_t)(dot - name) >= sizeof(out->workspace))
		return 0;
	rlen = (size_t)(name + len - slen - (dot + 1));
	if (rlen == 0 || rlen >= sizeof(region_id))
		return 0;
	memcpy(region_id, dot + 1, rlen);
	region_id[rlen] = '\0';
	for (size_t i = 0; i < region_count(); i++) {
		const struct region *r = region_at(i);

		if (strcmp(r->id, region_id) != 0)
			continue;
		memcpy(out->workspace, name, (size_t)(dot - name));
		out->workspace[dot - name] = '\0';
		if (!workspace_valid(out->workspace))
			return 0;
		out->region = r;
		out->plan = PLAN_PAYG;
		return 1;
	}
	return 0;
}

int place_from_host(const char *host, struct place *out)
{
	char name[DS_HOST_MAX];
	unsigned port;

	memset(out, 0, sizeof(*out));
	if (host_split(host, name, sizeof(name), &port) != 0 || port != 0)
		return 0;
	for (size_t i = 0; i < region_count(); i++) {
		const struct region *r = region_at(i);

		if (r->shared_host && strcmp(name, r->shared_host) == 0) {
			out->region = r;
			out->plan = PLAN_PAYG;
			return 1;
		}
		if (r->coding_host && strcmp(name, r->coding_host) == 0) {
			out->region = r;
			out->plan = PLAN_CODING;
			return 1;
		}
	}
	return place_from_ws_host(name, out);
}

int endpoint_check(const char *endpoint, char *hostport, size_t n, struct ds_err *err)
{
	const char *rest;
	char name[DS_HOST_MAX];
	unsigned port;
	int is_http;

	if (strncasecmp(endpoint, "https://", 8) == 0) {
		rest = endpoint + 8;
		is_http = 0;
	} else if (strncasecmp(endpoint, "http://", 7) == 0) {
		rest = endpoint + 7;
		is_http = 1;
	} else {
		return ds_err_set(err, DS_EINPUT,
				  "The endpoint must start with https:// (http:// only for a loopback address).");
	}
	if (strlen(endpoint) > 200 || ds_has_control(endpoint) ||
	    strpbrk(rest, "/?#@ \\") != NULL) {
		return ds_err_set(err, DS_EINPUT,
				  "The endpoint must be scheme://host[:port] with no path, user or query.");
	}
	/* "[::1]:8443" keeps its brackets in the name part */
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		size_t len;

		if (!close || (close[1] && close[1] != ':'))
			return ds_err_set(err, DS_EINPUT,
					  "The endpoint has a malformed IPv6 address.");
		len = (size_t)(close - rest) + 1;
		if (len >= sizeof(name))
			return ds_err_set(err, DS_EINPUT, "The endpoint host is too long.");
		memcpy(name, rest, len);
		name[len] = '\0';
		port = 0;
		if (close[1]) {
			unsigned long p;

			if (ds_parse_ulong(close + 2, 65535, &p) || p == 0)
				return ds_err_set(err, DS_EINPUT,
						  "The endpoint port is not a number in 1..65535.");
			port = (unsigned)p;
		}
	} else if (host_split(rest, name, sizeof(name), &port) != 0) {
		return ds_err_set(err, DS_EINPUT, "The endpoint host or port is malformed.");
	}
	if (is_http && !loopback_name(name))
		return ds_err_set(err, DS_EINPUT,
				  "The endpoint %s uses http:// but is not a loopback address; use https://.",
				  endpoint);
	if (hostport) {
		int len = port ? snprintf(hostport, n, "%s:%u", name, port)
			       : snprintf(hostport, n, "%s", name);

		if (len < 0 || (size_t)len >= n)
			return ds_err_set(err, DS_EINPUT, "The endpoint host is too long.");
	}
	return DS_OK;
}
