/* SPDX-License-Identifier: MIT */
/* The key sources of SPEC section 15: keys that a secret manager keeps in
 * a file (Vault Agent, Kubernetes and Docker secrets, systemd
 * credentials), read-only. The file is read again at every use, so a
 * replaced file (a `..data` symlink swapped, a temp file renamed over it,
 * a rewrite in place) is seen by the next read, and nothing of it is kept
 * in memory between reads. A file anyone but its reader or root could
 * have changed is refused, as is one that changes while it is read. The
 * records carry the key as it is in the file; store.c checks it. */
#include "config.h"
#include "store/store_backends.h"
#include "base/files.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOURCE_MAX 4096 /* a key is at most 512 bytes; room for a newline or two */
#define SOURCE_TRIES 3 /* a symlink swapped between resolving and opening */

struct source_state {
	const struct store_source *v;
	size_t n;
};

static void wipe(char *buf, size_t len)
{
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
}

static int source_open(const struct store_params *p, void **state, struct ds_err *err)
{
	struct source_state *s = calloc(1, sizeof(*s));

	if (!s)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	s->v = p->sources;
	s->n = p->nsources;
	*state = s;
	return DS_OK;
}

static void source_close(void *state)
{
	free(state);
}

static const struct store_source *source_find(const struct source_state *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

/* The file a source names: key_file's path, or the credential's file in
 * the directory systemd gives the service. */
static int source_path(const struct store_source *src, char *out, size_t n, struct ds_err *err)
{
	const char *dir;

	if (src->path)
		return path_format(out, n, err, "%s", src->path);
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (!dir || *dir != '/')
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s takes its key from the systemd credential %s, but CREDENTIALS_DIRECTORY is %s (a service gets it from LoadCredential= or LoadCredentialEncrypted=).",
				  src->name, src->credential,
				  dir ? "not an absolute path" : "not set");
	return path_format(out, n, err, "%s/%s", dir, src->credential);
}

/* Whether uid may have written what we read: the reader itself or root. */
static int trusted_uid(uid_t uid)
{
	return uid == geteuid() || uid == 0;
}

/* The directory holding path (or its link): owned by the reader or root,
 * and writable by no one else unless sticky (then others cannot replace
 * entries they do not own, and the entry's owner is checked). */
static int dir_check(const char *profile, const char *path, struct ds_err *err)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat sb;

	if (path_format(dir, sizeof(dir), err, "%s", path))
		return DS_EINPUT;
	slash = strrchr(dir, '/');
	if (!slash)
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s: the key file %s is not an absolute path.", profile,
				  path);
	slash[slash == dir ? 1 : 0] = '\0';
	if (stat(dir, &sb) != 0)
		return ds_err_set(err, DS_ESTORE, "Profile %s: cannot reach the key file %s: %s.",
				  profile, path, strerror(errno));
	if (!trusted_uid(sb.st_uid))
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s: refusing the key file %s: its directory %s belongs to another user (uid %u).",
				  profile, path, dir, (unsigned)sb.st_uid);
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX))
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s: refusing the key file %s: its directory %s is writable by other users (mode %04o).",
				  profile, path, dir, (unsigned)(sb.st_mode & 07777));
	return DS_OK;
}

/* The checks of SPEC section 15 on path (as configured) and the file it
 * leads to; *real is that file. */
static int source_check(const char *profile, const char *path, char *real, size_t n,
			struct ds_err *err)
{
	struct stat sb;
	char *r;
	int rc;

	if (lstat(path, &sb) != 0)
		return ds_err_set(err, DS_ESTORE, "Profile %s: cannot read the key file %s: %s.",
				  profile, path,
				  errno == ENOENT ? "it does not exist" : strerror(errno));
	rc = dir_check(profile, path, err);
	if (rc)
		return rc;
	if (S_ISLNK(sb.st_mode) && !trusted_uid(sb.st_uid))
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s: refusing the key file %s: the symbolic link belongs to another user (uid %u).",
				  profile, path, (unsigned)sb.st_uid);
	r = realpath(path, NULL);
	if (!r)
		return ds_err_set(err, DS_ESTORE, "Profile %s: cannot read the key file %s: %s.",
				  profile, path,
				  errno == ENOENT ? "it does not exist" : strerror(errno));
	rc = path_format(real, n, err, "%s", r);
	free(r);
	if (!rc && strcmp(real, path))
		rc = dir_check(profile, real, err);
	return rc;
}

/* The file's own checks, on what was opened: a regular file (never a FIFO
 * or device: file_read opens without blocking), owned by the reader or
 * root, writable by no one else. */
static int file_check(const char *profile, const char *path, const struct stat *sb,
		      struct ds_err *err)
{
	if (!trusted_uid(sb->st_uid))
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s: refusing the key file %s: it belongs to another user (uid %u).",
				  profile, path, (unsigned)sb->st_uid);
	if (sb->st_mode & (S_IWGRP | S_IWOTH))
		return ds_err_set(err, DS_ESTORE,
				  "Profile %s: refusing the key file %s: other users can write it (mode %04o).",
				  profile, path, (unsigned)(sb->st_mode & 07777));
	return DS_OK;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* One read of the file real: the whole of it, unchanged while it was read
 * (same inode, size and mtime after as before), else "being written". */
