/* SPDX-License-Identifier: MIT */
/* `dashscope-credential broker` (SPEC section 12): holds the system key
 * file, identifies each caller by SO_PEERCRED, applies [broker] and
 * [policy], and answers with temporary keys minted by credential_obtain.
 * One thread per connection (capped); the cache and the rate counters sit
 * behind one lock, cache_lock. */
#include "config.h"
#include "core/app.h"
#include "broker/broker.h"
#include "store/broker_wire.h"
#include "base/listen_fds.h"
#include "base/clock.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define BROKER_MAX_CONN 1024 /* connection threads, all callers */
#define BROKER_MAX_CONN_UID 128 /* of one uid: nobody starves the others */
#define BROKER_STACK (512 * 1024)
#define BROKER_MAX_GROUPS 256
#define BROKER_IDLE_DEFAULT 60

/* A cached temporary key of one (uid, profile, lifetime), or the mint in
 * flight for it: callers that find minting set wait on mint_done. */
struct cache_entry {
	uid_t uid;
	char profile[DS_PROFILE_MAX];
	unsigned long lifetime;
	struct secret *token; /* NULL: none yet */
	long long expires_at;
	int minting;
	unsigned long fails; /* bumped on each failed mint */
	struct ds_err fail; /* the last failure, for the callers that waited */
	struct cache_entry *next;
};

/* What the broker counts per uid: its requests this minute, and its
 * connections open now. */
struct rate_entry {
	uid_t uid;
	time_t window; /* start of the current minute */
	unsigned long count;
	unsigned active;
	struct rate_entry *next;
};

struct broker {
	struct app *app; /* read-only once threads run */
	int log_stderr;
	pthread_mutex_t cache_lock; /* guards everything below */
	pthread_cond_t changed; /* a mint finished, or a connection ended */
	struct cache_entry *cache;
	struct rate_entry *rates;
	unsigned active; /* connection threads running */
	time_t last_activity;
};

/* Who is calling, from the kernel and the passwd/group databases. */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];
	char *groups[BROKER_MAX_GROUPS];
	size_t ngroups;
};

/* What one request did, for the audit line. */
struct outcome {
	const char *result; /* minted, cached, denied, failed, listed */
	char profile[DS_PROFILE_MAX];
	const char *region;
	unsigned long lifetime;
	long long expires_at;
	char reason[sizeof(((struct ds_err *)0)->msg)];
};

struct conn {
	struct broker *b;
	int fd;
	uid_t uid; /* counted in its rate_entry's active */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- the audit line ---- */

/* The API's request id, which a failed mint's message carries (a token
 * endpoint's success answer has none): "-" when there is none. */
static void request_id_of(const char *reason, char *out, size_t n)
{
	const char *p = strstr(reason, "request_id ");
	size_t len;

	if (!p) {
		snprintf(out, n, "-");
		return;
	}
	p += strlen("request_id ");
	len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");
	if (len == 0 || len >= n)
		len = 0;
	snprintf(out, n, "%.*s", (int)len, len ? p : "-");
}

static void audit(const struct broker *b, const struct caller *c, const char *action,
		  const struct outcome *o)
{
	char line[1300], reason[sizeof(o->reason)], rid[80];

	/* the reason is quoted: a double quote in it would end the field */
	snprintf(reason, sizeof(reason), "%s", o->reason[0] ? o->reason : "-");
	for (char *p = reason; *p; p++)
		if (*p == '"')
			*p = '\'';
	request_id_of(o->reason, rid, sizeof(rid));
	snprintf(line, sizeof(line),
		 "action=%s uid=%lu user=%s pid=%ld profile=%s region=%s lifetime=%lu result=%s expires=%lld request_id=%s reason=\"%s\"",
		 action, (unsigned long)c->uid, c->user[0] ? c->user : "?", (long)c->pid,
		 o->profile[0] ? o->profile : "-", o->region ? o->region : "-", o->lifetime,
		 o->result, o->expires_at, rid, reason);
	if (b->log_stderr)
		fprintf(stderr, "dashscope-credential-broker: %s\n", line);
	else
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
}

/* ---- reading the request, within the deadline ---- */

/* Feeds one line: action= is the broker's own; the rest goes to the
 * protocol reader, with its limits (SPEC section 4). */
static int feed(struct request *req, char *action, const char *line, size_t len, int *end,
		struct ds_err *err)
{
	static const char name[] = BROKER_FIELD_ACTION "=";
	const size_t nlen = sizeof(name) - 1;

