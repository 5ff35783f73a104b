/* SPDX-License-Identifier: MIT */
/* The broker's audit line (SPEC section 12): one per request, to syslog
 * (authpriv) or to stderr when stderr is the journal or --log-stderr.
 * Never a key. What the caller wrote is quoted and escaped, so that no
 * control byte reaches the log and no value reads as another field; a
 * uid's identical refusals within one second are folded into one line
 * with their count. */
#include "config.h"
#include "broker/broker_int.h"
#include "base/clock.h"
#include "store/broker_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* The last refusal logged for one uid, and how many like it followed in
 * the same second (not logged yet). Behind the broker's lock. */
struct broker_audit_fold {
	uid_t uid;
	long long second;
	char key[BROKER_AUDIT_LINE]; /* the line without the pid */
	char line[BROKER_AUDIT_LINE];
	unsigned repeated;
	struct broker_audit_fold *next;
};

void broker_audit_open(struct broker *b, int log_stderr)
{
	const char *journal = getenv("JOURNAL_STREAM");

	b->log_stderr = log_stderr || (journal && *journal);
	if (!b->log_stderr)
		openlog("dashscope-credential-broker", LOG_PID, LOG_AUTHPRIV);
}

static void audit_emit(const struct broker *b, const char *line)
{
	if (b->log_stderr)
		fprintf(stderr, "dashscope-credential-broker: %s\n", line);
	else
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
}

/* The folded count of f as a line of its own: the refusal it repeats. */
static void audit_emit_repeated(const struct broker *b, const struct broker_audit_fold *f)
{
	char line[BROKER_AUDIT_LINE + 32];

	snprintf(line, sizeof(line), "%s repeated=%u", f->line, f->repeated);
	audit_emit(b, line);
}

void broker_audit_flush(struct broker *b, int all)
{
	long long now_s = clock_now_ms() / 1000;

	pthread_mutex_lock(&b->lock);
	for (struct broker_audit_fold *f = b->folds; f; f = f->next)
		if (f->repeated && (all || f->second < now_s)) {
			audit_emit_repeated(b, f);
			f->repeated = 0;
		}
	pthread_mutex_unlock(&b->lock);
}

void broker_audit_close(struct broker *b)
{
	broker_audit_flush(b, 1);
	while (b->folds) {
		struct broker_audit_fold *n = b->folds->next;

		free(b->folds);
		b->folds = n;
	}
	if (!b->log_stderr)
		closelog();
}

void broker_audit_quote(char *out, size_t n, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (n < 3) {
		if (n)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)(in ? in : "-"); *p; p++) {
		char esc[4];
		size_t len = 0;

		if (*p == '"' || *p == '\\') {
			esc[len++] = '\\';
			esc[len++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			/* control bytes, C1 controls and all: \xNN */
			esc[len++] = '\\';
			esc[len++] = 'x';
			esc[len++] = hex[*p >> 4];
			esc[len++] = hex[*p & 15];
		} else {
			esc[len++] = (char)*p;
		}
		if (o + len + 2 > n)
			break;
		memcpy(out + o, esc, len);
		o += len;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* The API's request id, which a failed mint's message carries (a token
 * endpoint's success answer has none): "-" when there is none. Read
 * only from a mint's message: elsewhere the reason may quote the caller. */
static void audit_request_id(const struct outcome *o, char *out, size_t n)
{
	const char *p = o->mint_failed ? strstr(o->reason, "request_id ") : NULL;
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

void broker_audit_format(char *line, size_t n, const struct caller *c, const char *action,
			 const struct outcome *o, int with_pid)
{
	char qaction[4 * BROKER_ACTION_MAX + 3], quser[4 * sizeof(c->user) + 3];
	char qprofile[4 * DS_PROFILE_MAX + 3], qregion[4 * 64 + 3];
	char qreason[4 * sizeof(o->reason) + 3], rid[80], pid[32] = "";

	broker_audit_quote(qaction, sizeof(qaction), action);
	broker_audit_quote(quser, sizeof(quser), c->user[0] ? c->user : "?");
	broker_audit_quote(qprofile, sizeof(qprofile), o->profile[0] ? o->profile : "-");
	broker_audit_quote(qregion, sizeof(qregion), o->region ? o->region : "-");
	broker_audit_quote(qreason, sizeof(qreason), o->reason[0] ? o->reason : "-");
	audit_request_id(o, rid, sizeof(rid));
	if (with_pid)
		snprintf(pid, sizeof(pid), " pid=%ld", (long)c->pid);
	snprintf(line, n,
		 "action=%s uid=%lu user=%s%s profile=%s region=%s lifetime=%lu result=%s expires=%lld request_id=%s reason=%s",
		 qaction, (unsigned long)c->uid, quser, pid, qprofile, qregion, o->lifetime,
		 o->result, o->expires_at, rid, qreason);
}

/* The fold entry of uid, made on first use; lock held. */
static struct broker_audit_fold *audit_fold_find(struct broker *b, uid_t uid)
{
	struct broker_audit_fold *f;

	for (f = b->folds; f && f->uid != uid; f = f->next)
		;
	if (!f && (f = calloc(1, sizeof(*f)))) {
		f->uid = uid;
		f->second = -1;
		f->next = b->folds;
		b->folds = f;
	}
	return f;
}

void broker_audit_log(struct broker *b, const struct caller *c, const char *action,
		      const struct outcome *o)
{
	char line[BROKER_AUDIT_LINE], key[BROKER_AUDIT_LINE];
	int refusal = !strcmp(o->result, "denied") || !strcmp(o->result, "failed");
	long long now_s = clock_now_ms() / 1000;
	struct broker_audit_fold *f;

	broker_audit_format(line, sizeof(line), c, action, o, 1);
	broker_audit_format(key, sizeof(key), c, action, o, 0);
	pthread_mutex_lock(&b->lock);
	f = audit_fold_find(b, c->uid);
	if (f && refusal && f->second == now_s && !strcmp(f->key, key)) {
		f->repeated++; /* told with its count once the second is over */
		pthread_mutex_unlock(&b->lock);
		return;
	}
	if (f && f->repeated) {
		audit_emit_repeated(b, f);
		f->repeated = 0;
	}
	if (f) {
		f->second = refusal ? now_s : -1;
		memcpy(f->key, key, sizeof(key));
		memcpy(f->line, line, sizeof(line));
	}
	audit_emit(b, line);
	pthread_mutex_unlock(&b->lock);
}
