/* SPDX-License-Identifier: MIT */
/* pam_dashscope: gives a login session its region's endpoint variables by
 * running `dashscope-credential env --shell pam --no-key` as the user, with
 * a deadline and an output cap, and exporting only allow-listed names.
 * It never handles a key and links neither libsecret nor libcurl. */
#include "config.h"
#include "conf.h"
#include "pam_parse.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

struct user {
	char name[256];
	uid_t uid;
	gid_t gid;
	char home[512];
};

static void report_option(void *ctx, const char *what, const char *item)
{
	/* the item is an administrator's option, never user data */
	pam_syslog(ctx, LOG_ERR, "%s %s (ignored)", what, item);
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

/* The [pam] rules of the system config: first the user's own line, then
 * the first group line that matches, then "*". Module options win over all
 * of them. Returns 1 when a rule applied, 0 when none did, -1 on a bad
 * config; rule_buf keeps the strings place points into. */
static int rules_apply(pam_handle_t *pamh, const struct pam_opts *o, const struct user *u,
		       struct pam_place *place, char *rule_buf, size_t n, int *have_rules)
{
	struct conf c;
	struct ds_err err;
	const struct pam_rule *user_rule = NULL, *group_rule = NULL, *any_rule = NULL;
	char path[512];
	int rc = 0;

	*have_rules = 0;
	conf_init(&c);
	if (o->conf)
		snprintf(path, sizeof(path), "%s", o->conf);
	else
		conf_system_path(path, sizeof(path), NULL);
	if (conf_load_system(&c, path, &err) != DS_OK) {
		pam_syslog(pamh, LOG_ERR, "%s", err.msg);
		conf_free(&c);
		return -1;
	}
	for (const struct pam_rule *r = c.pam_rules; r; r = r->next) {
		*have_rules = 1;
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
		struct pam_place from_rule;

		if (ds_strcpy(rule_buf, n, user_rule->settings) ||
		    pam_rule_parse(rule_buf, &from_rule, report_option, pamh)) {
			pam_syslog(pamh, LOG_ERR, "%s:%u: bad [pam] rule for %s", user_rule->file,
				   user_rule->line, user_rule->who);
			rc = -1;
		} else {
			pam_place_merge(place, &from_rule);
			rc = 1;
		}
	}
	conf_free(&c);
	return rc;
}

/* In the child: become the user for good, or die. */
static void child_drop_privileges(const struct user *u)
{
	if (geteuid() != 0) {
		/* without root we can only run as ourselves */
		if (getuid() != u->uid)
			_exit(126);
		return;
	}
	if (initgroups(u->name, u->gid) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0)
		_exit(126);
	if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid || getegid() != u->gid)
		_exit(126);
	if (u->uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		_exit(126);
}

static void child_close_fds(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

static void child_exec(const struct pam_opts *o, const struct pam_place *pl, const struct user *u,
		       int out_fd)
{
	char home[600], user[300], logname[300], rt[64], rtenv[80], conf[600];
	const char *argv[20];
	const char *envp[8];
	int a = 0, e = 0, null_fd;
	struct stat sb;

	setsid();
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(null_fd, 2) < 0)
		_exit(127);
	child_close_fds(-1);
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
	_exit(127);
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000L +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Reads the child's output until EOF, the cap or the deadline. */
static size_t read_output(int fd, char *buf, const struct timespec *deadline, int *timed_out)
{
	size_t len = 0;

	*timed_out = 0;
	while (len < PAM_DS_OUTPUT_MAX) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = ms_left(deadline);
		ssize_t got;
		int rc;

		if (left <= 0) {
			*timed_out = 1;
			break;
		}
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			*timed_out = rc == 0;
			break;
		}
		got = read(fd, buf + len, PAM_DS_OUTPUT_MAX - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	return len;
}

/* Waits for pid until the deadline; then kills its process group. */
static int reap(pid_t pid, const struct timespec *deadline, int kill_now)
{
	int status = 0;

	while (!kill_now) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (ms_left(deadline) <= 0)
			break;
		usleep(10000);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return -1;
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

static int run_helper(pam_handle_t *pamh, const struct pam_opts *o, const struct pam_place *pl,
		      const struct user *u)
{
	struct sigaction dfl, ign, old_chld, old_pipe;
	struct timespec deadline;
	char *buf;
	size_t len;
	int fds[2], timed_out, capped, status, dropped, put_rc = 0, rc;
	pid_t pid;
	struct put_ctx ctx = { pamh, o->debug };

	buf = malloc(PAM_DS_OUTPUT_MAX);
	if (!buf)
		return PAM_BUF_ERR;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		free(buf);
		pam_syslog(pamh, LOG_ERR, "pipe: %m");
		return PAM_SYSTEM_ERR;
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	/* the application may ignore SIGCHLD, which would break waitpid */
	sigaction(SIGCHLD, &dfl, &old_chld);
	sigaction(SIGPIPE, &ign, &old_pipe);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += o->timeout;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		sigaction(SIGPIPE, &dfl, NULL);
		child_exec(o, pl, u, fds[1]);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		sigaction(SIGCHLD, &old_chld, NULL);
		sigaction(SIGPIPE, &old_pipe, NULL);
		free(buf);
		pam_syslog(pamh, LOG_ERR, "fork: %m");
		return PAM_SYSTEM_ERR;
	}
	len = read_output(fds[0], buf, &deadline, &timed_out);
	close(fds[0]);
	/* past the cap or the deadline the helper is not trusted to finish */
	capped = len >= PAM_DS_OUTPUT_MAX;
	status = reap(pid, &deadline, timed_out || capped);
	sigaction(SIGCHLD, &old_chld, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!o->quiet) {
			if (status < 0 && capped)
				pam_syslog(pamh, LOG_ERR, "%s printed more than %d bytes; killed",
					   o->helper, PAM_DS_OUTPUT_MAX);
			else if (status < 0)
				pam_syslog(pamh, LOG_ERR, "%s did not finish within %u s; killed",
					   o->helper, o->timeout);
			else
				pam_syslog(pamh, LOG_ERR, "%s failed (%s %d) for user %s",
					   o->helper, WIFEXITED(status) ? "exit" : "signal",
					   WIFEXITED(status) ? WEXITSTATUS(status)
							     : WTERMSIG(status),
					   u->name);
		}
		explicit_bzero(buf, PAM_DS_OUTPUT_MAX);
		free(buf);
		return PAM_SESSION_ERR;
	}
	dropped = pam_output_each(buf, len, put_line, &ctx, &put_rc);
	explicit_bzero(buf, PAM_DS_OUTPUT_MAX);
	free(buf);
	if (dropped && !o->quiet)
		pam_syslog(pamh, LOG_WARNING,
			   "ignored %d line%s of helper output (names not allowed or unsafe values)",
			   dropped, dropped == 1 ? "" : "s");
	if (put_rc == PAM_BUF_ERR)
		return PAM_BUF_ERR;
	rc = put_rc ? PAM_SESSION_ERR : PAM_SUCCESS;
	return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pam_opts o;
	struct pam_place place;
	struct user u;
	char rule_buf[1024];
	int have_rules, applied, rc;

	pam_opts_parse(&o, argc, argv, report_option, pamh);
	if (user_lookup(pamh, &u) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot find the user");
		return o.strict ? PAM_SESSION_ERR : PAM_SUCCESS;
	}
	place = o.place;
	applied = rules_apply(pamh, &o, &u, &place, rule_buf, sizeof(rule_buf), &have_rules);
	if (applied < 0)
		return o.strict ? PAM_SESSION_ERR : PAM_SUCCESS;
	/* with a [pam] map and no module options, an unmapped user is not
	 * ours to configure */
	if (have_rules && !applied && !o.place.profile && !o.place.region) {
		if (o.debug)
			pam_syslog(pamh, LOG_DEBUG, "user %s is not mapped in [pam]", u.name);
		return PAM_IGNORE;
	}
	rc = run_helper(pamh, &o, &place, &u);
	if (rc == PAM_BUF_ERR)
		return rc;
	if (rc != PAM_SUCCESS) {
		if (o.strict && !(flags & PAM_SILENT) && !o.quiet)
			pam_error(pamh,
				  "Could not set the Model Studio endpoints for this session.");
		return o.strict ? PAM_SESSION_ERR : PAM_SUCCESS;
	}
	if (o.debug)
		pam_syslog(pamh, LOG_DEBUG, "session environment set for %s", u.name);
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