	if (len >= nlen && !memcmp(line, name, nlen)) {
		if (action[0])
			return ds_err_set(err, DS_EINPUT,
					  "Malformed request: 'action' appears twice; nothing was done.");
		if (len - nlen >= BROKER_ACTION_MAX || memchr(line, '\0', len))
			return ds_err_set(err, DS_EINPUT,
					  "Malformed request: action must be get or list.");
		memcpy(action, line + nlen, len - nlen);
		action[len - nlen] = '\0';
		return DS_OK;
	}
	return request_feed_line(req, line, len, end, err);
}

/* Reads one request, up to the empty line or the end of input, giving up
 * BROKER_READ_TIMEOUT seconds after the connection was accepted. */
static int read_request(int fd, struct request *req, char *action, struct ds_err *err)
{
	long long deadline = clock_now_ms() + BROKER_READ_TIMEOUT * 1000;
	char *line = malloc(PROTO_LINE_MAX + 2), chunk[4096];
	size_t len = 0;
	int rc = DS_OK, end = 0;

	if (!line)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	while (!end && rc == DS_OK) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - clock_now_ms();
		ssize_t got;
		int pr;

		if (left <= 0) {
			rc = ds_err_set(err, DS_EINPUT, "No complete request within %d seconds.",
					BROKER_READ_TIMEOUT);
			break;
		}
		if (stop_requested) {
			rc = ds_err_set(err, DS_ENET, "The broker is stopping; try again.");
			break;
		}
		/* in slices, so that a stopping broker does not wait out a
		 * silent caller */
		pr = poll(&pfd, 1, left > 250 ? 250 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue; /* the deadline check above ends it */
		got = recv(fd, chunk, sizeof(chunk), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = ds_err_set(err, DS_EINPUT, "The request could not be read.");
			break;
		}
		if (got == 0) { /* end of input ends the request */
			if (len)
				rc = feed(req, action, line, len, &end, err);
			break;
		}
		for (ssize_t i = 0; i < got && !end && rc == DS_OK; i++) {
			if (chunk[i] != '\n') {
				if (len > PROTO_LINE_MAX) {
					rc = ds_err_set(err, DS_EINPUT,
							"Malformed request: a line is longer than 65535 bytes; nothing was done.");
					break;
				}
				line[len++] = chunk[i];
				continue;
			}
			rc = feed(req, action, line, len, &end, err);
			explicit_bzero(line, len);
			len = 0;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	explicit_bzero(line, PROTO_LINE_MAX + 2);
	free(line);
	return rc;
}

/* ---- the caller ---- */

static void caller_free(struct caller *c)
{
	for (size_t i = 0; i < c->ngroups; i++)
		free(c->groups[i]);
	c->ngroups = 0;
}

static void caller_add_group(struct caller *c, gid_t g)
{
	struct group gr, *res = NULL;
	char buf[8192];

	if (c->ngroups == BROKER_MAX_GROUPS || getgrgid_r(g, &gr, buf, sizeof(buf), &res) || !res)
		return;
	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i], gr.gr_name))
			return;
	c->groups[c->ngroups] = strdup(gr.gr_name);
	if (c->groups[c->ngroups])
		c->ngroups++;
}

/* The kernel's credentials of the connection (fixed at connect time) and
 * the groups of that uid's passwd entry. */
