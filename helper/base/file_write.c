/* SPDX-License-Identifier: MIT */
/* The one writer of every file the helper keeps (key file, config): atomic
 * replacement through a temp file in the same directory, and creation of
 * missing private directories (files.h). */
#include "config.h"
#include "base/files.h"
#include "base/file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int file_write_all(int fd, const char *s, size_t len)
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

void file_dir_of(const char *path, char *dir, size_t n)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, n, ".");
	else if (slash == path)
		snprintf(dir, n, "/");
	else
		snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

/* Every existing component of path (absolute), links themselves
 * included, must be ours or root's. */
static int chain_ours(const char *path, const char *what, struct ds_err *err)
{
	char prefix[PATH_MAX];
	struct stat sb;
	size_t len = strlen(path);

	if (path_format(prefix, sizeof(prefix), err, "%s", path))
		return DS_EINPUT;
	for (size_t i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		prefix[i] = '\0';
		if (lstat(prefix, &sb) != 0)
			return DS_OK; /* missing from here on: we create the rest */
		if (sb.st_uid != geteuid() && sb.st_uid != 0)
			return ds_err_set(err, DS_ESTORE,
					  "Refusing to write %s: %s belongs to another user, who could redirect it; run as that user, or choose a path of your own.",
					  what, prefix);
		prefix[i] = path[i];
	}
	return DS_OK;
}

int file_dir_trusted(const char *dir, struct ds_err *err)
{
	char abs[PATH_MAX], cwd[PATH_MAX], *real = NULL;
	int rc;

	if (*dir == '/')
		rc = path_format(abs, sizeof(abs), err, "%s", dir);
	else if (!getcwd(cwd, sizeof(cwd)))
		return ds_err_set(err, DS_ESTORE, "Cannot find the current directory: %s.",
				  strerror(errno));
	else
		rc = path_format(abs, sizeof(abs), err, "%s/%s", cwd, dir);
	if (!rc)
		rc = chain_ours(abs, dir, err);
	/* and where its links lead, from its deepest existing directory */
	while (!rc && !(real = realpath(abs, NULL))) {
		char *slash = strrchr(abs, '/');

		if (errno != ENOENT || !slash || slash == abs)
			return DS_OK;
		*slash = '\0';
	}
	if (!rc) {
		rc = chain_ours(real, dir, err);
		free(real);
	}
	return rc;
}

/* Creates the missing directories of dir, 0700, where file_dir_trusted
 * allows: root never creates directories inside a user's home, and nobody
 * inside another user's directory. */
int file_mkdirs(const char *dir, struct ds_err *err)
{
	char path[PATH_MAX];
	size_t full;
	int rc;

	rc = file_dir_trusted(dir, err);
	if (rc)
		return rc;
	if (path_format(path, sizeof(path), err, "%s", dir))
		return DS_EINPUT;
	full = strlen(path);
	while (access(path, F_OK) != 0) {
		char *slash = strrchr(path, '/');

		if (errno != ENOENT || !slash || slash == path)
			break;
		*slash = '\0';
	}
	/* create each missing component in turn */
	while (strlen(path) < full) {
		path[strlen(path)] = '/';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return ds_err_set(err, DS_ESTORE, "Cannot create the directory %s: %s.",
					  path, strerror(errno));
	}
	return DS_OK;
}

int file_write_atomic(const char *path, mode_t mode, const char *data, size_t len,
		      struct ds_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd, ok, e, rc;

	if (path_format(tmp, sizeof(tmp), err, "%s.XXXXXX", path))
		return DS_EINPUT;
	file_dir_of(path, dir, sizeof(dir));
	rc = file_dir_trusted(dir, err);
	if (rc)
		return rc;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ds_err_set(err, DS_ESTORE, "Cannot write next to %s: %s.", path,
				  strerror(errno));
	ok = fchmod(fd, mode) == 0 && file_write_all(fd, data, len) == 0 && fsync(fd) == 0;
	e = errno;
	if (close(fd) != 0 && ok) {
		ok = 0;
		e = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = 0;
		e = errno;
	}
	if (!ok) {
		unlink(tmp);
		return ds_err_set(err, DS_ESTORE, "Cannot write %s: %s.", path, strerror(e));
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		/* the rename is durable only once the directory is */
		(void)fsync(dfd);
		close(dfd);
	}
	return DS_OK;
}
