/* SPDX-License-Identifier: MIT */
/* Every file the helper reads or writes goes through here: reads never
 * block on a FIFO or device and take regular files only; writes are
 * atomic (temp file, fsync, rename, fsync of the directory); paths that
 * do not fit are errors, never cut short; directories are never created
 * inside another user's directory (SPEC section 3). */
#ifndef DS_FILES_H
#define DS_FILES_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "base/util.h"

#define FILE_NOFOLLOW 1 /* refuse a symbolic link as the last component */
#define FILE_REQUIRED 2 /* a missing file is an error, not "empty" */

/* Reads a whole regular file of at most max bytes into a NUL-terminated
 * heap buffer (*buf NULL when the file is missing and not required). sb,
 * when not NULL, gets the opened file's status for further checks. what
 * names the file in messages ("config file", "key file"). Errors carry
 * code. The caller wipes (when secret) and frees *buf. */
int file_read(const char *path, int flags, size_t max, const char *what, int code, char **buf,
	      size_t *len, struct stat *sb, struct ds_err *err);

/* Formats a path; DS_EINPUT naming it when it does not fit in n. */
int path_format(char *out, size_t n, struct ds_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The user's home: $HOME when absolute, the passwd entry's when unset. A
 * relative HOME, or one owned by another user (root with a user's HOME),
 * is DS_ESTORE: nothing is read from or created in it. */
int path_home(char *out, size_t n, struct ds_err *err);

/* $var/leaf when var names an absolute directory, else HOME/fallback/leaf
 * (the XDG base directory rule). */
int path_xdg(const char *var, const char *fallback, const char *leaf, char *out, size_t n,
	     struct ds_err *err);

#endif
