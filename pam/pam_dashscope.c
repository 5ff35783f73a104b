/* SPDX-License-Identifier: MIT */
/* pam_dashscope: gives a login session its region's endpoint variables by
 * running `dashscope-credential env --shell pam --no-key` as the user, with
 * a deadline and an output cap, and exporting only allow-listed names.
 * It never handles a key, takes nothing from the caller's environment, and
 * links neither libsecret nor libcurl. */
#include "config.h"
#include "conf/conf.h"
#include "pam/pam_parse.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

/* How much of the helper's stderr is kept: its first line is the reason. */
#define STDERR_KEEP 512
/* The child's verdict before it runs the helper (status pipe). */
#define VERDICT_RUN 'G'
#define VERDICT_IGNORE 'I'
#define VERDICT_BAD_CONF 'E'
#define STATUS_MAX 640

struct user {
	char name[256];
	uid_t uid;
	gid_t gid;
	char home[512];
};

/* One run of the helper, as the parent sees it. */
struct run {
	pid_t pid;
	int out_fd, err_fd, st_fd, pidfd; /* -1 once closed */
	char *out;
	size_t out_len;
	char err[STDERR_KEEP];
	size_t err_len;
	char st[STATUS_MAX];
	size_t st_len;
	int timed_out, capped, exited, status;
};

static void report_option(void *ctx, const char *what, const char *item)
{
	/* the item is an administrator's module option, never file content */
	pam_syslog(ctx, LOG_ERR, "%s %s (ignored)", what, item);
}

static void report_nothing(void *ctx, const char *what, const char *item)
{
	/* a rule's words are file content: the caller logs file and line */
	(void)ctx, (void)what, (void)item;
}

