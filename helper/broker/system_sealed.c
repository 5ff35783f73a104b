/* SPDX-License-Identifier: MIT */
/* system_sealed.h: the key goes to systemd-creds on a pipe and comes back
 * sealed; the sealed file, the broker's drop-in and the system config are
 * then written as one batch (file_batch.h), and the profile's plain copy
 * in the broker's key file taken out last, so a failure leaves none of
 * it. systemd's own paths are fixed (/etc, not our sysconfdir); tests
 * put them under DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT. */
#include "config.h"
#include "broker/system_sealed.h"
#include "base/file_batch.h"
#include "base/file_write.h"
#include "broker/broker.h"
#include "core/store.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/run_filter.h"
#include "conf/names.h"
#include "core/key.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEALED_DIR "/etc/credstore.encrypted"
#define SEALED_DROPIN_DIR "/etc/systemd/system/" SEALED_SERVICE ".d"
#define SEALED_MAX (64 * 1024) /* systemd-creds' answer for a key of 512 bytes is far less */
#define SEALED_TIMEOUT_MS (120 * 1000) /* a TPM can be slow; a hung tool is not waited on */
#define SEALED_LOCK_MS (300 * 1000) /* another add or remove, its tool included */

struct sealed_paths {
	char cred[128];
	char sealed[PATH_MAX], sealed_sys[PATH_MAX];
	char dropin[PATH_MAX], dropin_sys[PATH_MAX];
	int test_root;
	char etc[PATH_MAX]; /* what add and remove lock: /etc, or the test root */
};

/* The first of the places a distribution puts tool; no PATH search: root
 * runs it with a key on its input. */
static int tool_find(const char *tool, char *out, size_t n, struct ds_err *err)
{
	static const char *const dirs[] = { "/usr/bin", "/bin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (path_format(out, n, err, "%s/%s", dirs[i], tool))
			return DS_EINPUT;
		if (access(out, X_OK) == 0)
			return DS_OK;
	}
	return ds_err_set(err, DS_EFAIL,
			  "%s is not installed (/usr/bin, /bin); sealed keys need systemd 250 or later.",
			  tool);
}

static int paths_of(const char *cred, struct sealed_paths *sp, struct ds_err *err)
{
	const char *root = getenv("DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT");
	int rc;

	if (root && *root && *root != '/')
		return ds_err_set(err, DS_EINPUT,
				  "DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT must be an absolute path.");
	if (!root)
		root = "";
	sp->test_root = *root != '\0';
	rc = path_format(sp->cred, sizeof(sp->cred), err, "%s", cred);
	if (!rc)
		rc = path_format(sp->sealed_sys, sizeof(sp->sealed_sys), err, SEALED_DIR "/%s",
				 cred);
	if (!rc)
		rc = path_format(sp->sealed, sizeof(sp->sealed), err, "%s%s", root, sp->sealed_sys);
	if (!rc)
		rc = path_format(sp->dropin_sys, sizeof(sp->dropin_sys), err,
				 SEALED_DROPIN_DIR "/%s.conf", cred);
	if (!rc)
		rc = path_format(sp->dropin, sizeof(sp->dropin), err, "%s%s", root, sp->dropin_sys);
	/* a test root may have no etc yet; the machine always has one */
	if (!rc)
		rc = path_format(sp->etc, sizeof(sp->etc), err, "%s", *root ? root : "/etc");
	return rc;
}

/* One add or remove at a time: each reads the system config and writes
 * it back whole, and a second one would lose the first one's profile.
 * The lock is on /etc itself (the files are replaced by rename, so a
 * lock on them would not hold); it goes with the descriptor. */
static int lock_take(const struct sealed_paths *sp, int *fd, struct ds_err *err)
{
	long long deadline = clock_deadline_in(SEALED_LOCK_MS);

	*fd = open(sp->etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return ds_err_set(err, DS_ESTORE, "Cannot open %s: %s.", sp->etc, strerror(errno));
	while (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || !clock_left_ms(deadline, 0)) {
			int e = errno;

			close(*fd);
			*fd = -1;
			return ds_err_set(err, DS_ESTORE, "Cannot lock %s: %s.", sp->etc,
					  e == EWOULDBLOCK
						  ? "another add or remove --system holds it"
						  : strerror(e));
		}
		poll(NULL, 0, clock_left_ms(deadline, 50));
	}
	return DS_OK;
}

