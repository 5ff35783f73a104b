/* SPDX-License-Identifier: MIT */
/* file_batch.h: a snapshot of each file first (read without following a
 * link or waiting on a FIFO), then the changes in order through the one
 * atomic writer, then, on a failure, the snapshot written back. */
#include "config.h"
#include "base/file_batch.h"
#include "base/file_write.h"
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_FILE_MAX (1024 * 1024) /* config files, drop-ins, sealed keys */

int file_batch_prepare(struct file_change *c, size_t n, struct ds_err *err)
{
	for (size_t i = 0; i < n; i++) {
		char dir[PATH_MAX];
		struct stat sb;
		int rc;

		c[i].old = NULL;
		c[i].existed = 0;
		c[i].nmade = 0;
		file_dir_of(c[i].path, dir, sizeof(dir));
		rc = file_dir_trusted(dir, err);
		if (!rc)
			rc = file_read(c[i].path, FILE_NOFOLLOW, BATCH_FILE_MAX, "file", DS_ESTORE,
				       &c[i].old, &c[i].oldlen, &sb, err);
		if (rc)
			return rc;
		if (c[i].old) {
			c[i].existed = 1;
			c[i].oldmode = sb.st_mode & 07777;
		}
	}
	return DS_OK;
}

/* Makes the missing directories of path's directory, recording each. */
static int make_dirs(struct file_change *c, struct ds_err *err)
{
	char dir[PATH_MAX], *p;

	file_dir_of(c->path, dir, sizeof(dir));
	for (p = dir + 1;; p++) {
		int last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, c->dir_mode) == 0) {
			if (c->nmade == FILE_BATCH_DIRS || chmod(dir, c->dir_mode) != 0) {
				rmdir(dir);
				return ds_err_set(err, DS_ESTORE, "Cannot create the directory %s.",
						  dir);
			}
			snprintf(c->made[c->nmade++], PATH_MAX, "%s", dir);
		} else if (errno != EEXIST) {
			return ds_err_set(err, DS_ESTORE, "Cannot create the directory %s: %s.",
					  dir, strerror(errno));
		}
		if (last)
			break;
		*p = '/';
	}
	return DS_OK;
}

static int apply_one(struct file_change *c, struct ds_err *err)
{
	int rc;

	if (!c->data) {
		if (c->existed && unlink(c->path) != 0 && errno != ENOENT)
			return ds_err_set(err, DS_ESTORE, "Cannot remove %s: %s.", c->path,
					  strerror(errno));
		return DS_OK;
	}
	rc = make_dirs(c, err);
	/* what was made must be ours or root's all the way, as before */
	if (!rc) {
		char dir[PATH_MAX];

		file_dir_of(c->path, dir, sizeof(dir));
		rc = file_dir_trusted(dir, err);
	}
	if (!rc)
		rc = file_write_atomic(c->path, c->existed && c->keep_mode ? c->oldmode : c->mode,
				       c->data, c->len, err);
	return rc;
}

/* Puts c back as prepare found it; 0 when that worked. */
static int undo_one(struct file_change *c)
{
	struct ds_err ignored;
	int bad = 0;

	if (c->existed)
		bad = file_write_atomic(c->path, c->oldmode, c->old, c->oldlen, &ignored) != 0;
	else if (c->data)
		bad = unlink(c->path) != 0 && errno != ENOENT;
	while (c->nmade > 0)
		if (rmdir(c->made[--c->nmade]) != 0)
			bad = 1;
	return bad ? -1 : 0;
}

/* Puts back the first n changes, last first; err's sentence (status rc)
 * gets a note for each that could not be. */
static void undo_first(struct file_change *c, size_t n, int rc, struct ds_err *err)
{
	while (n-- > 0)
		if (undo_one(&c[n]) != 0) {
			char why[sizeof(err->msg)];

			snprintf(why, sizeof(why), "%s", err->msg);
			ds_err_set(err, rc, "%s Putting %s back failed too; check it by hand.", why,
				   c[n].path);
		}
}

int file_batch_apply(struct file_change *c, size_t n, struct ds_err *err)
{
	size_t i;
	int rc = DS_OK;

	for (i = 0; i < n; i++)
		if ((rc = apply_one(&c[i], err)) != DS_OK)
			break;
	if (!rc)
		return DS_OK;
	/* the failed one left its file as it was, but may have made
	 * directories; those before it are put back whole */
	while (c[i].nmade > 0)
		rmdir(c[i].made[--c[i].nmade]);
	undo_first(c, i, rc, err);
	return rc;
}

void file_batch_undo(struct file_change *c, size_t n, struct ds_err *err)
{
	undo_first(c, n, err->code, err);
}

void file_batch_free(struct file_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i].old) {
			explicit_bzero(c[i].old, c[i].oldlen);
			free(c[i].old);
		}
		c[i].old = NULL;
	}
}
