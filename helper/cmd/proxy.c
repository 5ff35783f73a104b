/* SPDX-License-Identifier: MIT */
/* `dashscope-credential proxy`: where it listens (loopback only, or a
 * socket systemd passed), which key callers present, and what runs beside
 * it (CMD, or nothing until SIGINT/SIGTERM). SPEC section 10. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "cmd/tools.h"
#include "conf/envvars.h"
#include "base/child.h"
#include "base/debug.h"
#include "base/listen_fds.h"
#include "base/loopback.h"
#include "base/module.h"
#include "proxy/proxy.h"
#include "proxy/proxy_keys.h"
#include "base/shell_quote.h"
#include "conf/place.h"
#include "base/files.h"
#include "base/file_write.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct listen_addr {
	int family;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	char host[64]; /* as URLs and Host headers write it */
	unsigned port;
};

static int addr_parse(const char *s, struct listen_addr *a, struct ds_err *err)
{
	const char *colon = strrchr(s, ':');
	char name[64];
	unsigned long port;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (!colon || ds_parse_ulong(colon + 1, 65535, &port) != 0)
		return ds_err_set(err, DS_EINPUT,
				  "--listen takes 127.0.0.1:PORT, [::1]:PORT or localhost:PORT.");
	n = (size_t)(colon - s);
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, s, n);
	name[n] = 0;
	a->port = (unsigned)port;
	if (!strcmp(name, "[::1]")) {
		a->family = AF_INET6;
		a->v6.sin6_family = AF_INET6;
		a->v6.sin6_addr = in6addr_loopback;
		a->v6.sin6_port = htons((uint16_t)port);
		ds_strcpy(a->host, sizeof(a->host), "[::1]");
		return DS_OK;
	}
	a->family = AF_INET;
	a->v4.sin_family = AF_INET;
	a->v4.sin_port = htons((uint16_t)port);
	if (!strcasecmp(name, "localhost")) {
		a->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ds_strcpy(a->host, sizeof(a->host), "127.0.0.1");
		return DS_OK;
	}
	if (!loopback_name(name) || inet_pton(AF_INET, name, &a->v4.sin_addr) != 1)
		return ds_err_set(err, DS_EINPUT,
				  "The proxy listens on loopback only (127.0.0.1, [::1] or localhost); '%.60s' is not.",
				  ds_has_control(name) ? "?" : name);
	ds_strcpy(a->host, sizeof(a->host), name);
	return DS_OK;
}

static int listen_open(struct listen_addr *a, int *fd_out, struct ds_err *err)
{
	int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int bad;

	if (fd < 0)
		return ds_err_set(err, DS_EFAIL, "Cannot create a socket: %s.", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		bad = bind(fd, (struct sockaddr *)&a->v6, sizeof(a->v6));
	else
		bad = bind(fd, (struct sockaddr *)&a->v4, sizeof(a->v4));
	if (bad || listen(fd, 128) != 0) {
		int e = errno;
		char who[300];

		close(fd);
		if (e == EADDRINUSE &&
		    tools_port_holder(a->family == AF_INET6 ? (struct sockaddr *)&a->v6
							    : (struct sockaddr *)&a->v4,
				      who, sizeof(who)))
			return ds_err_set(err, DS_EFAIL,
					  "Port %u on %s is held by %s, not you: a tool configured for it would hand that user its proxy key and prompts; find out why, or choose another port with --listen.",
					  a->port, a->host, who);
		if (e == EADDRINUSE)
			return ds_err_set(err, DS_EFAIL,
					  "Port %u on %s is already in use; stop what uses it or choose another with --listen.",
					  a->port, a->host);
		return ds_err_set(err, DS_EFAIL, "Cannot listen on %s:%u: %s.", a->host, a->port,
				  strerror(e));
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	/* tools are told localhost:PORT, and localhost may resolve to ::1
	 * first: another user's listener on [::1]:PORT would get their proxy
	 * key and prompts */
	if (a->family == AF_INET) {
		char who[300];

		if (tools_loopback_v6_holder(a->port, who, sizeof(who))) {
			close(fd);
			return ds_err_set(err, DS_EFAIL,
					  "Port %u on [::1] is held by %s, not you: a tool that reaches localhost:%u over IPv6 would hand that user its proxy key and prompts; find out why, or choose another port with --listen.",
					  a->port, who, a->port);
		}
	}
	*fd_out = fd;
	return DS_OK;
}

/* The listener systemd passed (listen_fds_take checked that much) must be
 * a loopback TCP one. */
static int activation_check(int fd, struct listen_addr *a, struct ds_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(a, 0, sizeof(*a));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		goto refuse;
	if (!loopback_sockaddr((struct sockaddr *)&ss))
		goto refuse;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a->host, sizeof(a->host));
		a->port = ntohs(in->sin_port);
		return DS_OK;
	}
	if (ss.ss_family == AF_INET6) {
		ds_strcpy(a->host, sizeof(a->host), "[::1]");
		a->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		return DS_OK;
	}
refuse:
	return ds_err_set(err, DS_EINPUT,
			  "The socket systemd passed is not a loopback TCP socket; set ListenStream=127.0.0.1:PORT.");
}

