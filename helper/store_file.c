/* SPDX-License-Identifier: MIT */
/* The file store: one 0600 file in a 0700 directory, checked on every read,
 * rewritten atomically (temp file, fsync, rename) under an flock so that
 * concurrent writers lose nothing. Protected by file permissions only. */
#include "config.h"
#include "store.h"
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_HEADER \
	"# dashscope-credential keys v1: profile, region, workspace, plan, key (TAB-separated)\n"
#define FILE_MAX (16u << 20)

struct file_rec {
	struct profile p;
	struct secret *key;
};

struct file_db {
	struct file_rec *recs;
	size_t n;
};

void store_file_path(char *out, size_t n)
{
	const char *over = getenv("DASHSCOPE_CREDENTIAL_KEYFILE");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (over && *over)
		snprintf(out, n, "%s", over);
	else if (xdg && *xdg == '/')
		snprintf(out, n, "%s/dashscope-credential/keys", xdg);
	else
		snprintf(out, n, "%s/.local/share/dashscope-credential/keys", home ? home : "");
}

static void db_free(struct file_db *db)
{
	for (size_t i = 0; i < db->n; i++)
		secret_free(db->recs[i].key);
	free(db->recs);
	memset(db, 0, sizeof(*db));
}

static void dir_of(const char *path, char *dir, size_t n)
{
	char *slash;

	snprintf(dir, n, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, n, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
}

/* Creates missing directories 0700; the last one must end up ours and not
 * writable by others, or another user could swap the file. */
static int dir_prepare(const char *path, int create, struct ds_err *err)
{
	char dir[512];
	struct stat sb;

	dir_of(path, dir, sizeof(dir));
	if (create && stat(dir, &sb) != 0) {
		for (char *p = dir + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return ds_err_set(err, DS_ESTORE, "Cannot create the key directory %s: %s.",
					  dir, strerror(errno));
	}
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

static int parse_field(char **s, char *out, size_t n)
{
	char *tab = strchr(*s, '\t');

	if (!tab)
		return -1;
	*tab = '\0';
	if (ds_strcpy(out, n, *s))
		return -1;
	*s = tab + 1;
	return 0;
}

static int parse_record(char *line, struct file_rec *rec)
{
	char region[32], plan[16];
	enum plan pl;
	enum key_kind kind;
	size_t klen;

	memset(rec, 0, sizeof(*rec));
	if (parse_field(&line, rec->p.name, sizeof(rec->p.name)) ||
	    parse_field(&line, region, sizeof(region)) ||
	    parse_field(&line, rec->p.place.workspace, sizeof(rec->p.place.workspace)) ||
	    parse_field(&line, plan, sizeof(plan)))
		return -1;
	rec->p.place.region = region_find(region);
	klen = strlen(line);
	if (!profile_name_valid(rec->p.name) || !rec->p.place.region || plan_parse(plan, &pl) ||
	    (rec->p.place.workspace[0] && !workspace_valid(rec->p.place.workspace)))
		return -1;
	rec->p.place.plan = pl;
	if (key_check(line, klen, &pl, 1, &kind, NULL) || kind != KEY_LONG_LIVED)
		return -1;
	rec->key = secret_new(line, klen);
	if (!rec->key)
		return -1;
	key_tail(line, klen, rec->p.key_tail, sizeof(rec->p.key_tail));
	return 0;
}

static int parse_db(char *buf, size_t len, const char *path, struct file_db *db, struct ds_err *err)
{
	unsigned lineno = 0;
	char *p = buf, *end = buf + len;

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
		if (!recs) {
			secret_free(rec.key);
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
		}
		db->recs = recs;
		db->recs[db->n++] = rec;
		p = nl + 1;
	}
	return DS_OK;
}

int store_file_parse(const char *buf, size_t len, size_t *nrecs, struct ds_err *err)
{
	struct file_db db = { NULL, 0 };
	char *copy = malloc(len + 1);
	int rc;

	*nrecs = 0;
	if (!copy)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	memcpy(copy, buf, len);
	rc = parse_db(copy, len, "keys", &db, err);
	*nrecs = rc == DS_OK ? db.n : 0;
	db_free(&db);
	explicit_bzero(copy, len);
	free(copy);
	return rc;
}

/* Opens and checks the file on every read: a regular file, ours, with no
 * group or other bits, reached without following a symlink. */
static int db_load(const char *path, struct file_db *db, struct ds_err *err)
{
	struct stat sb;
	char *buf;
	size_t len = 0;
	int fd, rc;

	memset(db, 0, sizeof(*db));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return DS_OK;
		return ds_err_set(err, DS_ESTORE, "Cannot open the key file %s: %s.", path,
				  errno == ELOOP ? "it is a symbolic link" : strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ds_err_set(err, DS_ESTORE, "The key file %s is not a regular file.", path);
	}
	if (sb.st_uid != geteuid()) {
		close(fd);
		return ds_err_set(err, DS_ESTORE,
				  "Refusing the key file %s: it is owned by another user.", path);
	}
	if (sb.st_mode & 077) {
		close(fd);
		return ds_err_set(err, DS_ESTORE,
				  "Refusing the key file %s: group or others can access it; run chmod 600 %s (and consider the keys in it leaked).",
				  path, path);
	}
	if ((size_t)sb.st_size > FILE_MAX) {
		close(fd);
		return ds_err_set(err, DS_ESTORE, "The key file %s is larger than 16 MiB.", path);
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	while (len < (size_t)sb.st_size) {
		ssize_t got = read(fd, buf + len, (size_t)sb.st_size - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	rc = parse_db(buf, len, path, db, err);
	explicit_bzero(buf, len);
	free(buf);
	if (rc)
		db_free(db);
	return rc;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t w = write(fd, s, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

static int write_record(int fd, const struct file_rec *r)
{
	const char *parts[] = { r->p.name,
				"\t",
				r->p.place.region->id,
				"\t",
				r->p.place.workspace,
				"\t",
				plan_name(r->p.place.plan),
				"\t" };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (write_all(fd, parts[i], strlen(parts[i])))
			return -1;
	if (write_all(fd, r->key->data, r->key->len))
		return -1;
	return write_all(fd, "\n", 1);
}

/* Temp file in the same directory, fsync, rename over, fsync the
 * directory: a crash at any point leaves the old or the new file whole. */
static int db_save(const char *path, const struct file_db *db, struct ds_err *err)
{
	char tmp[600], dir[512];
	int fd, dfd, ok;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ds_err_set(err, DS_ESTORE, "Cannot write the key file next to %s: %s.", path,
				  strerror(errno));
	ok = fchmod(fd, 0600) == 0 && write_all(fd, FILE_HEADER, strlen(FILE_HEADER)) == 0;
	for (size_t i = 0; ok && i < db->n; i++)
		ok = write_record(fd, &db->recs[i]) == 0;
	ok = ok && fsync(fd) == 0;
	if (close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		return ds_err_set(err, DS_ESTORE, "Cannot write the key file %s: %s.", path,
				  strerror(e));
	}
	dir_of(path, dir, sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return DS_OK;
}

static int lock_take(const char *path, struct ds_err *err)
{
	char lock[600];
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -ds_err_set(err, DS_ESTORE, "Cannot lock the key file %s: %s.", path,
				   strerror(errno));
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -ds_err_set(err, DS_ESTORE, "Cannot lock the key file %s.", path);
		}
	}
	return fd;
}

int store_file_list(struct store *st, struct profile_list *out, int with_tails, struct ds_err *err)
{
	struct file_db db;
	int rc;

	(void)with_tails; /* the tail comes free with the read */
	rc = dir_prepare(st->path, 0, err);
	if (!rc)
		rc = db_load(st->path, &db, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < db.n; i++) {
		if (profile_list_add(out, &db.recs[i].p)) {
			db_free(&db);
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
		}
	}
	db_free(&db);
	return DS_OK;
}

int store_file_get(struct store *st, const char *name, struct secret **key, struct ds_err *err)
{
	struct file_db db;
	int rc;

	rc = dir_prepare(st->path, 0, err);
	if (!rc)
		rc = db_load(st->path, &db, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < db.n; i++) {
		if (!strcmp(db.recs[i].p.name, name)) {
			*key = db.recs[i].key;
			db.recs[i].key = NULL;
			break;
		}
	}
	db_free(&db);
	return DS_OK;
}

/* Load, change, save, all under the lock. */
static int db_update(struct store *st, const struct profile *p, const struct secret *key,
		     const char *delete_name, int *found, struct ds_err *err)
{
	struct file_db db;
	int lock, rc;
	size_t i;

	rc = dir_prepare(st->path, 1, err);
	if (rc)
		return rc;
	lock = lock_take(st->path, err);
	if (lock < 0)
		return -lock;
	rc = db_load(st->path, &db, err);
	if (rc) {
		close(lock);
		return rc;
	}
	if (delete_name) {
		for (i = 0; i < db.n; i++) {
			if (strcmp(db.recs[i].p.name, delete_name))
				continue;
			secret_free(db.recs[i].key);
			memmove(&db.recs[i], &db.recs[i + 1], (db.n - i - 1) * sizeof(db.recs[0]));
			db.n--;
			*found = 1;
			break;
		}
		if (!*found)
			goto out;
	} else {
		struct secret *copy = secret_new(key->data, key->len);

		for (i = 0; i < db.n && strcmp(db.recs[i].p.name, p->name); i++)
			;
		if (!copy) {
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
			goto out;
		}
		if (i == db.n) {
			struct file_rec *recs = realloc(db.recs, (db.n + 1) * sizeof(*recs));

			if (!recs) {
				secret_free(copy);
				rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
				goto out;
			}
			db.recs = recs;
			db.n++;
		} else {
			secret_free(db.recs[i].key);
		}
		db.recs[i].p = *p;
		db.recs[i].key = copy;
	}
	rc = db_save(st->path, &db, err);
out:
	db_free(&db);
	close(lock);
	return rc;
}

int store_file_put(struct store *st, const struct profile *p, const struct secret *key,
		   struct ds_err *err)
{
	return db_update(st, p, key, NULL, NULL, err);
}

int store_file_delete(struct store *st, const char *name, int *found, struct ds_err *err)
{
	return db_update(st, NULL, NULL, name, found, err);
}