static int read_once(const char *profile, const char *path, const char *real, char **buf,
		     size_t *len, struct ds_err *err)
{
	struct stat sb, after;
	int rc = file_read(real, FILE_NOFOLLOW | FILE_REQUIRED, SOURCE_MAX, "key file", DS_ESTORE,
			   buf, len, &sb, err);

	if (rc) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		return ds_err_set(err, rc, "Profile %s: %s", profile, why);
	}
	rc = file_check(profile, path, &sb, err);
	if (!rc &&
	    ((size_t)sb.st_size != *len || stat(real, &after) != 0 || !same_file(&sb, &after)))
		rc = ds_err_set(err, DS_ESTORE,
				"Profile %s: the key file %s changed while it was read (it is being written); try again.",
				profile, path);
	if (rc) {
		wipe(*buf, *len);
		*buf = NULL;
	}
	return rc;
}

/* The key of src: the file's one line, surrounding white space dropped.
 * *key points into *buf, which the caller wipes and frees. */
static int source_read(const struct store_source *src, char **buf, const char **key, size_t *keylen,
		       struct ds_err *err)
{
	char path[PATH_MAX], real[PATH_MAX];
	size_t len = 0, a, b;
	int rc = source_path(src, path, sizeof(path), err);

	*buf = NULL;
	for (int i = 0; !rc && i < SOURCE_TRIES; i++) {
		rc = source_check(src->name, path, real, sizeof(real), err);
		if (rc)
			break;
		rc = read_once(src->name, path, real, buf, &len, err);
		/* gone: a manager swapped the file between the checks and
		 * the read, and the next round sees the new one */
		if (rc == DS_OK || access(real, F_OK) == 0)
			break;
		rc = i + 1 < SOURCE_TRIES ? DS_OK : rc;
	}
	if (rc)
		return rc;
	for (a = 0; a < len && strchr(" \t\r\n", (*buf)[a]); a++)
		;
	for (b = len; b > a && strchr(" \t\r\n", (*buf)[b - 1]); b--)
		;
	if (a == b || memchr(*buf + a, '\0', b - a))
		rc = ds_err_set(err, DS_ESTORE,
				"Profile %s: the key file %s is empty; no key was used.", src->name,
				path);
	else if (memchr(*buf + a, '\n', b - a))
		rc = ds_err_set(err, DS_ESTORE,
				"Profile %s: the key file %s holds more than one line; it must hold the key alone.",
				src->name, path);
	if (rc) {
		wipe(*buf, len);
		*buf = NULL;
		return rc;
	}
	(*buf)[b] = '\0';
	*key = *buf + a;
	*keylen = b - a;
	return DS_OK;
}

static int source_each(const struct store_source *src, int with_secret, store_record_fn each,
		       void *ctx, struct ds_err *err)
{
	struct store_record rec = { src->name, src->region, src->workspace, src->plan, NULL, 0,
				    0,	       NULL };
	char *buf = NULL;
	int rc;

	if (with_secret) {
		rc = source_read(src, &buf, &rec.secret, &rec.secret_len, err);
		if (rc)
			return rc;
	}
	rc = each(ctx, &rec);
	if (buf)
		wipe(buf, strlen(buf));
	return rc;
}

/* A file that cannot be read leaves its profile listed without a key;
 * `get` says why. */
static int source_list(void *state, const char *only, int with_secret, store_record_fn each,
		       void *ctx, struct ds_err *err)
{
	struct source_state *s = state;

	for (size_t i = 0; i < s->n; i++) {
		struct ds_err ignored;
		int rc;

		if (only && strcmp(only, s->v[i].name))
			continue;
		rc = source_each(&s->v[i], with_secret, each, ctx, &ignored);
		if (rc && with_secret)
			rc = source_each(&s->v[i], 0, each, ctx, err);
		if (rc)
			return rc;
	}
	return DS_OK;
}

static int source_get(void *state, const char *name, store_record_fn each, void *ctx,
		      struct ds_err *err)
{
	const struct store_source *src = source_find(state, name);

	return src ? source_each(src, 1, each, ctx, err) : DS_OK;
}

static int source_refuse(const struct source_state *s, const char *name, struct ds_err *err)
{
	const struct store_source *src = source_find(s, name);

	if (!src)
		return ds_err_set(err, DS_EFAIL, "No key source is named %s.", name);
	if (src->path)
		return ds_err_set(err, DS_EPOLICY,
				  "Profile %s takes its key from %s (key_file in the configuration); change the key there, with the manager that writes it.",
				  name, src->path);
	return ds_err_set(err, DS_EPOLICY,
			  "Profile %s takes its key from the systemd credential %s (key_credential in the configuration); change the key there (a key sealed with 'add --system --sealed': seal the new one the same way).",
			  name, src->credential);
}

static int source_put(void *state, const struct store_record *rec, struct ds_err *err)
{
	return source_refuse(state, rec->name, err);
}

static int source_del(void *state, const char *name, const char *secret, size_t secret_len,
		      int *found, struct ds_err *err)
{
	(void)secret;
	(void)secret_len;
	*found = 0;
	return source_refuse(state, name, err);
}

const struct store_ops store_source_ops = {
	STORE_BACKEND_ABI, "key source", source_open, source_close, source_list,
	source_get,	   source_put,	 source_del,  NULL,
};
