/* SPDX-License-Identifier: MIT */
/* The network module's one HTTP call (net.h): POST {token endpoint}?expire_in_seconds=N with the
 * long-lived key as a Bearer token. Verification always on, no redirects,
 * 64 KiB cap counted as bytes arrive, bounded retries. */
#include "config.h"
#include "base/debug.h"
#include "net/net.h"
#include "base/files.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ATTEMPTS 3
#define CA_FILE_MAX (8u << 20)
#define RETRY_AFTER_MAX 10

struct body {
	char buf[TOKEN_RESPONSE_MAX + 1];
	size_t len;
	int overflow;
};

/* MAXFILESIZE does not stop a chunked body (libcurl 7.88): count here. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct body *b = ctx;
	size_t n = size * nmemb;

	if (n > TOKEN_RESPONSE_MAX - b->len) {
		b->overflow = 1;
		return 0;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	return n;
}

static int is_http_url(const char *url)
{
	return strncmp(url, "http://", 7) == 0;
}

struct attempt {
	struct curl_blob *ca; /* the ca_file's bytes, or NULL */
	CURLcode cc;
	long status;
	long retry_after;
	struct body *body;
};

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

#define SETOPT(h, opt, val)                                 \
	do {                                                \
		if (cc == CURLE_OK)                         \
			cc = curl_easy_setopt(h, opt, val); \
	} while (0)

static CURLcode setup(CURL *h, const struct token_request *tr, struct curl_blob *ca,
		      const char *url, struct curl_slist *hdrs, struct body *body)
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
	SETOPT(h, CURLOPT_POST, 1L);
	SETOPT(h, CURLOPT_POSTFIELDS, "");
	SETOPT(h, CURLOPT_POSTFIELDSIZE, 0L);
	SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
	SETOPT(h, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long)tr->timeout * 1000L);
	SETOPT(h, CURLOPT_TIMEOUT_MS, (long)tr->timeout * 1000L);
	SETOPT(h, CURLOPT_MAXFILESIZE, (long)TOKEN_RESPONSE_MAX);
	SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(h, CURLOPT_WRITEDATA, body);
	return cc;
}

static void attempt_run(const struct token_request *tr, const char *url, struct attempt *at)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	/* "Authorization: Bearer " + key; wiped below, and so is the slist's
	 * copy (headers_free). libcurl's own request buffer is not ours to
	 * wipe; doc/threat-model.md says how long that copy lives. */
	size_t alen = 22 + tr->key->len + 1;
	char *auth = malloc(alen);
	curl_off_t retry = 0;

	at->cc = CURLE_OUT_OF_MEMORY;
	at->status = 0;
	at->retry_after = 0;
	if (!h || !auth) {
		free(auth);
		if (h)
			curl_easy_cleanup(h);
		return;
	}
	snprintf(auth, alen, "Authorization: Bearer %s", tr->key->data);
	hdrs = headers_add(NULL, auth);
	explicit_bzero(auth, alen);
	free(auth);
	if (hdrs)
		hdrs = headers_add(hdrs, "Expect:");
	if (hdrs)
		hdrs = headers_add(hdrs, "Accept: application/json");
	if (!hdrs) {
		curl_easy_cleanup(h);
		return;
	}

	/* every option is checked: a request that cannot be set up as
	 * intended (verification, no redirects, no proxy) is not sent */
	at->cc = setup(h, tr, at->ca, url, hdrs, at->body);
	if (at->cc == CURLE_OK)
		at->cc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &at->status) != CURLE_OK)
		at->status = 0;
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
		at->retry_after = retry > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)retry;
	if (ds_debug_enabled()) {
		curl_off_t us = 0;

		if (curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us) != CURLE_OK)
			us = 0;
		if (at->cc == CURLE_OK)
			ds_debug("POST %s: HTTP %ld in %lld ms", url, at->status,
				 (long long)(us / 1000));
		else
			ds_debug("POST %s: %s after %lld ms", url, curl_easy_strerror(at->cc),
				 (long long)(us / 1000));
	}
	headers_free(hdrs);
	curl_easy_cleanup(h);
}

static int transport_retryable(CURLcode cc)
{
	/* a refused or dropped connection may be a restart; a timeout has
	 * already spent the caller's whole budget and is not repeated */
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
	       cc == CURLE_SEND_ERROR;
}

