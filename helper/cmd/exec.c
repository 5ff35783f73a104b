/* SPDX-License-Identifier: MIT */
/* exec: runs CMD (else the user's shell) with the variables of env. With
 * --key-file (SPEC section 11) CMD reads its key from a file that the
 * helper, running beside it, replaces before the key has less than the
 * renewal margin left; the DashScope SDKs re-read that file on every call
 * when DASHSCOPE_API_KEY is unset. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "conf/envvars.h"
#include "base/child.h"
#include "base/file_write.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MAX_MS 30000L

struct keyfile {
	char dir[PATH_MAX - 16];
	char path[PATH_MAX];
};

/* A private 0700 directory under $XDG_RUNTIME_DIR, else under /tmp. */
static int keyfile_dir(struct keyfile *kf, struct ds_err *err)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (!run || *run != '/' || stat(run, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077))
		run = "/tmp";
	if (snprintf(kf->dir, sizeof(kf->dir), "%s/dashscope-credential.XXXXXX", run) >=
		    (int)sizeof(kf->dir) ||
	    !mkdtemp(kf->dir))
		return ds_err_set(err, DS_EFAIL, "Cannot create a private directory under %s: %s.",
				  run, strerror(errno));
	snprintf(kf->path, sizeof(kf->path), "%s/api_key", kf->dir);
	return DS_OK;
}

static int keyfile_write(const struct keyfile *kf, const struct secret *key, struct ds_err *err)
{
	char *line = malloc(key->len + 2);
	int rc;

	if (!line)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	memcpy(line, key->data, key->len);
	line[key->len] = '\n';
	rc = file_write_atomic(kf->path, 0600, line, key->len + 1, err);
	explicit_bzero(line, key->len + 2);
	free(line);
	return rc;
}

static void keyfile_remove(const struct keyfile *kf)
{
	unlink(kf->path);
	rmdir(kf->dir);
}

/* Milliseconds until the key expiring at expires_at enters its margin. */
static long ms_until_renewal(long long expires_at, unsigned long lifetime)
{
	struct timespec now;
	double left;

	clock_gettime(CLOCK_REALTIME, &now);
	left = (double)expires_at - token_renewal_margin(lifetime) -
	       ((double)now.tv_sec + (double)now.tv_nsec / 1e9);
	return left > 0 ? (long)(left * 1000) : 0;
}

/* Mints the next key and replaces the file; the old file stays until the
 * new one is complete (rename). */
static int keyfile_renew(struct app *app, const struct keyfile *kf, struct credential *c,
			 struct ds_err *err)
{
	struct credential next = { 0 };
	struct want w;
	int found = 0, rc;

	rc = want_from_options(app, &w, err);
	if (!rc) {
		w.cr.profile = c->profile.name;
		rc = credential_obtain(app, &w, &next, &found, err);
	}
	if (!rc && !found)
		rc = app_no_profile(&w, err);
	if (!rc)
		rc = keyfile_write(kf, next.key, err);
	if (found && !rc) {
		secret_free(c->key);
		c->key = next.key;
		next.key = NULL;
		c->expires_at = next.expires_at;
		c->lifetime = next.lifetime;
	}
	if (found)
		credential_free(&next);
	return rc;
}

/* Unsets every key variable outside the families of keep (and with
 * keep 0, the expiry that went with them). */
static int exec_unset_keys(unsigned keep)
{
	size_t n;
	const struct envvar *t = envvar_table(&n);

	for (size_t i = 0; i < n; i++)
		if (((t[i].is_key && !(t[i].family & keep)) ||
		     (!keep && t[i].value == EV_EXPIRES_AT)) &&
		    unsetenv(t[i].name) != 0)
			return -1;
	return 0;
}

