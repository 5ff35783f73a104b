/* SPDX-License-Identifier: MIT */
/* The broker's audit line (SPEC section 12): one per request, to syslog
 * (authpriv) or to stderr when stderr is the journal or --log-stderr.
 * Never a key; the reason is quoted, its double quotes made single. */
#include "config.h"
#include "broker/broker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

void broker_audit_open(struct broker *b, int log_stderr)
{
	const char *journal = getenv("JOURNAL_STREAM");

	b->log_stderr = log_stderr || (journal && *journal);
	if (!b->log_stderr)
		openlog("dashscope-credential-broker", LOG_PID, LOG_AUTHPRIV);
}

void broker_audit_close(const struct broker *b)
{
	if (!b->log_stderr)
		closelog();
}

/* The API's request id, which a failed mint's message carries (a token
 * endpoint's success answer has none): "-" when there is none. */
static void audit_request_id(const char *reason, char *out, size_t n)
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

void broker_audit_log(const struct broker *b, const struct caller *c, const char *action,
		      const struct outcome *o)
{
	char line[1300], reason[sizeof(o->reason)], rid[80];

	/* the reason is quoted: a double quote in it would end the field */
	snprintf(reason, sizeof(reason), "%s", o->reason[0] ? o->reason : "-");
	for (char *p = reason; *p; p++)
		if (*p == '"')
			*p = '\'';
	audit_request_id(o->reason, rid, sizeof(rid));
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
