/* SPDX-License-Identifier: MIT */
/* The network module's HTTP calls (net.h): POST to the token endpoint
 * with the long-lived key as a Bearer token, and the calls of the
 * key-management API (signed with net/acs3.h) and the ECS metadata
 * service. Verification always on, no redirects, the 64 KiB cap counted
 * as bytes arrive; retries, parsing and messages are the program's
 * (core/net.c, core/keymgmt.c). */
#include "config.h"
#include "net/net.h"
#include "net/acs3.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RETRY_AFTER_MAX 10

/* MAXFILESIZE does not stop a chunked body (libcurl 7.88): count here. */
struct body {
	struct net_answer *ans;
	int overflow;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct body *b = ctx;
	size_t n = size * nmemb;

	if (n > NET_BODY_MAX - b->ans->len) {
		b->overflow = 1;
		return 0;
	}
	memcpy(b->ans->body + b->ans->len, data, n);
	b->ans->len += n;
	b->ans->body[b->ans->len] = '\0';
	return n;
}

static int is_http_url(const char *url)
{
	return strncmp(url, "http://", 7) == 0;
}

/* The Authorization line is in this list: wipe every entry on free. */
static void headers_free(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

/* Appends to the list; on failure the whole list is freed (and wiped)
 * and NULL returned, so a request never goes out without its key. */
static struct curl_slist *headers_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);

	if (!l)
		headers_free(list);
	return l;
}

/* "Authorization: Bearer " + key, "Expect:", "Accept: ...", or NULL. */
static struct curl_slist *headers_make(const struct net_post *req)
{
	/* wiped below, and so is the slist's copy (headers_free).
	 * libcurl's own request buffer is not ours to wipe;
	 * doc/threat-model.md says how long that copy lives. */
	size_t alen = 22 + req->key_len + 1;
	char *auth = malloc(alen);
	struct curl_slist *hdrs;

	if (!auth)
		return NULL;
	snprintf(auth, alen, "Authorization: Bearer %s", req->key);
	hdrs = headers_add(NULL, auth);
	explicit_bzero(auth, alen);
	free(auth);
	if (hdrs)
		hdrs = headers_add(hdrs, "Expect:");
	if (hdrs)
		hdrs = headers_add(hdrs, "Accept: application/json");
	return hdrs;
}

#define SETOPT(h, opt, val)                                 \
	do {                                                \
		if (cc == CURLE_OK)                         \
			cc = curl_easy_setopt(h, opt, val); \
	} while (0)

/* What every call shares: verification, no redirects, no proxy for
 * loopback http, the caps and timeouts. */
static CURLcode setup_common(CURL *h, const char *url, struct curl_blob *ca,
			     struct curl_slist *hdrs, struct body *body, long timeout_ms)
{
	const char *proto = is_http_url(url) ? "http" : "https";
	CURLcode cc = CURLE_OK;

	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, proto);
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, proto);
	/* plain http is loopback only (SPEC section 2), and an http_proxy
	 * from the environment would see the key in clear: no proxy at all */
	if (is_http_url(url))
		SETOPT(h, CURLOPT_NOPROXY, "*");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca)
		SETOPT(h, CURLOPT_CAINFO_BLOB, ca);
	SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
	SETOPT(h, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SETOPT(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	SETOPT(h, CURLOPT_MAXFILESIZE, (long)NET_BODY_MAX);
	SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(h, CURLOPT_WRITEDATA, body);
	return cc;
}

static CURLcode setup(CURL *h, const struct net_post *req, struct curl_blob *ca,
		      struct curl_slist *hdrs, struct body *body)
{
	CURLcode cc = setup_common(h, req->url, ca, hdrs, body, (long)req->timeout * 1000L);

	SETOPT(h, CURLOPT_POST, 1L);
	SETOPT(h, CURLOPT_POSTFIELDS, "");
	SETOPT(h, CURLOPT_POSTFIELDSIZE, 0L);
	return cc;
}

static enum net_result result_of(CURLcode cc, int overflow)
{
	if (overflow || cc == CURLE_FILESIZE_EXCEEDED)
		return NET_TOO_LARGE;
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return NET_TIMEOUT;
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM)
		return NET_TLS;
	if (cc == CURLE_UNSUPPORTED_PROTOCOL)
		return NET_SCHEME;
	/* a refused or dropped connection may be a restart; a timeout has
	 * already spent the caller's whole budget and is not repeated */
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
	    cc == CURLE_SEND_ERROR)
		return NET_UNREACHABLE;
	return NET_FAILED;
}