static int check_options(const struct app *app, int has_cmd, enum shell_kind *kind,
			 struct ds_err *err)
{
	const struct opts *o = &app->o;

	*kind = SHELL_SH;
	if (has_cmd && (o->print_env || o->new_key || o->print_key))
		return ds_err_set(err, DS_EINPUT,
				  "--print-env, --print-key and --new-key are for the standalone proxy, not with a command.");
	if (o->print_key && (o->print_env || o->listen || o->log))
		return ds_err_set(err, DS_EINPUT,
				  "--print-key prints the key and exits; it takes no other proxy option.");
	if (o->shell && !o->print_env)
		return ds_err_set(err, DS_EINPUT, "--shell goes with --print-env.");
	if (o->shell && (shell_parse(o->shell, kind) || *kind == SHELL_PAM))
		return ds_err_set(err, DS_EINPUT, "--shell takes sh, fish, csh, dotenv or json.");
	return DS_OK;
}

_Static_assert(DS_URL_MAX <= PROXY_ORIGIN_MAX, "an origin is cut from a base URL");

/* The upstream origin: the profile's host or the configured endpoint. */
static int origin_of(const struct app *app, const struct profile *p, struct proxy_conf *pc,
		     struct ds_err *err)
{
	struct endpoints ep;
	size_t n;
	int rc = place_endpoints(&p->place, app->conf.endpoint, &ep, err);

	if (rc)
		return rc;
	n = strlen(ep.anthropic_base_url) - strlen("/apps/anthropic");
	memcpy(pc->origin, ep.anthropic_base_url, n);
	pc->origin[n] = 0;
	return DS_OK;
}

struct run {
	struct listen_addr addr;
	int fd;
	struct keycache kc;
	int kc_ready;
	struct secret *proxy_key;
	struct proxy_conf pc;
	const struct proxy_ops *ops;
	struct proxy *px;
	sigset_t saved;
	FILE *log; /* the log lines' file; stderr unless --log or COMMAND */
	char settings[512]; /* Claude Code's --settings value */
	char log_path[PATH_MAX];
};

