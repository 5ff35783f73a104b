/* SPDX-License-Identifier: MIT */
/* Minting a temporary key over the network module (net/net.h): the
 * program reads the CA file, makes the URL, retries, and words every
 * failure; the module only carries one POST and hands back its bytes,
 * which token_response.c reads. */
#include "config.h"
#include "base/debug.h"
#include "base/files.h"
#include "base/module.h"
#include "core/token.h"
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ATTEMPTS 3
#define CA_FILE_MAX (8u << 20)

_Static_assert(NET_BODY_MAX == TOKEN_RESPONSE_MAX, "the module reads what the parser takes");

static const struct net_ops *net;

static int net_ready(struct ds_err *err)
{
	if (net)
		return DS_OK;
	net = module_load(NET_MODULE, NET_MODULE_SYMBOL, NET_ABI, DS_EFAIL, "network", err);
	if (!net)
		return DS_EFAIL;
	if (net->global_init() != 0)
		return ds_err_set(err, DS_EFAIL, "libcurl could not be initialised.");
	return DS_OK;
}

int token_global_init(struct ds_err *err)
{
	return net_ready(err);
}

void token_global_cleanup(void)
{
	if (net)
		net->global_cleanup();
}

const struct net_ops *net_module(struct ds_err *err)
{
	return net_ready(err) == DS_OK ? net : NULL;
}

int net_ca_read(const char *ca_file, char **ca, size_t *len, struct ds_err *err)
{
	*ca = NULL;
	*len = 0;
	/* read here like every file of ours (files.h): OpenSSL would open a
	 * FIFO and wait on it past every timeout */
	if (!ca_file)
		return DS_OK;
	return file_read(ca_file, FILE_REQUIRED, CA_FILE_MAX, "CA file", DS_EINPUT, ca, len, NULL,
			 err);
}

void net_backoff(int attempt, long retry_after)
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

/* Each sentence names the URL tried: an endpoint override must show. */
static int transport_error(const struct net_answer *a, const char *url, struct ds_err *err)
{
	switch (a->result) {
	case NET_TOO_LARGE:
		return ds_err_set(err, DS_ENET,
				  "The token endpoint %s sent more than 64 KiB; refused. Check the endpoint setting.",
				  url);
	case NET_TIMEOUT:
		return ds_err_set(err, DS_ENET,
				  "The token endpoint %s did not answer in time; check the network or raise 'timeout' in the config.",
				  url);
	case NET_TLS:
		return ds_err_set(err, DS_ENET,
				  "The TLS certificate of the token endpoint %s could not be verified (%s); nothing was sent. Check the endpoint and ca_file settings.",
				  url, a->reason);
	case NET_SCHEME:
		return ds_err_set(err, DS_ENET,
				  "The scheme of the token endpoint %s is not allowed.", url);
	default:
		return ds_err_set(err, DS_ENET, "Could not reach the token endpoint %s: %s.", url,
				  a->reason);
	}
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

static int http_error(const struct net_answer *a, const struct secret *key, struct ds_err *err)
{
	char code[128], message[256], rid[128], detail[600];
	long status = a->status;
	int rc;

	if (status == 401 || status == 403)
		rc = DS_EAUTH;
	else if (status == 429 || status >= 500 || (status >= 300 && status < 400))
		rc = DS_ENET;
	else
		rc = DS_EFAIL;
	/* an echo of the key in any encoding: none of the server's text */
	if (token_error_holds_key(a->body, a->len, key->data, key->len))
		return ds_err_set(err, rc,
				  "The token endpoint answered HTTP %ld; its message held the key, so it is not shown; %s.",
				  status, status_hint(status));
	token_parse_error(a->body, a->len, code, message, rid, sizeof(code));
	snprintf(detail, sizeof(detail), "%s%s%s%s%s%s%s", code, code[0] && message[0] ? ": " : "",
		 message, (code[0] || message[0]) && rid[0] ? "; " : "",
		 rid[0] ? "request_id " : "", rid, "");
	return ds_err_set(err, rc, "The token endpoint answered HTTP %ld%s%s%s; %s.", status,
			  detail[0] ? " (" : "", detail, detail[0] ? ")" : "", status_hint(status));
}

/* A 200 answer: a valid token that is not the long-lived key itself. */
static int answer_read(const struct net_answer *a, time_t sent, const struct token_request *tr,
		       struct minted *out, struct ds_err *err)
{
	int rc = token_parse_success(a->body, a->len, sent, tr->lifetime, out, err);

	/* the long-lived key handed back as "temporary" would be printed
	 * where only temporary keys may go (SPEC section 4) */
	if (rc == DS_OK &&
	    token_text_holds_key(out->token->data, out->token->len, tr->key->data, tr->key->len)) {
		secret_free(out->token);
		out->token = NULL;
		rc = ds_err_set(err, DS_ENET,
				"The token endpoint answered with the long-lived key itself, not a temporary key; nothing was printed. Check the endpoint setting.");
	}
	return rc;
}

int token_mint(const struct token_request *tr, struct minted *out, struct ds_err *err)
{
	char url[700], *ca = NULL;
	size_t ca_len = 0;
	struct net_post req;
	struct net_answer *a;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = net_ready(err);
	if (rc)
		return rc;
	rc = net_ca_read(tr->ca_file, &ca, &ca_len, err);
	if (rc)
		return rc;
	a = malloc(sizeof(*a));
	if (!a) {
		free(ca);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	snprintf(url, sizeof(url), "%s?expire_in_seconds=%lu", tr->token_url, tr->lifetime);
	req = (struct net_post){ url, ca, ca_len, tr->key->data, tr->key->len, tr->timeout };
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	rc = DS_ENET;
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		int retry;
		/* The clock is read before sending: a key minted for one second
		 * may otherwise look expired when the answer crosses a second. */
		time_t sent = time(NULL);

		net->post(&req, a);
		if (a->result == NET_OK)
			ds_debug("POST %s: HTTP %ld in %lld ms", url, a->status, a->elapsed_ms);
		else
			ds_debug("POST %s: %s after %lld ms", url, a->reason, a->elapsed_ms);
		if (a->result == NET_OK && a->status == 200) {
			rc = answer_read(a, sent, tr, out, err);
			break;
		}
		if (a->result != NET_OK) {
			rc = transport_error(a, tr->token_url, err);
			retry = a->result == NET_UNREACHABLE;
		} else {
			rc = http_error(a, tr->key, err);
			retry = a->status == 429 || a->status >= 500;
		}
		if (!retry || attempt + 1 == MAX_ATTEMPTS)
			break;
		net_backoff(attempt, a->retry_after);
	}
	explicit_bzero(a, sizeof(*a));
	free(a);
	free(ca);
	return rc;
}
