/* SPDX-License-Identifier: MIT */
/* The network module, dscred-net.so: the code that links libcurl, loaded
 * on the first call that talks to the API (base/module.h), so that
 * commands that never do (env --no-key for the PAM module, list, add,
 * regions) do not load libcurl and the libraries it brings. It is a
 * transport only: one POST in plain data, its status and body bytes back;
 * the program (core/net.c, core/token_response.c) reads and words them.
 * The key-management API's calls (SPEC section 16) come the same way,
 * signed here (net/acs3.h) when the program hands over credentials, and
 * the ECS metadata service's, unsigned.
 * Nothing of the program's crosses but C types: the module needs none of
 * its code. The ABI string carries the version. */
#ifndef DS_NET_H
#define DS_NET_H

#include <stddef.h>

#define NET_ABI PACKAGE_VERSION "/net-3"
#define NET_BODY_MAX (64 * 1024) /* an answer's body, at most */

/* How one POST ended. */
enum net_result {
	NET_OK, /* an answer came: status and body are set */
	NET_TOO_LARGE, /* the body was over NET_BODY_MAX */
	NET_TIMEOUT, /* the request's time ran out */
	NET_TLS, /* the certificate could not be verified; nothing was sent */
	NET_SCHEME, /* the URL's scheme is not allowed */
	NET_UNREACHABLE, /* refused or dropped: may be a restart, worth a retry */
	NET_FAILED, /* anything else */
};

/* One POST with an empty body and the key as a Bearer token. Verification
 * is always on, redirects are never followed, plain http:// goes through
 * no proxy. */
struct net_post {
	const char *url; /* with its query */
	const char *ca; /* the CA file's bytes (PEM), or NULL: the system's */
	size_t ca_len;
	const char *key; /* NUL-terminated; wiped from the module's copies */
	size_t key_len;
	unsigned long timeout; /* seconds for the whole request, connect included */
};

/* The answer, filled by the module. */
struct net_answer {
	enum net_result result;
	char reason[256]; /* libcurl's words when result is not NET_OK */
	long status; /* HTTP status, 0 when none came */
	long retry_after; /* the Retry-After seconds (capped at 10), 0 when none */
	long long elapsed_ms;
	size_t len;
	char body[NET_BODY_MAX + 1]; /* NUL-terminated */
};

/* A header or query parameter, unencoded. */
struct net_field {
	const char *name;
	const char *value;
};

/* Credentials to sign a call with ACS3-HMAC-SHA256: the module adds host,
 * x-acs-action, -version, -date (from now), -signature-nonce (random),
 * -content-sha256, -security-token (when token is set) and the
 * Authorization header, and wipes its copies of the secret and token. */
struct net_signer {
	const char *action, *version;
	const char *key_id;
	const char *secret; /* NUL-terminated */
	size_t secret_len;
	const char *token; /* an STS security token, or NULL */
	long long now; /* Unix seconds for x-acs-date */
};

/* One call: method, base (scheme://host[:port]), path and query
 * (unencoded: the module encodes them as the signature does), headers
 * (values may be secrets: wiped), an optional body. The rules of post
 * apply: verification always on, no redirects, no proxy for http://. */
struct net_call {
	const char *method; /* GET, PUT, POST or DELETE */
	const char *base;
	const char *path;
	const struct net_field *query;
	size_t nquery;
	const struct net_field *headers;
	size_t nheaders;
	const char *body; /* NULL: none */
	size_t body_len;
	const char *content_type; /* with a body */
	const char *ca;
	size_t ca_len;
	unsigned long timeout_ms;
	const struct net_signer *sign; /* NULL: unsigned */
};

struct net_ops {
	const char *abi; /* NET_ABI */
	int (*global_init)(void); /* 0, or -1: libcurl could not be set up */
	void (*global_cleanup)(void);
	void (*post)(const struct net_post *req, struct net_answer *ans);
	void (*call)(const struct net_call *req, struct net_answer *ans);
};

#define NET_MODULE "dscred-net.so"
#define NET_MODULE_SYMBOL "dscred_net"

extern const struct net_ops dscred_net;

#endif