static int caller_identify(int fd, struct caller *c, struct ds_err *err)
{
	struct ucred uc;
	socklen_t sl = sizeof(uc);
	struct passwd pw, *res = NULL;
	char buf[8192];
	gid_t gids[BROKER_MAX_GROUPS];
	int n = BROKER_MAX_GROUPS;

	memset(c, 0, sizeof(*c));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0)
		return ds_err_set(err, DS_EFAIL, "The caller's credentials are unknown.");
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->pid = uc.pid;
	if (getpwuid_r(uc.uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return ds_err_set(err, DS_EPOLICY, "uid %lu has no passwd entry.",
				  (unsigned long)uc.uid);
	ds_strcpy(c->user, sizeof(c->user), pw.pw_name);
	caller_add_group(c, uc.gid);
	if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) < 0)
		n = BROKER_MAX_GROUPS; /* more than we look at: the first ones */
	for (int i = 0; i < n; i++)
		caller_add_group(c, gids[i]);
	return DS_OK;
}

static struct broker_caller rules_caller(const struct caller *c)
{
	struct broker_caller bc = { c->user, (const char *const *)c->groups, c->ngroups };

	return bc;
}

/* ---- answers ---- */

static void send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the caller went away or stopped reading */
		buf += w;
		len -= (size_t)w;
	}
}