static int user_lookup(pam_handle_t *pamh, struct user *u)
{
	const char *name = NULL;
	struct passwd *pw;

	if (pam_get_user(pamh, &name, NULL) != PAM_SUCCESS || !name || !*name)
		return -1;
	pw = pam_modutil_getpwnam(pamh, name);
	if (!pw || ds_strcpy(u->name, sizeof(u->name), name) ||
	    ds_strcpy(u->home, sizeof(u->home), pw->pw_dir))
		return -1;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

/* ---- in the child, before the helper runs ---- */

static void status_send(int fd, char verdict, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void status_send(int fd, char verdict, const char *fmt, ...)
{
	char msg[STATUS_MAX];
	va_list ap;
	int n;

	msg[0] = verdict;
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	/* the parent learns what happened from this or from EOF */
	if (write(fd, msg, (size_t)n + 1) < 0)
		_exit(125);
}

/* Opens the system config as SPEC section 8 wants it: no FIFO or device
 * waited on, no symlink followed, owned by root, writable by root only.
 * Returns 1 with *fp open, 0 when there is no file, -1 with why set. */
static int conf_open_trusted(const char *path, int named, FILE **fp, char *why, size_t n)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	*fp = NULL;
	if (fd < 0) {
		if (errno == ENOENT && !named)
			return 0;
		snprintf(why, n, "%s", errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0)
		snprintf(why, n, "%s", strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		snprintf(why, n, "is not a regular file");
	else if (sb.st_uid != 0)
		snprintf(why, n, "is not owned by root");
	else if (sb.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, n, "is writable by group or others");
	else if (!(*fp = fdopen(fd, "r")))
		snprintf(why, n, "%s", strerror(errno));
	if (!*fp) {
		close(fd);
		return -1;
	}
	return 1;
}

/* The line number an ini/conf error names ("PATH:LINE: ..."), 0 if none:
 * the message itself may quote the file and is never logged. */
static unsigned err_line(const struct ds_err *err, const char *path)
{
	size_t n = strlen(path);
	unsigned long line;
	char *end;

	if (strncmp(err->msg, path, n) || err->msg[n] != ':')
		return 0;
	line = strtoul(err->msg + n + 1, &end, 10);
	return *end == ':' && line <= 0xffffffffUL ? (unsigned)line : 0;
}

/* Applies the [pam] rules of the system config to place: the user's own
 * line, else the first @group line that matches, else "*". Module options
 * win over all of them. Sends VERDICT_IGNORE or VERDICT_BAD_CONF and
 * returns -1, or returns 0 when the helper should run. */
static int child_apply_rules(pam_handle_t *pamh, const struct pam_opts *o, const struct user *u,
			     struct pam_place *place, char *rule_buf, size_t n, int st_fd)
{
	const char *path = o->conf ? o->conf : DS_SYSTEM_CONFIG;
	const struct pam_rule *user_rule = NULL, *group_rule = NULL, *any_rule = NULL;
	struct pam_place from_rule;
	struct ds_err err;
	struct conf c;
	char why[128];
	FILE *fp;
	int have_rules = 0, rc = -1, opened;

	conf_init(&c);
	opened = conf_open_trusted(path, o->conf != NULL, &fp, why, sizeof(why));
	if (opened < 0) {
		status_send(st_fd, VERDICT_BAD_CONF, "%s %s; the [pam] rules are not used", path,
			    why);
		goto out;
	}
	if (opened && conf_load_system_stream(&c, fp, path, &err) != DS_OK) {
		unsigned line = err_line(&err, path);

		if (line)
			status_send(st_fd, VERDICT_BAD_CONF,
				    "%s:%u: not valid (see dashscope-credential doctor); the [pam] rules are not used",
				    path, line);
		else
			status_send(st_fd, VERDICT_BAD_CONF,
				    "%s cannot be read; the [pam] rules are not used", path);
		goto out;
	}
	for (const struct pam_rule *r = c.pam_rules; r; r = r->next) {
		have_rules = 1;
		if (!user_rule && !strcmp(r->who, u->name))
			user_rule = r;
		else if (!group_rule && r->who[0] == '@' &&
			 pam_modutil_user_in_group_nam_nam(pamh, u->name, r->who + 1))
			group_rule = r;
		else if (!any_rule && !strcmp(r->who, "*"))
			any_rule = r;
	}
	if (!user_rule)
		user_rule = group_rule ? group_rule : any_rule;
	if (user_rule) {
		if (ds_strcpy(rule_buf, n, user_rule->settings) ||
		    pam_rule_parse(rule_buf, &from_rule, report_nothing, NULL)) {
			status_send(st_fd, VERDICT_BAD_CONF,
				    "%s:%u: the [pam] rule that applies to %s is not valid", path,
				    user_rule->line, u->name);
			goto out;
		}
		pam_place_merge(place, &from_rule);
	} else if (have_rules && !o->place.profile && !o->place.region) {
		/* with a [pam] map and no module options, an unmapped user
		 * is not ours to configure */
		status_send(st_fd, VERDICT_IGNORE, "user %s is not mapped in [pam]", u->name);
		goto out;
	}
	rc = 0;
out:
	if (fp)
		fclose(fp);
	conf_free(&c);
	return rc;
}

/* Become the user for good, or die with a reason on stderr. */
static void child_drop_privileges(const struct user *u)
{
	if (geteuid() != 0) {
		/* without root we can only run as ourselves */
		if (getuid() != u->uid) {
			dprintf(2, "pam_dashscope: cannot run as %s without root\n", u->name);
			_exit(126);
		}
		return;
	}
	if (initgroups(u->name, u->gid) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0) {
		dprintf(2, "pam_dashscope: cannot become %s: %s\n", u->name, strerror(errno));
		_exit(126);
	}
	if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid ||
	    getegid() != u->gid || (u->uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))) {
		dprintf(2, "pam_dashscope: the switch to %s did not hold\n", u->name);
		_exit(126);
	}
}

static void child_exec(const struct pam_opts *o, const struct pam_place *pl, const struct user *u)
{
	char home[600], user[300], logname[300], rt[64], rtenv[80], conf[600];
	const char *argv[20];
	const char *envp[8];
	int a = 0, e = 0;
	struct stat sb;

	child_drop_privileges(u);
	snprintf(home, sizeof(home), "HOME=%s", u->home);
	snprintf(user, sizeof(user), "USER=%s", u->name);
	snprintf(logname, sizeof(logname), "LOGNAME=%s", u->name);
	envp[e++] = home;
	envp[e++] = user;
	envp[e++] = logname;
	envp[e++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	snprintf(rt, sizeof(rt), "/run/user/%u", (unsigned)u->uid);
	if (stat(rt, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == u->uid) {
		snprintf(rtenv, sizeof(rtenv), "XDG_RUNTIME_DIR=%s", rt);
		envp[e++] = rtenv;
	}
	if (o->conf) {
		snprintf(conf, sizeof(conf), "DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG=%s", o->conf);
		envp[e++] = conf;
	}
	envp[e] = NULL;
	argv[a++] = o->helper;
	argv[a++] = "env";
	argv[a++] = "--shell";
	argv[a++] = "pam";
	argv[a++] = "--no-key";
	if (o->for_list) {
		argv[a++] = "--for";
		argv[a++] = o->for_list;
	}
	if (pl->profile) {
		argv[a++] = "--profile";
		argv[a++] = pl->profile;
	}
	if (pl->region) {
		argv[a++] = "--region";
		argv[a++] = pl->region;
	}
	if (pl->workspace) {
		argv[a++] = "--workspace";
		argv[a++] = pl->workspace;
	}
	argv[a] = NULL;
	execve(o->helper, (char *const *)argv, (char *const *)envp);
	dprintf(2, "pam_dashscope: cannot run %s: %s\n", o->helper, strerror(errno));
	_exit(127);
}

/* stdin on /dev/null and every descriptor above 2 closed, as pam_exec
 * has it done by pam_modutil_sanitize_helper_fds. Linux-PAM 1.5 (Debian
 * 12) closes each possible descriptor there in turn, up to 65535 system
 * calls (8 ms a login here); with close_range (Linux >= 5.9) it is one
 * call, and libpam remains the way when that is missing. */
static int child_close_fds_fast(void)
{
#if defined(SYS_close_range) && !defined(DS_TEST_NO_PIDFD)
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null_fd < 0 || dup2(null_fd, 0) != 0)
		return 0;
	return syscall(SYS_close_range, 3U, ~0U, 0U) == 0;
#else
	return 0;
#endif
}

/* The child: a process group of its own (killed as a whole), the config
 * read and the rules applied under the parent's deadline, then the
 * helper with stdout and stderr on the pipes and nothing else open. */
static void child_run(pam_handle_t *pamh, const struct pam_opts *o, const struct user *u,
		      const int out[2], const int err[2], const int st[2])
{
	struct pam_place place = o->place;
	char rule_buf[1024];
	struct sigaction dfl;
	int out_w, err_w;

	(void)setsid(); /* cannot fail: a fresh child leads no group */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	close(out[0]);
	close(err[0]);
	close(st[0]);
	if (child_apply_rules(pamh, o, u, &place, rule_buf, sizeof(rule_buf), st[1]))
		_exit(0);
	status_send(st[1], VERDICT_RUN, "%s", "");
	close(st[1]);
	/* above 2 first: an application with closed standard descriptors
	 * may have been given one of them for a pipe */
	out_w = fcntl(out[1], F_DUPFD, 3);
	err_w = fcntl(err[1], F_DUPFD, 3);
	if (out_w < 0 || err_w < 0 || dup2(out_w, 1) != 1 || dup2(err_w, 2) != 2)
		_exit(127);
	/* cppcheck-suppress knownConditionTrueFalse ; it cannot see SYS_close_range */
	if (!child_close_fds_fast() &&
	    pam_modutil_sanitize_helper_fds(pamh, PAM_MODUTIL_NULL_FD, PAM_MODUTIL_IGNORE_FD,
					    PAM_MODUTIL_IGNORE_FD) != 0)
		_exit(127);
	child_exec(o, &place, u);
}

/* ---- in the parent ---- */

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000L +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

static long us_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000000L + (now.tv_nsec - start->tv_nsec) / 1000L;
}

static int pidfd_for(pid_t pid)
{
#if defined(SYS_pidfd_open) && !defined(DS_TEST_NO_PIDFD)
	/* Linux >= 5.3; ENOSYS on older kernels, then the fallback below */
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Reads what is there from one pipe into its buffer; closes it at EOF.
 * stderr beyond what is kept and the status beyond its buffer are
 * drained and dropped so the writer never blocks on them. */
static void run_read(struct run *r, int *fd)
{
	char scratch[4096];
	char *dst = scratch;
	size_t room = sizeof(scratch), *len = NULL;
	ssize_t got;

	if (fd == &r->out_fd) {
		dst = r->out + r->out_len;
		room = PAM_DS_OUTPUT_MAX - r->out_len;
		len = &r->out_len;
	} else if (fd == &r->err_fd && r->err_len < sizeof(r->err)) {
		dst = r->err + r->err_len;
		room = sizeof(r->err) - r->err_len;
		len = &r->err_len;
	} else if (fd == &r->st_fd && r->st_len < sizeof(r->st) - 1) {
		dst = r->st + r->st_len;
		room = sizeof(r->st) - 1 - r->st_len;
		len = &r->st_len;
	}
	do
		got = read(*fd, dst, room);
	while (got < 0 && errno == EINTR);
	if (got > 0 && len)
		*len += (size_t)got;
	if (got == 0 || (got < 0 && errno != EAGAIN))
		fd_close(fd);
	/* past the cap the helper is not trusted to finish */
	if (r->out_len >= PAM_DS_OUTPUT_MAX)
		r->capped = 1;
}

/* After the child exited: what it wrote is in the pipes; take it and stop
 * (a process it left behind may hold them open). */
static void run_drain(struct run *r)
{
	int *fds[] = { &r->out_fd, &r->err_fd, &r->st_fd };

	for (size_t i = 0; i < 3; i++)
		while (*fds[i] >= 0 && !r->capped) {
			size_t before = r->out_len + r->err_len + r->st_len;

			run_read(r, fds[i]);
			if (*fds[i] >= 0 && r->out_len + r->err_len + r->st_len == before)
				fd_close(fds[i]);
		}
}

/* Waits, without polling, for the pipes and the child's exit (pidfd) until
 * the deadline, the output cap or the exit. */
static void run_wait(struct run *r, const struct timespec *deadline)
{
	while (!r->capped) {
		struct pollfd p[4];
		int *fds[4], n = 0, rc;
		long left;

		if (r->out_fd >= 0)
			fds[n] = &r->out_fd, p[n++] = (struct pollfd){ r->out_fd, POLLIN, 0 };
		if (r->err_fd >= 0)
			fds[n] = &r->err_fd, p[n++] = (struct pollfd){ r->err_fd, POLLIN, 0 };
		if (r->st_fd >= 0)
			fds[n] = &r->st_fd, p[n++] = (struct pollfd){ r->st_fd, POLLIN, 0 };
		if (r->pidfd >= 0)
			fds[n] = &r->pidfd, p[n++] = (struct pollfd){ r->pidfd, POLLIN, 0 };
		if (n == 0)
			return; /* all pipes at EOF, no pidfd: the caller reaps */
		left = ms_left(deadline);
		if (left <= 0) {
			r->timed_out = 1;
			return;
		}
		rc = poll(p, (nfds_t)n, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			r->timed_out = 1;
			return;
		}
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (fds[i] == &r->pidfd) {
				r->exited = 1;
				fd_close(&r->pidfd);
				run_drain(r);
				return;
			}
			run_read(r, fds[i]);
		}
	}
}

/* Without a pidfd (old kernel): the pipes are at EOF, so the helper is
 * done or has closed them; wait for its exit with growing naps until the
 * deadline, never by a SIGCHLD handler the application may own. */
static int reap_fallback(struct run *r, const struct timespec *deadline)
{
	long nap_us = 500;

	while (!r->timed_out && !r->capped) {
		pid_t w = waitpid(r->pid, &r->status, WNOHANG);

		if (w == r->pid)
			return 1;
		if (w < 0 && errno != EINTR)
			return 0;
		if (ms_left(deadline) <= 0) {
			r->timed_out = 1;
			break;
		}
		usleep((useconds_t)nap_us);
		if (nap_us < 32000)
			nap_us *= 2;
	}
	return 0;
}

/* Ends the run: anything left in the helper's process group is killed
 * (the group id stays reserved until the child is reaped), then the
 * child is reaped. */
static void run_finish(struct run *r, const struct timespec *deadline)
{
	int reaped = 0;

	if (!r->exited && !r->timed_out && !r->capped && r->pidfd < 0)
		reaped = reap_fallback(r, deadline);
	if (!reaped) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
		while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
			;
	}
	fd_close(&r->out_fd);
	fd_close(&r->err_fd);
	fd_close(&r->st_fd);
	fd_close(&r->pidfd);
}

