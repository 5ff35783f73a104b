/* SPDX-License-Identifier: MIT */
/* The one writer of every file the helper keeps (key file, config): atomic
 * replacement through a temp file in the same directory, and creation of
 * missing private directories (files.h). */
#include "config.h"
#include "files.h"
#include "file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Creates the missing directories of dir, 0700. The nearest one that
 * exists must be ours or root's: root never creates directories inside a
 * user's home, and nobody inside another user's directory. */
int file_mkdirs(const char *dir, struct ds_err *err)
{
	char path[PATH_MAX];
	size_t full;
	struct stat sb;
	int found;

	if (path_format(path, sizeof(path), err, "%s", dir))
		return DS_EINPUT;
	full = strlen(path);
	while (!(found = (stat(path, &sb) == 0))) {
		char *slash = strrchr(path, '/');

		if (errno != ENOENT || !slash || slash == path)
			break;
		*slash = '\0';
	}
	if (found && strlen(path) < full && sb.st_uid != geteuid() && sb.st_uid != 0)
		return ds_err_set(err, DS_ESTORE,
				  "Refusing to create %s: %s belongs to another user.", dir, path);
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
	int fd, dfd, ok, e;

	if (path_format(tmp, sizeof(tmp), err, "%s.XXXXXX", path))
		return DS_EINPUT;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ds_err_set(err, DS_ESTORE, "Cannot write next to %s: %s.", path,
				  strerror(errno));
	ok = fchmod(fd, mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
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
	file_dir_of(path, dir, sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		/* the rename is durable only once the directory is */
		(void)fsync(dfd);
		close(dfd);
	}
	return DS_OK;
}