static void answer_error(int fd, const struct ds_err *e)
{
	char buf[800];
	int n = snprintf(buf, sizeof(buf),
			 BROKER_FIELD_STATUS "=" BROKER_STATUS_ERROR "\n" BROKER_FIELD_CODE
					     "=%d\n" BROKER_FIELD_MESSAGE "=%s\n",
			 e->code ? e->code : DS_EFAIL, e->msg);

	send_all(fd, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void answer_key(int fd, const struct profile *p, const struct secret *key,
		       long long expires_at, const char *endpoint)
{
	struct endpoints ep;
	char *buf = NULL, num[32];
	size_t len = 0;
	FILE *out;
	int bad = 0;

	if (place_endpoints(&p->place, endpoint, &ep, NULL) != DS_OK)
		memset(&ep, 0, sizeof(ep));
	out = open_memstream(&buf, &len);
	if (!out)
		return;
	snprintf(num, sizeof(num), "%lld", expires_at);
	bad |= proto_write(out, BROKER_FIELD_STATUS, BROKER_STATUS_OK);
	bad |= proto_write(out, BROKER_FIELD_PROFILE, p->name);
	bad |= proto_write(out, BROKER_FIELD_REGION, p->place.region->id);
	bad |= proto_write(out, BROKER_FIELD_WORKSPACE, p->place.workspace);
	bad |= proto_write(out, BROKER_FIELD_PLAN, plan_name(p->place.plan));
	bad |= proto_write(out, BROKER_FIELD_PROTOCOL, "https");
	bad |= proto_write(out, BROKER_FIELD_HOST, ep.host);
	bad |= proto_write(out, BROKER_FIELD_USERNAME, p->name);
	bad |= proto_write(out, BROKER_FIELD_PASSWORD, key->data);
	bad |= proto_write(out, BROKER_FIELD_EXPIRY, num);
	bad |= proto_write(out, BROKER_FIELD_BASE_URL, ep.base_url);
	bad |= proto_write(out, BROKER_FIELD_ANTHROPIC_BASE_URL, ep.anthropic_base_url);
	bad |= proto_write(out, BROKER_FIELD_NATIVE_BASE_URL, ep.native_base_url);
	fclose(out);
	if (!bad)
		send_all(fd, buf, len);
	explicit_bzero(buf, len);
	free(buf);
}

/* After an early answer, reads what the caller still sends (for at most
 * a second and 1 MiB) so that closing does not reset the connection and
 * destroy the answer before the caller reads it. */
static void drain(int fd)
{
	long long deadline = clock_now_ms() + 1000;
	size_t total = 0;
	char buf[4096];

	shutdown(fd, SHUT_WR);
	while (total < (1u << 20)) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - clock_now_ms();
		ssize_t got;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		got = recv(fd, buf, sizeof(buf), 0);
		if (got <= 0)
			break;
		total += (size_t)got;
	}
	explicit_bzero(buf, sizeof(buf));
}

/* ---- rules, rate, selection ---- */

/* The counters of uid, made on first use; cache_lock must be held. */
static struct rate_entry *uid_entry(struct broker *b, uid_t uid)
{
	struct rate_entry *r;

	for (r = b->rates; r && r->uid != uid; r = r->next)
		;
	if (!r && (r = calloc(1, sizeof(*r)))) {
		r->uid = uid;
		r->next = b->rates;
		b->rates = r;
	}
	return r;
}

static int rate_take(struct broker *b, uid_t uid, struct ds_err *err)
{
	unsigned long limit = broker_rate(&b->app->conf.broker);
	time_t now = time(NULL);
	struct rate_entry *r;
	int rc = DS_OK;

	pthread_mutex_lock(&b->cache_lock);
	r = uid_entry(b, uid);
	if (!r) {
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	} else {
		if (now - r->window >= 60) {
			r->window = now;
			r->count = 0;
		}
		if (r->count >= limit)
			rc = ds_err_set(err, DS_EPOLICY,
					"rate limit: at most %lu requests a minute; try again in %ld s.",
					limit, (long)(60 - (now - r->window)));
		else
			r->count++;
	}
	pthread_mutex_unlock(&b->cache_lock);
	return rc;
}

/* The profiles of the system key file that the caller may use. */
static int allowed_list(struct broker *b, const struct caller *c, struct profile_list *out,
			struct ds_err *err)
{
	struct broker_caller bc = rules_caller(c);
	size_t kept = 0;
	int rc = store_list(&b->app->store, NULL, out, 0, err);

	if (rc)
		return rc;
	for (size_t i = 0; i < out->n; i++)
		if (broker_rules_allow(&b->app->conf.broker, &bc, out->items[i].name))
			out->items[kept++] = out->items[i];
	out->n = kept;
	for (size_t i = 0; i < out->n; i++)
		out->items[i].key_tail[0] = '\0';
	return DS_OK;
}

static int select_allowed(struct broker *b, const struct caller *c, const struct want *w,
			  struct profile *out, struct ds_err *err)
{
	struct broker_caller bc = rules_caller(c);
	const struct conf *conf = &b->app->conf;
	const char *def = conf->default_profile[0] ? conf->default_profile : NULL;
	const struct profile *p = NULL;
	struct profile_list l;
	int rc;

	/* refused whether or not it exists: a caller learns nothing about
	 * profiles that are not theirs */
	if (w->cr.profile && !broker_rules_allow(&conf->broker, &bc, w->cr.profile))
		return ds_err_set(err, DS_EPOLICY, "denied: profile %s is not one %s may use.",
				  w->cr.profile, c->user);
	rc = allowed_list(b, c, &l, err);
	if (rc)
		return rc;
	if (def && !profile_list_find(&l, def))
		def = NULL;
	rc = select_profile(&l, &w->cr, def, &p, err);
	if (rc == DS_OK && !p)
		rc = ds_err_set(err, DS_EFAIL, "No profile that %s may use matches the request.",
				c->user);
	if (rc == DS_OK)
		*out = *p;
	profile_list_free(&l);
	return rc;
}

static unsigned long effective_lifetime(const struct conf *conf, const struct want *w,
					const char *profile)
{
	const struct profile_conf *pc = conf_profile(conf, profile);
	unsigned long l = DS_LIFETIME_DEFAULT;

	if (w->lifetime_given)
		l = w->lifetime;
	else if (pc && pc->lifetime)
		l = pc->lifetime;
	else if (conf->lifetime)
		l = conf->lifetime;
	if (conf->broker.max_lifetime && l > conf->broker.max_lifetime)
		l = conf->broker.max_lifetime;
	if (conf->policy.max_lifetime && l > conf->policy.max_lifetime)
		l = conf->policy.max_lifetime;
	return l;
}

/* ---- the cache, single-flight ---- */

static struct cache_entry *cache_find(struct broker *b, uid_t uid, const char *profile,
				      unsigned long lifetime)
{
	long long now = (long long)time(NULL);
	struct cache_entry *e;

	/* dead keys are wiped as the walk passes them */
	for (e = b->cache; e; e = e->next)
		if (e->token && e->expires_at <= now) {
			secret_free(e->token);
			e->token = NULL;
		}
	for (e = b->cache; e; e = e->next)
		if (e->uid == uid && e->lifetime == lifetime && !strcmp(e->profile, profile))
			return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->uid = uid;
	ds_strcpy(e->profile, sizeof(e->profile), profile);
	e->lifetime = lifetime;
	e->next = b->cache;
	b->cache = e;
	return e;
}

static int entry_fresh(const struct cache_entry *e, time_t now)
{
	return e->token &&
	       (double)(e->expires_at - (long long)now) > token_renewal_margin(e->lifetime);
}

/* Mints outside the lock; the entry's minting flag keeps other callers of
 * the same key waiting on `changed` instead of minting too. */
static int mint_into(struct broker *b, struct cache_entry *e, const struct profile *p,
		     struct ds_err *err)
{
	struct want w;
	struct credential cred;
	int found = 0, rc;

	memset(&w, 0, sizeof(w));
	w.cr.profile = p->name;
	w.lifetime_given = 1;
	w.lifetime = e->lifetime;
	rc = credential_obtain(b->app, &w, &cred, &found, err);
	if (rc == DS_OK && !found)
		rc = ds_err_set(err, DS_EFAIL, "Profile %s is no longer in the system key file.",
				p->name);
	if (rc == DS_OK && cred.long_lived) /* never: checked before, kept as a guard */
		rc = ds_err_set(err, DS_EPOLICY, "The broker hands out temporary keys only.");
	pthread_mutex_lock(&b->cache_lock);
	e->minting = 0;
	if (rc == DS_OK) {
		secret_free(e->token);
		e->token = cred.key;
		cred.key = NULL;
		e->expires_at = cred.expires_at;
	} else {
		e->fails++;
		e->fail = *err;
	}
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->cache_lock);
	if (found)
		credential_free(&cred);
	return rc;
}

