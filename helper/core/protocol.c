/* SPDX-License-Identifier: MIT */
/* Reads git-credential-style requests. Every rule here answers a known
 * attack: see reference/protocol-and-threats.md, whose numbers the
 * comments cite. */
#include "config.h"
#include "core/protocol.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const attr_names[ATTR_COUNT] = {
	[ATTR_PROFILE] = "profile",   [ATTR_USERNAME] = "username",
	[ATTR_REGION] = "region",     [ATTR_WORKSPACE] = "workspace",
	[ATTR_PLAN] = "plan",	      [ATTR_PROTOCOL] = "protocol",
	[ATTR_HOST] = "host",	      [ATTR_PATH] = "path",
	[ATTR_URL] = "url",	      [ATTR_LIFETIME] = "lifetime",
	[ATTR_PASSWORD] = "password", [ATTR_EPHEMERAL] = "ephemeral",
};

void request_init(struct request *req)
{
	memset(req, 0, sizeof(*req));
}

void request_free(struct request *req)
{
	for (size_t i = 0; i < ATTR_COUNT; i++)
		free(req->val[i]);
	for (size_t i = 0; i < req->ncaps; i++)
		free(req->caps[i]);
	secret_free(req->password);
	memset(req, 0, sizeof(*req));
}

const char *request_get(const struct request *req, enum attr a)
{
	if (a == ATTR_PASSWORD)
		return req->password ? req->password->data : NULL;
	return req->val[a];
}

int request_has_capability(const struct request *req, const char *cap)
{
	for (size_t i = 0; i < req->ncaps; i++)
		if (!strcmp(req->caps[i], cap))
			return 1;
	return 0;
}

static int reject(struct ds_err *err, const char *why)
{
	return ds_err_set(err, DS_EINPUT, "Malformed request: %s; nothing was done.", why);
}

static int add_capability(struct request *req, const char *value, struct ds_err *err)
{
	/* an empty "capability[]=" clears the list, as in git */
	if (!*value) {
		for (size_t i = 0; i < req->ncaps; i++)
			free(req->caps[i]);
		req->ncaps = 0;
		return DS_OK;
	}
	if (req->ncaps == PROTO_CAPS_MAX)
		return reject(err, "too many capability[] lines");
	req->caps[req->ncaps] = strdup(value);
	if (!req->caps[req->ncaps])
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	req->ncaps++;
	return DS_OK;
}

static int set_scalar(struct request *req, enum attr a, const char *value, size_t vlen,
		      struct ds_err *err)
{
	/* a repeated name is how CVE-2020-5260 smuggled a second host (1) */
	if (req->val[a] || (a == ATTR_PASSWORD && req->password))
		return ds_err_set(err, DS_EINPUT,
				  "Malformed request: '%s' appears twice; nothing was done.",
				  attr_names[a]);
	if (a == ATTR_PASSWORD) {
		req->password = secret_new(value, vlen);
		if (!req->password)
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
		return DS_OK;
	}
	req->val[a] = strndup(value, vlen);
	if (!req->val[a])
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	return DS_OK;
}

int request_feed_line(struct request *req, const char *line, size_t len, int *end,
		      struct ds_err *err)
{
	const char *eq;
	size_t nlen;

	*end = 0;
	if (len == 0) {
		*end = 1;
		return DS_OK;
	}
	if (len > PROTO_LINE_MAX)
		return reject(err, "a line is longer than 65535 bytes"); /* 5, 6 */
	if (++req->lines > PROTO_LINES_MAX)
		return reject(err, "more than 256 lines"); /* 13 */
	if (memchr(line, '\0', len))
		return reject(err, "a line contains a NUL byte"); /* 4 */
	if (memchr(line, '\r', len))
		return reject(err,
			      "a line contains a carriage return (CR or CRLF line ends are not accepted)"); /* 2, 3 */
	if (!ds_utf8_valid(line, len))
		return reject(err, "a line is not valid UTF-8"); /* 14 */
	eq = memchr(line, '=', len);
	if (!eq)
		return reject(err, "a line has no '='"); /* 7 */
	nlen = (size_t)(eq - line);
	/* names are matched exactly: "=x" or " host" is an unknown name (8) */
	if (nlen == 12 && !memcmp(line, "capability[]", 12)) {
		char *v = strndup(eq + 1, len - nlen - 1);
		int rc;

		if (!v)
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
		rc = add_capability(req, v, err);
		free(v);
		return rc;
	}
	for (size_t a = 0; a < ATTR_COUNT; a++)
		if (strlen(attr_names[a]) == nlen && !memcmp(line, attr_names[a], nlen))
			return set_scalar(req, (enum attr)a, eq + 1, len - nlen - 1, err);
	return DS_OK; /* unknown names are ignored */
}