static void lock_drop(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* The paths of profile name's sealed key; a name that could leave the
 * directories (a '/', "..", a newline) never gets here. */
static int paths_of_profile(const char *name, struct sealed_paths *sp, struct ds_err *err)
{
	char cred[128];

	if (!profile_name_valid(name))
		return ds_err_set(err, DS_EINPUT,
				  "A profile name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'.");
	snprintf(cred, sizeof(cred), SEALED_CRED_PREFIX "%s", name);
	return paths_of(cred, sp, err);
}

static int need_root(struct ds_err *err)
{
	if (geteuid() != 0)
		return ds_err_set(err, DS_EPOLICY,
				  "--system changes the broker's keys and needs root (sudo).");
	return DS_OK;
}

/* systemd-creds' --with-key=: auto (the TPM2 and the host key where a TPM2
 * is, else the host key), or what DASHSCOPE_CREDENTIAL_SEAL_WITH says
 * (tests: host). */
static int with_key(const char **out, struct ds_err *err)
{
	static const char *const ok[] = { "auto", "host", "tpm2", "host+tpm2" };
	const char *v = getenv("DASHSCOPE_CREDENTIAL_SEAL_WITH");

	*out = "auto";
	if (!v || !*v)
		return DS_OK;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(v, ok[i])) {
			*out = ok[i];
			return DS_OK;
		}
	return ds_err_set(err, DS_EINPUT,
			  "DASHSCOPE_CREDENTIAL_SEAL_WITH must be auto, host, tpm2 or host+tpm2.");
}

/* The key sealed under the credential's name (systemd checks it when it
 * opens the file); f->out is the sealed text. */
static int seal(const struct sealed_paths *sp, const struct secret *key, const char *wk,
		struct run_filter *f, struct ds_err *err)
{
	char tool[PATH_MAX], name[160], keyopt[64];
	const char *argv[] = { tool, "encrypt", name, keyopt, "-", "-", NULL };
	int rc = tool_find("systemd-creds", tool, sizeof(tool), err);

	if (rc)
		return rc;
	snprintf(name, sizeof(name), "--name=%s", sp->cred);
	snprintf(keyopt, sizeof(keyopt), "--with-key=%s", wk);
	memset(f, 0, sizeof(*f));
	f->argv = argv;
	f->in = key->data;
	f->inlen = key->len;
	f->max_out = SEALED_MAX;
	f->timeout_ms = SEALED_TIMEOUT_MS;
	rc = run_filter(f, err);
	if (!rc && (f->status != 0 || f->outlen == 0)) {
		rc = ds_err_set(err, DS_EFAIL,
				"systemd-creds encrypt failed%s%s; nothing was written.",
				f->errline[0] ? ": " : "", f->errline);
		run_filter_free(f);
	}
	return rc;
}

/* The profile's section in the system file: its place, and the key from
 * the credential. */
static void settings_of(const struct profile *p, const char *cred, char *out, size_t n)
{
	int w = snprintf(out, n, "region = %s\n", p->place.region->id);

	if (p->place.workspace[0])
		w += snprintf(out + w, n - (size_t)w, "workspace = %s\n", p->place.workspace);
	if (p->place.plan == PLAN_CODING)
		w += snprintf(out + w, n - (size_t)w, "plan = coding\n");
	snprintf(out + w, n - (size_t)w, "key_credential = %s\n", cred);
}

/* A profile the system file already points at another source is the
 * administrator's to change: sealing over it would drop that line. */
static int refuse_other_source(const struct conf *c, const char *name, const char *cred,
			       struct ds_err *err)
{
	const struct profile_conf *pc = conf_profile(c, name);

	if (!pc || !pc->source_system)
		return DS_OK;
	if (pc->key_file)
		return ds_err_set(err, DS_EPOLICY,
				  "Profile %s takes its key from %s (key_file, %s:%u); remove that line to seal a key for it.",
				  name, pc->key_file, pc->source_file, pc->source_line);
	if (pc->key_credential && strcmp(pc->key_credential, cred))
		return ds_err_set(err, DS_EPOLICY,
				  "Profile %s takes its key from the systemd credential %s (%s:%u); remove that line to seal a key for it.",
				  name, pc->key_credential, pc->source_file, pc->source_line);
	return DS_OK;
}