/* A fresh key for (uid, profile, lifetime): cached, or minted once for
 * every caller that asks while the mint runs. *key is a copy. */
static int key_get(struct broker *b, uid_t uid, const struct profile *p, unsigned long lifetime,
		   struct secret **key, long long *expires_at, int *cached, struct ds_err *err)
{
	struct cache_entry *e;
	unsigned long fails_seen;
	int rc = DS_OK;

	*key = NULL;
	pthread_mutex_lock(&b->cache_lock);
	e = cache_find(b, uid, p->name, lifetime);
	if (!e) {
		pthread_mutex_unlock(&b->cache_lock);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	fails_seen = e->fails;
	*cached = 1;
	for (;;) {
		if (entry_fresh(e, time(NULL))) {
			*key = secret_new(e->token->data, e->token->len);
			*expires_at = e->expires_at;
			if (!*key)
				rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
			break;
		}
		if (e->fails != fails_seen) { /* the mint we waited for failed */
			*err = e->fail;
			rc = e->fail.code ? e->fail.code : DS_EFAIL;
			break;
		}
		if (!e->minting) {
			e->minting = 1;
			*cached = 0;
			pthread_mutex_unlock(&b->cache_lock);
			rc = mint_into(b, e, p, err);
			pthread_mutex_lock(&b->cache_lock);
			if (rc == DS_OK && e->token) {
				*key = secret_new(e->token->data, e->token->len);
				*expires_at = e->expires_at;
				if (!*key)
					rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
			}
			break;
		}
		{
			/* a mint is bounded by its own timeouts; this wait by ours */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&b->changed, &b->cache_lock, &ts);
		}
	}
	pthread_mutex_unlock(&b->cache_lock);
	return rc;
}

/* ---- one request ---- */

static int handle_list(struct broker *b, int fd, const struct caller *c, struct outcome *o,
		       struct ds_err *err)
{
	struct profile_list l;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int rc = allowed_list(b, c, &l, err);