int request_read(FILE *fp, struct request *req, struct ds_err *err)
{
	/* one byte more than the cap, to tell "too long" from "exactly full"
	 * without ever splitting a line (5, 6) */
	char *line = malloc(PROTO_LINE_MAX + 2);
	size_t len = 0;
	int rc = DS_OK;

	if (!line)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	for (;;) {
		int end = 0, c = getc(fp);

		if (c != EOF && c != '\n') {
			if (len <= PROTO_LINE_MAX)
				line[len] = (char)c;
			len++;
			if (len > PROTO_LINE_MAX) {
				rc = reject(err, "a line is longer than 65535 bytes");
				break;
			}
			continue;
		}
		if (c == EOF && len == 0)
			break; /* end of input ends the request (11) */
		rc = request_feed_line(req, line, len, &end, err);
		explicit_bzero(line, len);
		len = 0;
		if (rc || end || c == EOF)
			break;
	}
	explicit_bzero(line, PROTO_LINE_MAX + 2);
	free(line);
	return rc;
}

/* Decodes %XX in place; fails on a malformed escape or a decoded control
 * character, which could become a line of its own downstream (22). */
static int url_decode(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p == '%') {
			int hi = ds_hexval(p[1]), lo = hi < 0 ? -1 : ds_hexval(p[2]);

			if (hi < 0 || lo < 0)
				return -1;
			*o = (char)(hi * 16 + lo);
			p += 2;
		} else {
			*o = *p;
		}
		if ((unsigned char)*o < 0x20 || *o == 0x7f)
			return -1;
		o++;
	}
	*o = '\0';
	return 0;
}

static int merge_attr(struct request *req, enum attr a, const char *v, struct ds_err *err)
{
	if (req->val[a]) {
		if (strcasecmp(req->val[a], v) != 0)
			return ds_err_set(err, DS_EINPUT,
					  "Malformed request: url and %s disagree; nothing was done.",
					  attr_names[a]);
		return DS_OK;
	}
	req->val[a] = strdup(v);
	return req->val[a] ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
}

int request_apply_url(struct request *req, struct ds_err *err)
{
	const char *url = req->val[ATTR_URL];
	char *copy, *sep, *rest, *auth, *path;
	int rc = DS_OK;

	if (!url)
		return DS_OK;
	copy = strdup(url);
	if (!copy)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (url_decode(copy) != 0) {
		free(copy);
		return reject(err, "url contains a malformed or control-character escape");
	}
	free(copy);
	copy = strdup(url);
	if (!copy)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	sep = strstr(copy, "://");
	if (!sep || sep == copy) {
		free(copy);
		return reject(err, "url has no scheme");
	}
	*sep = '\0';
	rest = sep + 3;
	path = rest + strcspn(rest, "/?#");
	auth = NULL;
	{
		char save = *path;
		char *at;

		*path = '\0';
		at = strrchr(rest, '@');
		if (at) {
			*at = '\0';
			auth = rest;
			rest = at + 1;
		}
		if (auth && strchr(auth, ':')) {
			free(copy);
			return reject(err, "url carries a password; keys never travel in URLs");
		}
		if (url_decode(rest) != 0) {
			free(copy);
			return reject(err, "url host is malformed");
		}
		rc = merge_attr(req, ATTR_PROTOCOL, copy, err);
		if (!rc)
			rc = merge_attr(req, ATTR_HOST, rest, err);
		if (!rc && auth && *auth && !req->val[ATTR_PROFILE] && !req->val[ATTR_USERNAME]) {
			if (url_decode(auth) != 0)
				rc = reject(err, "url user is malformed");
			else
				rc = merge_attr(req, ATTR_USERNAME, auth, err);
		}
		*path = save;
	}
	if (!rc && *path == '/' && path[1] && !req->val[ATTR_PATH]) {
		path[strcspn(path, "?#")] = '\0';
		rc = merge_attr(req, ATTR_PATH, path + 1, err);
	}
	free(copy);
	return rc;
}

int proto_write(FILE *out, const char *name, const char *value)
{
	if (!value || !*value)
		return 0;
	if (strpbrk(value, "\r\n"))
		return -1;
	fprintf(out, "%s=%s\n", name, value);
	return 0;
}