static int run_setup(struct app *app, struct run *r, int has_cmd, struct ds_err *err)
{
	const struct opts *o = &app->o;
	int rc = DS_OK;

	/* a proxy for one command listens on a port of its own */
	if (!has_cmd)
		rc = listen_fds_take("the proxy takes one loopback TCP socket (ListenStream=127.0.0.1:PORT)",
				     &r->fd, err);
	if (rc)
		return rc;
	if (r->fd >= 0) {
		rc = activation_check(r->fd, &r->addr, err);
	} else {
		char def[32];

		snprintf(def, sizeof(def), "127.0.0.1:%u",
			 has_cmd ? 0u : (unsigned)PROXY_DEFAULT_PORT);
		rc = addr_parse(o->listen ? o->listen : def, &r->addr, err);
		if (!rc)
			rc = listen_open(&r->addr, &r->fd, err);
	}
	if (rc)
		return rc;
	rc = keycache_init(&r->kc, app, err);
	if (rc)
		return rc;
	r->kc_ready = 1;
	rc = has_cmd ? proxy_key_new(&r->proxy_key, err)
		     : proxy_key_load(o->new_key, &r->proxy_key, err);
	if (!rc)
		rc = origin_of(app, &r->kc.profile, &r->pc, err);
	if (rc)
		return rc;
	r->pc.ca_file = app->conf.ca_file;
	r->pc.connect_timeout = app->conf.timeout;
	r->pc.idle_timeout =
		app->conf.proxy_idle_timeout ? app->conf.proxy_idle_timeout : PROXY_IDLE_TIMEOUT;
	r->pc.max_body = app->conf.proxy_max_body ? app->conf.proxy_max_body : PROXY_MAX_BODY;
	r->pc.max_total_body = app->conf.proxy_max_total_body ? app->conf.proxy_max_total_body
							      : PROXY_MAX_TOTAL_BODY;
	r->pc.max_connections = app->conf.proxy_max_connections
					? (unsigned)app->conf.proxy_max_connections
					: PROXY_MAX_CONNECTIONS;
	r->pc.coding = r->kc.profile.place.plan == PLAN_CODING;
	r->pc.quiet = o->quiet;
	ds_strcpy(r->pc.listen_host, sizeof(r->pc.listen_host), r->addr.host);
	r->pc.port = r->addr.port;
	r->pc.proxy_key = r->proxy_key;
	return DS_OK;
}

/* What the server asks of the program (proxy.h): from its event loop,
 * without waiting */
static int host_key_peek(void *ctx, unsigned long refused, struct secret **out, unsigned long *gen)
{
	struct run *r = ctx;

	return keycache_peek(&r->kc, refused, out, gen);
}

/* from its key worker */
static int host_key_get(void *ctx, unsigned long refused, struct secret **out, unsigned long *gen,
			struct ds_err *err)
{
	struct run *r = ctx;

	return keycache_get(&r->kc, refused, out, gen, err);
}

/* stdio locks the stream: lines from several threads do not mix. A log
 * file is flushed per line, so that tail -f shows each request. */
static void host_log(void *ctx, const char *line)
{
	struct run *r = ctx;

	fprintf(r->log, "%s\n", line);
	fflush(r->log);
}

/* Where the log lines go: --log FILE, --log - (standard error), else
 * standard error for the standalone proxy and, for COMMAND, a file:
 * lines on the terminal would draw inside a tool's screen (Qwen Code's
 * input box). The file is appended to, made 0600. */
static int log_open(const struct app *app, struct run *r, int has_cmd, struct ds_err *err)
{
	const char *want = app->o.log;
	char dir[PATH_MAX];
	int fd, rc;

	r->log = stderr;
	if (want && !strcmp(want, "-"))
		return DS_OK;
	if (!want && (!has_cmd || app->o.quiet))
		return DS_OK;
	if (want)
		rc = path_format(r->log_path, sizeof(r->log_path), err, "%s", want);
	else
		rc = path_xdg("XDG_STATE_HOME", ".local/state", "dashscope-credential/proxy.log",
			      r->log_path, sizeof(r->log_path), err);
	if (rc)
		return rc;
	file_dir_of(r->log_path, dir, sizeof(dir));
	if (!want && file_mkdirs(dir, err))
		return DS_EFAIL;
	fd = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 || !(r->log = fdopen(fd, "a"))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		r->log = stderr;
		return ds_err_set(err, DS_EFAIL, "Cannot open the log file %s: %s.", r->log_path,
				  strerror(e));
	}
	return DS_OK;
}

/* Claude Code's settings files (user, project, local) rank above the
 * environment: an env.ANTHROPIC_BASE_URL there, as an earlier setup
 * wrote, sends Claude Code's requests past the proxy with the proxy key.
 * Its --settings option ranks above all three, so the proxy gives its
 * URL there, and an apiKeyHelper that answers the proxy key (from
 * ANTHROPIC_AUTH_TOKEN, which the proxy set) in place of theirs. A key
 * those files set would still win over the proxy key: that refuses. */
