/* SPDX-License-Identifier: MIT */
/* The writing half of files.h, kept apart so that code which only reads
 * (the PAM module) carries no writer. */
#ifndef DS_FILE_WRITE_H
#define DS_FILE_WRITE_H

#include <stddef.h>
#include <sys/types.h>
#include "base/util.h"

/* The directory part of path ("." when none). */
void file_dir_of(const char *path, char *dir, size_t n);

/* DS_OK when no other user (root aside) owns a directory on the way to
 * dir, links and where they lead included: such a user could redirect a
 * write there, or keep what we left. Every write checks it first. */
int file_dir_trusted(const char *dir, struct ds_err *err);

/* Creates the missing directories of dir with mode 0700 (files.h). */
int file_mkdirs(const char *dir, struct ds_err *err);

/* Writes all len bytes to fd, again after EINTR; -1 with errno set. */
int file_write_all(int fd, const char *s, size_t len);

/* Replaces path with data, mode given, atomically (DS_ESTORE on failure;
 * path itself is left whole). */
int file_write_atomic(const char *path, mode_t mode, const char *data, size_t len,
		      struct ds_err *err);

#endif