/* systemctl VERB [UNIT]: DS_OK when it ran and succeeded, else why in
 * rep->reload_why. */
static int systemctl(const char *verb, const char *unit, struct sealed_report *rep)
{
	char tool[PATH_MAX];
	const char *argv[] = { tool, verb, unit, NULL };
	struct run_filter f;
	struct ds_err e;
	int rc;

	memset(&f, 0, sizeof(f));
	f.argv = argv;
	f.max_out = 4096;
	f.timeout_ms = SEALED_TIMEOUT_MS;
	rc = tool_find("systemctl", tool, sizeof(tool), &e);
	if (!rc)
		rc = run_filter(&f, &e);
	if (!rc && f.status != 0)
		rc = ds_err_set(&e, DS_EFAIL, "systemctl %s: %s", verb,
				f.errline[0] ? f.errline : "it failed");
	run_filter_free(&f);
	if (rc)
		snprintf(rep->reload_why, sizeof(rep->reload_why), "%s", e.msg);
	return rc;
}

/* Where systemd runs and the files are its: daemon-reload, then the
 * broker restarted if it runs (try-restart), so that its credentials are
 * the ones its config now names: it re-reads the config at every
 * request, but its credentials directory only when it starts. */
static void reload(const struct sealed_paths *sp, struct sealed_report *rep)
{
	rep->reload_why[0] = '\0';
	if (sp->test_root)
		rep->reloaded = -1;
	else if (access("/run/systemd/system", F_OK) != 0)
		rep->reloaded = 0;
	else if (systemctl("daemon-reload", NULL, rep) ||
		 systemctl("try-restart", SEALED_SERVICE, rep))
		rep->reloaded = -2;
	else
		rep->reloaded = 1;
}

static void report_paths(const struct sealed_paths *sp, const char *config,
			 struct sealed_report *rep)
{
	snprintf(rep->sealed, sizeof(rep->sealed), "%s", sp->sealed);
	snprintf(rep->dropin, sizeof(rep->dropin), "%s", sp->dropin);
	snprintf(rep->config, sizeof(rep->config), "%s", config);
	snprintf(rep->cred, sizeof(rep->cred), "%s", sp->cred);
}

static void change_set(struct file_change *ch, const char *path, const char *data, size_t len,
		       mode_t mode, mode_t dir_mode)
{
	memset(ch, 0, sizeof(*ch));
	ch->path = path;
	ch->data = data;
	ch->len = len;
	ch->mode = mode;
	ch->dir_mode = dir_mode;
}

/* The profile's plain copy in the broker's key file (`add --system`
 * without --sealed): what sealing leaves behind otherwise, readable and
 * back in force once the sealed key goes. It is read and written as the
 * file's owner, under the file store's own lock and checks (a link, a
 * FIFO or a file others can read is refused, naming it). */
struct plain_copy {
	char path[PATH_MAX];
	int lock; /* the key file's lock, held from the read to the write */
	char *image; /* the file without the profile; NULL: nothing to change */
	size_t len;
	unsigned found; /* bit 0: the profile's key, bit 1: its AccessKey */
	struct file_change ch;
};

static void plain_init(struct plain_copy *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->lock = -1;
}

static void plain_free(struct plain_copy *pc)
{
	file_batch_free(&pc->ch, 1);
	if (pc->image) {
		explicit_bzero(pc->image, pc->len);
		free(pc->image);
	}
	if (pc->lock >= 0)
		close(pc->lock);
	plain_init(pc);
}

#define PLAIN_ACCESS_KEY 1 /* the profile's AccessKey goes too */
#define PLAIN_LOOK 2 /* doctor: only whether there is one; no lock, no change */

/* Reads the key file for profile name's records and keeps the file
 * without them, locked until plain_free; pc->image NULL when it holds
 * none. */
