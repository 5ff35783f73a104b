/* SPDX-License-Identifier: MIT */
/* `dashscope-credential broker` (SPEC section 12): the service's start and
 * stop, and its accept loop: one thread per connection, capped in all and
 * per uid, until SIGTERM or a quiet idle period. */
#include "config.h"
#include "broker/broker.h"
#include "broker/broker_int.h"
#include "store/broker_wire.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BROKER_MAX_CONN 1024 /* connection threads, all callers, at most */
#define BROKER_MAX_CONN_UID 16 /* of one uid: nobody starves the others (SPEC section 12) */
/* descriptors kept for what is not a connection: the listener, the log,
 * the key file and the config as they are read, a mint's sockets */
#define BROKER_FD_RESERVE 64
#define BROKER_FD_PAUSE_MS 250 /* out of descriptors: the wait before accepting again */
#define BROKER_FD_SPARE 4 /* free descriptors a request needs (passwd, group, config, key file) */
#define BROKER_STACK (512 * 1024)
#define BROKER_IDLE_DEFAULT 60
#define BROKER_TICK_MS 1000 /* how often the loop looks at the stop flag and the idle time */

/* One accepted connection, owned by its thread. */
struct conn {
	struct broker *b;
	int fd;
	uid_t uid; /* counted in broker_rate_conn_open */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int broker_stopping(void)
{
	return stop_requested;
}

/* `changed` runs on CLOCK_MONOTONIC (broker_init), the clock of clock.h. */
void broker_wait_changed(struct broker *b, int ms)
{
	long long until = clock_deadline_in(ms);
	struct timespec ts = { (time_t)(until / 1000), (long)(until % 1000) * 1000000L };

	pthread_cond_timedwait(&b->changed, &b->lock, &ts);
}

/* Out of descriptors (the limit lowered under the broker, or the
 * descriptors of mints in flight), the accept loop waits: the connection
 * stays queued and the socket readable, so without a pause the loop
 * would spin; a connection that ends frees descriptors and ends the wait
 * early. */
static void serve_pause(struct broker *b)
{
	pthread_mutex_lock(&b->lock);
	broker_wait_changed(b, BROKER_FD_PAUSE_MS);
	pthread_mutex_unlock(&b->lock);
}

/* BROKER_FD_SPARE descriptors are free beside fd: a request accepted
 * without them would fail to look its caller up. */
static int serve_fds_spare(int fd)
{
	int probe[BROKER_FD_SPARE], n = 0, ok;

	while (n < BROKER_FD_SPARE && (probe[n] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0)
		n++;
	ok = n == BROKER_FD_SPARE;
	while (n > 0)
		close(probe[--n]);
	return ok;
}

/* A connection turned away at accept, answered busy and audited (with
 * no passwd lookup: the accept loop waits on nobody). */
static void serve_refuse(struct broker *b, int fd, const struct ucred *uc, const char *why)
{
	struct caller c;
	struct outcome o;
	struct ds_err e;

	ds_err_set(&e, DS_ENET, "The broker is busy (%s); try again.", why);
	broker_conn_refuse(fd, &e);
	memset(&c, 0, sizeof(c));
	c.uid = uc->uid;
	c.pid = uc->pid;
	memset(&o, 0, sizeof(o));
	o.result = "denied";
	ds_strcpy(o.reason, sizeof(o.reason), e.msg);
	broker_audit_log(b, &c, "?", &o);
}

/* Counts a new connection of uid, or refuses it: DS_OK or DS_ENET. */
static int serve_admit(struct broker *b, uid_t uid)
{
	int rc = DS_ENET;

	pthread_mutex_lock(&b->lock);
	if (b->active < b->max_conn &&
	    broker_rate_conn_open(b, uid, BROKER_MAX_CONN_UID) == DS_OK) {
		b->active++;
		rc = DS_OK;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static void serve_leave(struct broker *b, uid_t uid)
{
	pthread_mutex_lock(&b->lock);
	b->active--;
	broker_rate_conn_close(b, uid);
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
}

static void *serve_thread(void *arg)
{
	struct conn *cn = arg;

	broker_request_serve(cn->b, cn->fd);
	close(cn->fd);
	serve_leave(cn->b, cn->uid);
	free(cn);
	return NULL;
}

static int serve_start_thread(struct conn *cn)
{
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	if (pthread_attr_init(&attr) != 0)
		return DS_EFAIL;
	rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
	     pthread_attr_setstacksize(&attr, BROKER_STACK) ||
	     pthread_create(&th, &attr, serve_thread, cn);
	pthread_attr_destroy(&attr);
	return rc ? DS_EFAIL : DS_OK;
}

static void serve_accept(struct broker *b, int lfd)
{
	struct timeval tv = { BROKER_READ_TIMEOUT, 0 };
	struct ucred uc;
	socklen_t sl = sizeof(uc);
	struct conn *cn;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM))
		serve_pause(b);
	if (fd < 0)
		return;
	/* a caller that does not read its answer holds a thread 5 s at most */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0) {
		close(fd);
		return;
	}
	if (!serve_fds_spare(fd)) {
		/* answered busy (the client tries again), not served to fail */
		serve_refuse(b, fd, &uc, "out of descriptors");
		close(fd);
		serve_pause(b);
		return;
	}
	if (serve_admit(b, uc.uid) != DS_OK) {
		serve_refuse(b, fd, &uc, "too many connections");
		close(fd);
		return;
	}
	cn = malloc(sizeof(*cn));
	if (cn) {
		cn->b = b;
		cn->fd = fd;
		cn->uid = uc.uid;
	}
	if (!cn || serve_start_thread(cn) != DS_OK) {
		free(cn);
		close(fd);
		serve_leave(b, uc.uid);
	}
}

/* Serves until SIGTERM/SIGINT or a quiet idle period (no allowed request
 * for idle seconds: a caller no rule names keeps nobody's broker up), then
 * waits for the connections in flight (each bounded by its read deadline and its mint's
 * timeouts). */
static void serve(struct broker *b, int lfd, unsigned long idle)
{
	for (;;) {
		struct pollfd pfd = { lfd, POLLIN, 0 };
		int quiet;

		if (stop_requested)
			break;
		/* a tick, not a deadline: poll itself, so that SIGTERM ends the
		 * wait at once (clock_wait_fd would sleep through it) */
		if (poll(&pfd, 1, BROKER_TICK_MS) > 0 && (pfd.revents & POLLIN))
			serve_accept(b, lfd);
		broker_audit_flush(b, 0);
		pthread_mutex_lock(&b->lock);
		quiet = idle && b->active_allowed == 0 &&
			clock_now_ms() - b->last_activity >= (long long)idle * 1000;
		pthread_mutex_unlock(&b->lock);
		if (quiet)
			break;
	}
	pthread_mutex_lock(&b->lock);
	while (b->active)
		broker_wait_changed(b, BROKER_TICK_MS);
	pthread_mutex_unlock(&b->lock);
}

static int broker_open_keys(struct app *app, struct ds_err *err)
{
	char path[PATH_MAX];
	int rc;

	system_keyfile_path(path, sizeof(path));
	rc = store_open_file(&app->store, path, "the broker's system key file", err);
	if (rc == DS_OK && (rc = store_open_sources(&app->store, &app->conf, err)))
		store_close(&app->store);
	if (rc == DS_OK)
		app->store_ready = 1;
	return rc;
}

/* Connections in all: BROKER_MAX_CONN, and below the descriptor limit
 * (LimitNOFILE= in the unit) by BROKER_FD_RESERVE, so that a full house
 * still leaves descriptors to serve it with. */
static unsigned broker_conn_cap(void)
{
	struct rlimit rl;
	rlim_t cap = BROKER_MAX_CONN;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cap = rl.rlim_cur > 2 * BROKER_FD_RESERVE ? rl.rlim_cur - BROKER_FD_RESERVE
							  : rl.rlim_cur / 2;
	if (cap > BROKER_MAX_CONN)
		cap = BROKER_MAX_CONN;
	return cap ? (unsigned)cap : 1;
}

/* The lock and `changed`, which waits on the monotonic clock. */
static int broker_init(struct broker *b, struct app *app, struct ds_err *err)
{
	pthread_condattr_t ca;
	int bad;

	memset(b, 0, sizeof(*b));
	b->app = app;
	b->max_conn = broker_conn_cap();
	b->last_activity = clock_now_ms();
	if (pthread_condattr_init(&ca) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot set up the broker's lock.");
	bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	      pthread_mutex_init(&b->lock, NULL) || pthread_cond_init(&b->changed, &ca);
	pthread_condattr_destroy(&ca);
	return bad ? ds_err_set(err, DS_EFAIL, "Cannot set up the broker's lock.") : DS_OK;
}

static void broker_free(struct broker *b)
{
	broker_cache_free(b);
	broker_rate_free(b);
	broker_config_free(b);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
}

/* The socket systemd passed, else the one --listen names: *own is 1 when
 * it is ours to remove. */
static int broker_socket(const struct app *app, int *lfd, int *own, struct ds_err *err)
{
	int rc = broker_socket_activated(lfd, err);

	*own = 0;
	if (rc != DS_OK || *lfd >= 0)
		return rc;
	if (!app->o.listen)
		return ds_err_set(err, DS_EINPUT,
				  "No socket: start the broker through dashscope-credential-broker.socket, or give --listen PATH.");
	rc = broker_socket_listen(app->o.listen, lfd, err);
	*own = rc == DS_OK;
	return rc;
}

int cmd_broker(struct app *app, struct ds_err *err)
{
	struct broker b;
	struct sigaction sa;
	unsigned long idle = BROKER_IDLE_DEFAULT;
	int lfd = -1, own_socket = 0, rc;

	if (app->o.idle && ds_parse_ulong(app->o.idle, 86400, &idle))
		return ds_err_set(err, DS_EINPUT,
				  "--idle-timeout must be a number of seconds from 0 to 86400.");
	if (geteuid() == 0)
		return ds_err_set(err, DS_EPOLICY,
				  "The broker does not run as root; run it as the user " BROKER_USER
				  " (dashscope-credential-broker.service does).");
	rc = broker_socket(app, &lfd, &own_socket, err);
	if (rc != DS_OK)
		return rc;
	rc = token_global_init(err);
	if (rc == DS_OK)
		rc = broker_open_keys(app, err);
	if (rc == DS_OK)
		rc = broker_init(&b, app, err);
	if (rc != DS_OK)
		goto out;
	rc = broker_config_init(&b, err);
	if (rc != DS_OK) {
		broker_free(&b);
		goto out;
	}
	broker_audit_open(&b, app->o.log_stderr);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	serve(&b, lfd, idle);
	broker_audit_close(&b);
	broker_free(&b);
out:
	close(lfd);
	if (own_socket)
		unlink(app->o.listen);
	return rc;
}