struct put_ctx {
	pam_handle_t *pamh;
	int debug;
};

static int put_line(void *vctx, const char *line)
{
	struct put_ctx *ctx = vctx;
	int rc = pam_putenv(ctx->pamh, line);

	if (rc == PAM_SUCCESS && ctx->debug) {
		/* the name only: values are the helper's output */
		pam_syslog(ctx->pamh, LOG_DEBUG, "set %.*s", (int)strcspn(line, "="), line);
	}
	return rc == PAM_SUCCESS ? 0 : rc;
}

/* Logs why the helper failed: its own one-line reason when it gave one. */
static void log_failure(pam_handle_t *pamh, const struct pam_opts *o, const struct user *u,
			const struct run *r)
{
	char reason[PAM_DS_REASON_MAX + 1];

	if (r->capped) {
		pam_syslog(pamh, LOG_ERR, "%s printed more than %d bytes; killed", o->helper,
			   PAM_DS_OUTPUT_MAX);
		return;
	}
	if (r->timed_out) {
		pam_syslog(pamh, LOG_ERR, "%s did not finish within %u s; killed", o->helper,
			   o->timeout);
		return;
	}
	pam_reason_clean(r->err, r->err_len, reason);
	if (WIFEXITED(r->status))
		pam_syslog(pamh, LOG_ERR, "%s failed (exit %d) for user %s: %s", o->helper,
			   WEXITSTATUS(r->status), u->name, reason[0] ? reason : "no reason given");
	else
		pam_syslog(pamh, LOG_ERR, "%s failed (signal %d) for user %s", o->helper,
			   WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0, u->name);
}