static void answer_set(struct net_answer *ans, CURLcode cc, int overflow)
{
	ans->result = cc == CURLE_OK ? NET_OK : result_of(cc, overflow);
	if (cc != CURLE_OK)
		snprintf(ans->reason, sizeof(ans->reason), "%s", curl_easy_strerror(cc));
}

static void answer_reset(struct net_answer *ans)
{
	ans->reason[0] = '\0';
	ans->status = 0;
	ans->retry_after = 0;
	ans->elapsed_ms = 0;
	ans->len = 0;
	ans->body[0] = '\0';
}

/* Runs the request set up (cc: how the setup went) and fills ans. */
static void perform(CURL *h, CURLcode cc, struct body *b, struct net_answer *ans)
{
	curl_off_t retry = 0, us = 0;

	if (cc == CURLE_OK)
		cc = curl_easy_perform(h);
	answer_set(ans, cc, b->overflow);
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status) != CURLE_OK)
		ans->status = 0;
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
		ans->retry_after = retry > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)retry;
	if (curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
		ans->elapsed_ms = (long long)(us / 1000);
}

static void net_post(const struct net_post *req, struct net_answer *ans)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = h ? headers_make(req) : NULL;
	struct curl_blob blob = { (void *)req->ca, req->ca_len, CURL_BLOB_NOCOPY };
	struct body b = { ans, 0 };

	answer_reset(ans);
	if (!hdrs) {
		answer_set(ans, CURLE_OUT_OF_MEMORY, 0);
		goto out;
	}
	/* every option is checked: a request that cannot be set up as
	 * intended (verification, no redirects, no proxy) is not sent */
	perform(h, setup(h, req, req->ca ? &blob : NULL, hdrs, &b), &b, ans);
out:
	headers_free(hdrs);
	if (h)
		curl_easy_cleanup(h);
}

/* Appends "name: value" (wiped after the copy); *failed is set and the
 * list freed on failure. */
static struct curl_slist *headers_pair(struct curl_slist *list, const char *name, const char *value,
				       int *failed)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line;

	if (*failed)
		return NULL;
	line = malloc(n);
	if (line) {
		snprintf(line, n, "%s: %s", name, value);
		list = headers_add(list, line);
		explicit_bzero(line, n);
		free(line);
	} else {
		headers_free(list);
		list = NULL;
	}
	*failed = !list;
	return list;
}

#define SIGNED_MAX 8

/* The query as acs3.h takes it (a new array), or NULL. */
static struct acs3_field *query_fields(const struct net_call *req)
{
	struct acs3_field *q = malloc((req->nquery ? req->nquery : 1) * sizeof(*q));

	for (size_t i = 0; q && i < req->nquery; i++)
		q[i] = (struct acs3_field){ req->query[i].name, req->query[i].value };
	return q;
}

/* The x-acs-* headers, host and content-type of a signed call, in f
 * (the strings in store), and the Authorization value (new, or NULL). */
static char *sign_call(const struct net_call *req, const char *host, struct acs3_field *f,
		       size_t *nf, char store[4][80])
{
	const struct net_signer *s = req->sign;
	struct acs3_field *q;
	char *auth;
	unsigned char raw[16];
	struct tm tm;
	time_t now = (time_t)s->now;
	size_t n = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) || !gmtime_r(&now, &tm))
		return NULL;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(store[0] + 2 * i, 3, "%02x", raw[i]);
	strftime(store[1], sizeof(store[1]), "%Y-%m-%dT%H:%M:%SZ", &tm);
	acs3_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, store[2]);
	f[n++] = (struct acs3_field){ "host", host };
	f[n++] = (struct acs3_field){ "x-acs-action", s->action };
	f[n++] = (struct acs3_field){ "x-acs-version", s->version };
	f[n++] = (struct acs3_field){ "x-acs-date", store[1] };
	f[n++] = (struct acs3_field){ "x-acs-signature-nonce", store[0] };
	f[n++] = (struct acs3_field){ "x-acs-content-sha256", store[2] };
	if (req->body)
		f[n++] = (struct acs3_field){ "content-type", req->content_type };
	if (s->token)
		f[n++] = (struct acs3_field){ "x-acs-security-token", s->token };
	*nf = n;
	q = query_fields(req);
	auth = q ? acs3_authorization(req->method, req->path, q, req->nquery, f, n, store[2],
				      s->key_id, s->secret, s->secret_len)
		 : NULL;
	free(q);
	return auth;
}