static void backoff(int attempt, long retry_after)
{
	long ms;
	struct timespec ts;

	if (retry_after > 0) {
		ms = retry_after * 1000;
	} else {
		ms = 250L << attempt; /* 250 ms, 500 ms */
		ms += (long)(random() % 250); /* jitter */
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int transport_error(CURLcode cc, const struct body *b, struct ds_err *err)
{
	if (b->overflow || cc == CURLE_FILESIZE_EXCEEDED)
		return ds_err_set(err, DS_ENET,
				  "The token endpoint sent more than 64 KiB; refused. Check the endpoint setting.");
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return ds_err_set(err, DS_ENET,
				  "The token endpoint did not answer in time; check the network or raise 'timeout' in the config.");
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM)
		return ds_err_set(err, DS_ENET,
				  "The token endpoint's TLS certificate could not be verified (%s); nothing was sent. Check the endpoint and ca_file settings.",
				  curl_easy_strerror(cc));
	if (cc == CURLE_UNSUPPORTED_PROTOCOL)
		return ds_err_set(err, DS_ENET, "The token endpoint URL's scheme is not allowed.");
	return ds_err_set(err, DS_ENET, "Could not reach the token endpoint: %s.",
			  curl_easy_strerror(cc));
}

static const char *status_hint(long status)
{
	if (status == 401)
		return "the key may be deleted or disabled, or belong to another region or workspace than this profile: check the region with 'dashscope-credential list'";
	if (status == 403)
		return "the key is not allowed to create temporary keys here: check the workspace's permissions";
	if (status == 429)
		return "rate limited: wait a little and try again";
	if (status >= 500)
		return "the service failed: try again later";
	if (status >= 300 && status < 400)
		return "the endpoint redirected elsewhere, which is never followed: check the endpoint setting";
	return "check the lifetime and the endpoint setting";
}

static int http_error(long status, const struct body *b, const struct secret *key,
		      struct ds_err *err)
{
	char code[128], message[256], rid[128], detail[600];
	int rc;

	if (status == 401 || status == 403)
		rc = DS_EAUTH;
	else if (status == 429 || status >= 500 || (status >= 300 && status < 400))
		rc = DS_ENET;
	else
		rc = DS_EFAIL;
	/* an echo of the key in any encoding: none of the server's text */
	if (token_error_holds_key(b->buf, b->len, key->data, key->len))
		return ds_err_set(err, rc,
				  "The token endpoint answered HTTP %ld; its message held the key, so it is not shown; %s.",
				  status, status_hint(status));
	token_parse_error(b->buf, b->len, code, message, rid, sizeof(code));
	snprintf(detail, sizeof(detail), "%s%s%s%s%s%s%s", code, code[0] && message[0] ? ": " : "",
		 message, (code[0] || message[0]) && rid[0] ? "; " : "",
		 rid[0] ? "request_id " : "", rid, "");
	return ds_err_set(err, rc, "The token endpoint answered HTTP %ld%s%s%s; %s.", status,
			  detail[0] ? " (" : "", detail, detail[0] ? ")" : "", status_hint(status));
}

static int curl_ready;

/* libcurl is set up once, when the module is first used (net.c). */
static int net_global_init(struct ds_err *err)
{
	if (curl_ready)
		return DS_OK;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ds_err_set(err, DS_EFAIL, "libcurl could not be initialised.");
	curl_ready = 1;
	return DS_OK;
}

static void net_global_cleanup(void)
{
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = 0;
}

static int net_token_mint(const struct token_request *tr, struct minted *out, struct ds_err *err)
{
	char url[700], *ca = NULL;
	size_t ca_len = 0;
	struct curl_blob blob;
	struct body *b;
	struct attempt at;
	int rc = DS_ENET;

	memset(out, 0, sizeof(*out));
	if (net_global_init(err) != DS_OK)
		return DS_EFAIL;
	/* read here like every file of ours (files.h): OpenSSL would open a
	 * FIFO and wait on it past every timeout */
	if (tr->ca_file && (rc = file_read(tr->ca_file, FILE_REQUIRED, CA_FILE_MAX, "CA file",
					   DS_EINPUT, &ca, &ca_len, NULL, err)) != DS_OK)
		return rc;
	blob.data = ca;
	blob.len = ca_len;
	blob.flags = CURL_BLOB_NOCOPY;
	at.ca = ca ? &blob : NULL;
	b = malloc(sizeof(*b));
	if (!b) {
		free(ca);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	snprintf(url, sizeof(url), "%s?expire_in_seconds=%lu", tr->token_url, tr->lifetime);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		int retry;
		/* The clock is read before sending: a key minted for one second
		 * may otherwise look expired when the answer crosses a second. */
		time_t sent = time(NULL);

		b->len = 0;
		b->overflow = 0;
		at.body = b;
		attempt_run(tr, url, &at);
		if (at.cc == CURLE_OK && at.status == 200) {
			rc = token_parse_success(b->buf, b->len, sent, tr->lifetime, out, err);
			/* the long-lived key handed back as "temporary" would be
			 * printed where only temporary keys may go (SPEC section 4) */
			if (rc == DS_OK && token_text_holds_key(out->token->data, out->token->len,
								tr->key->data, tr->key->len)) {
				secret_free(out->token);
				out->token = NULL;
				rc = ds_err_set(err, DS_ENET,
						"The token endpoint answered with the long-lived key itself, not a temporary key; nothing was printed. Check the endpoint setting.");
			}
			break;
		}
		if (at.cc != CURLE_OK) {
			rc = transport_error(at.cc, b, err);
			retry = transport_retryable(at.cc) && !b->overflow;
		} else {
			rc = http_error(at.status, b, tr->key, err);
			retry = at.status == 429 || at.status >= 500;
		}
		if (!retry || attempt + 1 == MAX_ATTEMPTS)
			break;
		backoff(attempt, at.retry_after);
	}
	explicit_bzero(b, sizeof(*b));
	free(b);
	free(ca);
	return rc;
}

/* The module's one export (net.h). */
const struct net_ops dscred_net = { NET_ABI, net_global_init, net_global_cleanup, net_token_mint };
