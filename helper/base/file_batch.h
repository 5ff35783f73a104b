/* SPDX-License-Identifier: MIT */
/* Several files changed as one: each written atomically (file_write.h) or
 * removed, in order; when one fails, those before it are put back as they
 * were and the directories made for them removed, so a failure leaves no
 * part of the change behind. */
#ifndef DS_FILE_BATCH_H
#define DS_FILE_BATCH_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include "base/util.h"

#define FILE_BATCH_DIRS 8 /* directories one change may create */

struct file_change {
	/* in: the path; the new content, or NULL to remove the file; the
	 * mode of a new file (an existing one keeps its own when keep_mode);
	 * the mode of directories made on the way */
	const char *path;
	const char *data;
	size_t len;
	mode_t mode, dir_mode;
	int keep_mode;
	/* the batch's own: what was there before, what it made */
	char *old;
	size_t oldlen;
	int existed;
	mode_t oldmode;
	char made[FILE_BATCH_DIRS][PATH_MAX];
	int nmade;
};

/* Reads what each path holds now: a missing file is fine, anything but a
 * regular file (a symbolic link, a FIFO, a directory) is refused naming
 * it, and so is a directory on the way that is neither root's nor ours.
 * Nothing is changed. */
int file_batch_prepare(struct file_change *c, size_t n, struct ds_err *err);

/* Applies the prepared changes in order; on failure puts back what was
 * done and returns the first failure (with a note when putting back
 * failed too). */
int file_batch_apply(struct file_change *c, size_t n, struct ds_err *err);

/* Puts back a batch that applied whole, when a step after it failed
 * (err holds that failure): what it wrote goes back as it was, what it
 * made goes; err's sentence gets a note for each file that could not be
 * put back. */
void file_batch_undo(struct file_change *c, size_t n, struct ds_err *err);

/* Frees what prepare kept. */
void file_batch_free(struct file_change *c, size_t n);

#endif