static int claude_settings_arg(const char *origin, char *out, size_t n, struct ds_err *err)
{
	char files[CLAUDE_FILES][PATH_MAX], url[160];
	json_t *o;
	size_t len;
	int rc = tools_claude_files(files, err);

	for (int i = 0; !rc && i < CLAUDE_FILES; i++) {
		json_t *root = NULL;
		const char *key;

		rc = tools_json_read(files[i], &root, err);
		key = rc ? NULL : tools_claude_env_key(root);
		json_decref(root);
		if (key)
			rc = ds_err_set(err, DS_EINPUT,
					"%s sets env.%s, which Claude Code would send upstream in place of the proxy key; remove it from that file (nothing was started).",
					files[i], key);
	}
	if (rc)
		return rc;
	snprintf(url, sizeof(url), "%s/apps/anthropic", origin);
	o = json_pack("{s:s, s:{s:s}}", "apiKeyHelper", "printenv ANTHROPIC_AUTH_TOKEN", "env",
		      "ANTHROPIC_BASE_URL", url);
	len = o ? json_dumpb(o, out, n - 1, JSON_COMPACT) : 0;
	json_decref(o);
	if (!len || len >= n)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	out[len] = '\0';
	return DS_OK;
}

/* COMMAND's argv: as given, or Claude Code's with --settings first. */
static int cmd_argv(const struct app *app, const char *origin, char ***argv, char *settings,
		    size_t n, struct ds_err *err)
{
	const char *prog = app->o.rest[0], *slash = strrchr(prog, '/');
	unsigned mask;
	char **v;
	int rc;

	*argv = app->o.rest;
	if (strcmp(slash ? slash + 1 : prog, "claude"))
		return DS_OK;
	rc = env_parse_for(app->o.for_list ? app->o.for_list : "anthropic", &mask, err);
	if (rc || !(mask & FOR_ANTHROPIC))
		return rc;
	rc = claude_settings_arg(origin, settings, n, err);
	if (rc)
		return rc;
	v = calloc((size_t)app->o.nrest + 3, sizeof(*v));
	if (!v)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	v[0] = app->o.rest[0];
	v[1] = (char *)"--settings";
	v[2] = settings;
	for (int i = 1; i < app->o.nrest; i++)
		v[i + 2] = app->o.rest[i];
	*argv = v;
	return DS_OK;
}

/* The first key is minted before CMD starts: a failure is CMD's failure. */
static int run_first_key(struct run *r, struct ds_err *err)
{
	struct secret *k = NULL;
	unsigned long gen;
	int rc = keycache_get(&r->kc, 0, &k, &gen, err);

	secret_free(k);
	return rc;
}

/* A stream holds a client socket, an upstream one and the wake-up pair of
 * its curl multi handle: the soft limit on descriptors (often 1024) goes
 * up to the hard one (at most 65536), as systemd advises for servers; a command the
 * proxy runs gets the caller's limit back (child_start). */
static void nofile_raise(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		ds_debug("proxy: the descriptor limit could not be raised to %llu",
			 (unsigned long long)want);
}

static int run_serve(struct app *app, struct run *r, int has_cmd, enum shell_kind kind,
		     struct ds_err *err)
{
	const struct profile_conf *pcf = conf_profile(&app->conf, r->kc.profile.name);
	const struct proxy_host host = { r, host_key_peek, host_key_get, host_log };
	char origin[96];
	char **argv = NULL;
	int rc, status = 0;
	pid_t pid;

	snprintf(origin, sizeof(origin), "http://%s:%u", r->addr.host, r->addr.port);
	if (has_cmd) {
		rc = cmd_argv(app, origin, &argv, r->settings, sizeof(r->settings), err);
		if (rc)
			return rc;
	}
	r->ops = module_load(PROXY_MODULE, PROXY_MODULE_SYMBOL, PROXY_ABI, DS_EFAIL, "proxy", err);
	if (!r->ops)
		return err->code;
	nofile_raise();
	/* CMD's environment is set before the server's threads start: no
	 * setenv may race a thread's getenv (the key cache reads the
	 * configuration's variables at each mint) */
	if (has_cmd) {
		rc = env_for_proxy(app->o.for_list, &r->kc.profile, pcf ? pcf->model : NULL, origin,
				   r->proxy_key->data, 0, 1, err);
		if (rc)
			return rc;
	}
	rc = r->ops->start(&r->pc, &host, r->fd, &r->px, err);
	r->fd = -1; /* the server owns it now, or has closed it */
	if (!rc && has_cmd) {
		if (r->log_path[0] && !app->o.quiet)
			fprintf(stderr,
				"dashscope-credential: proxy for profile %s on %s; log in %s\n",
				r->kc.profile.name, origin, r->log_path);
		rc = child_start(argv, &r->saved, app->caller_umask, &app->caller_core,
				 &app->caller_nofile, &pid, err);
		if (!rc) {
			child_wait(pid, -1, &status);
			rc = status;
		}
	}
	if (argv != app->o.rest)
		free(argv);
	if (rc || has_cmd)
		return rc;
	if (app->o.print_env) {
		rc = env_for_proxy(app->o.for_list, &r->kc.profile, pcf ? pcf->model : NULL, origin,
				   r->proxy_key->data, (int)kind, 0, err);
		if (rc)
			return rc;
	}
	if (!app->o.quiet)
		fprintf(stderr, "dashscope-credential: proxy for profile %s listening on %s%s%s\n",
			r->kc.profile.name, origin, r->log_path[0] ? "; log in " : "", r->log_path);
	child_wait(0, -1, &status);
	return DS_OK;
}