	if (rc)
		return rc;
	out = open_memstream(&buf, &len);
	if (!out) {
		profile_list_free(&l);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	fputs(BROKER_FIELD_STATUS "=" BROKER_STATUS_OK "\n", out);
	for (size_t i = 0; i < l.n; i++)
		fprintf(out,
			BROKER_FIELD_LIST_ITEM "=%s" BROKER_LIST_SEP "%s" BROKER_LIST_SEP
					       "%s" BROKER_LIST_SEP "%s\n",
			l.items[i].name, l.items[i].place.region->id, l.items[i].place.workspace,
			plan_name(l.items[i].place.plan));
	fclose(out);
	send_all(fd, buf, len);
	free(buf);
	o->result = "listed";
	snprintf(o->reason, sizeof(o->reason), "%zu profiles", l.n);
	profile_list_free(&l);
	return DS_OK;
}

static int handle_get(struct broker *b, int fd, const struct caller *c, const struct request *req,
		      struct outcome *o, struct ds_err *err)
{
	const char *lt = request_get(req, ATTR_LIFETIME);
	struct profile p;
	struct secret *key = NULL;
	struct want w;
	int cached = 0, rc;

	if (lt && !strcmp(lt, "0"))
		return ds_err_set(err, DS_EPOLICY,
				  "denied: the broker hands out temporary keys only (lifetime=0).");
	rc = want_from_request(b->app, req, &w, err);
	if (!rc && w.cr.profile)
		ds_strcpy(o->profile, sizeof(o->profile), w.cr.profile);
	if (!rc)
		rc = rate_take(b, c->uid, err);
	if (!rc)
		rc = select_allowed(b, c, &w, &p, err);
	if (rc)
		return rc;
	ds_strcpy(o->profile, sizeof(o->profile), p.name);
	o->region = p.place.region->id;
	if (p.place.plan == PLAN_CODING)
		return ds_err_set(err, DS_EPOLICY,
				  "denied: profile %s is a Coding Plan key, which has no temporary keys; the broker never hands out a long-lived key.",
				  p.name);
	o->lifetime = effective_lifetime(&b->app->conf, &w, p.name);
	rc = key_get(b, c->uid, &p, o->lifetime, &key, &o->expires_at, &cached, err);
	if (rc)
		return rc;
	answer_key(fd, &p, key, o->expires_at, b->app->conf.endpoint);
	secret_free(key);
	o->result = cached ? "cached" : "minted";
	return DS_OK;
}

static void conn_done(struct broker *b, uid_t uid)
{
	struct rate_entry *r;

	pthread_mutex_lock(&b->cache_lock);
	b->active--;
	for (r = b->rates; r && r->uid != uid; r = r->next)
		;
	if (r && r->active)
		r->active--;
	b->last_activity = time(NULL);
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->cache_lock);
}

static void *conn_main(void *arg)
{
	struct conn *cn = arg;
	struct broker *b = cn->b;
	struct caller c;
	struct request req;
	struct outcome o;
	struct ds_err err = { 0, "" };
	char action[BROKER_ACTION_MAX] = "";
	int rc;

	memset(&o, 0, sizeof(o));
	o.result = "failed";
	request_init(&req);
	rc = caller_identify(cn->fd, &c, &err);
	if (!rc)
		rc = read_request(cn->fd, &req, action, &err);
	/* a caller that connects and closes asked for nothing */
	if (!rc && !action[0] && req.lines == 0)
		rc = ds_err_set(&err, DS_EINPUT, "The request was empty.");
	if (!rc && !action[0])
		ds_strcpy(action, sizeof(action), BROKER_ACTION_GET);
	if (!rc && strcmp(action, BROKER_ACTION_GET) && strcmp(action, BROKER_ACTION_LIST))
		rc = ds_err_set(&err, DS_EINPUT, "Malformed request: action must be get or list.");
	if (!rc) {
		struct broker_caller bc = rules_caller(&c);

		if (!broker_rules_name(&b->app->conf.broker, &bc))
			rc = ds_err_set(&err, DS_EPOLICY,
					"denied: no [broker] rule names user %s; ask your administrator.",
					c.user);
	}
	if (!rc)
		rc = !strcmp(action, BROKER_ACTION_LIST)
			     ? handle_list(b, cn->fd, &c, &o, &err)
			     : handle_get(b, cn->fd, &c, &req, &o, &err);
	if (rc) {
		o.result = rc == DS_EPOLICY ? "denied" : "failed";
		ds_strcpy(o.reason, sizeof(o.reason), err.msg);
		answer_error(cn->fd, &err);
		drain(cn->fd);
	}
	audit(b, &c, action[0] ? action : "?", &o);
	request_free(&req);
	caller_free(&c);
	close(cn->fd);
	conn_done(b, cn->uid);
	free(cn);
	return NULL;
}

