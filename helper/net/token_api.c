/* SPDX-License-Identifier: MIT */
/* The network module's one HTTP call (net.h): POST to the token endpoint
 * with the long-lived key as a Bearer token. Verification always on, no
 * redirects, the 64 KiB cap counted as bytes arrive; retries, parsing
 * and messages are the program's (core/net.c). */
#include "config.h"
#include "net/net.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static CURLcode setup(CURL *h, const struct net_post *req, struct curl_blob *ca,
		      struct curl_slist *hdrs, struct body *body)
{
	const char *proto = is_http_url(req->url) ? "http" : "https";
	CURLcode cc = CURLE_OK;

	SETOPT(h, CURLOPT_URL, req->url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, proto);
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, proto);
	/* plain http is loopback only (SPEC section 2), and an http_proxy
	 * from the environment would see the key in clear: no proxy at all */
	if (is_http_url(req->url))
		SETOPT(h, CURLOPT_NOPROXY, "*");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca)
		SETOPT(h, CURLOPT_CAINFO_BLOB, ca);
	SETOPT(h, CURLOPT_POST, 1L);
	SETOPT(h, CURLOPT_POSTFIELDS, "");
	SETOPT(h, CURLOPT_POSTFIELDSIZE, 0L);
	SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
	SETOPT(h, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long)req->timeout * 1000L);
	SETOPT(h, CURLOPT_TIMEOUT_MS, (long)req->timeout * 1000L);
	SETOPT(h, CURLOPT_MAXFILESIZE, (long)NET_BODY_MAX);
	SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(h, CURLOPT_WRITEDATA, body);
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

static void net_post(const struct net_post *req, struct net_answer *ans)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = h ? headers_make(req) : NULL;
	struct curl_blob blob = { (void *)req->ca, req->ca_len, CURL_BLOB_NOCOPY };
	struct body b = { ans, 0 };
	curl_off_t retry = 0, us = 0;
	CURLcode cc;

	ans->reason[0] = '\0';
	ans->status = 0;
	ans->retry_after = 0;
	ans->elapsed_ms = 0;
	ans->len = 0;
	ans->body[0] = '\0';
	if (!hdrs) {
		answer_set(ans, CURLE_OUT_OF_MEMORY, 0);
		goto out;
	}
	/* every option is checked: a request that cannot be set up as
	 * intended (verification, no redirects, no proxy) is not sent */
	cc = setup(h, req, req->ca ? &blob : NULL, hdrs, &b);
	if (cc == CURLE_OK)
		cc = curl_easy_perform(h);
	answer_set(ans, cc, b.overflow);
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status) != CURLE_OK)
		ans->status = 0;
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
		ans->retry_after = retry > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)retry;
	if (curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
		ans->elapsed_ms = (long long)(us / 1000);
out:
	headers_free(hdrs);
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
const struct net_ops dscred_net = { NET_ABI, net_global_init, net_global_cleanup, net_post };
