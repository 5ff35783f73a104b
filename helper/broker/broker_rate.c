/* SPDX-License-Identifier: MIT */
/* What the broker counts per uid (SPEC section 12): its requests this
 * minute, against the [broker] rate, and its connections open now, against
 * the per-uid cap. The counters sit behind the broker's lock. */
#include "config.h"
#include "broker/broker_int.h"
#include "base/clock.h"

#include <stdlib.h>

#define RATE_WINDOW_MS 60000

struct broker_rate_entry {
	uid_t uid;
	long long window; /* clock_now_ms() at the start of the current minute */
	unsigned long count;
	unsigned active;
	struct broker_rate_entry *next;
};

/* The counters of uid, made on first use; lock must be held. */
static struct broker_rate_entry *rate_find(struct broker *b, uid_t uid)
{
	struct broker_rate_entry *r;

	for (r = b->rates; r && r->uid != uid; r = r->next)
		;
	if (!r && (r = calloc(1, sizeof(*r)))) {
		r->uid = uid;
		r->window = clock_now_ms() - RATE_WINDOW_MS; /* over: the first request opens one */
		r->next = b->rates;
		b->rates = r;
	}
	return r;
}

int broker_rate_take(struct broker *b, uid_t uid, struct ds_err *err)
{
	unsigned long limit = broker_rate(&b->app->conf.broker);
	long long now = clock_now_ms();
	struct broker_rate_entry *r;
	int rc = DS_OK;

	pthread_mutex_lock(&b->lock);
	r = rate_find(b, uid);
	if (!r) {
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	} else {
		if (now - r->window >= RATE_WINDOW_MS) {
			r->window = now;
			r->count = 0;
		}
		if (r->count >= limit)
			rc = ds_err_set(err, DS_EPOLICY,
					"rate limit: at most %lu requests a minute; try again in %lld s.",
					limit, (RATE_WINDOW_MS - (now - r->window) + 999) / 1000);
		else
			r->count++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int broker_rate_conn_open(struct broker *b, uid_t uid, unsigned max)
{
	struct broker_rate_entry *r = rate_find(b, uid);

	if (!r || r->active >= max)
		return DS_ENET;
	r->active++;
	return DS_OK;
}

void broker_rate_conn_close(struct broker *b, uid_t uid)
{
	struct broker_rate_entry *r;

	for (r = b->rates; r && r->uid != uid; r = r->next)
		;
	if (r && r->active)
		r->active--;
}

void broker_rate_free(struct broker *b)
{
	while (b->rates) {
		struct broker_rate_entry *n = b->rates->next;

		free(b->rates);
		b->rates = n;
	}
}
