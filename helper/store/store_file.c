/* SPDX-License-Identifier: MIT */
/* The file store: one 0600 file in a 0700 directory, checked on every read,
 * rewritten atomically under an flock so that concurrent writers lose
 * nothing. Protected by file permissions only. It keeps records (a name,
 * three attributes and a key) and leaves their meaning to store.c. */
#include "config.h"
#include "store/store_backends.h"
#include "base/files.h"
#include "base/file_write.h"
#include "base/secret.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_HEADER \
	"# dashscope-credential keys v1: profile, region, workspace, plan, key[, key id] (TAB-separated)\n"
#define FILE_MAX (16u << 20)
#define NFIELDS 5 /* name, region, workspace, plan, key */
#define KEY_ID NFIELDS /* and the key's id, when known (SPEC section 16) */

struct file_rec {
	char *f[NFIELDS + 1]; /* point into the image; f[KEY_ID] "" when absent */
};

struct file_db {
	char *image; /* the file's bytes, wiped on free */
	size_t len;
	struct file_rec *recs;
	size_t n;
};

/* The records last read, kept while the file stays the same (device,
 * inode, size, mtime and ctime: a rename, a write or a chmod all change
 * one), so that `token`'s list and get read and parse the file once. One
 * lock: the broker's threads share a store. */
struct file_state {
	char path[PATH_MAX];
	pthread_mutex_t lock;
	struct file_db snap;
	struct stat snap_sb;
	int have_snap;
};

static int default_path(char *out, size_t n, struct ds_err *err)
{
	const char *over = getenv("DASHSCOPE_CREDENTIAL_KEYFILE");

	if (over && *over)
		return path_format(out, n, err, "%s", over);
	return path_xdg("XDG_DATA_HOME", ".local/share", "dashscope-credential/keys", out, n, err);
}

static void db_free(struct file_db *db)
{
	if (db->image) {
		explicit_bzero(db->image, db->len);
		free(db->image);
	}
	free(db->recs);
	memset(db, 0, sizeof(*db));
}

/* The directory must end up ours and not writable by others, or another
 * user could swap the file. */
static int dir_prepare(const char *path, int create, struct ds_err *err)
{
	char dir[PATH_MAX];
	struct stat sb;
	int rc;

	file_dir_of(path, dir, sizeof(dir));
	if (create && stat(dir, &sb) != 0 && (rc = file_mkdirs(dir, err)) != DS_OK)
		return rc;
	if (stat(dir, &sb) != 0) {
		if (!create && errno == ENOENT)
			return DS_OK;
		return ds_err_set(err, DS_ESTORE, "Cannot use the key directory %s: %s.", dir,
				  strerror(errno));
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & 022))
		return ds_err_set(err, DS_ESTORE,
				  "Refusing the key directory %s: it must be owned by you and not writable by others (chmod 700 %s).",
				  dir, dir);
	return DS_OK;
}

/* A line is five TAB-separated fields, or six with the key's id (a line
 * without one stays as older versions wrote and read it); their meaning
 * is checked by store.c, which skips records it cannot use. */
static int parse_record(char *line, struct file_rec *rec)
{
	static char none[] = "";
	int i;

	for (i = 0; i <= KEY_ID && line; i++) {
		char *tab = strchr(line, '\t');

		rec->f[i] = line;
		if (tab)
			*tab = '\0';
		line = tab ? tab + 1 : NULL;
	}
	if (line || i < NFIELDS)
		return -1;
	if (i == NFIELDS)
		rec->f[KEY_ID] = none;
	return 0;
}

static int parse_db(struct file_db *db, const char *path, struct ds_err *err)
{
	unsigned lineno = 0;
	char *p = db->image, *end = db->image + db->len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		struct file_rec rec, *recs;

		lineno++;
		if (!nl)
			return ds_err_set(err, DS_ESTORE,
					  "%s:%u is truncated; restore it from a backup or remove the line.",
					  path, lineno);
		*nl = '\0';
		if (*p == '#' || *p == '\0') {
			p = nl + 1;
			continue;
		}
		if (memchr(p, '\0', (size_t)(nl - p)) || parse_record(p, &rec) != 0)
			return ds_err_set(err, DS_ESTORE,
					  "%s:%u is malformed; fix or remove that line.", path,
					  lineno);
		recs = realloc(db->recs, (db->n + 1) * sizeof(*recs));
		if (!recs)
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
		db->recs = recs;
		db->recs[db->n++] = rec;
		p = nl + 1;
	}
	return DS_OK;
}

int store_file_parse(const char *buf, size_t len, size_t *nrecs, struct ds_err *err)
{
	struct file_db db = { NULL, len, NULL, 0 };
	int rc;

	*nrecs = 0;
	db.image = malloc(len + 1);
	if (!db.image)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	memcpy(db.image, buf, len);
	rc = parse_db(&db, "keys", err);
	*nrecs = rc == DS_OK ? db.n : 0;
	db_free(&db);
	return rc;
}