/* ---- the socket ---- */

/* The socket systemd passed, when it did: *fd is -1 when none was. The
 * broker's callers are identified by SO_PEERCRED: a Unix socket only. */
static int socket_activated(int *fd, struct ds_err *err)
{
	static const char hint[] = "the broker takes one Unix stream socket (ListenStream=PATH)";
	struct sockaddr_un sa;
	socklen_t l = sizeof(sa);
	int rc = listen_fds_take(hint, fd, err);

	if (rc != DS_OK || *fd < 0)
		return rc;
	if (getsockname(*fd, (struct sockaddr *)&sa, &l) != 0 || sa.sun_family != AF_UNIX)
		return ds_err_set(err, DS_EINPUT,
				  "The socket systemd passed is not a Unix socket; %s.", hint);
	return DS_OK;
}

/* --listen PATH: a stale socket is replaced; a live one or anything that
 * is not a socket is refused. World-connectable: the rules decide. */
static int socket_listen(const char *path, struct ds_err *err)
{
	struct sockaddr_un sa;
	struct stat sb;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (ds_strcpy(sa.sun_path, sizeof(sa.sun_path), path))
		return -ds_err_set(err, DS_EINPUT, "The socket path %.80s is too long.", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -ds_err_set(err, DS_EFAIL, "Cannot make a socket: %s.", strerror(errno));
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			close(fd);
			return -ds_err_set(err, DS_EFAIL, "%s exists and is not a socket.", path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return -ds_err_set(err, DS_EFAIL, "A broker already listens on %s.", path);
		}
		unlink(path);
	}
	{
		/* made 0666 at once, so it never exists with another mode (no
		 * thread runs yet: the umask is ours to change) */
		mode_t old = umask(0111);
		int bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa));

		umask(old);
		if (bound != 0) {
			int e = errno;

			close(fd);
			return -ds_err_set(err, DS_EFAIL, "Cannot listen on %s: %s.", path,
					   strerror(e));
		}
	}
	if (chmod(path, 0666) != 0 || listen(fd, 128) != 0) {
		int e = errno;

		close(fd);
		return -ds_err_set(err, DS_EFAIL, "Cannot listen on %s: %s.", path, strerror(e));
	}
	return fd;
}

/* ---- the service ---- */

static int broker_open_keys(struct app *app, struct ds_err *err)
{
	char path[PATH_MAX];
	int rc;

	system_keyfile_path(path, sizeof(path));
	rc = store_open_file(&app->store, path, "the broker's system key file", err);
	if (rc == DS_OK)
		app->store_ready = 1;
	return rc;
}

static void broker_free(struct broker *b)
{
	while (b->cache) {
		struct cache_entry *n = b->cache->next;

		secret_free(b->cache->token);
		free(b->cache);
		b->cache = n;
	}
	while (b->rates) {
		struct rate_entry *n = b->rates->next;

		free(b->rates);
		b->rates = n;
	}
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->cache_lock);
}

/* Counts a new connection of uid, or refuses it: DS_OK or DS_ENET. */
static int conn_admit(struct broker *b, uid_t uid)
{
	struct rate_entry *r;
	int rc = DS_ENET;

	pthread_mutex_lock(&b->cache_lock);
	b->last_activity = time(NULL);
	r = uid_entry(b, uid);
	if (r && b->active < BROKER_MAX_CONN && r->active < BROKER_MAX_CONN_UID) {
		b->active++;
		r->active++;
		rc = DS_OK;
	}
	pthread_mutex_unlock(&b->cache_lock);
	return rc;
}

static int conn_start(struct conn *cn)
{
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	if (pthread_attr_init(&attr) != 0)
		return -1;
	rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
	     pthread_attr_setstacksize(&attr, BROKER_STACK) ||
	     pthread_create(&th, &attr, conn_main, cn);
	pthread_attr_destroy(&attr);
	return rc ? -1 : 0;
}