static int plain_prepare(const char *name, int flags, struct plain_copy *pc, struct ds_err *err)
{
	char ak[DS_PROFILE_MAX + sizeof(STORE_ACCESS_KEY_SUFFIX)];
	const char *const drop[] = { name, (flags & PLAIN_ACCESS_KEY) ? ak : NULL, NULL };
	struct system_ids ids;
	struct stat sb;
	int rc, back;

	system_keyfile_path(pc->path, sizeof(pc->path));
	snprintf(ak, sizeof(ak), "%s" STORE_ACCESS_KEY_SUFFIX, name);
	/* no file, no copy (and no service user needed to say so) */
	if (lstat(pc->path, &sb) != 0 && errno == ENOENT)
		return DS_OK;
	rc = system_keys_as_service(&ids, err);
	if (rc)
		return rc;
	if (!(flags & PLAIN_LOOK))
		rc = store_file_lock(pc->path, &pc->lock, err);
	if (!rc)
		rc = store_file_without(pc->path, drop, &pc->image, &pc->len, &pc->found, err);
	if (!rc && pc->image && !(flags & PLAIN_LOOK)) {
		change_set(&pc->ch, pc->path, pc->image, pc->len, 0600, 0700);
		pc->ch.keep_mode = 1;
		rc = file_batch_prepare(&pc->ch, 1, err);
	}
	back = system_keys_as_root(&ids, rc ? NULL : err);
	return rc ? rc : back;
}

/* Writes the key file without the profile, as its owner. */
static int plain_apply(struct plain_copy *pc, struct ds_err *err)
{
	struct system_ids ids;
	int rc = system_keys_as_service(&ids, err), back;

	if (rc)
		return rc;
	rc = file_batch_apply(&pc->ch, 1, err);
	back = system_keys_as_root(&ids, rc ? NULL : err);
	return rc ? rc : back;
}

/* The files as one batch. add: sealed key, drop-in, config. remove
 * (sealed NULL): the config first, so the broker stops naming what goes
 * (left alone when conftext is NULL), then the drop-in and the sealed
 * key, each removed. Then, either way, the plain copy (pc): last, so
 * that a failure anywhere leaves it where it was. */
static int write_batch(const struct sealed_paths *sp, const char *sealed, size_t sealed_len,
		       const char *dropin, const char *config, const char *conftext, size_t conflen,
		       struct plain_copy *pc, struct sealed_report *rep, struct ds_err *err)
{
	struct file_change ch[3];
	size_t n = 0, conf_at;
	int rc;

	if (!sealed && conftext)
		change_set(&ch[n++], config, conftext, conflen, 0644, 0755);
	change_set(&ch[n++], sp->sealed, sealed, sealed_len, 0600, 0700);
	change_set(&ch[n++], sp->dropin, dropin, dropin ? strlen(dropin) : 0, 0644, 0755);
	if (sealed)
		change_set(&ch[n++], config, conftext, conflen, 0644, 0755);
	conf_at = sealed ? n - 1 : 0;
	if (conftext)
		ch[conf_at].keep_mode = 1;
	rc = file_batch_prepare(ch, n, err);
	if (!rc) {
		rep->had_sealed = ch[conftext && !sealed ? 1 : 0].existed;
		rep->had_dropin = ch[conftext && !sealed ? 2 : 1].existed;
		rc = file_batch_apply(ch, n, err);
	}
	if (!rc && pc->image && (rc = plain_apply(pc, err)) != DS_OK)
		file_batch_undo(ch, n, err);
	if (!rc && pc->image) {
		rep->had_plain = (pc->found & 1) != 0;
		rep->had_access_key = (pc->found & 2) != 0;
		snprintf(rep->plain, sizeof(rep->plain), "%s", pc->path);
	}
	file_batch_free(ch, n);
	return rc;
}

/* remove: the drop-in's directory, named after our unit, goes with the
 * last drop-in in it (an administrator's override keeps it);
 * /etc/credstore.encrypted is systemd's, shared by every service, and
 * stays. */
static void dropin_dir_remove(const struct sealed_paths *sp, struct sealed_report *rep)
{
	char dir[PATH_MAX];

	file_dir_of(sp->dropin, dir, sizeof(dir));
	rep->removed_dir = rep->had_dropin && rmdir(dir) == 0;
	if (rep->removed_dir)
		snprintf(rep->dropin_dir, sizeof(rep->dropin_dir), "%s", dir);
}