/* Opens and checks the file on every read: a regular file, ours, with no
 * group or other bits, reached without following a symlink. */
static int db_load(const char *path, struct file_db *db, struct stat *out_sb, struct ds_err *err)
{
	struct stat sb;
	int rc;

	memset(db, 0, sizeof(*db));
	rc = file_read(path, FILE_NOFOLLOW, FILE_MAX, "key file", DS_ESTORE, &db->image, &db->len,
		       &sb, err);
	if (rc || !db->image)
		return rc;
	if (sb.st_uid != geteuid())
		rc = ds_err_set(err, DS_ESTORE,
				"Refusing the key file %s: it is owned by another user.", path);
	else if (sb.st_mode & 077)
		rc = ds_err_set(err, DS_ESTORE,
				"Refusing the key file %s: group or others can access it; run chmod 600 %s (and consider the keys in it leaked).",
				path, path);
	else
		rc = parse_db(db, path, err);
	if (rc)
		db_free(db);
	else if (out_sb)
		*out_sb = sb;
	return rc;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void snap_drop(struct file_state *fs)
{
	db_free(&fs->snap);
	fs->have_snap = 0;
}

/* The records of the file as it is now, read again only when it changed.
 * Called with fs->lock held. */
static int snap_current(struct file_state *fs, struct ds_err *err)
{
	struct stat sb;
	int rc;

	if (fs->have_snap && lstat(fs->path, &sb) == 0 && same_file(&sb, &fs->snap_sb))
		return DS_OK;
	snap_drop(fs);
	rc = dir_prepare(fs->path, 0, err);
	if (!rc)
		rc = db_load(fs->path, &fs->snap, &fs->snap_sb, err);
	if (!rc && fs->snap.image)
		fs->have_snap = 1;
	return rc;
}

static struct store_record rec_view(const struct file_rec *r, int with_secret)
{
	struct store_record v = { r->f[0], r->f[1], r->f[2], r->f[3], NULL, 0, 0, r->f[KEY_ID] };

	if (with_secret) {
		v.secret = r->f[4];
		v.secret_len = strlen(r->f[4]);
	}
	return v;
}

static int file_open(const struct store_params *p, void **state, struct ds_err *err)
{
	struct file_state *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (p->path ? path_format(fs->path, sizeof(fs->path), err, "%s", p->path)
		    : default_path(fs->path, sizeof(fs->path), err)) {
		free(fs);
		return DS_EINPUT;
	}
	if (p->where && ds_strcpy(p->where, p->where_len, fs->path)) {
		free(fs);
		return ds_err_set(err, DS_EINPUT, "The key file path %.80s... is too long.",
				  fs->path);
	}
	pthread_mutex_init(&fs->lock, NULL);
	*state = fs;
	return DS_OK;
}

static void file_close(void *state)
{
	struct file_state *fs = state;

	snap_drop(fs);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

static int file_list(void *state, const char *only, int with_secret, store_record_fn each,
		     void *ctx, struct ds_err *err)
{
	struct file_state *fs = state;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = snap_current(fs, err);
	for (size_t i = 0; !rc && fs->have_snap && i < fs->snap.n; i++) {
		struct store_record v = rec_view(&fs->snap.recs[i], with_secret);

		if (!only || !strcmp(v.name, only))
			rc = each(ctx, &v);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* A get ends a lookup (list, then the chosen profile's key): the records
 * kept since the list are wiped here, so a long-running proxy or broker
 * holds no long-lived key between mints. */
static int file_get(void *state, const char *name, store_record_fn each, void *ctx,
		    struct ds_err *err)
{
	struct file_state *fs = state;
	int rc = file_list(state, name, 1, each, ctx, err);

	pthread_mutex_lock(&fs->lock);
	snap_drop(fs);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int store_file_lock(const char *path, int *fd, struct ds_err *err)
{
	char lock[PATH_MAX];

	if (path_format(lock, sizeof(lock), err, "%s.lock", path))
		return DS_EINPUT;
	*fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (*fd < 0)
		return ds_err_set(err, DS_ESTORE, "Cannot lock the key file %s: %s.", path,
				  strerror(errno));
	while (flock(*fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(*fd);
			return ds_err_set(err, DS_ESTORE, "Cannot lock the key file %s.", path);
		}
	}
	return DS_OK;
}

static size_t render_fields(char *out, const char *const f[NFIELDS + 1])
{
	int n = f[KEY_ID] && *f[KEY_ID] ? NFIELDS + 1 : NFIELDS;
	size_t off = 0;

	for (int k = 0; k < n; k++) {
		size_t l = strlen(f[k]);

		memcpy(out + off, f[k], l);
		off += l;
		out[off++] = k < n - 1 ? '\t' : '\n';
	}
	return off;
}

/* 1 + the place of name in drop (a NULL-ended list), 0 when not there. */
static int dropped(const char *name, const char *const *drop)
{
	for (int i = 0; drop && drop[i]; i++)
		if (!strcmp(name, drop[i]))
			return i + 1;
	return 0;
}

/* The file image of db with rec in place of the record of the same name
 * (or added at the end), or without the records named in drop (a
 * NULL-ended list). */
static char *db_render(const struct file_db *db, const struct store_record *rec,
		       const char *const *drop, size_t *outlen)
{
	size_t cap = strlen(FILE_HEADER) + db->len + 1, off;
	const char *mine[NFIELDS + 1];
	char *out;
	int written = 0;

	if (rec) {
		mine[0] = rec->name, mine[1] = rec->region, mine[2] = rec->workspace;
		mine[3] = rec->plan, mine[4] = rec->secret;
		mine[KEY_ID] = rec->key_id ? rec->key_id : "";
		cap += strlen(rec->name) + strlen(rec->region) + strlen(rec->workspace) +
		       strlen(rec->plan) + rec->secret_len + strlen(mine[KEY_ID]) + NFIELDS + 1;
	}
	out = malloc(cap);
	if (!out)
		return NULL;
	off = (size_t)snprintf(out, cap, "%s", FILE_HEADER);
	for (size_t i = 0; i < db->n; i++) {
		const char *const *f = (const char *const *)db->recs[i].f;

		if (dropped(f[0], drop))
			continue;
		if (rec && !strcmp(f[0], rec->name)) {
			if (written)
				continue;
			f = mine;
			written = 1;
		}
		off += render_fields(out + off, f);
	}
	if (rec && !written)
		off += render_fields(out + off, mine);
	*outlen = off;
	return out;
}

/* A record of name in db holds the key only (constant time). Any one: a
 * name written twice behind our back is read as its last usable record,
 * and a store in between rewrites the name's records as one. */
static int key_is(const struct file_db *db, const char *name, const char *only, size_t only_len)
{
	struct secret want = { (char *)only, only_len };
	int held = 0;

	for (size_t i = 0; i < db->n; i++)
		if (!strcmp(db->recs[i].f[0], name))
			held |= secret_equal(&want, db->recs[i].f[4], strlen(db->recs[i].f[4]));
	return held;
}

/* Load, change, save, all under the lock. With only, the records of drop
 * (one name) go only while that key is the one stored. */
static int db_update(struct file_state *fs, const struct store_record *rec, const char *const *drop,
		     const char *only, size_t only_len, int *found, struct ds_err *err)
{
	struct file_db db;
	char *image;
	size_t len = 0;
	int lock, rc;

	rc = dir_prepare(fs->path, 1, err);
	if (!rc)
		rc = store_file_lock(fs->path, &lock, err);
	if (rc)
		return rc;
	rc = db_load(fs->path, &db, NULL, err);
	if (rc)
		goto out;
	if (drop) {
		for (size_t i = 0; i < db.n; i++)
			*found |= dropped(db.recs[i].f[0], drop) != 0;
		if (*found && only && !key_is(&db, drop[0], only, only_len))
			*found = 0; /* another key was stored meanwhile: it stays */
		if (!*found)
			goto out;
	}
	image = db_render(&db, rec, drop, &len);
	if (!image) {
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
		goto out;
	}
	rc = file_write_atomic(fs->path, 0600, image, len, err);
	explicit_bzero(image, len);
	free(image);
out:
	db_free(&db);
	close(lock);
	/* what was read before the write is not the file any more */
	pthread_mutex_lock(&fs->lock);
	snap_drop(fs);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

static int file_put(void *state, const struct store_record *rec, struct ds_err *err)
{
	return db_update(state, rec, NULL, NULL, 0, NULL, err);
}

static int file_del(void *state, const char *name, const char *secret, size_t secret_len,
		    int *found, struct ds_err *err)
{
	const char *const drop[] = { name, NULL };

	return db_update(state, NULL, drop, secret, secret_len, found, err);
}

int store_file_without(const char *path, const char *const *drop, char **image, size_t *len,
		       unsigned *found, struct ds_err *err)
{
	struct file_db db;
	int rc;

	*image = NULL;
	*len = 0;
	*found = 0;
	rc = dir_prepare(path, 0, err);
	if (!rc)
		rc = db_load(path, &db, NULL, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < db.n; i++) {
		int at = dropped(db.recs[i].f[0], drop);

		if (at)
			*found |= 1u << (at - 1);
	}
	if (*found && !(*image = db_render(&db, NULL, drop, len)))
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	db_free(&db);
	return rc;
}

const struct store_ops store_file_ops = {
	STORE_BACKEND_ABI, "file",   file_open, file_close, file_list,
	file_get,	   file_put, file_del,	NULL,
};
