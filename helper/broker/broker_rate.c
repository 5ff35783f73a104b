/* SPDX-License-Identifier: MIT */
/* What the broker counts per uid (SPEC section 12): its requests in the
 * last 60 seconds, against the [broker] rate, and its connections open now, against
 * the per-uid cap. The counters sit behind the broker's lock. */
#include "config.h"
#include "broker/broker_int.h"

#include <stdlib.h>

/* A request counts in the slot of its second (of clock_now_ms()), and a
 * request is let through only while the slots of this second and the 60
 * before it hold fewer than the rate: so no 60-second span ever holds more
 * (SPEC section 12), at the price of counting up to a second more. */
#define RATE_WINDOW_S 60
#define RATE_SLOTS (RATE_WINDOW_S + 1)

struct broker_rate_entry {
	uid_t uid;
	long long second[RATE_SLOTS]; /* the second slot i counts */
	unsigned long count[RATE_SLOTS];
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
		r->next = b->rates;
		b->rates = r;
	}
	return r;
}

/* Requests of r counted in the window that ends in second now_s; *oldest
 * is the first second that holds one (the first to leave it). */
static unsigned long rate_in_window(const struct broker_rate_entry *r, long long now_s,
				    long long *oldest)
{
	unsigned long n = 0;

	*oldest = now_s;
	for (size_t i = 0; i < RATE_SLOTS; i++) {
		if (!r->count[i] || r->second[i] <= now_s - RATE_SLOTS || r->second[i] > now_s)
			continue;
		n += r->count[i];
		if (r->second[i] < *oldest)
			*oldest = r->second[i];
	}
	return n;
}

int broker_rate_take(struct broker *b, unsigned long limit, uid_t uid, long long now_ms,
		     struct ds_err *err)
{
	long long now_s = now_ms / 1000, oldest;
	struct broker_rate_entry *r;
	size_t slot = (size_t)(now_s % RATE_SLOTS);
	int rc = DS_OK;

	pthread_mutex_lock(&b->lock);
	r = rate_find(b, uid);
	if (!r) {
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	} else if (rate_in_window(r, now_s, &oldest) >= limit) {
		rc = ds_err_set(err, DS_EPOLICY,
				"rate limit: at most %lu requests a minute; try again in %lld s.",
				limit, ((oldest + RATE_SLOTS) * 1000 - now_ms + 999) / 1000);
	} else {
		if (r->second[slot] != now_s) {
			r->second[slot] = now_s;
			r->count[slot] = 0;
		}
		r->count[slot]++;
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