int system_sealed_add(const struct conf *c, const struct profile *p, const struct secret *key,
		      struct sealed_report *rep, struct ds_err *err)
{
	struct sealed_paths sp;
	struct run_filter f = { 0 };
	struct plain_copy pc;
	char settings[512], dropin[3 * PATH_MAX], config[PATH_MAX], *text = NULL;
	size_t tlen = 0;
	int lock = -1, rc;

	memset(rep, 0, sizeof(*rep));
	plain_init(&pc);
	rc = need_root(err);
	if (!rc)
		rc = paths_of_profile(p->name, &sp, err);
	if (!rc)
		rc = refuse_other_source(c, p->name, sp.cred, err);
	if (!rc)
		rc = with_key(&rep->with_key, err);
	if (rc)
		return rc;
	settings_of(p, sp.cred, settings, sizeof(settings));
	rc = lock_take(&sp, &lock, err);
	if (!rc)
		rc = conf_profile_source_text(c->system_path, p->name, settings, config,
					      sizeof(config), &text, &tlen, err);
	if (!rc)
		rc = seal(&sp, key, rep->with_key, &f, err);
	/* after the tool, which may take long, so that the key file's lock
	 * is held briefly; the AccessKey kept for rotate is not the key
	 * sealed, and stays */
	if (!rc && (rc = plain_prepare(p->name, 0, &pc, err)) != DS_OK)
		run_filter_free(&f);
	if (rc) {
		plain_free(&pc);
		free(text);
		lock_drop(lock);
		return rc;
	}
	snprintf(dropin, sizeof(dropin),
		 "# The sealed key of profile %s, written by 'dashscope-credential add --system --sealed';\n"
		 "# 'dashscope-credential remove --system %s' removes it.\n"
		 "[Service]\nLoadCredentialEncrypted=%s:%s\n",
		 p->name, p->name, sp.cred, sp.sealed_sys);
	report_paths(&sp, config, rep);
	rc = write_batch(&sp, f.out, f.outlen, dropin, config, text, tlen, &pc, rep, err);
	run_filter_free(&f);
	plain_free(&pc);
	free(text);
	lock_drop(lock);
	if (!rc)
		reload(&sp, rep);
	return rc;
}

int system_sealed_remove(const struct conf *c, const char *name, int *found,
			 struct sealed_report *rep, struct ds_err *err)
{
	const struct profile_conf *pc = conf_profile(c, name);
	struct sealed_paths sp;
	struct plain_copy plain;
	struct stat sb;
	char config[PATH_MAX], *text = NULL;
	size_t tlen = 0;
	int lock = -1, rc;

	*found = 0;
	memset(rep, 0, sizeof(*rep));
	plain_init(&plain);
	rc = need_root(err);
	if (!rc)
		rc = paths_of_profile(name, &sp, err);
	if (rc)
		return rc;
	rep->had_config = pc && pc->source_system && pc->key_credential &&
			  !strcmp(pc->key_credential, sp.cred);
	if (!rep->had_config && lstat(sp.sealed, &sb) != 0 && lstat(sp.dropin, &sb) != 0)
		return DS_OK;
	*found = 1;
	rc = lock_take(&sp, &lock, err);
	if (!rc)
		rc = conf_profile_source_text(c->system_path, name, NULL, config, sizeof(config),
					      &text, &tlen, err);
	/* the whole profile goes: a plain copy left would take over again */
	if (!rc)
		rc = plain_prepare(name, PLAIN_ACCESS_KEY, &plain, err);
	if (!rc) {
		report_paths(&sp, config, rep);
		/* a config without the entry is left as it is */
		rc = write_batch(&sp, NULL, 0, NULL, config, rep->had_config ? text : NULL, tlen,
				 &plain, rep, err);
	}
	if (!rc)
		dropin_dir_remove(&sp, rep);
	plain_free(&plain);
	free(text);
	lock_drop(lock);
	if (!rc)
		reload(&sp, rep);
	return rc;
}

