/* SPDX-License-Identifier: MIT */
/* Reading files without blocking and without surprises, and building the
 * paths they live at (files.h). */
#include "config.h"
#include "base/debug.h"
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int file_read(const char *path, int flags, size_t max, const char *what, int code, char **buf,
	      size_t *len, struct stat *sb, struct ds_err *err)
{
	struct stat st;
	char *b = NULL;
	size_t n = 0;
	int fd, rc = DS_OK;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
				((flags & FILE_NOFOLLOW) ? O_NOFOLLOW : 0));
	ds_debug("reading %s %s: %s", what, path, fd < 0 ? strerror(errno) : "opened");
	if (fd < 0) {
		if (errno == ENOENT && !(flags & FILE_REQUIRED))
			return DS_OK;
		return ds_err_set(err, code, "Cannot open the %s %s: %s.", what, path,
				  errno == ELOOP ? "it is a symbolic link" : strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ds_err_set(err, code,
				  "The %s %s is not a regular file (a FIFO, device or directory); refusing it.",
				  what, path);
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return ds_err_set(err, code, "The %s %s is too large (more than %zu bytes).", what,
				  path, max);
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	while (n < (size_t)st.st_size) {
		ssize_t got = read(fd, b + n, (size_t)st.st_size - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = ds_err_set(err, code, "Cannot read the %s %s: %s.", what, path,
					strerror(errno));
			break;
		}
		if (got == 0)
			break; /* shrank meanwhile: what was read is what there is */
		n += (size_t)got;
	}
	close(fd);
	if (rc) {
		explicit_bzero(b, n);
		free(b);
		return rc;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	if (sb)
		*sb = st;
	return DS_OK;
}

int path_format(char *out, size_t n, struct ds_err *err, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= n) {
		if (n)
			out[0] = '\0';
		return ds_err_set(err, DS_EINPUT,
				  "A path is longer than this system allows (%zu bytes); use a shorter one.",
				  n - 1);
	}
	return DS_OK;
}

int path_home(char *out, size_t n, struct ds_err *err)
{
	const char *home = getenv("HOME");
	struct stat sb;

	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		if (!pw || !pw->pw_dir || *pw->pw_dir != '/')
			return ds_err_set(err, DS_ESTORE,
					  "HOME is not set and the user database has no home directory; set HOME.");
		home = pw->pw_dir;
	}
	if (*home != '/')
		return ds_err_set(err, DS_ESTORE, "HOME must be an absolute path; it is '%.200s'.",
				  home);
	/* root with a user's HOME would leave root-owned files there */
	if (stat(home, &sb) == 0 && sb.st_uid != geteuid())
		return ds_err_set(err, DS_ESTORE,
				  "HOME (%.200s) belongs to another user; run as that user, or set HOME to your own home (e.g. sudo -H).",
				  home);
	return path_format(out, n, err, "%s", home);
}

int path_xdg(const char *var, const char *fallback, const char *leaf, char *out, size_t n,
	     struct ds_err *err)
{
	const char *v = getenv(var);
	char home[4096];
	int rc;

	if (v && *v == '/')
		return path_format(out, n, err, "%s/%s", v, leaf);
	rc = path_home(home, sizeof(home), err);
	if (rc)
		return rc;
	return path_format(out, n, err, "%s/%s/%s", home, fallback, leaf);
}