/* Starts the child; the deadline is already running. */
static int run_start(pam_handle_t *pamh, const struct pam_opts *o, const struct user *u,
		     struct run *r)
{
	int out[2], err[2], st[2];

	if (pipe2(out, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) != 0) {
		close(out[0]), close(out[1]);
		return -1;
	}
	if (pipe2(st, O_CLOEXEC) != 0) {
		close(out[0]), close(out[1]), close(err[0]), close(err[1]);
		return -1;
	}
	/* only our ends: the helper's stay blocking */
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) || fcntl(err[0], F_SETFL, O_NONBLOCK) ||
	    fcntl(st[0], F_SETFL, O_NONBLOCK)) {
		close(out[0]), close(out[1]), close(err[0]), close(err[1]);
		close(st[0]), close(st[1]);
		return -1;
	}
	r->pid = fork();
	if (r->pid == 0)
		child_run(pamh, o, u, out, err, st);
	close(out[1]);
	close(err[1]);
	close(st[1]);
	r->out_fd = out[0];
	r->err_fd = err[0];
	r->st_fd = st[0];
	if (r->pid < 0)
		return -1;
	r->pidfd = pidfd_for(r->pid);
	return 0;
}

/* Runs the helper and sets the session's variables. Returns PAM_SUCCESS,
 * PAM_IGNORE, PAM_BUF_ERR, PAM_SYSTEM_ERR or PAM_SESSION_ERR (failed). */