int system_sealed_refuse_plain(const struct conf *c, const char *name, int *lock,
			       struct ds_err *err)
{
	const struct profile_conf *pc = conf_profile(c, name);
	struct sealed_paths sp;
	struct stat sb;
	char where[PATH_MAX + 80];
	int rc;

	if (lock)
		*lock = -1;
	rc = need_root(err);
	if (!rc)
		rc = paths_of_profile(name, &sp, err);
	if (!rc && lock)
		rc = lock_take(&sp, lock, err);
	if (rc)
		return rc;
	if (lstat(sp.sealed, &sb) == 0)
		snprintf(where, sizeof(where), "%s", sp.sealed);
	else if (lstat(sp.dropin, &sb) == 0)
		snprintf(where, sizeof(where), "the drop-in %s", sp.dropin);
	else if (pc && pc->source_system && pc->key_credential &&
		 !strcmp(pc->key_credential, sp.cred))
		snprintf(where, sizeof(where), "key_credential, %s:%u", pc->source_file,
			 pc->source_line);
	else
		return DS_OK;
	if (lock) {
		lock_drop(*lock);
		*lock = -1;
	}
	return ds_err_set(err, DS_EPOLICY,
			  "Profile %s has a sealed key (%s), and a plain key beside it would undo the sealing; seal the new key with 'dashscope-credential add --system --sealed %s', or remove the sealed one first with 'dashscope-credential remove --system %s'.",
			  name, where, name, name);
}

void system_sealed_unlock(int lock)
{
	lock_drop(lock);
}

int system_sealed_plain_check(const char *name, int *present, char *path, size_t n,
			      struct ds_err *err)
{
	struct plain_copy pc;
	int rc;

	*present = 0;
	plain_init(&pc);
	rc = need_root(err);
	if (!rc)
		rc = plain_prepare(name, PLAIN_LOOK, &pc, err);
	if (!rc)
		rc = path_format(path, n, err, "%s", pc.path);
	*present = !rc && (pc.found & 1);
	plain_free(&pc);
	return rc;
}

/* The key in buf, surrounding white space dropped, as key_check sees a
 * key to store: well-formed and long-lived. */
static int opened_key_ok(const struct profile_conf *pc, const char *buf, size_t len,
			 struct ds_err *err)
{
	enum plan plan = pc->has_plan ? pc->plan : PLAN_PAYG;
	enum key_kind kind;
	size_t a = 0, b = len;

	while (a < b && strchr(" \t\r\n", buf[a]))
		a++;
	while (b > a && strchr(" \t\r\n", buf[b - 1]))
		b--;
	if (key_check(buf + a, b - a, &plan, pc->has_plan, &kind, err) || kind != KEY_LONG_LIVED)
		return ds_err_set(err, DS_ESTORE, "it opens, but holds no valid Model Studio key");
	return DS_OK;
}

int system_sealed_check(const struct profile_conf *pc, int *present, char *path, size_t n,
			struct ds_err *err)
{
	struct sealed_paths sp;
	struct run_filter f;
	struct stat sb;
	char tool[PATH_MAX], name[300];
	const char *argv[] = { tool, "decrypt", name, sp.sealed, "-", NULL };
	int rc;

	*present = 0;
	rc = paths_of(pc->key_credential, &sp, err);
	if (!rc)
		rc = path_format(path, n, err, "%s", sp.sealed);
	if (rc || lstat(sp.sealed, &sb) != 0)
		return rc;
	*present = 1;
	rc = need_root(err);
	if (!rc && !S_ISREG(sb.st_mode))
		rc = ds_err_set(err, DS_ESTORE, "it is not a regular file");
	if (!rc)
		rc = tool_find("systemd-creds", tool, sizeof(tool), err);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "--name=%s", sp.cred);
	memset(&f, 0, sizeof(f));
	f.argv = argv;
	f.max_out = 4096;
	f.timeout_ms = SEALED_TIMEOUT_MS;
	rc = run_filter(&f, err);
	if (rc)
		return rc;
	if (f.status != 0)
		rc = ds_err_set(err, DS_ESTORE, "systemd-creds cannot open it%s%s",
				f.errline[0] ? ": " : "", f.errline);
	else
		rc = opened_key_ok(pc, f.out, f.outlen, err);
	run_filter_free(&f);
	return rc;
}
