/* SPDX-License-Identifier: MIT */
/* The request reader and the output writer of the credential protocol
 * (SPEC section 4), with the framing rules of git and its security fixes. */
#ifndef DS_PROTOCOL_H
#define DS_PROTOCOL_H

#include <stdio.h>
#include "base/secret.h"
#include "base/util.h"

#define PROTO_LINE_MAX 65535
#define PROTO_LINES_MAX 256
#define PROTO_CAPS_MAX 32

enum attr {
	ATTR_PROFILE,
	ATTR_USERNAME,
	ATTR_REGION,
	ATTR_WORKSPACE,
	ATTR_PLAN,
	ATTR_PROTOCOL,
	ATTR_HOST,
	ATTR_PATH,
	ATTR_URL,
	ATTR_LIFETIME,
	ATTR_PASSWORD,
	ATTR_EPHEMERAL,
	ATTR_COUNT
};

/* A parsed request. Owned by the caller; release with request_free, which
 * wipes the password. */
struct request {
	char *val[ATTR_COUNT]; /* NULL when absent; password is in secret */
	struct secret *password;
	char *caps[PROTO_CAPS_MAX]; /* capability[] in order */
	size_t ncaps;
	unsigned lines;
};

void request_init(struct request *req);
void request_free(struct request *req);

/* Feeds one line (without its LF; len bytes). Returns DS_OK, or DS_EINPUT
 * with err set when the line breaks a rule. *end is set to 1 on the empty
 * line that ends the request. */
int request_feed_line(struct request *req, const char *line, size_t len, int *end,
		      struct ds_err *err);

/* Reads one request from fp up to the empty line or end of input. */
int request_read(FILE *fp, struct request *req, struct ds_err *err);

/* The value of a scalar attribute, or NULL. */
const char *request_get(const struct request *req, enum attr a);

int request_has_capability(const struct request *req, const char *cap);

/* Splits url= into protocol, host and path, refusing percent-encoded CR,
 * LF or NUL anywhere (git-lfs CVE-2024-53263) and a password in it. Fills
 * the attributes that were not given; a given one that differs is an
 * error. */
int request_apply_url(struct request *req, struct ds_err *err);

/* Writes "name=value\n" when value is non-empty. Refuses (returns -1) a
 * value with LF, CR or NUL: it could forge another line. */
int proto_write(FILE *out, const char *name, const char *value);

#endif