static int run_helper(pam_handle_t *pamh, const struct pam_opts *o, const struct user *u)
{
	struct sigaction dfl, ign, old_chld, old_pipe;
	struct timespec deadline;
	struct run r = { .out_fd = -1, .err_fd = -1, .st_fd = -1, .pidfd = -1 };
	struct put_ctx ctx = { pamh, o->debug };
	int dropped, put_rc = 0, rc = PAM_SESSION_ERR;

	r.out = malloc(PAM_DS_OUTPUT_MAX);
	if (!r.out)
		return PAM_BUF_ERR;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	/* the application may ignore SIGCHLD, which would break waitpid */
	sigaction(SIGCHLD, &dfl, &old_chld);
	sigaction(SIGPIPE, &ign, &old_pipe);
	/* from here on, everything (the config too) is under the deadline */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += o->timeout;
	if (run_start(pamh, o, u, &r) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot start %s: %m", o->helper);
		fd_close(&r.out_fd), fd_close(&r.err_fd), fd_close(&r.st_fd);
		rc = PAM_SYSTEM_ERR;
		goto out;
	}
	run_wait(&r, &deadline);
	run_finish(&r, &deadline);
	r.st[r.st_len] = '\0';
	if (r.st[0] == VERDICT_IGNORE) {
		if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "%s", r.st + 1);
		rc = PAM_IGNORE;
	} else if (r.st[0] == VERDICT_BAD_CONF) {
		pam_syslog(pamh, LOG_ERR, "%s", r.st + 1);
	} else if (r.st[0] != VERDICT_RUN) {
		/* it never got to the helper: a slow config, or a crash */
		if (r.timed_out)
			pam_syslog(pamh, LOG_ERR, "reading %s did not finish within %u s; killed",
				   o->conf ? o->conf : DS_SYSTEM_CONFIG, o->timeout);
		else
			pam_syslog(pamh, LOG_ERR, "the child that runs %s ended before running it",
				   o->helper);
	} else if (r.capped || r.timed_out || !WIFEXITED(r.status) || WEXITSTATUS(r.status)) {
		if (!o->quiet)
			log_failure(pamh, o, u, &r);
	} else {
		dropped = pam_output_each(r.out, r.out_len, put_line, &ctx, &put_rc);
		if (dropped && !o->quiet)
			pam_syslog(pamh, LOG_WARNING,
				   "ignored %d line%s of helper output (names not allowed or unsafe values)",
				   dropped, dropped == 1 ? "" : "s");
		rc = put_rc == PAM_BUF_ERR ? PAM_BUF_ERR : put_rc ? PAM_SESSION_ERR : PAM_SUCCESS;
	}