static void accept_one(struct broker *b, int lfd)
{
	struct timeval tv = { BROKER_READ_TIMEOUT, 0 };
	struct ucred uc;
	socklen_t sl = sizeof(uc);
	struct conn *cn;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* a caller that does not read its answer holds a thread 5 s at most */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0) {
		close(fd);
		return;
	}
	if (conn_admit(b, uc.uid) != DS_OK) {
		struct ds_err e;

		char buf[4096];
		int n = 16;

		ds_err_set(&e, DS_ENET, "The broker is busy (too many connections); try again.");
		answer_error(fd, &e);
		/* what the caller already sent is read (without waiting for
		 * more): closing over unread bytes would reset the connection
		 * and lose the answer */
		while (n-- > 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		explicit_bzero(buf, sizeof(buf));
		close(fd);
		return;
	}
	cn = malloc(sizeof(*cn));
	if (cn) {
		cn->b = b;
		cn->fd = fd;
		cn->uid = uc.uid;
	}
	if (!cn || conn_start(cn) != 0) {
		free(cn);
		close(fd);
		conn_done(b, uc.uid);
	}
}

/* Serves until SIGTERM/SIGINT or a quiet idle period, then waits for the
 * connections in flight (each bounded by its read deadline and its mint's
 * timeouts). */
static void serve(struct broker *b, int lfd, unsigned long idle)
{
	for (;;) {
		struct pollfd pfd = { lfd, POLLIN, 0 };
		int quiet;

		if (stop_requested)
			break;
		if (poll(&pfd, 1, 1000) > 0 && (pfd.revents & POLLIN))
			accept_one(b, lfd);
		pthread_mutex_lock(&b->cache_lock);
		quiet = idle && b->active == 0 && time(NULL) - b->last_activity >= (time_t)idle;
		pthread_mutex_unlock(&b->cache_lock);
		if (quiet)
			break;
	}
	pthread_mutex_lock(&b->cache_lock);
	while (b->active) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&b->changed, &b->cache_lock, &ts);
	}
	pthread_mutex_unlock(&b->cache_lock);
}

int cmd_broker(struct app *app, struct ds_err *err)
{
	struct broker b;
	struct sigaction sa;
	unsigned long idle = BROKER_IDLE_DEFAULT;
	int lfd, own_socket = 0, rc;

	if (app->o.idle && ds_parse_ulong(app->o.idle, 86400, &idle))
		return ds_err_set(err, DS_EINPUT,
				  "--idle-timeout must be a number of seconds from 0 to 86400.");
	if (geteuid() == 0)
		return ds_err_set(err, DS_EPOLICY,
				  "The broker does not run as root; run it as the user " BROKER_USER
				  " (dashscope-credential-broker.service does).");
	rc = socket_activated(&lfd, err);
	if (rc != DS_OK)
		return rc;
	if (lfd == -1 && !app->o.listen)
		return ds_err_set(err, DS_EINPUT,
				  "No socket: start the broker through dashscope-credential-broker.socket, or give --listen PATH.");
	if (lfd == -1) {
		lfd = socket_listen(app->o.listen, err);
		if (lfd < 0)
			return -lfd;
		own_socket = 1;
	}
	if (token_global_init(err) != DS_OK || broker_open_keys(app, err) != DS_OK) {
		if (own_socket)
			unlink(app->o.listen);
		close(lfd);
		return err->code ? err->code : DS_ESTORE;
	}
	memset(&b, 0, sizeof(b));
	b.app = app;
	b.log_stderr = app->o.log_stderr || (getenv("JOURNAL_STREAM") && *getenv("JOURNAL_STREAM"));
	b.last_activity = time(NULL);
	if (pthread_mutex_init(&b.cache_lock, NULL) || pthread_cond_init(&b.changed, NULL)) {
		close(lfd);
		return ds_err_set(err, DS_EFAIL, "Cannot set up the broker's lock.");
	}
	if (!b.log_stderr)
		openlog("dashscope-credential-broker", LOG_PID, LOG_AUTHPRIV);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	serve(&b, lfd, idle);
	close(lfd);
	if (own_socket)
		unlink(app->o.listen);
	broker_free(&b);
	if (!b.log_stderr)
		closelog();
	return DS_OK;
}
