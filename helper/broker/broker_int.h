/* SPDX-License-Identifier: MIT */
/* What the files of the broker's service share, and nothing else reads:
 * the service's state, the caller, what a request did, and the functions
 * each file offers the others. Private to helper/broker/. */
#ifndef DS_BROKER_INT_H
#define DS_BROKER_INT_H

#include <pthread.h>
#include <sys/types.h>
#include <time.h>
#include "core/app.h"

struct broker_cache_entry; /* broker_cache.c */
struct broker_rate_entry; /* broker_rate.c */
struct broker_config; /* broker_config.c */
struct broker_audit_fold; /* broker_audit.c */

#define BROKER_AUDIT_LINE 4096 /* an audit line, every field quoted at its longest */

/* The service. Each connection thread reads app, log_stderr and
 * wall_clock, set before the first thread starts; everything else sits
 * behind lock. */
struct broker {
	struct app *app;
	int log_stderr;
	time_t (*wall_clock)(void); /* what cached keys' expiry is compared with; NULL: time(2) */
	unsigned max_conn; /* connections in all: below the descriptor limit (broker_conn_cap) */
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t changed; /* a mint finished, or a connection ended */
	struct broker_cache_entry *cache;
	struct broker_rate_entry *rates;
	struct broker_config *config; /* the configuration as last parsed */
	struct broker_audit_fold *folds; /* each uid's last refusal, for folding */
	unsigned active; /* connection threads running */
	/* allowed traffic only (a caller some rule names): the quiet exit
	 * waits for none running and none begun for the idle time */
	unsigned active_allowed;
	long long last_activity; /* clock_now_ms() of its last start or end */
};

/* Who is calling: the uid and pid from the kernel, the name and the
 * groups from the passwd and group databases as they are now. groups is
 * owned (broker_caller_free). */
struct caller {
	uid_t uid;
	pid_t pid;
	char user[64];
	char **groups;
	size_t ngroups;
};

/* What one request did, for the audit line. */
struct outcome {
	const char *result; /* minted, cached, denied, failed, listed */
	char profile[DS_PROFILE_MAX]; /* the one served, else the one asked for */
	const char *region; /* the one served, else the one asked for */
	unsigned long lifetime;
	long long expires_at;
	char reason[sizeof(((struct ds_err *)0)->msg)];
	int mint_failed; /* the reason is the API's (and may carry its request id) */
};

/* broker.c: the service's stop flag and its one wait on `changed`, taken
 * with lock held, for at most ms milliseconds. */
int broker_stopping(void);
void broker_wait_changed(struct broker *b, int ms);

/* broker_socket.c: the socket systemd passed (*fd -1 when none), or one
 * made at path (--listen). DS_* with err set. */
int broker_socket_activated(int *fd, struct ds_err *err);
int broker_socket_listen(const char *path, int *fd, struct ds_err *err);

/* broker_conn.c: one connection's I/O. The request is read within
 * BROKER_READ_TIMEOUT of the call and BROKER_REQUEST_MAX bytes (a larger
 * one is refused before a line of it is looked at); action (BROKER_ACTION_MAX bytes) gets
 * action=, the rest goes to req. Answers are sent whole or not at all
 * (a caller that went away is not an error of ours). */
int broker_conn_read(int fd, struct request *req, char *action, struct ds_err *err);
void broker_conn_answer_error(int fd, const struct ds_err *e);
void broker_conn_answer_key(int fd, const struct profile *p, const struct secret *key,
			    long long expires_at, const char *endpoint);
int broker_conn_answer_list(int fd, const struct profile_list *l, struct ds_err *err);
/* After an error answer: reads what the caller still sends, so that
 * closing does not reset the connection and lose the answer. drain waits
 * up to a second; refuse (the busy answer, for a caller turned away at
 * accept) does not. */
void broker_conn_drain(int fd);
void broker_conn_refuse(int fd, const struct ds_err *e);

/* broker_caller.c: the caller of connection fd; free with
 * broker_caller_free, also after an error. */
int broker_caller_identify(int fd, struct caller *c, struct ds_err *err);
void broker_caller_free(struct caller *c);
struct broker_caller broker_caller_rules(const struct caller *c);

/* broker_config.c: the configuration as it is now. init parses it at
 * start (an error there stops the broker); take looks at the file, parses
 * it again when it changed, and gives the request its own app (*out, the
 * service's with that configuration) holding *held until release; a
 * configuration that no longer parses is DS_ESTORE saying why, for
 * everyone. */
int broker_config_init(struct broker *b, struct ds_err *err);
void broker_config_free(struct broker *b);
int broker_config_take(struct broker *b, struct app *out, struct broker_config **held,
		       struct ds_err *err);
void broker_config_release(struct broker *b, struct broker_config *held);

/* broker_rate.c: what the broker counts per uid. take counts a request
 * made at now_ms (clock_now_ms()) against limit (a minute's) over a
 * sliding window (DS_EPOLICY over it); conn_open and conn_close count its
 * open connections, with lock held. */
int broker_rate_take(struct broker *b, unsigned long limit, uid_t uid, long long now_ms,
		     struct ds_err *err);
int broker_rate_conn_open(struct broker *b, uid_t uid, unsigned max);
void broker_rate_conn_close(struct broker *b, uid_t uid);
void broker_rate_free(struct broker *b);

/* broker_cache.c: a fresh key for (uid, profile, lifetime), cached or
 * minted once for every caller that asks while the mint runs. *key is a
 * copy for the caller to free; *cached says which. */
int broker_cache_get(struct broker *b, struct app *app, uid_t uid, const struct profile *p,
		     unsigned long lifetime, struct secret **key, long long *expires_at,
		     int *cached, struct ds_err *err);
void broker_cache_free(struct broker *b);

/* broker_request.c: serves the one request of connection fd, answers and
 * audits it; the caller closes fd. */
void broker_request_serve(struct broker *b, int fd);

/* broker_audit.c: the audit line of one request, to syslog (authpriv) or
 * to stderr when it is the journal or --log-stderr. log folds a uid's
 * identical refusals within a second into one line with their count
 * (repeated=N), which flush writes once the second is over (all: now,
 * at exit); both take lock. format writes the line (with the caller's
 * pid or without), quote one field of it: in double quotes, a quote or
 * backslash escaped with a backslash, any byte outside printable ASCII
 * as \xNN. */
void broker_audit_open(struct broker *b, int log_stderr);
void broker_audit_log(struct broker *b, const struct caller *c, const char *action,
		      const struct outcome *o);
void broker_audit_flush(struct broker *b, int all);
void broker_audit_close(struct broker *b);
void broker_audit_format(char *line, size_t n, const struct caller *c, const char *action,
			 const struct outcome *o, int with_pid);
void broker_audit_quote(char *out, size_t n, const char *in);

#endif