out:
	sigaction(SIGCHLD, &old_chld, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	explicit_bzero(r.out, PAM_DS_OUTPUT_MAX);
	free(r.out);
	return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pam_opts o;
	struct user u;
	struct timespec start;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	pam_opts_parse(&o, argc, argv, report_option, pamh);
	if (user_lookup(pamh, &u) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot find the user");
		return o.strict ? PAM_SESSION_ERR : PAM_SUCCESS;
	}
	rc = run_helper(pamh, &o, &u);
	if (rc == PAM_BUF_ERR || rc == PAM_IGNORE)
		return rc;
	if (rc != PAM_SUCCESS) {
		if (o.strict && !(flags & PAM_SILENT) && !o.quiet)
			pam_error(pamh,
				  "Could not set the Model Studio endpoints for this session.");
		return o.strict ? PAM_SESSION_ERR : PAM_SUCCESS;
	}
	if (o.debug) {
		/* what the module added to this login (bench/login reads it) */
		long us = us_since(&start);

		pam_syslog(pamh, LOG_DEBUG, "session environment set for %s in %ld.%ld ms", u.name,
			   us / 1000, us % 1000 / 100);
	}
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

static int not_provided(pam_handle_t *pamh, const char *what)
{
	pam_syslog(pamh, LOG_ERR, "pam_dashscope provides only session management, not %s", what);
	return PAM_SERVICE_ERR;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags, (void)argc, (void)argv;
	return not_provided(pamh, "auth");
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags, (void)argc, (void)argv;
	return not_provided(pamh, "setcred");
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags, (void)argc, (void)argv;
	return not_provided(pamh, "account");
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags, (void)argc, (void)argv;
	return not_provided(pamh, "password");
}