/* The request's headers: the caller's, the signature's, and ours. */
static struct curl_slist *call_headers(const struct net_call *req, const char *host)
{
	struct acs3_field f[SIGNED_MAX];
	/* cppcheck-suppress variableScope ; f points into it until the end */
	char store[4][80], *auth = NULL;
	struct curl_slist *l = NULL;
	size_t nf = 0;
	int failed = 0;

	if (req->sign) {
		auth = sign_call(req, host, f, &nf, store);
		if (!auth)
			return NULL;
	} else if (req->body) {
		f[nf++] = (struct acs3_field){ "Content-Type", req->content_type };
	}
	for (size_t i = 0; i < nf; i++)
		l = headers_pair(l, f[i].name, f[i].value, &failed);
	for (size_t i = 0; i < req->nheaders; i++)
		l = headers_pair(l, req->headers[i].name, req->headers[i].value, &failed);
	if (auth)
		l = headers_pair(l, "Authorization", auth, &failed);
	l = headers_pair(l, "Accept", "application/json", &failed);
	if (l)
		l = headers_add(l, "Expect:");
	free(auth);
	return l;
}

/* base + the encoded path + "?" + the canonical query, or NULL. */
static char *call_url(const struct net_call *req)
{
	char *path = acs3_encode(req->path, strlen(req->path), 1);
	struct acs3_field *q = query_fields(req);
	char *query = q ? acs3_canonical_query(q, req->nquery) : NULL;
	size_t n = strlen(req->base) + (path ? strlen(path) : 0) + (query ? strlen(query) : 0) + 2;
	char *url = path && query ? malloc(n) : NULL;

	if (url)
		snprintf(url, n, "%s%s%s%s", req->base, path, query[0] ? "?" : "", query);
	free(path);
	free(query);
	free(q);
	return url;
}

static CURLcode call_method(CURL *h, const struct net_call *req, CURLcode cc)
{
	if (!strcmp(req->method, "GET")) {
		SETOPT(h, CURLOPT_HTTPGET, 1L);
		return cc;
	}
	if (!strcmp(req->method, "POST")) {
		SETOPT(h, CURLOPT_POST, 1L);
	} else {
		SETOPT(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (!req->body)
			return cc;
	}
	SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	SETOPT(h, CURLOPT_POSTFIELDSIZE, req->body ? (long)req->body_len : 0L);
	return cc;
}

static void net_call(const struct net_call *req, struct net_answer *ans)
{
	const char *host = strstr(req->base, "://");
	CURL *h = curl_easy_init();
	char *url = h && host ? call_url(req) : NULL;
	struct curl_slist *hdrs = url ? call_headers(req, host + 3) : NULL;
	struct curl_blob blob = { (void *)req->ca, req->ca_len, CURL_BLOB_NOCOPY };
	struct body b = { ans, 0 };
	CURLcode cc;

	answer_reset(ans);
	if (!hdrs) {
		answer_set(ans, CURLE_OUT_OF_MEMORY, 0);
		goto out;
	}
	cc = setup_common(h, url, req->ca ? &blob : NULL, hdrs, &b, (long)req->timeout_ms);
	perform(h, call_method(h, req, cc), &b, ans);
out:
	headers_free(hdrs);
	free(url);
	if (h)
		curl_easy_cleanup(h);
}

static int curl_ready;

/* libcurl is set up once, when the module is first used (core/net.c). */
static int net_global_init(void)
{
	if (curl_ready)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	curl_ready = 1;
	return 0;
}

static void net_global_cleanup(void)
{
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = 0;
}

/* The module's one export (net.h). */
const struct net_ops dscred_net = { NET_ABI, net_global_init, net_global_cleanup, net_post,
				    net_call };