static int exec_key_file(struct app *app, struct credential *c, struct ds_err *err)
{
	struct keyfile kf = { "", "" };
	long retry = 1000, wait_ms;
	int rc, status = 0;
	sigset_t saved;
	pid_t pid;

	rc = keyfile_dir(&kf, err);
	if (rc)
		return rc;
	rc = keyfile_write(&kf, c->key, err);
	/* the file is renewed, the variables are not: a key in one would die
	 * while COMMAND runs (SPEC 13), so none is left */
	if (!rc &&
	    (exec_unset_keys(0) != 0 || setenv("DASHSCOPE_API_KEY_FILE_PATH", kf.path, 1) != 0))
		rc = ds_err_set(err, DS_EFAIL, "Cannot set DASHSCOPE_API_KEY_FILE_PATH.");
	if (!rc && child_signals_block(&saved) != 0)
		rc = ds_err_set(err, DS_EFAIL, "Cannot set up signal handling.");
	if (!rc)
		rc = child_start(app->o.rest, &saved, app->caller_umask, &app->caller_core,
				 &app->caller_nofile, &pid, err);
	if (rc) {
		keyfile_remove(&kf);
		return rc;
	}
	wait_ms = c->long_lived ? -1 : ms_until_renewal(c->expires_at, c->lifetime);
	while (!child_wait(pid, wait_ms, &status)) {
		struct ds_err e2 = { 0, "" };

		if (keyfile_renew(app, &kf, c, &e2) == DS_OK) {
			retry = 1000;
			wait_ms = ms_until_renewal(c->expires_at, c->lifetime);
			continue;
		}
		/* the file keeps the last good key; try again, less often */
		fprintf(stderr, "dashscope-credential: renewing the key file failed: %s\n", e2.msg);
		wait_ms = retry;
		retry = retry * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry * 2;
	}
	keyfile_remove(&kf);
	return status;
}

/* The program runs as the caller would have run it: the caller's umask,
 * core limit and SIGPIPE, not the helper's hardening. */
static void exec_restore_caller(const struct app *app)
{
	umask(app->caller_umask);
	setrlimit(RLIMIT_CORE, &app->caller_core);
	signal(SIGPIPE, SIG_DFL);
}

int cmd_exec(struct app *app, struct ds_err *err)
{
	struct credential c;
	struct varset vs;
	unsigned mask;
	char *shell_argv[2];
	int rc;

	/* no command: an interactive shell with the variables, as aws-vault
	 * exec does */
	if (app->o.nrest < 1) {
		const char *sh = getenv("SHELL");

		shell_argv[0] = (char *)(sh && *sh ? sh : "/bin/sh");
		shell_argv[1] = NULL;
		app->o.rest = shell_argv;
	}
	rc = env_parse_for(app->o.for_list, &mask, err);
	if (rc)
		return rc;
	rc = cmd_obtain(app, &c, err);
	if (rc)
		return rc;
	env_build_vars(&vs, mask, &c.profile, &c.ep, env_model_of(c.pconf), c.key->data,
		       c.expires_at);
	rc = env_set_vars(&vs, mask, err);
	/* every family's keys go, not only those of --for: a long-lived
	 * ANTHROPIC_AUTH_TOKEN left beside the fresh key would win in a tool
	 * (SPEC 13) */
	if (!rc && exec_unset_keys(mask) != 0)
		rc = ds_err_set(err, DS_EFAIL, "Cannot clear the environment.");
	if (rc) {
		credential_free(&c);
		return rc;
	}
	if (app->o.nrest < 1)
		env_note_expiry(&c, "the key in this shell");
	if (app->o.key_file) {
		rc = exec_key_file(app, &c, err);
		credential_free(&c);
		return rc;
	}
	credential_free(&c);
	store_close(&app->store);
	fflush(NULL);
	exec_restore_caller(app);
	execvp(app->o.rest[0], app->o.rest);
	rc = errno;
	ds_err_set(err, rc == ENOENT ? 127 : 126, "Cannot run %.200s: %s.", app->o.rest[0],
		   strerror(rc));
	return err->code;
}