#define STOP_GRACE_MS 2000

struct stopper {
	const struct proxy_ops *ops;
	struct proxy *px;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done;
};

static void *stop_run(void *arg)
{
	struct stopper *st = arg;

	st->ops->stop(st->px);
	pthread_mutex_lock(&st->m);
	st->done = 1;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->m);
	return NULL;
}

/* Stops the server, giving the requests in flight STOP_GRACE_MS to end.
 * A request waiting on a mint can take the whole `timeout` and its
 * retries: past the grace the process leaves without it (_exit, since the
 * server's threads still use what an orderly return would free). */
static void stop_bounded(struct run *r, int rc, const struct ds_err *err)
{
	struct stopper st = { r->ops, r->px, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			      0 };
	struct timespec until;
	pthread_t t;
	int done;

	r->px = NULL;
	if (err->msg[0] || pthread_create(&t, NULL, stop_run, &st) != 0) {
		st.ops->stop(st.px); /* an error to print first, or no thread */
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_GRACE_MS / 1000;
	pthread_mutex_lock(&st.m);
	while (!st.done && pthread_cond_timedwait(&st.cv, &st.m, &until) == 0)
		;
	done = st.done;
	pthread_mutex_unlock(&st.m);
	if (!done) {
		if (fflush(stdout) != 0 && rc == DS_OK)
			rc = DS_EFAIL;
		_exit(rc);
	}
	pthread_join(t, NULL);
}

/* --print-key: the standalone proxy's key, made when missing, for a tool's
 * key command. It does not expire: a tool that caches it never sends a
 * dead key (the proxy puts a fresh temporary key on each request). */
static int print_key(struct ds_err *err)
{
	struct secret *k = NULL;
	int rc = proxy_key_load(0, &k, err);

	if (rc)
		return rc;
	if (printf("%s\n", k->data) < 0 || fflush(stdout) != 0)
		rc = ds_err_set(err, DS_EFAIL, "Cannot write to standard output.");
	secret_free(k);
	return rc;
}

int cmd_proxy(struct app *app, struct ds_err *err)
{
	int has_cmd = app->o.nrest > 0;
	struct run r;
	enum shell_kind kind;
	int rc;

	memset(&r, 0, sizeof(r));
	r.fd = -1;
	r.log = stderr;
	rc = check_options(app, has_cmd, &kind, err);
	if (!rc && app->o.print_key)
		return print_key(err);
	if (!rc)
		rc = log_open(app, &r, has_cmd, err);
	if (rc)
		return rc;
	/* before any thread: the signals are taken by the wait loop */
	if (child_signals_block(&r.saved) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot set up signal handling.");
	rc = run_setup(app, &r, has_cmd, err);
	if (!rc && has_cmd)
		rc = run_first_key(&r, err);
	if (!rc)
		rc = run_serve(app, &r, has_cmd, kind, err);
	if (r.px)
		stop_bounded(&r, rc, err);
	if (r.fd >= 0)
		close(r.fd);
	if (r.kc_ready)
		keycache_free(&r.kc);
	secret_free(r.proxy_key);
	if (r.log != stderr)
		fclose(r.log);
	return rc;
}
